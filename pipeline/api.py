"""Push your own frames through a configured chain: ``edges, side = chain(image)``.

What OpenCV users write in a loop, and what GStreamer's ``appsrc``/``appsink`` give: the
caller owns the frames (a camera it opened, a video it decodes, a numpy array it made)
and gets each edge image back with the side values the stages left::

    import cv2
    from pipeline import Chain

    chain = Chain.from_stages(["grayscale", {"gradient": {"kind": "sobel"}}, "map",
                               {"threshold": {"value": "auto"}}], tuner={"every": 5})
    capture = cv2.VideoCapture(0)
    ok, image = capture.read()
    while ok and cv2.waitKey(1) != 27:    # Esc ends it
        edges, side = chain(image)        # side["threshold"]: the level used
        cv2.imshow("edges", edges)
        ok, image = capture.read()

Only the config's stages and tuner are used here; its source, sinks and ``runtime:``
belong to :class:`~pipeline.pipeline.Pipeline`.  The chain is the one a run builds
(:class:`pipeline.stages.chain.Chain`, fused steps and all), warmed on the first frame as
a run warms it (:func:`pipeline.runtime.warmup.warm_chain`), so the output is the same
bytes as ``Pipeline(...).frames()`` on the same frames.

The tuner steps in the caller's thread after every ``every``-th frame (the value it
publishes is used from the next frame on), so the same frames give the same output;
``background=True`` runs it on its own thread instead, as a run does.
"""

from __future__ import annotations

import os
import time
from typing import Any, Iterable, Mapping, NamedTuple

import numpy as np

from pipeline.config.run import Config
from pipeline.config.document import ConfigError
from pipeline.errors import EdgepipeError
from pipeline.frame import Frame, describe_image, stage_image
from pipeline.config.registry import ParamError, check_settings, lookup
from pipeline.controls import Controls
from pipeline.runtime.tuner import Tuner, check_tuner_settings
from pipeline.runtime.warmup import warm_chain
from pipeline.stages import kinds
from pipeline.stages.base import Stage
from pipeline.stages.chain import Chain as StageChain

#: The file named in errors about a chain given as Python data.
FROM_STAGES = "<stages>"


class FrameError(EdgepipeError, ValueError):
    """An array given to :class:`Chain` is not a frame: names what it got and what works."""


class Result(NamedTuple):
    """What one call gives: the chain's last image and the frame's side values.

    ``side`` holds what the stages left: ``"threshold"`` (the level used),
    ``"canny"`` (``{"low", "high"}``), ``"histogram"`` (256 bins of the last map),
    ``"tuner"`` (the tuner's last step per target, once it made one).
    """

    image: np.ndarray
    side: dict

    @property
    def threshold(self) -> float | None:
        """The threshold the chain used on this frame, or None without a threshold stage."""
        return self.side.get("threshold")


