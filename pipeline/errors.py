"""The one base class of every error edgepipe raises for a user to meet.

``except pipeline.EdgepipeError`` catches them all: a bad config or parameter
(``ConfigError``, ``ParamError``), a source or sink that fails at run time
(``SourceError``, ``SinkError``, ``MediaOpenError``, ``MediaError``), a stage
(``StageError``), an output that would be replaced (``Refused``), a batch job
(``BatchError``, ``ExecutorError``, ``ManifestError``, ``TaskError``), ground truth for the
quality measures (``GroundTruthError``) and a bad request to the http view's control
(``ControlError``).  Each subclass lives beside the code that raises it and keeps its
other bases (``ParamError`` is still a ``ValueError``), so code that catches those is
unchanged.  Signals that never leave the package (a packet to skip, a capture call past
its deadline) are not errors for a user and do not derive from it.

A leaf module: it imports nothing, so any module may import it.
"""


class EdgepipeError(Exception):
    """Base class of every error edgepipe raises for a user; its message names the file,
    key or value at fault and what would work."""
