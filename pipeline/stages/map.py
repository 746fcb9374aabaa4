"""``map``: render a derivative or magnitude as a uint8 picture (abs, shift, activation)."""

from __future__ import annotations

import numpy as np

from pipeline import ops
from pipeline.frame import Frame
from pipeline.config.registry import Param, register
from pipeline.stages import kinds
from pipeline.stages.base import Stage, require_default

MAP_MODES = ("abs", "shift", "activation")
# The names of pipeline.activations.ACTIVATIONS (a test keeps the two equal).  Importing
# that module compiles sixteen numba ufuncs, over a second, which every `edgepipe run`
# would pay even without an activation map; it is imported when one is used.
ACTIVATION_NAMES = ("sigmoid", "tanh", "softplus", "relu", "elu", "prelu", "selu", "swish")


def map_activation(d: np.ndarray, fn: str, center: float, width: float) -> np.ndarray:
    """Soft edges: ``clip(rint(255 * fn((d - center) / width)), 0, 255)`` as uint8.

    Parameters
    ----------
    d : ndarray, (H, W), any real dtype
        A magnitude or derivative.
    fn : str
        A name in :data:`pipeline.activations.ACTIVATIONS` (``sigmoid``, ``tanh``...).
    center, width : float
        ``center`` is the strength rendered at ``255 * fn(0)`` (half-bright for sigmoid);
        ``width`` is how many levels of strength one unit of ``fn``'s input spans.

    Returns
    -------
    ndarray, uint8, (H, W)
        Computed in float64; values of ``fn`` outside [0, 1] are clipped.
    """
    from pipeline.activations import ACTIVATIONS  # lazy: loads numba (0.3-0.8 s)

    if fn not in ACTIVATIONS:
        raise ValueError(f"fn must be one of {', '.join(ACTIVATIONS)}; got {fn!r}")
    if not isinstance(d, np.ndarray) or d.ndim != 2 or d.dtype.kind not in "uif" or d.size == 0:
        got = f"{d.dtype} {d.shape}" if isinstance(d, np.ndarray) else type(d).__name__
        raise ValueError(f"map needs a non-empty real (H, W) array; got {got}")
    if not width > 0:
        raise ValueError(f"width must be > 0; got {width!r}")
    function = ACTIVATIONS[fn][0]
    x = (d.astype(np.float64) - center) / width
    y = function(x)
    y *= 255.0
    np.rint(y, out=y)
    np.clip(y, 0.0, 255.0, out=y)
    return y.astype(np.uint8)


@register("stage", "map")
class Map(Stage):
    """Map a derivative or magnitude to uint8.

    ``abs``: ``min(255, |d| * scale)`` (:func:`pipeline.ops.map_abs`); ``shift``:
    ``d * scale + offset`` clipped (:func:`pipeline.ops.map_shift`), so the sign shows;
    ``activation``: soft edges ``255 * fn((d - center) / width)`` (:func:`map_activation`).

    Leaves ``frame.side["histogram"]``, the 256-bin histogram of its output: the picture
    the ``threshold`` stage and the tuner work on.  It is made here once a frame (the
    fused ``gradient, map`` step makes it in its own pass), unless the run's chain says
    nothing reads it (:attr:`leaves_histogram`).
    """

    params = (
        Param("mode", str, "abs", choices=MAP_MODES, help="abs | shift | activation"),
        Param("scale", float, 1.0, min=-1e6, max=1e6, help="factor (abs, shift)"),
        Param("offset", float, 127.5, min=-1e6, max=1e6, help="added after scaling (shift)"),
        Param("fn", str, "sigmoid", choices=ACTIVATION_NAMES, help="activation function"),
        Param("center", float, 0.0, min=-1e6, max=1e6, help="strength at fn(0) (activation)"),
        Param("width", float, 1.0, min=1e-6, max=1e6, help="strength per unit of fn input (activation)"),
    )
    accepts = (kinds.MAGNITUDE, kinds.DERIVATIVE)
    gives = kinds.EDGE_MAP

    def check(self) -> None:
        if self.mode != "activation":
            for name in ("fn", "center", "width"):
                require_default(self, name, "applies only with mode activation")
        if self.mode != "shift":
            require_default(self, "offset", "applies only with mode shift")
        if self.mode == "activation":
            require_default(self, "scale", "applies only with mode abs or shift "
                                           "(activation scales by width)")

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.mode == "abs":
            return ops.map_abs(image, self.scale)
        if self.mode == "shift":
            return ops.map_shift(image, self.offset, self.scale)
        return map_activation(image, self.fn, self.center, self.width)

    #: Whether to leave the histogram; :meth:`~pipeline.stages.chain.Chain.leave_histograms`
    #: turns it off when no later stage and no tuner reads it.
    leaves_histogram = True

    def __call__(self, frame: Frame) -> Frame:
        frame.image = self.apply(frame.image)
        if self.leaves_histogram:
            frame.side["histogram"] = ops.histogram(frame.image)
        return frame
