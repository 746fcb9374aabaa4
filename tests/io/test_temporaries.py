"""Temporary names read back as themselves, and the sweep of what dead writers left."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pipeline.io.outputs.locks import OutputLock
from pipeline.io.temporaries import (is_temporary, lock_path, parse_temporary, pid_alive, sweep_temporaries,
                                     temporaries_of, temporary_path)
from tests.harness import dead_pid, hidden

# ---------------------------------------------------------------- names

def test_temporary_names_parse_back_and_belong_to_their_output(tmp_path):
    final = tmp_path / "edges.mp4"
    plain, tagged = temporary_path(final), temporary_path(final, "batch")
    nested = temporary_path(tagged)
    for path in (plain, tagged, nested, lock_path(nested)):
        path.write_bytes(b"")
        assert is_temporary(path.name), path.name
    assert parse_temporary(plain.name).pid == os.getpid() and parse_temporary(plain.name).tag is None
    assert parse_temporary(tagged.name).tag == "batch"
    assert plain.suffix == tagged.suffix == nested.suffix == ".mp4"
    for name in ("edges.mp4", ".edges.mp4", ".edges.mp4.lock", ".edges.mp4.partial",
                 "edges.mp4.part-1-abcdef.mp4", ".edges.mp4.part-x.mp4", ".edges.mp4.part-1-abcdef.avi"):
        (tmp_path / name).write_bytes(b"")
        assert not is_temporary(name), name
    for name in (".xedges.mp4.part-1-abcdef.mp4", ".edges.mp4.mp4.part-1-abcdef.mp4"):
        (tmp_path / name).write_bytes(b"")  # another output's temporaries, by one letter
    assert temporaries_of(final) == sorted([plain, tagged, nested, lock_path(nested)])


@pytest.mark.parametrize("tag", ["", "batch", "w0", "w123", "staged"])
def test_every_tag_reads_back_as_itself(tmp_path, tag):
    parsed = parse_temporary(temporary_path(tmp_path / "a.csv", tag).name)
    assert parsed.final == "a.csv" and (parsed.tag or "") == tag


@pytest.mark.parametrize("tag", ["abc", "12", "A", "b-c"])
def test_a_tag_that_would_read_as_the_token_is_refused(tag):
    with pytest.raises(ValueError, match="tag"):
        temporary_path("a.csv", tag)


# ---------------------------------------------------------------- sweep rule

def test_the_sweep_removes_what_dead_writers_left_and_keeps_live_ones(tmp_path, caplog):
    final = tmp_path / "edges.avi"
    final.write_bytes(b"finished")
    gone = dead_pid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            "plain, dead": f".edges.avi.part-{gone}-abcdef.avi",
            "plain, live": f".edges.avi.part-{sleeper.pid}-abcdef.avi",  # under the lock: gone
            "tagged, dead": f".edges.avi.part-{gone}-abcdef-batch.avi",
            "tagged, live": f".edges.avi.part-{sleeper.pid}-abcdef-batch.avi",
            "nested, dead": f"..edges.avi.part-{gone}-abcdef-batch.avi.part-{gone}-abcdef.avi",
            "nested, live": f"..edges.avi.part-{sleeper.pid}-abcdef-batch.avi.part-{sleeper.pid}-abcdef.avi",
            "lock, dead": f"..edges.avi.part-{gone}-abcdef-batch.avi.lock",
        }
        for name in names.values():
            (tmp_path / name).write_bytes(b"partial")
        with OutputLock(lock_path(final), str(final), "video sink") as lock:
            kept = hidden(tmp_path)
        assert sorted(p.name for p in lock.swept) == sorted(
            names[k] for k in ("plain, dead", "plain, live", "tagged, dead", "nested, dead", "lock, dead"))
        assert kept == sorted([names["tagged, live"], names["nested, live"], lock_path(final).name])
        assert final.read_bytes() == b"finished"
        lines = [r.getMessage() for r in caplog.records if "removed" in r.getMessage()]
        assert len(lines) == 1 and "removed 4 temporary files" in lines[0] and str(final) in lines[0]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert [p.name for p in sweep_temporaries(final)] == sorted([names["nested, live"], names["tagged, live"]])


def test_a_killed_but_unreaped_process_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert pid_alive(child.pid)
    child.kill()
    deadline = time.monotonic() + 10
    while pid_alive(child.pid) and time.monotonic() < deadline:  # a zombie until waited for
        time.sleep(0.01)
    assert not pid_alive(child.pid)
    child.wait()
    assert pid_alive(os.getpid())
