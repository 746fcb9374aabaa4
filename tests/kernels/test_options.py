"""The kernels' cache folder follows their sources, so a changed helper is never stale.

numba stamps a cached function with its own file only.  The test changes an ``@njit``
helper in another module (``logistic.py``, called by ``soft_threshold.py``) between two
processes that share one user cache folder, as an upgrade or an edit does, and checks that
the second process runs the new helper.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pipeline
from pipeline.kernels.options import sources_digest

PACKAGE = Path(pipeline.__file__).parent

SUMS = ("import numpy as np; from pipeline.kernels.soft_threshold import soft_class_sums; "
        "s = np.zeros((1, 2)); d = np.zeros(1); "
        "soft_class_sums(np.ones((1, 256)), 100.0, 0.05, s, d); print(float(s[0, 0]))")


def test_digest_follows_every_kernel_source(tmp_path):
    folder = tmp_path / "kernels"
    shutil.copytree(PACKAGE / "kernels", folder, ignore=shutil.ignore_patterns("__pycache__"))
    before = sources_digest(str(folder))
    assert before == sources_digest(str(PACKAGE / "kernels"))
    (folder / "notes.txt").write_text("not a source")
    assert sources_digest(str(folder)) == before
    with open(folder / "border.py", "a") as source:
        source.write("\n")
    changed = sources_digest(str(folder))
    assert changed != before
    # The optional vector forms are kernels' sources too (simd/).
    with open(folder / "simd" / "gray_blocks.py", "a") as source:
        source.write("\n")
    assert sources_digest(str(folder)) != changed


def test_a_changed_helper_in_another_module_is_recompiled(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "NUMBA_DISABLE_JIT")}
    env.update(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))

    def sums():
        done = subprocess.run([sys.executable, "-c", SUMS], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return float(done.stdout)

    first = sums()
    assert list((tmp_path / "cache" / "edgepipe" / "numba").rglob("*.nbi"))  # it was cached
    logistic = tmp_path / "pipeline" / "kernels" / "logistic.py"
    text = logistic.read_text()
    assert "return 1.0 / (1.0 + e)" in text
    logistic.write_text(text.replace("return 1.0 / (1.0 + e)", "return 2.0 / (1.0 + e)"))
    assert sums() > first  # the new helper ran: the sigmoid's upper half doubled
