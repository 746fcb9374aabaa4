"""``edgepipe warmup`` fills the kernels' cache: a second run compiles nothing."""

from __future__ import annotations

import re
import subprocess
import sys

from pipeline import ops
from pipeline.runtime import precompile
from tests.harness import ROOT

DONE = re.compile(r"edgepipe warmup: (\d+) kernel calls compiled, (\d+) already cached")


def test_every_public_op_is_warmed():
    recorded = {name for name in dir(ops) if hasattr(getattr(ops, name), "__wrapped__")}
    warmed = {what.split()[0].split("+")[0] for what, _ in precompile.calls()}
    assert recorded == warmed


def warmup() -> tuple[int, int]:
    done = subprocess.run([sys.executable, "-m", "pipeline", "warmup"], capture_output=True,
                          text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    counts = DONE.search(done.stderr)
    assert counts, done.stderr
    return int(counts[1]), int(counts[2])


def test_a_second_warmup_finds_everything_cached():
    compiled, cached = warmup()
    assert compiled + cached == len(list(precompile.calls()))
    assert warmup() == (0, compiled + cached)
