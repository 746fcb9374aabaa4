"""edgepipe: edge maps from live video and files, by discrete derivatives."""

from pipeline.errors import EdgepipeError  # noqa: F401  (a leaf: imports nothing)

__version__ = "0.1.0"


def __getattr__(name):
    # ``from pipeline import Pipeline`` (or ``Chain``) without importing OpenCV and numba for every
    # ``import pipeline.config.registry``.
    if name == "Pipeline":
        from pipeline.pipeline import Pipeline  # lazy: loads OpenCV and PyAV

        return Pipeline
    if name == "Chain":  # the push API: your own frames through a configured chain
        from pipeline.api import Chain  # lazy: loads OpenCV and PyAV

        return Chain
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
