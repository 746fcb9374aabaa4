"""The process entry points: the ``edgepipe`` console script, ``python -m pipeline`` and
``python -m pipeline.batch``, each inside the guard (:mod:`pipeline.cli.guard`).

The guard is in place, OpenCV's own log lines are off and OpenBLAS's idle threads sleep
(:func:`~pipeline.cli.guard.idle_blas_threads`) before the commands are imported: this
module imports only the guard at module level.
"""

from __future__ import annotations

import sys

from pipeline.cli.guard import guarded, idle_blas_threads, quiet_native_logs, skip_final_collection


def _edgepipe(argv) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    quiet_native_logs(argv)
    idle_blas_threads()
    from pipeline.cli.main import main  # lazy: imported under the guard (it loads OpenCV, PyAV)

    return main(argv)


def _batch(argv) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    quiet_native_logs(argv)
    idle_blas_threads()
    from pipeline.cli.batch import main  # lazy: imported under the guard (it loads OpenCV)

    return main(argv)


def main(argv=None) -> int:
    """Run ``edgepipe`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    return guarded(_edgepipe, argv)


def console() -> int:
    """The ``edgepipe`` console script and ``python -m pipeline``: :func:`main`, then
    :func:`~pipeline.cli.guard.skip_final_collection` (the process ends next)."""
    code = main()
    skip_final_collection()
    return code


def batch_console() -> int:
    """``python -m pipeline.batch CONFIG``: the batch command alone, in the same guard."""
    code = guarded(_batch, None)
    skip_final_collection()
    return code
