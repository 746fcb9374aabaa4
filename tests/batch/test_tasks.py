"""Workers report frames while a file runs (what every executor must pass on for the bar)."""

from __future__ import annotations

import time

from pipeline.batch import tasks
from pipeline.batch.executors import LocalPool
from tests.batch.test_runner import STAGES, make_clip


FRAMES = 240


def progress_seen(make_executor, tmp_path, seconds: float) -> list[tuple[int, int]]:
    """Run one FRAMES-frame clip through ``make_executor()``; the progress polled meanwhile.

    Checks what every executor must do: the file's answer is good, its progress is
    forgotten once answered, and every report carries the container's frame count.
    """
    clip = make_clip(tmp_path / "long.mp4", frames=FRAMES, size=(320, 240))
    executor = make_executor()
    seen = []
    try:
        ticket = executor.submit(tasks.process_file, {"input": str(clip), "output": str(tmp_path / "e.mp4"),
                                                      "stages": STAGES, "fourcc": None, "threads": 1})
        deadline = time.monotonic() + seconds
        answers = []
        while not answers:
            assert time.monotonic() < deadline, "the task did not end"
            answers = executor.poll(0.05)
            if ticket in executor.progress:
                seen.append(executor.progress[ticket])
    finally:
        executor.close()
    (_, ok, value), = answers
    assert ok and value["ok"] and value["frames"] == FRAMES
    assert ticket not in executor.progress  # forgotten once answered
    assert {total for _, total in seen} == {FRAMES}  # the container's count, for the bar
    return seen


def test_pool_workers_report_frames_while_a_file_runs(tmp_path):
    seen = progress_seen(lambda: LocalPool(workers=1, threads=1), tmp_path, 120)
    middle = [done for done, _ in seen if 0 < done < FRAMES]
    assert middle and middle == sorted(middle)  # it moved within the file, forwards


def test_a_failed_file_is_named_by_its_output_never_the_staging_name(tmp_path):
    """A write failure in a batch names the user's output path (the sink wrote the hidden name)."""
    from pipeline.io.base import SinkError

    final = str(tmp_path / "out" / "clip_edges.mp4")

    def failing(payload):
        raise SinkError(f"video sink: cannot write {tasks.staging_path(payload['output'])!r}: disk full")

    answer = tasks._guarded(failing, {"output": final, "threads": 1})
    assert answer["ok"] is False
    assert final in answer["error"] and ".batch" not in answer["error"].replace(final, "")
    assert tasks.staging_path(final) not in answer["error"]
