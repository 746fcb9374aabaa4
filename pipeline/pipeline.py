"""The Python API: build a pipeline from a config, run it, or iterate its frames.

::

    from pipeline.pipeline import Pipeline

    summary = Pipeline.from_yaml("configs/demo.yaml").run()
    print(summary.format())

    pipe = Pipeline.from_dict({"version": 1, "source": {"type": "synthetic"},
                               "stages": ["grayscale", {"gradient": {"kind": "scharr"}}, "map"]})
    for frame in pipe.frames():      # in a notebook: processed frames, sinks not used
        show(frame.image)
"""

from __future__ import annotations

import os
from typing import Iterator

from pipeline.config.run import Config
from pipeline.frame import Frame
from pipeline.controls import Controls
from pipeline.runtime.engine import Engine
from pipeline.runtime.stats import Summary
from pipeline.stages.chain import Chain


class Pipeline:
    """A checked config, ready to run any number of times.

    Each :meth:`run` or :meth:`frames` builds fresh source, stage and sink objects, so a
    pipeline can run twice.  The run's :class:`Controls` is :attr:`controls` (a new one
    per run unless one is given), for other threads to stop, pause or steer it.

    Parameters
    ----------
    config : Config
        From :meth:`from_yaml` or :meth:`from_dict`.
    """

    def __init__(self, config: Config):
        self.config = config
        self.controls: Controls | None = None
        self.summary: Summary | None = None
        self.sinks: list | None = None  # the last run's sink objects (what they wrote)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: list[str] | tuple = ()) -> "Pipeline":
        """Load and check a YAML config; ``overrides`` are ``--set`` strings (``"a.b=1"``).

        Raises
        ------
        ConfigError
            Naming the file, line and key.
        """
        return cls(Config.from_yaml(path, overrides))

    @classmethod
    def from_dict(cls, data: dict, overrides: list[str] | tuple = ()) -> "Pipeline":
        """Check a config given as Python data (same schema as the YAML)."""
        return cls(Config.from_dict(data, overrides))

    def engine(self, controls: Controls | None = None, progress: bool = False) -> Engine:
        """A fresh :class:`Engine` over newly built components (nothing opened)."""
        source, stages, sinks = self.config.build()
        runtime = self.config.runtime
        self.sinks = sinks
        # The tuner switch (window, browser) shows whether a tuner runs at all.
        self.controls = controls if controls is not None else Controls(
            tuner_available=self.config.tuner is not None)
        return Engine(source, Chain(stages), sinks, mode=runtime["mode"],
                      queue_size=runtime["queue_size"], max_frames=runtime["max_frames"],
                      fps=runtime["fps"], controls=self.controls, progress=progress,
                      tuner_settings=self.config.tuner)

    def run(self, *, progress: bool = False, handle_signals: bool = False,
            controls: Controls | None = None) -> Summary:
        """Run source -> stages -> sinks to the end; return the :class:`Summary`.

        Parameters
        ----------
        progress : bool
            Progress line on stderr (batch mode, sources that count their frames).
        handle_signals : bool
            SIGINT/SIGTERM stop the run cleanly (main thread only).  Without it, a
            KeyboardInterrupt in the main thread does the same.
        controls : Controls, optional
            Share controls with other threads (an HTTP endpoint, a tuner).

        Raises
        ------
        SourceError, SinkError, StageError
        """
        engine = self.engine(controls, progress)
        try:
            self.summary = engine.run(handle_signals=handle_signals)
        finally:
            self.summary = engine.summary
        return self.summary

    def frames(self, controls: Controls | None = None) -> Iterator[Frame]:
        """Yield each processed :class:`Frame` (``frame.image`` is the chain's output).

        The sinks of the config are not used.  Stop early with ``break``; the source is
        closed and the threads joined either way.  :attr:`summary` is set at the end.
        """
        engine = self.engine(controls)
        try:
            yield from engine.frames()
        finally:
            self.summary = engine.summary

    def __repr__(self) -> str:
        c = self.config
        stages = ", ".join(s.name for s in c.stages)
        sinks = ", ".join(s.name for s in c.sinks) or "none"
        return f"Pipeline(source={c.source.name}, stages=[{stages}], sinks=[{sinks}], file={c.file!r})"
