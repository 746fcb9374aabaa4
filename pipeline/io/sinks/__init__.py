"""Sinks: where edge maps go.

One module per sink type (a package for ``http``): ``video``, ``images``, ``stats``, ``window``, ``http``,
``stdout``, ``discard``, ``network`` (srt/rtmp/udp/rtp) and ``hls``.  How they write files
safely (temporary names, locks, the final rename) is in :mod:`pipeline.io.outputs`.
Importing this package registers every sink; import a sink's class from its module
(``from pipeline.io.sinks.video import VideoSink``).

The order matters: OpenCV (``images``) loads before PyAV.  PyAV's wheel bundles its own
libxcb, and loaded first it leaves OpenCV's Qt window unable to answer (the window sink's
"GUI thread did not answer"); ``hls`` and ``network`` import PyAV at once, so they come last.
"""

from pipeline.io.sinks import discard, images, stats, stdout, video, window  # noqa: F401  (registration)
from pipeline.io.sinks.http import sink as http_sink  # noqa: F401  (registration)
from pipeline.io.sinks import hls, network  # noqa: F401  (registration; last: see above)
