"""What a worker runs: one file, or one step of a split file.

Every task takes one plain ``dict`` (picklable, small) and returns one plain ``dict``:
``{"ok": True, ...numbers...}`` or ``{"ok": False, "error": "one line"}``.  An error
in the file (it does not decode, a stage fails on it) is an answer, not an exception,
so an executor retries only what is worth retrying: a worker process that died.

Nothing heavy is imported at module level (the function-level imports are marked
``# lazy:``): :func:`prepare_process` must cap numba's and OpenCV's threads before
numba loads (``NUMBA_NUM_THREADS`` is read at import; ``numba.set_num_threads`` only
affects the calling thread, not the engine's processing thread).  The module-level
imports load neither numba nor OpenCV.

Outputs are written under a hidden *staging* name next to the final one
(``.cam2_edges.mp4.part-<pid>-<token>-batch.mp4``, from :mod:`pipeline.io.outputs`,
which owns every temporary name; the video sink itself writes under its own
temporary name and renames onto the staging name) and renamed onto the final name
only after the run ended at the end of the stream with every frame written.  However a
worker dies, a file with the final name is a finished one.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from pathlib import Path

from pipeline.config.document import ConfigError
from pipeline.config.registry import build
from pipeline.controls import Controls
from pipeline.errors import EdgepipeError
from pipeline.frame import Frame

#: Environment variables that carry the per-worker thread cap into libraries that
#: read them when they load or open a file.
THREAD_ENV = ("NUMBA_NUM_THREADS",)
#: Decoder and encoder threads per file for PyAV (``THREADS_ENV`` of
#: ``pipeline.io.media.reader`` and ``.writer``; spelled out here so that capping threads
#: imports nothing heavy).
DECODE_THREADS = "EDGEPIPE_DECODE_THREADS"
ENCODE_THREADS = "EDGEPIPE_ENCODE_THREADS"

_prepared: int | None = None

#: Set by a pool worker (:mod:`pipeline.batch.executors`): called as
#: ``frame_progress(frames_written, frames_expected_or_None)`` while a task runs, about
#: four times a second, so the driver's bar moves within a file.
frame_progress = None


def _reporting_controls(expected: int | None):
    """Run controls that pass the frames written so far to :data:`frame_progress`, or None."""
    report = frame_progress
    if report is None:
        return None
    class ReportingControls(Controls):
        def publish_stats(self, **values) -> None:
            super().publish_stats(**values)
            if "frames_out" in values:
                report(values["frames_out"], expected)

    report(0, expected)
    return ReportingControls()


def _container_frames(path: str) -> int | None:
    """The frame count the container states (cheap: no decoding), for the bar only."""
    if frame_progress is None:
        return None
    import cv2  # lazy: after prepare_process capped its threads

    capture = cv2.VideoCapture(path)
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    finally:
        capture.release()
    return count if count > 0 else None


def prepare_process(threads: int) -> None:
    """Cap this process's compute threads at ``threads`` (call before any pipeline import).

    Sets ``NUMBA_NUM_THREADS`` (if numba has not loaded yet), OpenCV's thread pool
    (``cv2.setNumThreads``) and FFmpeg's decoder and encoder threads
    (``EDGEPIPE_DECODE_THREADS``, ``EDGEPIPE_ENCODE_THREADS``, read by the PyAV reader
    and writer, unless the user set them), so ``workers x threads`` stays within the
    cores (x264 alone would start 1.5 threads per core in every worker).
    """
    global _prepared
    if _prepared == threads:
        return
    threads = max(1, int(threads))
    if "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = str(threads)
    else:  # a worker that already loaded numba (dask worker reused): best effort
        import numba  # lazy: loaded already here (this branch runs only then)

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    os.environ.setdefault(DECODE_THREADS, str(threads))
    os.environ.setdefault(ENCODE_THREADS, str(threads))
    # an undecodable file is reported once, in the manifest, not also by OpenCV's log
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    import cv2  # lazy: after OPENCV_LOG_LEVEL is set, just above

    cv2.setNumThreads(threads)
    _prepared = threads


def warm_up(threads: int) -> str:
    """Cap threads, then load numba, the kernels and every stage (about 2 s, once).

    Workers call this when they start, so the first file's time is its own and every
    worker loads in parallel with the driver's planning.  Returns :func:`worker_name`.
    """
    prepare_process(threads)
    from pipeline.config.run import load_plugins  # lazy: loads OpenCV, PyAV: after the thread cap

    load_plugins()
    import pipeline.pipeline  # noqa: F401  # lazy: loads OpenCV, PyAV: after the thread cap

    return worker_name()


def worker_name() -> str:
    """``host:pid`` of this process, for the manifest."""
    return f"{socket.gethostname()}:{os.getpid()}"


def staging_path(final: str) -> str:
    """The hidden name a finished output has until it is checked and renamed."""
    from pipeline.io.temporaries import temporary_path  # lazy: loads OpenCV, PyAV: after the thread cap

    return str(temporary_path(final, "batch"))


def _failure(exc: BaseException) -> dict:
    from pipeline.io.base import SinkError, SourceError  # lazy: loads OpenCV, PyAV: after the thread cap
    from pipeline.stages.base import StageError  # lazy: loads OpenCV: after the thread cap

    known = (SourceError, SinkError, StageError, ConfigError, TaskError)
    text = str(exc) if isinstance(exc, known) else f"{type(exc).__name__}: {exc}"
    return {"ok": False, "error": " ".join(text.split()), "worker": worker_name()}


class TaskError(EdgepipeError):
    """A task's own check failed (a short run, a part that landed on the wrong frame)."""


