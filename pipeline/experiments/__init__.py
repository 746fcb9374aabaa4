"""``edgepipe experiment CONFIG``: grids of optimizer runs, every iteration to CSV, plots.

An experiment config crosses inputs with optimizers (a list value in an optimizer spec
is a grid axis) and, for functions, with starting points::

    version: 1
    name: local-minimum
    seed: 0                      # for random starting points
    iterations: 150              # per run (per frame for video inputs)
    inputs:
      - function: double_well    # x^4 - 3x^2 + x: local min near 1.13, global near -1.30
        starts: [2.0]            # or {random: 5, low: -2, high: 2}
      - video: clips/*.mp4       # or synthetic: {width: 320, height: 240, length: 60}
        objective: otsu          # otsu | density | agreement (against cv2.Canny)
        start: 128               # threshold on the first frame; later frames warm-start
      - video: samples/tree.avi  # Canny's pair: multiotsu walks (low, high) in 2D
        objective: multiotsu
        start: [20, 40]          # or auto: the canny stage's rule of thumb
    optimizers:
      - {name: sgd, lr: 0.01}
      - {name: momentum, lr: 0.01, gamma: [0.5, 0.9]}

Outputs, in ``output`` (default ``out/experiments/NAME``): ``iterations.csv`` (one row
per iteration of every run, numbers written exactly), ``summary.json`` (per run: where it
ended, the error, which known minimum it is nearest), and one PNG per input (loss or
error against iteration per optimizer, and the path; for videos the threshold over
frames).  Paths in the config are relative to the current directory, like a pipeline
config's.  The config is checked by :mod:`pipeline.config.experiment`.

Function inputs use :func:`~pipeline.optim.minimize` with the seed's central-difference
gradient unless ``gradient: analytic``; video inputs compute each frame's magnitude
histogram with :func:`pipeline.ops.edges` and run
:func:`~pipeline.optim.tune_threshold` per frame, warm-started from the previous frame;
with ``objective: multiotsu`` the histogram is of the Sobel magnitude ``cv2.Canny``
thresholds and :func:`~pipeline.optim.tune_pair` walks the pair, each step projected
onto ``low <= high``; its plot is the first frame's surface as a contour map with every
optimizer's path, beside the pair over the frames.

A config with a ``dataset:`` key is of the other kind, ``quality``: edge maps scored by
the BSDS500 boundary benchmark (:mod:`pipeline.config.quality`).
"""

import importlib

# What each public name is imported from, on first use (PEP 562): ``edgepipe run`` and
# ``edgepipe --version`` build the ``experiment`` sub-command's parser
# (:mod:`pipeline.cli.experiment`) and must not pay for the runners' imports (the tuner,
# matplotlib, seconds of start-up).
_FROM = {
    "FUNCTIONS": "functions", "NEAR": "functions", "TestFunction": "functions",
    "CSV_COLUMNS": "output",
    "Run": "runners", "run_experiment": "runners",
}

__all__ = ["CSV_COLUMNS", "FUNCTIONS", "NEAR", "Run", "TestFunction", "run_experiment"]


def __getattr__(name: str):
    if name not in _FROM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FROM))
