"""io/outputs: the commit, locks that know their holder, folder checks, what a killed run left.

Processes here are real: writers in other processes at once, a run killed with SIGKILL
mid-write, a lock held by another process.  Every process a test starts it also ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import pytest

from pipeline.io.base import SinkError
from pipeline.io.outputs.folders import check_writable_folder
from pipeline.io.outputs.locks import FolderLock, OutputLock
from pipeline.io.temporaries import lock_path
from pipeline.io.sinks.video import VideoSink
from pipeline.io.sinks.stats import StatsSink
from tests.harness import ROOT, dead_pid, files_in, hidden


ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


# ---------------------------------------------------------------- write_atomically

WRITER = """
    import sys
    from pathlib import Path
    from pipeline.experiments.output import write_output as _write_atomically
    path, byte = Path(sys.argv[1]), sys.argv[2].encode()
    for _ in range(300):
        _write_atomically(path, byte * 200_000)
"""


def test_two_processes_writing_one_experiment_output_at_once_never_collide(tmp_path):
    out = tmp_path / "summary.json"
    writers = [python(WRITER, str(out), byte) for byte in "ab"]
    results = [w.communicate(timeout=120) for w in writers]
    assert [w.returncode for w in writers] == [0, 0], results
    data = out.read_bytes()
    assert data in (b"a" * 200_000, b"b" * 200_000)  # one whole file, the last rename's
    assert hidden(tmp_path) == []


def test_a_failed_write_leaves_no_temporary_and_the_old_file(tmp_path):
    from pipeline.experiments.output import write_output as _write_atomically

    (tmp_path / "folder.json").mkdir()  # the rename onto a folder fails
    with pytest.raises(OSError):
        _write_atomically(tmp_path / "folder.json", b"{}")
    assert hidden(tmp_path) == []
    script = """
        import resource, signal, sys
        from pathlib import Path
        from pipeline.io.outputs.commit import write_atomically
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            write_atomically(Path(sys.argv[1]), b"x" * 100_000, sync=True)
        except OSError as error:
            print(error.errno)
    """
    (tmp_path / "big.csv").write_bytes(b"old")
    out, err = python(script, str(tmp_path / "big.csv")).communicate(timeout=60)
    assert out.strip() == "27", err  # EFBIG, from the real write
    assert (tmp_path / "big.csv").read_bytes() == b"old" and hidden(tmp_path) == []


HOLDER = """
    import sys, time
    from pipeline.io.outputs.locks import OutputLock
    from pipeline.io.temporaries import lock_path
    lock = OutputLock(lock_path(sys.argv[1]), sys.argv[1], "video sink")
    lock.acquire()
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_lock_another_process_holds_blocks_and_its_temporaries_stay(tmp_path):
    final = tmp_path / "edges.avi"
    holder = python(HOLDER, str(final))
    try:
        assert holder.stdout.readline().strip() == "held"
        temp = tmp_path / f".edges.avi.part-{holder.pid}-abcdef.avi"
        temp.write_bytes(b"being written")
        with pytest.raises(SinkError, match=rf"another edgepipe run is writing .* \(pid {holder.pid}\)"):
            OutputLock(lock_path(final), str(final), "video sink").acquire()
        from pipeline.batch.output_folder import sweep

        class Job:
            output_dir = str(tmp_path)

        class Item:
            output = str(final)

        assert sweep(Job, [Item]) == 0  # a batch job leaves a running writer's files alone
        assert temp.exists()
    finally:
        holder.kill()
        holder.wait()
    with OutputLock(lock_path(final), str(final), "video sink") as lock:
        assert lock.swept == [temp]  # its writer is gone now: the lock says so
    assert hidden(tmp_path) == []


# ---------------------------------------------------------------- this run or another

def test_two_stats_sinks_on_one_path_say_it_is_this_run_whatever_the_lock_file_holds(tmp_path):
    path = str(tmp_path / "s.jsonl")
    first, second = StatsSink(path), StatsSink(path)
    first.open(None, 30.0)
    try:
        os.truncate(lock_path(path), 0)  # no pid in it (a full disk, or edited by hand)
        for call in (second.check, lambda: second.open(None, 30.0)):
            with pytest.raises(SinkError) as caught:
                call()
            assert "another sink of this run" in str(caught.value)
            assert "pid unknown" not in str(caught.value)
    finally:
        first.abort()
    assert hidden(tmp_path) == []


def test_a_folder_lock_names_this_process_or_the_other_ones_pid(tmp_path):
    with FolderLock(tmp_path / "out", "batch job", ".edgepipe-batch.lock"):
        with pytest.raises(SinkError, match=r"another batch job \(this process\) is writing to"):
            FolderLock(tmp_path / "out", "batch job", ".edgepipe-batch.lock").acquire()
        script = """
            import sys
            from pipeline.io.base import SinkError
            from pipeline.io.outputs.locks import FolderLock
            try:
                FolderLock(sys.argv[1], "batch job", ".edgepipe-batch.lock").acquire()
            except SinkError as error:
                print(error)
        """
        out, err = python(script, str(tmp_path / "out")).communicate(timeout=60)
        assert f"another batch job (pid {os.getpid()}) is writing to" in out, err
    assert list((tmp_path / "out").iterdir()) == []


# ---------------------------------------------------------------- a run killed mid-write