def _guarded(task, payload: dict) -> dict:
    """Run ``task(payload)`` with the thread cap; any error becomes ``{"ok": False}``."""
    prepare_process(payload.get("threads", 1))
    try:
        result = task(payload)
    except Exception as exc:  # noqa: BLE001  (reported per file, the job goes on)
        failure = _failure(exc)
        if payload.get("output"):  # the user's path, never the hidden staging name
            failure["error"] = failure["error"].replace(staging_path(payload["output"]), payload["output"])
        return failure
    result.update(ok=True, worker=worker_name())
    return result


def _process_file(payload: dict) -> dict:
    """One input through the chain into its output, via Pipeline (batch mode).

    Payload: ``input``, ``output``, ``stages``, ``video`` (the sink's settings), ``threads``.
    Returns ``frames``, ``seconds``, ``fps``.
    """
    from pipeline.config.batch import file_run_config  # lazy: loads OpenCV, PyAV: after the thread cap
    from pipeline.io.outputs.commit import commit  # lazy: loads OpenCV, PyAV: after the thread cap
    from pipeline.io.outputs.folders import remove_quietly  # lazy: loads OpenCV, PyAV: after the thread cap
    from pipeline.pipeline import Pipeline  # lazy: loads OpenCV, PyAV: after the thread cap

    final = payload["output"]
    staging = staging_path(final)
    config = file_run_config(payload["input"], staging, payload["stages"], payload.get("video"))
    started = time.perf_counter()
    try:
        controls = _reporting_controls(_container_frames(payload["input"]))
        summary = Pipeline.from_dict(config).run(controls=controls)
        if summary.stop_reason != "end of stream" or summary.frames_out != summary.frames_in:
            raise TaskError(f"the run stopped early ({summary.stop_reason}; {summary.frames_out} "
                            f"of {summary.frames_in} frames written)")
        if summary.frames_out == 0 or not os.path.exists(staging):
            raise TaskError(f"no frame of {payload['input']!r} decoded, so nothing was written")
        commit(staging, final)
    except BaseException:
        remove_quietly(Path(staging))
        raise
    seconds = time.perf_counter() - started
    return {"frames": summary.frames_out, "seconds": seconds,
            "fps": summary.frames_out / seconds if seconds > 0 else 0.0}


def _probe_file(payload: dict) -> dict:
    """Frame count, fps and boundary pts of a file to split.

    Payload: ``input``, ``frames`` (per part), ``threads``.
    """
    from pipeline.batch.split import probe  # lazy: loads OpenCV, PyAV: after the thread cap

    started = time.perf_counter()
    result = probe(payload["input"], payload["frames"])
    result["seconds"] = time.perf_counter() - started
    return result


