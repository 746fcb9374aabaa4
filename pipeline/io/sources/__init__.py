"""Sources: where frames come from.


All four go through OpenCV: ``cv2.VideoCapture`` (FFmpeg backend for files and streams,
V4L2 for cameras on Linux) or ``cv2.imread``.  Each ``open()`` decodes the first frame
at once, so a device that opens but delivers nothing, or a file whose container opens
but whose stream does not decode, fails at open with a :class:`SourceError` naming it,
not later inside the engine.

Bad input after the first frame follows the source's ``on_error``:

* ``file``: ``skip`` (default) skips frames that do not decode and counts them in the
  summary; ``stop`` ends the input at the first one (the run exits 1, outputs kept).
  ``max_consecutive_errors`` failed reads in a row (default 30) are the end of the file.
* ``camera``, ``url``: every call under a watchdog (``open_timeout``, ``read_timeout``);
  ``stop`` (default) ends the input when the device or sender fails, ``retry``
  reconnects with exponential backoff (``reconnect_attempts``, ``reconnect_backoff``,
  ``reconnect_max_backoff``).  Nothing can hang the run.

``cv2.VideoCapture.read()`` allocates a new array per call, so frames handed downstream
are never overwritten by the next read.

The synthetic test pattern lives in :mod:`pipeline.io.synthetic`.

One module per source type: ``camera``, ``file``, ``images``, ``url``, ``synthetic``; the
OpenCV capture machinery they share is in :mod:`pipeline.io.sources.capture`.
"""

from pipeline.io.sources import camera, file, images, synthetic, url  # noqa: F401  (registration)
from pipeline.io.sources.camera import CameraSource  # noqa: F401
from pipeline.io.sources.file import FileSource  # noqa: F401
from pipeline.io.sources.images import ImagesSource  # noqa: F401
from pipeline.io.sources.synthetic import SyntheticSource  # noqa: F401
from pipeline.io.sources.url import UrlSource  # noqa: F401
