"""The OpenCV tier: :mod:`pipeline.ops` through OpenCV and numpy, byte for byte.

Until the numba kernels are compiled (or loaded from the on-disk cache) a chain runs on
this tier (:mod:`pipeline.stages.tiers`), so the first frame does not wait for numba.
Every function here returns exactly what the kernel behind the :mod:`pipeline.ops`
function of the same name returns for the same, already checked, arguments:

* grey: ``cv2.cvtColor`` (what the kernel is bit-exact with);
* derivatives: ``cv2.filter2D`` with the 3x3 stencil to int16, exact for uint8 input
  (every partial sum is a small integer) under ``reflect101`` (OpenCV's default) and
  ``replicate``;
* magnitude and mappings: numpy in float32, the same operations in the same order as
  :mod:`pipeline.kernels.maps` (no FMA there: ``fastmath`` is off), so the same rounding;
* histogram: ``np.bincount``; threshold: numpy's comparison; Canny: ``cv2.Canny``.

Inputs this tier does not cover exactly (float32 derivatives, the ``zero`` border,
frames under 2 pixels on a side) go to the kernel itself: they cost what they cost
before tiers existed, and the output stays the same.  ``tests/kernels/test_tiers.py``
compares every function with its kernel.

:data:`ACTIVE` says, per thread (a context variable), whether :mod:`pipeline.ops`
routes here; :class:`~pipeline.stages.chain.Chain` sets it around each frame.
"""

from __future__ import annotations

import contextvars

import cv2
import numpy as np

#: Whether the :mod:`pipeline.ops` calls of this thread run on this tier.
ACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("edgepipe_opencv_tier",
                                                               default=False)

_BORDERS = {"reflect101": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE}
_GREY_CODES = {3: cv2.COLOR_BGR2GRAY, 4: cv2.COLOR_BGRA2GRAY}


def active() -> bool:
    """Whether this thread's :mod:`pipeline.ops` calls run on the OpenCV tier now."""
    return ACTIVE.get()


def covers_derivative(gray: np.ndarray, border: str) -> bool:
    """Whether :func:`derivative` is exact for this input (else the kernel runs)."""
    return gray.dtype == np.uint8 and border in _BORDERS and min(gray.shape[:2]) >= 2


def grayscale(frame: np.ndarray) -> np.ndarray:
    """Grey of a checked uint8 frame with 1, 3 or 4 channels (a grey frame as it is)."""
    if frame.ndim == 2:
        return frame
    if frame.shape[2] == 1:
        return frame[:, :, 0].copy()
    return cv2.cvtColor(frame, _GREY_CODES[frame.shape[2]])


#: :func:`expand_luma` as ``a * Y + b``: ``(Y - 16) * 255 / 219``.
_EXPAND_SCALE, _EXPAND_OFFSET = 255.0 / 219.0, -16.0 * 255.0 / 219.0


def expand_luma(luma: np.ndarray) -> np.ndarray:
    """Limited-range luma (16-235) to full-range grey (0-255), a new C-contiguous array.

    ``cv2.addWeighted(luma, 255/219, luma, 0, -16*255/219)`` (SIMD, rounded to nearest,
    saturated) gives ``round((Y - 16) * 255 / 219)`` clipped for every input: no
    ``(Y - 16) * 255 / 219`` lies closer than 0.0068 to a half, far beyond float32's
    error, so any vector path rounds the same way.  It takes about half the time of
    ``cv2.LUT`` with the table (0.12 against 0.27 ms at 720p).
    """
    return cv2.addWeighted(luma, _EXPAND_SCALE, luma, 0.0, _EXPAND_OFFSET)


def derivative(gray: np.ndarray, horizontal: np.ndarray, vertical: np.ndarray,
               border: str) -> np.ndarray:
    """int16 correlation of uint8 ``gray`` with ``outer(vertical, horizontal)``."""
    stencil = np.outer(vertical, horizontal).astype(np.float32)
    return cv2.filter2D(gray, cv2.CV_16S, stencil, borderType=_BORDERS[border])


def _float32(d: np.ndarray) -> np.ndarray:
    return d if d.dtype == np.float32 else d.astype(np.float32)


def magnitude(dx: np.ndarray, dy: np.ndarray, l1: bool) -> np.ndarray:
    """``|dx| + |dy|`` or ``sqrt(dx*dx + dy*dy)`` in float32, as ``maps.magnitude_value``."""
    dx, dy = _float32(dx), _float32(dy)
    if l1:
        return np.abs(dx) + np.abs(dy)
    return np.sqrt(dx * dx + dy * dy)


def _to_u8(v: np.ndarray) -> np.ndarray:
    # As maps.abs_to_u8 / shift_to_u8: above 255 -> 255, [0, 255] as is, below 0 and NaN -> 0.
    with np.errstate(invalid="ignore"):
        return np.where(v > 255, np.float32(255), np.where(v >= 0, v, np.float32(0))).astype(np.uint8)