def _process_part(payload: dict) -> dict:
    """Frames ``[start, start + count)`` of a file through the chain, as lossless PNGs.

    Payload: ``input``, ``start``, ``count``, ``total``, ``boundaries``, ``seek``,
    ``stages``, ``folder``, ``threads``.  A part positioned by seeking that turns out
    to have landed elsewhere is redone by decoding from the start.  The frames' pts go
    to the part's ``pts.txt`` for the join.
    """
    from pipeline.batch.split import (  # lazy: loads OpenCV, PyAV: after the thread cap
        PART_FRAME_PATTERN, FrameRangeSource, write_part_pts)
    from pipeline.config.batch import file_run_config  # lazy: loads OpenCV, PyAV: after the thread cap
    from pipeline.config.run import Config  # lazy: loads OpenCV, PyAV: after the thread cap
    from pipeline.runtime.engine import Engine  # lazy: loads OpenCV, PyAV: after the thread cap
    from pipeline.stages.chain import Chain, ask_for_luma  # lazy: loads OpenCV, PyAV: after the thread cap

    folder = payload["folder"]
    pattern = os.path.join(folder.replace("{", "{{").replace("}", "}}"), PART_FRAME_PATTERN)
    config = Config.from_dict(file_run_config(payload["input"], "unused.mp4", payload["stages"]))
    started = time.perf_counter()
    seek = payload.get("seek", "verify")
    while True:
        shutil.rmtree(folder, ignore_errors=True)
        _, stages, _ = config.build()
        source = FrameRangeSource(payload["input"], payload["start"], payload["count"],
                                  payload["boundaries"], seek=seek, total=payload["total"])
        ask_for_luma(source, stages)  # grayscale from: luma, as Config.build does
        sink = build("sink", "images", {"path": pattern, "png_compression": 1})
        summary = Engine(source, Chain(stages), [sink], mode="batch",
                         controls=_reporting_controls(payload["count"])).run()
        if source.ended_right and summary.frames_out == payload["count"]:
            break
        if source.positioned_by == "seek":
            seek = "exact"  # the seek landed elsewhere: decode from the start instead
            continue
        raise TaskError(f"frames {payload['start']}..{payload['start'] + payload['count'] - 1} of "
                        f"{payload['input']!r} did not decode as the probe saw them "
                        f"({summary.frames_out} delivered); was the file changed while the job ran?")
    write_part_pts(folder, source.delivered_pts)
    seconds = time.perf_counter() - started
    return {"frames": summary.frames_out, "seconds": seconds, "positioned_by": source.positioned_by}


def _join_parts(payload: dict) -> dict:
    """Every part's frames, in order and at their pts, into one video sink, then onto the final name.

    Payload: ``input``, ``output``, ``parts`` (list of ``[folder, frames]``), ``fps``,
    ``video`` (the sink's settings), ``threads``.  The sink is told the input file (``set_input``) as an
    unsplit run tells it, so it copies the input's sound.
    """
    from pipeline.batch.split import (  # lazy: loads OpenCV, PyAV: after the thread cap
        read_part_frames, read_part_pts)
    from pipeline.io.base import MediaInput  # lazy: loads OpenCV, PyAV: after the thread cap
    from pipeline.io.outputs.commit import commit  # lazy: loads OpenCV, PyAV: after the thread cap
    from pipeline.io.outputs.folders import remove_quietly  # lazy: loads OpenCV, PyAV: after the thread cap
    from pipeline.runtime.engine import DEFAULT_FPS  # lazy: loads OpenCV, PyAV: after the thread cap

    final = payload["output"]
    staging = staging_path(final)
    sink = build("sink", "video", {"path": staging, **(payload.get("video") or {})})
    sink.check()
    started = time.perf_counter()
    index = 0
    opened = False
    try:
        for folder, frames in payload["parts"]:
            times = read_part_pts(folder, frames)
            for image, pts in zip(read_part_frames(folder, frames), times):
                frame = Frame(index, 0.0, image, image, pts=pts)
                if not opened:
                    sink.set_input(MediaInput(payload["input"], start=pts, seekable=True,
                                              file_start=_file_start(payload["input"])))
                    sink.open(frame, payload.get("fps") or DEFAULT_FPS, None)
                    opened = True
                sink.write(frame)
                index += 1
        if not opened:
            raise TaskError("the parts hold no frame")
        sink.close()
        commit(staging, final)
    except BaseException:
        if opened:
            sink.abort()
        remove_quietly(Path(staging))
        raise
    return {"frames": index, "seconds": time.perf_counter() - started}


def process_file(payload: dict) -> dict:
    """Task: one whole file (see :func:`_process_file`)."""
    return _guarded(_process_file, payload)


def probe_file(payload: dict) -> dict:
    """Task: probe a file to split (see :func:`_probe_file`)."""
    return _guarded(_probe_file, payload)


def process_part(payload: dict) -> dict:
    """Task: one part of a split file (see :func:`_process_part`)."""
    return _guarded(_process_part, payload)


def join_parts(payload: dict) -> dict:
    """Task: join a split file's parts (see :func:`_join_parts`)."""
    return _guarded(_join_parts, payload)


def _file_start(path: str) -> float | None:
    """The input's start as the unsplit run reads it (:class:`MediaInput` ``file_start``),
    so the joined parts start where a whole run's output does."""
    import av  # lazy: PyAV after the thread cap (see the module notes)

    from pipeline.io.media.reader import file_start  # lazy: loads OpenCV and PyAV

    with av.open(path) as container:
        return file_start(container)
