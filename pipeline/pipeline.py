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
import threading
from typing import Iterator

from pipeline.config.run import Config
from pipeline.config.streams import is_shared
from pipeline.frame import Frame
from pipeline.controls import Controls
from pipeline.io.sinks.http.streams import HttpHandle, SharedHttp
from pipeline.io.sinks.stats_shared import SharedStats, StatsHandle
from pipeline.io.sinks.window_grid import SharedWindow, WindowHandle
from pipeline.runtime.engine import Engine
from pipeline.runtime.pool import ProcessingPool
from pipeline.runtime.stats import Summary
from pipeline.runtime.streams import StreamRun, StreamSet, StreamsSummary
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
        self.summary: Summary | StreamsSummary | None = None
        self.sinks: list | None = None  # the last run's sink objects (what they wrote)
        self.stream_controls: dict[str, Controls] = {}  # run_streams: each stream's
        self._shared: list = []  # stream_set: per config sink, its shared sink or None
        self._added: list = []  # stream_set: the sources: items added while it runs
        self._adding = threading.Lock()
        self.pool: ProcessingPool | None = None  # stream_set: the streams' processing pool

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
        self.sinks = sinks
        # The tuner switch (window, browser) shows whether a tuner runs at all.
        self.controls = controls if controls is not None else Controls(
            tuner_available=self.config.tuner is not None)
        return self._engine(source, stages, sinks, self.controls, progress)

    def _engine(self, source, stages, sinks, controls: Controls, progress: bool,
                pool: ProcessingPool | None = None) -> Engine:
        runtime = self.config.runtime
        return Engine(source, Chain(stages), sinks, mode=runtime["mode"],
                      queue_size=runtime["queue_size"], max_frames=runtime["max_frames"],
                      fps=runtime["fps"], controls=controls, progress=progress,
                      tuner_settings=self.config.tuner, pool=pool, scheduling=runtime["scheduling"])

    def stream_set(self, pool: bool = True) -> StreamSet:
        """A fresh :class:`StreamSet`: one engine per stream of a ``sources:`` config.

        Each stream has its own source, stages, controls (:attr:`stream_controls`, by
        name) and sinks; a ``stats`` sink without ``{source}`` is one file for all
        (:mod:`pipeline.io.sinks.stats_shared`), a ``window`` sink one window with a tile
        per stream (:mod:`pipeline.io.sinks.window_grid`), an ``http`` sink one server and
        page for all (:mod:`pipeline.io.sinks.http.streams`), whose ``POST /control`` can add and
        remove streams (:meth:`new_stream`).  :attr:`sinks` lists every sink whose
        output is a file, each once.  Their processing is one
        :class:`~pipeline.runtime.pool.ProcessingPool` of ``runtime.workers`` threads
        (:attr:`pool`, also the set's), which the set starts and stops; ``pool=False``
        gives each engine its own processing thread instead (for comparisons).
        """
        config = self.config
        self.pool = ProcessingPool(config.runtime.get("workers")) if pool else None
        self._shared = [_shared_sink(config, c) if is_shared(c) else None for c in config.sinks]
        self._added, self.stream_controls = [], {}
        self.sinks = [s.sink for s in self._shared if s is not None]
        runs = [self._stream_run(config, stream, self.pool) for stream in config.streams]
        streams = StreamSet(runs, lambda: [s.error for s in self._shared
                                           if s is not None and s.error is not None],
                            pool=self.pool, scheduling=config.runtime["scheduling"])
        self._steer(streams)
        return streams

    def _stream_run(self, config: Config, stream, pool=None) -> StreamRun:
        """One stream's :class:`StreamRun`: its own source, stages, controls and sinks, and
        a handle on each shared sink (``config`` is this pipeline's, or one with an
        added stream: its sinks are in the same order).

        Nothing is left behind when building fails (a shared sink that refuses its
        handle because it is finished): the handles taken so far are withdrawn, so
        that sink is not held open by a stream that never runs.
        """
        source, stages, _ = config.build(stream)
        sinks: list = []
        try:
            for i, component in enumerate(stream.sinks):
                shared = self._shared[i]
                sinks.append(shared.handle(stream.name) if shared is not None
                             else config.instance(component))
            controls = Controls(tuner_available=config.tuner is not None)
            for sink in sinks:
                if isinstance(sink, (HttpHandle, WindowHandle)):
                    sink.attach(source.report, controls)  # its health on the page/tile, steered by name
            engine = self._engine(source, stages, sinks, controls, progress=False, pool=pool)
        except BaseException:
            _withdraw(sinks)
            raise
        handles = [sink for sink in sinks if isinstance(sink, HANDLES)]
        self.sinks += [sink for sink in sinks if sink not in handles]
        self.stream_controls[stream.name] = controls
        run = StreamRun(stream.name, engine)
        # The page and the tile show why a stream ended; then every shared sink is let go of.
        run.on_end = [*(lambda h=h: h.failed(run.error) for h in handles if isinstance(h, HttpHandle)),
                      *(lambda h=h: h.ended(_stop_reason(run), run.error)
                        for h in handles if isinstance(h, WindowHandle)),
                      *(handle.release for handle in handles)]
        return run

    def new_stream(self, item: dict, pool=None) -> StreamRun:
        """A :class:`StreamRun` for a new ``sources:`` item, for a running :meth:`stream_set`.

        The item is checked exactly as the config's ``sources:`` are (its keys, its name
        against every stream's so far, its ``{source}`` outputs against the others'),
        then built like the others: its own source, stages and controls, its
        ``{source}`` sinks filled, and handles on the shared sinks.  A run the set
        refuses is undone with :meth:`_discard`.

        Raises
        ------
        ConfigError
            Naming the key (``sources.N.KEY``, N the new item's place) and what would work.
        SinkError
            A shared sink is finished (every stream let go of it): nothing was kept.
        """
        with self._adding:
            data = self.config.to_dict()
            data["sources"] = [*data["sources"], *self._added, item]
            config = Config.from_dict(data, file="the added stream")
            run = self._stream_run(config, config.streams[-1], pool)
            self._added.append(dict(item))
        return run

    def _discard(self, run: StreamRun) -> None:
        """Undo :meth:`new_stream` for a run that never started (the set refused it): its
        shared sinks' handles and channels, its controls, its sinks, and its name."""
        with self._adding:
            _withdraw(run.engine.sinks)
            self.stream_controls.pop(run.name, None)
            self.sinks = [sink for sink in self.sinks if sink not in run.engine.sinks]
            self._added = [item for item in self._added if item.get("name") != run.name]

    def _steer(self, streams: StreamSet) -> None:
        """Let the shared http sinks add and remove streams of ``streams``."""
        def add(item: dict) -> str:
            run = self.new_stream(item, streams.pool)
            try:
                streams.add(run)
            except BaseException:
                self._discard(run)  # the shared sinks are not held, the name is free again
                raise
            return run.name

        def remove(name: str) -> None:
            streams.remove(name)

        for shared in self._shared:
            if isinstance(shared, SharedHttp):
                shared.add_stream, shared.remove_stream = add, remove

    def run_streams(self, *, handle_signals: bool = False, progress: bool = False) -> StreamsSummary:
        """Run every stream of a ``sources:`` config side by side; a stream's failure is in
        the returned summary (``summary.failed``), not raised.  ``progress``: one progress
        line on stderr for all of them (batch mode)."""
        self.summary = self.stream_set().run(handle_signals=handle_signals, progress=progress)
        return self.summary

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
        ValueError
            For a ``sources:`` config: run it with :meth:`run_streams`.
        """
        if self.config.several:
            raise ValueError("a config with sources: runs with Pipeline.run_streams()")
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
        A ``sources:`` config yields its first stream's frames.
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


#: A stream's handles on the sinks every stream shares.
HANDLES = (StatsHandle, HttpHandle, WindowHandle)


def _stop_reason(run: StreamRun) -> str | None:
    return run.summary.stop_reason if run.summary is not None else None


def _withdraw(sinks: list) -> None:
    """Let go of the shared sinks' handles among ``sinks`` for a stream that never ran:
    its stats handle is released (not kept), its http channel and its tile leave."""
    for sink in sinks:
        if isinstance(sink, HANDLES):
            sink.withdraw()


def _shared_sink(config: Config, component) -> SharedStats | SharedHttp | SharedWindow:
    """The one sink every stream of ``config`` shares for ``component`` (no ``{source}``)."""
    if component.name == "http":
        return SharedHttp(config.instance(component), lambda: config.instance(component))
    if component.name == "window":
        return SharedWindow(config.instance(component))
    return SharedStats(config.instance(component))
