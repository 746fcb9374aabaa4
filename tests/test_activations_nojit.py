"""With ``NUMBA_DISABLE_JIT=1`` and an empty numba cache, :mod:`pipeline.activations` (and
the test harness, which imports it) import, and give the compiled ufuncs' numbers.

Before, ``numba.vectorize`` compiled its ufuncs even with the JIT disabled, while
``@njit`` gave the plain Python function that the sigmoid's ufunc body calls: the
compile failed, and collecting any test module that imports ``tests.harness`` failed
with it.  CI's pure-Python run passed only because the compiled run before it had
filled the cache (a cached ufunc loads without typing its body); ``.ci/run`` now gives
that run an empty cache of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.harness import ROOT

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                                reason="compares against the compiled ufuncs")

X = [-800.0, -30.0, -3.0, -0.5, -1e-9, 0.0, 1e-9, 0.5, 3.0, 30.0, 800.0]

SCRIPT = textwrap.dedent("""
    import json, sys
    import tests.harness  # what failed to import: every test module using it
    from pipeline.activations import ACTIVATIONS
    x = json.loads(sys.argv[1])
    values = {name: [[float(v) for v in f(x)], [float(v) for v in g(x)], float(f(x[3]))]
              for name, (f, g) in ACTIVATIONS.items()}
    print(json.dumps({"values": values, "python": type(ACTIVATIONS["sigmoid"][0]).__name__}))
""")


def test_activations_import_and_match_without_the_jit_and_without_a_cache(tmp_path):
    from pipeline.activations import ACTIVATIONS

    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_DISABLE_JIT": "1",
           "NUMBA_CACHE_DIR": str(tmp_path / "empty-cache")}
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(X)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["python"] == "function"  # plain Python, not a compiled ufunc
    assert set(result["values"]) == set(ACTIVATIONS)
    x = np.array(X)
    for name, (function, gradient) in ACTIVATIONS.items():
        values, slopes, scalar = result["values"][name]
        np.testing.assert_allclose(values, function(x), rtol=1e-15, atol=0, err_msg=name)
        np.testing.assert_allclose(slopes, gradient(x), rtol=1e-15, atol=0, err_msg=name)
        assert scalar == pytest.approx(float(function(X[3])), rel=1e-15)
