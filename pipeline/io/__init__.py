"""Sources and sinks: where frames come from and where edge maps go.

Importing this package registers every source and sink with :mod:`pipeline.registry`:

* sources: ``camera``, ``file``, ``images``, ``url`` (:mod:`pipeline.io.sources`) and
  ``synthetic`` (:mod:`pipeline.io.synthetic`);
* sinks: ``video``, ``images``, ``stats``, ``discard`` (:mod:`pipeline.io.sinks`),
  ``window`` (:mod:`pipeline.io.window`) and ``http`` (:mod:`pipeline.io.http`).

The interfaces they follow are in :mod:`pipeline.io.base`.
"""

from pipeline.io import http, sinks, sources, synthetic, window  # noqa: F401  (registration)
from pipeline.io.base import Sink, SinkError, Source, SourceError  # noqa: F401
