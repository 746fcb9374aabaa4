"""The vector grey blocks are a plug-in: without them the package runs and gives the same bytes.

Each run is a child process with a cache folder of the test's own, so every kernel it uses
is compiled there (or loaded from what an earlier child of the same test compiled).  The
children convert, fuse edges and run Canny on frames of odd widths, 1 to 4 channels, and
save every output; the runs without the plug-in must equal the run with it.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="compiled forms only"),
]

PLUGIN = "pipeline.kernels.simd.gray_blocks"

# Made unimportable the two ways a test (or a broken install) can: a finder that refuses
# it, or a None entry in sys.modules.
REFUSED = textwrap.dedent(f"""
    import sys

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name == {PLUGIN!r}:
                raise ImportError("refused by the test")

    sys.meta_path.insert(0, Refuse())
""")
ABSENT = f"import sys; sys.modules[{PLUGIN!r}] = None\n"
# The plug-in imports, but its code generation fails once a kernel is compiled, as with a
# numba whose compiler internals changed: the check on first compilation must catch it.
BROKEN = textwrap.dedent(f"""
    import importlib
    blocks = importlib.import_module({PLUGIN!r})

    def changed_api(*args):
        raise AttributeError("'IRBuilder' object has no attribute 'shl' (made by the test)")

    blocks._weighted_sum = changed_api
""")

RUN = textwrap.dedent("""
    import sys
    import numba
    import numpy as np
    from pipeline import ops, opencv_tier
    from pipeline.kernels import gray

    assert not opencv_tier.active()
    rng = np.random.default_rng(26)
    outputs = {}
    for height, width in ((1, 1), (3, 15), (5, 16), (7, 17), (9, 33), (31, 77), (24, 641)):
        for channels in (1, 3, 4):
            shape = (height, width, channels) if channels > 1 else (height, width)
            frame = rng.integers(0, 256, shape, dtype=np.uint8)
            # A smooth ramp too, where Canny's thresholds select real edges.
            ramp = (np.arange(width) * 255 // max(width - 1, 1)).astype(np.uint8)
            smooth = np.broadcast_to(ramp[:, None] if channels > 1 else ramp, shape).copy()
            smooth[height // 2:] //= 2
            for name, image in (("noise", frame), ("ramp", smooth)):
                key = f"{name}-{height}x{width}x{channels}"
                if channels > 1:
                    outputs["grey " + key] = ops.grayscale(image)
                for kind, norm, mapping, border in (("sobel", "l2", "abs", "reflect101"),
                                                    ("sobel", "l1", "shift", "zero"),
                                                    ("scharr", "l2", "abs", "replicate")):
                    out, hist = ops.edges(image, kind, norm, mapping, border=border, hist=True)
                    outputs[f"edges {kind} {norm} {mapping} {border} {key}"] = out
                    outputs[f"hist {kind} {norm} {mapping} {border} {key}"] = hist
                for l2 in (False, True):
                    outputs[f"canny l2={l2} {key}"] = ops.canny(image, 40, 120, l2=l2)
    np.savez(sys.argv[1], **outputs)
    print(gray.SIMD_ERROR is None, numba.njit(lambda: gray.blocks_pay())())
""")


def child(prelude, script, cache, tmp_path, *args, **env):
    """Run ``prelude + script`` in a new process with its own cache folder: its stdout."""
    path = tmp_path / "child.py"
    path.write_text(prelude + script)
    child_env = {k: v for k, v in os.environ.items() if k != "EDGEPIPE_SIMD"}
    child_env.update(NUMBA_CACHE_DIR=str(cache), **env)
    done = subprocess.run([sys.executable, str(path), *map(str, args)], env=child_env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def run(prelude, out, cache, tmp_path, **env):
    """Run RUN after ``prelude``: (plug-in loaded, blocks compiled) and the saved outputs."""
    stdout = child(prelude, RUN, cache, tmp_path, out, **env)
    loaded, used = (word == "True" for word in stdout.split()[-2:])
    with np.load(out) as saved:
        return loaded, used, {name: saved[name] for name in saved.files}


def assert_same(expected, got):
    assert expected.keys() == got.keys()
    for name, value in expected.items():
        assert value.dtype == got[name].dtype and np.array_equal(value, got[name]), name


def host_has_bw():
    from pipeline.kernels.simd import gray_blocks

    return gray_blocks.HAS_BW


def test_without_the_plugin_every_output_is_the_same(tmp_path):
    cache = tmp_path / "cache"
    loaded, used, normal = run("", tmp_path / "normal.npz", cache, tmp_path)
    assert loaded and used == host_has_bw()
    # After the normal run, in the same cache folder: its cached kernels call into the
    # plug-in (loading one imports it), so these runs must compile and load their own.
    loaded, used, refused = run(REFUSED, tmp_path / "refused.npz", cache, tmp_path)
    assert (loaded, used) == (False, False)
    assert_same(normal, refused)
    loaded, used, absent = run(ABSENT, tmp_path / "absent.npz", cache, tmp_path)
    assert (loaded, used) == (False, False)
    assert_same(normal, absent)
    loaded, used, off = run("", tmp_path / "off.npz", cache, tmp_path, EDGEPIPE_SIMD="0")
    assert (loaded, used) == (False, False)
    assert_same(normal, off)
    assert (cache / "no-simd").is_dir()


GREY = textwrap.dedent("""
    import cv2
    import numba
    import numpy as np
    from pipeline import ops
    from pipeline.kernels import gray

    rng = np.random.default_rng(7)
    for width in (1, 15, 16, 17, 33, 77, 641):
        for channels, code in ((3, cv2.COLOR_BGR2GRAY), (4, cv2.COLOR_BGRA2GRAY)):
            frame = rng.integers(0, 256, (5, width, channels), dtype=np.uint8)
            assert np.array_equal(ops.grayscale(frame), cv2.cvtColor(frame, code)), width
    print(gray.SIMD_ERROR is None, numba.njit(lambda: gray.blocks_pay())())
    print(blocks.CHECK_ERROR)
""")


@pytest.mark.skipif(not host_has_bw(), reason="the check runs only where the blocks would")
def test_a_failing_check_on_first_compilation_keeps_the_loops(tmp_path):
    stdout = child(BROKEN, GREY, tmp_path / "cache", tmp_path).splitlines()
    assert stdout[-2:] == ["True False", "AttributeError: 'IRBuilder' object has no attribute "
                           "'shl' (made by the test)"]
