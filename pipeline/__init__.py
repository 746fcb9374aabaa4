"""edgepipe: edge maps from live video and files, by discrete derivatives."""

__version__ = "0.1.0"
