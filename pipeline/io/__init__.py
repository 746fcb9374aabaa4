"""Sources and sinks: where frames come from and where edge maps go.

Importing this package registers every source and sink with :mod:`pipeline.config.registry`:

* sources (:mod:`pipeline.io.sources`, one module each): ``camera``, ``file``,
  ``images``, ``url``, ``synthetic``;
* sinks (:mod:`pipeline.io.sinks`, one module each): ``video``, ``images``, ``stats``,
  ``window``, ``http``, ``discard``.

The interfaces they follow are in :mod:`pipeline.io.base`; how output files are written
safely is in :mod:`pipeline.io.outputs`.
"""

from pipeline.io import sinks, sources  # noqa: F401  (registration)
from pipeline.io.base import Sink, SinkError, Source, SourceError  # noqa: F401
