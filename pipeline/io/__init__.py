"""Sources and sinks: where frames come from and where edge maps go.

Importing this package registers every source and sink with :mod:`pipeline.config.registry`:

* sources (:mod:`pipeline.io.sources`, one module each): ``camera``, ``file``,
  ``images``, ``stdin``, ``url``, ``synthetic``;
* sinks (:mod:`pipeline.io.sinks`, one module each, a package for ``http``): ``video``,
  ``images``, ``stats``, ``window``, ``http``, ``stdout``, ``discard``, ``network``
  (srt/rtmp/udp/rtp) and ``hls``.

The interfaces they follow (``Source``, ``Sink`` and their errors) are in
:mod:`pipeline.io.base`; how output files are written safely is in
:mod:`pipeline.io.outputs`.
"""

from pipeline.io import sinks, sources  # noqa: F401  (registration)