def start_run(folder: Path, sink: str, length: int) -> subprocess.Popen:
    (folder / "run.yaml").write_text(
        f"version: 1\nsource: {{type: synthetic, width: 160, height: 120, length: {length}}}\n"
        "stages: [grayscale, gradient, map]\n"
        f"sinks: [{{{sink}: {{path: out/result}}}}]\nruntime: {{mode: batch}}\n".replace(
            "out/result", "out/edges.avi" if sink == "video" else "out/stats.jsonl"))
    return subprocess.Popen([sys.executable, "-m", "pipeline", "run", "run.yaml"], cwd=folder,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


@pytest.mark.parametrize("sink,name", [("video", "edges.avi"), ("stats", "stats.jsonl")])
def test_the_run_after_a_killed_one_removes_its_temporary_and_says_so_once(tmp_path, sink, name):
    out = tmp_path / "out"
    killed = start_run(tmp_path, sink, 0)  # endless: only the kill ends it
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(f".{name}.part-*")):
            assert killed.poll() is None, killed.communicate()
            assert time.monotonic() < deadline, "the run did not start writing"
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=60)
    left = hidden(out)
    assert any(n.startswith(f".{name}.part-{killed.pid}-") for n in left), left
    assert not (out / name).exists()
    again = start_run(tmp_path, sink, 5)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    lines = [line for line in err.splitlines() if "removed" in line]
    temp = next(n for n in left if ".part-" in n)
    assert len(lines) == 1 and f"removed 1 temporary file left next to out/{name}" in lines[0], err
    assert temp in lines[0]
    assert hidden(out) == []  # the temporary and the lock file are gone
    if sink == "video":
        capture = cv2.VideoCapture(str(out / name))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
        capture.release()
    else:
        assert len((out / name).read_text().splitlines()) == 5


def test_a_second_run_on_an_output_being_written_leaves_the_writer_alone(tmp_path):
    out = tmp_path / "out"
    first = start_run(tmp_path, "video", 0)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(".edges.avi.part-*")):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        temp = next(out.glob(".edges.avi.part-*"))
        second = subprocess.run([sys.executable, "-m", "pipeline", "run", "run.yaml",
                                 "--set", "source.length=3"], cwd=tmp_path, env=ENV,
                                capture_output=True, text=True, timeout=300, check=False)
        assert second.returncode == 1
        assert f"another edgepipe run is writing 'out/edges.avi' (pid {first.pid})" in second.stderr
        assert temp.exists() and first.poll() is None
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert (out / "edges.avi").exists() and hidden(out) == []


def test_the_images_sink_removes_dead_writers_pictures_in_progress_and_keeps_live_ones(tmp_path, caplog):
    from pipeline.io.sinks.images import ImagesSink

    folder = tmp_path / "frames"
    folder.mkdir()
    gone = dead_pid()
    dead = folder / f".frame_000003.png.part-{gone}-abcdef-w7.png"
    live = folder / f".frame_000004.png.part-{os.getpid()}-abcdef-w8.png"
    plain = folder / f".notes.txt.part-{gone}-abcdef.txt"  # another output's: its own lock decides
    for path in (dead, live, plain):
        path.write_bytes(b"partial")
    sink = ImagesSink(str(folder / "frame_{index:06d}.png"))
    sink.open(None, 30.0)
    sink.close()
    assert not dead.exists() and live.exists() and plain.exists()
    lines = [r.getMessage() for r in caplog.records if "removed" in r.getMessage()]
    assert len(lines) == 1 and dead.name in lines[0] and "images sink" in lines[0]


def test_a_run_with_two_stats_sinks_on_one_file_says_it_is_this_run(tmp_path):
    (tmp_path / "run.yaml").write_text(
        "version: 1\nsource: {type: synthetic, width: 32, height: 24, length: 3}\n"
        "stages: [grayscale]\nsinks: [{stats: {path: s.jsonl}}, {stats: {path: ./s.jsonl}}]\n")
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", "run.yaml"], cwd=tmp_path,
                          env=ENV, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1
    assert "stats sink: another sink of this run is writing " in done.stderr, done.stderr
    assert "pid" not in done.stderr.splitlines()[-1] and hidden(tmp_path) == []


def test_a_forked_child_does_not_take_its_parents_lock_for_its_own(tmp_path):
    final = tmp_path / "edges.avi"
    with OutputLock(lock_path(final), str(final), "video sink"):
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through the pipe
            try:
                OutputLock(lock_path(final), str(final), "video sink").acquire()
                message = "acquired"
            except SinkError as error:
                message = str(error)
            os.write(write, message.encode())
            os._exit(0)
        os.close(write)
        os.waitpid(child, 0)
        message = os.read(read, 4096).decode()
        os.close(read)
    assert f"another edgepipe run is writing {str(final)!r} (pid {os.getpid()})" in message


def test_check_parent_is_a_file(tmp_path):
    blocker = tmp_path / "report.txt"
    blocker.write_text("x")
    target = blocker / "sub" / "edges.mp4"
    with pytest.raises(SinkError) as caught:
        VideoSink(str(target)).check()
    assert str(blocker) in str(caught.value) and "is a file" in str(caught.value)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_check_unwritable_filesystem():
    # /proc refuses new files even to root, so this holds wherever the tests run.
    with pytest.raises(SinkError, match="cannot write") as caught:
        VideoSink("/proc/edgepipe-test/edges.mp4").check()
    assert "/proc" in str(caught.value)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write anywhere")
def test_check_folder_without_write_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(SinkError, match="cannot write") as caught:
            VideoSink(str(locked / "edges.mp4")).check()
        assert str(locked) in str(caught.value)
    finally:
        locked.chmod(0o700)


def test_check_leaves_no_probe_file(tmp_path):
    check_writable_folder(tmp_path / "a" / "b" / "x.mp4", "test")
    assert files_in(tmp_path) == []
