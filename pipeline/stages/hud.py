"""``hud``: frame rate, threshold (or the canny pair) and latency written on the picture."""

from __future__ import annotations

import time
from collections.abc import Mapping

import cv2
import numpy as np

from pipeline.frame import Frame
from pipeline.config.registry import Param, register
from pipeline.stages import kinds
from pipeline.stages.base import Stage, bgr_color, require_uint8_image
from pipeline.stages.overlay import as_bgr

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
FONT = cv2.FONT_HERSHEY_SIMPLEX
MARGIN = 8
OUTLINE_OFFSETS = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy]


def hud_lines(fps: float | None, threshold: float | None, latency_ms: float | None,
              paused: bool = False, tuner: str | None = None,
              canny: str | None = None) -> list[str]:
    """The hud's text, one string per line; unknown values show as ``-``.

    ``tuner`` is the tuner's line (:func:`tuner_line`), ``canny`` the canny stage's
    (:func:`canny_line`); each is left out when None, and with a canny line the
    threshold's is left out unless a threshold is known.
    """
    lines = ["fps -" if fps is None else f"fps {fps:.1f}"]
    if canny is None or threshold is not None:  # a canny chain has no threshold to show
        lines.append("threshold -" if threshold is None else f"threshold {threshold:.0f}")
    lines.append("latency -" if latency_ms is None else f"latency {latency_ms:.0f} ms")
    if canny is not None:
        lines.append(canny)
    if tuner is not None:
        lines.append(tuner)
    if paused:
        lines.append("paused")
    return lines


def tuner_line(enabled: bool, steps: Mapping[str, dict] | None) -> str | None:
    """``tuner off``, or the last update's values and objective; None without a tuner.

    ``steps`` is what the controls publish (``snapshot().tuner``): each target's last
    step record.  The threshold's reads ``tuner 84 (objective -0.812)``; a target with
    several values names them (``tuner canny low 40 high 120 (objective ...)``).
    """
    if not steps:
        return None if enabled else "tuner off"
    if not enabled:
        return "tuner off"
    parts = []
    for target, step in steps.items():
        values = step["values"]
        if list(values) == [target]:
            shown = f"{values[target]:.0f}"
        else:
            shown = " ".join([target] + [f"{name} {value:.0f}" for name, value in values.items()])
        objective = step.get("objective")
        parts.append(f"{shown} (objective {'-' if objective is None else f'{objective:.3f}'})")
    return "tuner " + ", ".join(parts)


def canny_line(pair: Mapping[str, float] | None,
               manual: Mapping[str, float | None] | None = None) -> str | None:
    """``canny low 40 high 120``, a value set by hand marked ``(hand)``; None without a pair.

    ``pair`` is the canny stage's ``frame.side["canny"]``; ``manual`` the controls'
    ``snapshot().canny_manual``.
    """
    if pair is None:
        return None
    parts = ["canny"]
    for name in ("low", "high"):
        mark = " (hand)" if manual is not None and manual.get(name) is not None else ""
        parts.append(f"{name} {pair[name]:.0f}{mark}")
    return " ".join(parts)


def draw_hud(image: np.ndarray, lines: list[str], corner: str, color, font_scale: float,
             thickness: int) -> np.ndarray:
    """Write ``lines`` in a corner of a BGR copy of ``image`` with ``cv2.putText``.

    Each line gets a dark outline (the text shifted by one pixel in eight directions)
    under the coloured text, so it reads on bright and dark pictures alike.

    Returns
    -------
    ndarray, uint8, (H, W, 3)
        A new array.
    """
    out = as_bgr(image).copy()
    height, width = out.shape[:2]
    (_, text_height), baseline = cv2.getTextSize("Ag", FONT, font_scale, thickness)
    step = text_height + baseline + 4
    for number, line in enumerate(lines):
        (text_width, _), _ = cv2.getTextSize(line, FONT, font_scale, thickness)
        x = MARGIN if corner.endswith("left") else width - MARGIN - text_width
        if corner.startswith("top"):
            y = MARGIN + text_height + number * step
        else:
            y = height - MARGIN - baseline - (len(lines) - 1 - number) * step
        # The outline is the same text shifted a pixel each way: OpenCV 5 advances glyphs
        # by stroke width, so a thicker dark copy would not sit under the coloured one.
        for dx, dy in OUTLINE_OFFSETS:
            cv2.putText(out, line, (x + dx, y + dy), FONT, font_scale, (0, 0, 0), thickness,
                        cv2.LINE_AA)
        cv2.putText(out, line, (x, y), FONT, font_scale, tuple(int(c) for c in color),
                    thickness, cv2.LINE_AA)
    return out


@register("stage", "hud")
class Hud(Stage):
    """Draw the live fps, the threshold in use and the capture-to-sink latency (p95).

    fps and latency come from the run's controls (the engine publishes them a few times
    a second); without controls, latency is this frame's capture-to-here time.  The
    threshold is ``frame.side["threshold"]`` (left by ``threshold``); after a ``canny``
    stage a line shows its pair (``frame.side["canny"]``, values set by hand marked).
    Output is BGR.
    """

    params = (
        Param("corner", str, "top-left", choices=CORNERS, help="where the text goes"),
        Param("color", list, [255, 255, 255], min=0, max=255, help="text colour as [B, G, R]"),
        Param("font_scale", float, 0.6, min=0.1, max=10.0, help="cv2.putText font scale"),
        Param("thickness", int, 1, min=1, max=20, help="stroke width in pixels"),
    )
    accepts = kinds.PICTURES  # it writes on a uint8 copy (as_bgr)
    gives = kinds.COLOUR

    def check(self) -> None:
        self.color = bgr_color(self.color)

    def lines_for(self, frame: Frame) -> list[str]:
        """The text for ``frame``, from the controls' live stats and the frame's side values."""
        threshold = frame.side.get("threshold")
        if self.controls is None:
            latency_ms = (time.perf_counter() - frame.timestamp) * 1e3
            return hud_lines(None, threshold, latency_ms, canny=canny_line(frame.side.get("canny")))
        stats = self.controls.snapshot()
        fps = stats.fps if stats.frames_out else None
        latency_ms = stats.latency_p95_ms if stats.frames_out else None
        return hud_lines(fps, threshold, latency_ms, stats.paused,
                         tuner_line(stats.tuner_enabled, stats.tuner),
                         canny_line(frame.side.get("canny"), stats.canny_manual))

    def __call__(self, frame: Frame) -> Frame:
        require_uint8_image("hud", frame.image)
        frame.image = draw_hud(frame.image, self.lines_for(frame), self.corner, self.color,
                               self.font_scale, self.thickness)
        return frame