def map_abs(d: np.ndarray, scale: np.float32) -> np.ndarray:
    """``min(255, rint(|d| * scale))`` as uint8, in float32 (NaN -> 0)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _to_u8(np.rint(np.abs(_float32(d)) * scale))


def map_shift(d: np.ndarray, offset: np.float32, scale: np.float32) -> np.ndarray:
    """``clip(rint(d * scale + offset), 0, 255)`` as uint8, in float32 (NaN -> 0)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _to_u8(np.rint(_float32(d) * scale + offset))


def threshold(m: np.ndarray, t) -> np.ndarray:
    """255 where ``m > t`` else 0 (``t`` typed as the kernel gets it)."""
    out = np.greater(m, t).view(np.uint8)
    out *= 255
    return out


def histogram(image: np.ndarray) -> np.ndarray:
    """256-bin int64 histogram of a uint8 image."""
    return np.bincount(image.reshape(-1), minlength=256).astype(np.int64, copy=False)


def edges(frame, horizontal_x, vertical_x, horizontal_y, vertical_y, border, l1, shift,
          scale, offset) -> np.ndarray:
    """The fused pass of :func:`pipeline.ops.edges` as its composition (a new array).

    :func:`magnitude` then :func:`map_abs` or :func:`map_shift`, in place: a magnitude
    of int16 derivatives is finite and at least 0, so ``|m|`` is ``m`` and no NaN
    needs mapping to 0.
    """
    grey = grayscale(frame)
    m = derivative(grey, horizontal_x, vertical_x, border).astype(np.float32)
    y = derivative(grey, horizontal_y, vertical_y, border).astype(np.float32)
    if l1:
        np.abs(m, out=m)
        m += np.abs(y, out=y)
    else:
        m *= m
        y *= y
        m += y
        np.sqrt(m, out=m)
    with np.errstate(over="ignore", invalid="ignore"):
        if scale != 1:
            m *= scale
        if shift:
            m += offset
    np.rint(m, out=m)
    np.clip(m, 0, 255, out=m)
    return m.astype(np.uint8)


def canny(image: np.ndarray, low: float, high: float, l2: bool) -> np.ndarray:
    """``cv2.Canny`` of the grey image (the thresholds as the user gave them)."""
    return cv2.Canny(grayscale(image), float(low), float(high), apertureSize=3,
                     L2gradient=bool(l2))


#: While a list: each :mod:`pipeline.ops` call of this thread is appended as a
#: :class:`Call`, so the kernels it needs can be made ready elsewhere (its signature).
RECORDING: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "edgepipe_ops_recording", default=None)


class _Array:
    """A copy of an array argument that keeps its dtype, shape and strides (its layout,
    which picks numba's compiled version); pickles as such, unlike a strided view."""

    def __init__(self, a: np.ndarray):
        self.dtype, self.shape, self.strides = a.dtype.str, a.shape, a.strides
        if a.size == 0 or any(s < 0 for s in a.strides):
            self.buffer, self.strides = np.ascontiguousarray(a).tobytes(), None
            return
        extent = sum((n - 1) * s for n, s in zip(a.shape, a.strides)) + a.itemsize
        buffer = bytearray(extent)
        self._view(buffer)[...] = a
        self.buffer = bytes(buffer)

    def _view(self, buffer) -> np.ndarray:
        flat = np.frombuffer(buffer, np.uint8)
        if self.strides is None:
            return flat.view(self.dtype).reshape(self.shape)
        return np.lib.stride_tricks.as_strided(flat.view(self.dtype)[:1], self.shape,
                                               self.strides, writeable=True)

    def array(self) -> np.ndarray:
        return self._view(bytearray(self.buffer))


def _keep(value):
    return _Array(value) if isinstance(value, np.ndarray) else value


def _make(value):
    return value.array() if isinstance(value, _Array) else value


class Call:
    """One recorded :mod:`pipeline.ops` call: its name and copies of its arguments."""

    def __init__(self, name: str, args: tuple, kwargs: dict):
        self.name = name
        self.args = tuple(_keep(a) for a in args)
        self.kwargs = {k: _keep(v) for k, v in kwargs.items()}

    def __repr__(self) -> str:
        return f"Call({self.name!r})"

    def __call__(self, ops_module):
        """Make the call again (on whichever tier this thread is on)."""
        return getattr(ops_module, self.name)(*(_make(a) for a in self.args),
                                               **{k: _make(v) for k, v in self.kwargs.items()})


def recorded(function):
    """Decorate an op so that :data:`RECORDING` sees its calls."""
    name = function.__name__

    def call(*args, **kwargs):
        calls = RECORDING.get()
        if calls is not None:
            calls.append(Call(name, args, kwargs))
        return function(*args, **kwargs)

    call.__name__, call.__qualname__, call.__doc__ = name, function.__qualname__, function.__doc__
    call.__module__, call.__wrapped__ = function.__module__, function
    return call