class Chain:
    """A chain of stages (and a tuner) called on the caller's own frames.

    Parameters
    ----------
    stages : sequence of Stage
        Built stages, in order.
    tuner : dict, optional
        Checked ``tuner:`` settings; build through :meth:`from_stages` or
        :meth:`from_yaml`, which check them.
    background : bool
        Run the tuner on its own thread (as a run does) instead of stepping it in
        the calling thread; call :meth:`close` (or use ``with``) at the end.

    Attributes
    ----------
    controls : Controls
        The chain's run controls (what the stages read: the tuned and manual values).
    tuner : Tuner or None
    frames : int
        Frames pushed so far.
    """

    def __init__(self, stages: Iterable[Stage], tuner: Mapping | None = None, *,
                 background: bool = False):
        self._chain = StageChain(list(stages))
        self._chain.leave_histograms(read_after=True)  # every side value, as frames() gives
        self.controls = Controls(tuner_available=tuner is not None)
        self.tuner = None
        self.background = background
        if tuner is not None:
            self.tuner = Tuner(tuner, self.controls)
            if background:
                self.tuner.start()
        self._chain.bind(self.controls)
        self.frames = 0

    # ------------------------------------------------------------------ building
    @classmethod
    def from_config(cls, config: Config, *, background: bool = False) -> "Chain":
        """The stages and tuner of a checked :class:`~pipeline.config.Config`."""
        _, stages, _ = config.build()
        return cls(stages, config.tuner, background=background)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: list[str] | tuple = (), *,
                  background: bool = False) -> "Chain":
        """The stages and tuner of a run config (its source and sinks are not used).

        Raises
        ------
        ConfigError
            Naming the file, line and key.
        """
        return cls.from_config(Config.from_yaml(path, overrides), background=background)

    @classmethod
    def from_dict(cls, data: dict, overrides: list[str] | tuple = (), *,
                  background: bool = False) -> "Chain":
        """As :meth:`from_yaml`, from a config given as Python data."""
        return cls.from_config(Config.from_dict(data, overrides), background=background)

    @classmethod
    def from_stages(cls, stages: Iterable[Any], tuner: Mapping | None = None, *,
                    background: bool = False) -> "Chain":
        """A chain from a ``stages:`` list: names, ``{name: {settings}}``, or Stage objects.

        ``tuner`` is a ``tuner:`` section (``{}`` for every default).  The chain is
        checked as a config's is: unknown stages and keys, a stage that cannot take what
        the one before gives (from a colour frame; ``grayscale`` takes grey ones too).

        Raises
        ------
        ConfigError
            With ``key`` the place at fault, e.g. ``stages.1.gradient.kind``.
        """
        stages = list(stages)
        if not any(isinstance(entry, Stage) for entry in stages):
            data = {"version": 1, "stages": stages}
            if tuner is not None:
                data["tuner"] = dict(tuner)
            return cls.from_config(Config.from_dict(data, file=FROM_STAGES), background=background)
        built = [entry if isinstance(entry, Stage) else _build_entry(index, entry)
                 for index, entry in enumerate(stages)]
        steps = [(stage.label, stage.accepts, stage.output_kind) for stage in built]
        for index, message in kinds.check_flow(steps):
            raise ConfigError(message, FROM_STAGES, None, f"stages.{index}")
        return cls(built, None if tuner is None else _check_tuner(tuner, built),
                   background=background)

    # ------------------------------------------------------------------ running
    def __call__(self, image: np.ndarray) -> Result:
        """Run the chain on ``image`` (uint8 BGR (H, W, 3) or grey (H, W)).

        Raises
        ------
        FrameError
            ``image`` is not a frame.
        StageError
            A stage failed (names the stage and the frame).
        """
        image = _as_frame(image, self.frames)
        index = self.frames
        if index == 0:
            self._chain.bind(None)  # the warm-up must not show in the controls
            try:
                warm_chain(self._chain, image)
            finally:
                self._chain.bind(self.controls)
        frame = self._chain(Frame(index, time.perf_counter(), image, image))
        self.frames += 1
        if self.tuner is not None:
            histogram = frame.side.get("histogram")
            if histogram is not None and self.tuner.offer(index, histogram) and not self.background:
                self.tuner.handle(histogram, index)
            records = self.controls.tuned.records()
            if records is not None:
                frame.side["tuner"] = records
        return Result(frame.image, frame.side)

    def close(self) -> None:
        """Stop the tuner's thread (``background=True``); the chain stays callable."""
        if self.tuner is not None and self.background:
            self.tuner.stop()

    def __enter__(self) -> "Chain":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def stages(self) -> list[Stage]:
        """The stages as given (:attr:`steps` is what runs)."""
        return self._chain.stages

    @property
    def steps(self) -> list[Stage]:
        """What runs: fusable ``[grayscale,] gradient, map`` merged into one pass."""
        return self._chain.steps

    def __repr__(self) -> str:
        stages = ", ".join(stage.label for stage in self.stages)
        tuner = "" if self.tuner is None else f", tuner={self.tuner!r}"
        return f"Chain([{stages}]{tuner})"


def _build_entry(index: int, entry: Any) -> Stage:
    """One ``stages:`` entry (a name or ``{name: settings}``) built, errors placed."""
    if isinstance(entry, dict) and len(entry) == 1:
        (name, settings), = entry.items()
    elif isinstance(entry, str):
        name, settings = entry, None
    else:
        raise ConfigError(f"each stage is a name, one 'name: {{settings}}' mapping or a Stage "
                          f"object; got {entry!r}", FROM_STAGES, None, f"stages.{index}")
    try:
        cls = lookup("stage", name)
        return cls(**check_settings(cls, settings))
    except ParamError as exc:
        key = f"stages.{index}" if exc.key == "name" else f"stages.{index}.{name}.{exc.key}"
        raise ConfigError(exc.message, FROM_STAGES, None, key) from None


def _check_tuner(tuner: Mapping, stages: list[Stage]) -> dict:
    """A ``tuner:`` section checked as a config's is, against built stages."""
    try:
        checked = check_tuner_settings(dict(tuner))
    except ParamError as exc:
        raise ConfigError(exc.message, FROM_STAGES, None, f"tuner.{exc.key}") from None
    if checked["targets"] == "canny" and not any(
            getattr(stage, "registry_name", None) == "canny" and stage.automatic for stage in stages):
        raise ConfigError("targets canny tunes a canny stage with low or high auto, and the "
                          "chain has none; add {'canny': {'low': 'auto', 'high': 'auto'}}",
                          FROM_STAGES, None, "tuner.targets")
    return checked


def _as_frame(image: Any, index: int) -> np.ndarray:
    """``image`` as the stages take it: uint8 grey (H, W) or BGR (H, W, 3).

    (H, W, 1) becomes (H, W) (a view) and BGRA becomes BGR (a copy), as frames from a
    source do (:func:`pipeline.io.base.frame_image`).
    """
    checked = stage_image(image)
    if checked is not None:
        return checked
    raise FrameError(f"frame {index}: got {describe_image(image)}; a frame is a non-empty uint8 "
                     "grey (H, W) or BGR (H, W, 3) array (convert with image.astype(np.uint8) or "
                     "cv2.cvtColor first)")
