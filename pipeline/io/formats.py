"""The one table of file kinds by extension: pictures, video inputs, video outputs, codecs.

Every list of extensions in the package (the one-liner's guesses, the batch output
schema, the file and images sources, the video and images sinks, the experiments'
inputs) is read from here, so a new container is added once.  The natural order of
file names (``clip2`` before ``clip10``) is here too: the images source, the batch
plan and the experiments sort by it.
"""

from __future__ import annotations

import re

#: Pictures the ``images`` source reads (a video sink given one of these names points
#: the user at the ``images`` sink; an experiment's ``video:`` input of these is read
#: as pictures).
PICTURE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")

#: Pictures the ``images`` sink writes.
PICTURE_OUTPUTS = (".png", ".jpg", ".jpeg")

#: Picture formats that may hold several frames (animated GIF and WebP, multi-page TIFF).
MULTI_FRAME_PICTURES = (".gif", ".webp", ".tif", ".tiff")

#: Video containers the ``video`` sink writes, and FFmpeg's muxer for each.
VIDEO_CONTAINERS = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
    ".avi": "avi",
}

#: Containers whose video ffmpeg starts at the input's start, showing the first frame from
#: there when the picture starts after the sound: .mp4 and .mov because ffmpeg writes them
#: at a constant rate (``-vsync auto`` picks ``cfr`` for muxers without
#: ``AVFMT_VARIABLE_FPS``), .avi because it has no start offset.  Matroska and WebM keep
#: the picture's own start.
FILLED_START_CONTAINERS = ("mp4", "mov", "avi")

#: The codec the ``video`` sink writes when none is given, by extension.
DEFAULT_CODEC = {
    ".mp4": "h264", ".m4v": "h264", ".mov": "h264", ".mkv": "h264", ".webm": "vp9",
    ".avi": "mjpeg",
}

#: Video files the ``file`` source reads (anything FFmpeg demuxes; these are the names a
#: user tries): every container written, plus animated GIF (its per-frame delays are
#: the frames' times) and the common broadcast, camera and legacy containers.
VIDEO_INPUTS = (*VIDEO_CONTAINERS, ".gif", ".flv", ".ts", ".m2ts", ".mts", ".mpg", ".mpeg",
                ".3gp", ".ogv", ".wmv", ".asf", ".y4m", ".mxf", ".vob", ".h264", ".264", ".hevc", ".265")

#: Sound files: the ``file`` source opens them to say, in one line, that they hold no video.
SOUND_EXTENSIONS = (".mp3", ".wav", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".ac3", ".wma")

#: Everything the one-liner hands to the ``file`` source.
FILE_INPUTS = (*VIDEO_INPUTS, *SOUND_EXTENSIONS)

#: Extensions that are a picture to the ``video`` sink's check (it refuses them).
PICTURE_NAMES = (*PICTURE_EXTENSIONS, ".gif")


def output_containers() -> tuple[str, ...]:
    """Container names (no dot) a batch ``output.container`` may be."""
    return tuple(extension[1:] for extension in VIDEO_CONTAINERS)


def natural_sort_key(path: str) -> list:
    """Sort key under which ``frame_2.png`` comes before ``frame_10.png``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]
