"""Sources: where frames come from.

* ``file`` and ``url`` decode with FFmpeg's libraries through PyAV
  (:mod:`pipeline.io.media.reader`): threaded decoding, each frame stamped with the
  stream's pts in seconds, BGR bytes identical to OpenCV's ``VideoCapture``.
* ``camera`` stays on OpenCV's ``VideoCapture`` (V4L2, DirectShow, AVFoundation), and
  ``images`` on ``cv2.imdecode``; both stamp frames with their own clock, as does the
  ``synthetic`` test pattern.

Each ``open()`` decodes the first frame at once, so a device that opens but delivers
nothing, or a file whose container opens but whose stream does not decode, fails at
open with a :class:`SourceError` naming it, not later inside the engine.

Bad input after the first frame follows the source's ``on_error``:

* ``file``: ``skip`` (default) skips frames that do not decode and counts them in the
  summary; ``stop`` ends the input at the first one (the run exits 1, outputs kept).
  ``max_consecutive_errors`` failed packets in a row (default 30) are the end of the file.
* ``camera``, ``url``: every call under a watchdog (``open_timeout``, ``read_timeout``);
  ``stop`` (default) ends the input when the device or sender fails, ``retry``
  reconnects with exponential backoff (``reconnect_attempts``, ``reconnect_backoff``,
  ``reconnect_max_backoff``).  Nothing can hang the run.

Every frame handed downstream is a new array, never overwritten by the next read.

One module per source type: ``camera``, ``file``, ``images``, ``stdin``, ``url``,
``synthetic``;
the watchdog and reconnection that camera and url share are in
:mod:`pipeline.io.sources.live`, the OpenCV bits the camera needs in
:mod:`pipeline.io.sources.capture`, frame pacing in :mod:`pipeline.io.sources.pacing`;
the file source's ``start``/``duration`` trimming in :mod:`pipeline.io.sources.trim` and
its look at the path (a pipe, a device, a folder?) in :mod:`pipeline.io.sources.video_path`.

Importing this package registers every source; import a source's class from its module
(``from pipeline.io.sources.file import FileSource``).
"""

from pipeline.io.sources import camera, file, images, stdin, synthetic, url  # noqa: F401  (registration)
