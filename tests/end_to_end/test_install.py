"""The README's two installs, in order, on a fresh environment: the command keeps working.

The new environment borrows the packages of the interpreter running the tests (numpy,
numba, OpenCV...), wherever they are: a venv's ``system_site_packages`` would see the
*base* interpreter's, not an outer venv's, so inside a venv (as the README's test
command runs) nothing was found (``No module named 'cv2'``).  Instead the outer
interpreter's package folders are listed in a ``.pth`` file of the new venv; ``.pth``
files inside those folders are not processed, so the outer editable install of
edgepipe stays out of sight and the venv's own install is the one tested.

A regular install, one run (numba compiles and caches kernels), then the editable
install the test command makes, then ``edgepipe --version`` from another folder.  The
run used to write numba's cache into ``site-packages/pipeline/kernels/__pycache__``;
``pip uninstall`` left that folder behind, and Python imported it as a namespace package
that shadowed the editable install ("cannot import name '__version__' from 'pipeline'
(unknown location)").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from tests.harness import ROOT



CONFIG = """\
version: 1
source: {type: synthetic, width: 32, height: 24, length: 3}
stages: [grayscale, {derivative: {kind: central, axis: x}}, {map: {mode: shift}}]
sinks: [discard]
"""


def _copy_project(target: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", "out", ".pytest_cache")
    shutil.copytree(ROOT, target, ignore=ignore)
    return target


def _run(args, cwd, env, timeout=300):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}\nstdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}"
    return done


def outer_package_folders() -> list[str]:
    """The folders this interpreter imports installed packages from (venv or not)."""
    return [entry for entry in sys.path
            if Path(entry).name in ("site-packages", "dist-packages") and Path(entry).is_dir()]


def borrow_packages(site_packages: Path) -> None:
    """Make a venv see :func:`outer_package_folders`, after its own (a ``.pth`` file)."""
    (site_packages / "_outer_packages.pth").write_text("\n".join(outer_package_folders()) + "\n")


def _site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def test_regular_then_editable_install_keeps_the_command_working(tmp_path):
    project = _copy_project(tmp_path / "edgepipe")
    env_dir = tmp_path / "venv"
    # The venv sees this interpreter's packages (numpy, numba, OpenCV, ...) so nothing is
    # downloaded; edgepipe itself is installed into the venv, first as a regular copy.
    venv.create(env_dir, system_site_packages=False, with_pip=True)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    borrow_packages(_site_packages(python))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    # The run compiles the kernels itself, as it does with no OpenCV tier: a tiered run this
    # short ends before its compiling child, whose cache folder is what this test checks.
    env["EDGEPIPE_OPENCV_TIER"] = "0"
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    # Build isolation fetches setuptools from the package index, as the README's commands do.
    pip = [str(python), "-m", "pip", "install", "-q", "--no-deps"]

    _run(pip + [str(project)], cwd=tmp_path, env=env)
    installed = _site_packages(python) / "pipeline"
    assert (installed / "kernels" / "options.py").is_file()
    before = sorted(p.relative_to(installed) for p in installed.rglob("*") if "__pycache__" not in p.parts
                    or p.suffix == ".pyc")

    work = tmp_path / "work"
    work.mkdir()
    (work / "tiny.yaml").write_text(CONFIG)
    _run([str(bin_dir / "edgepipe"), "run", "tiny.yaml", "--quiet"], cwd=work, env=env)

    # Nothing but Python's own bytecode was written into the installed package ...
    after = sorted(p.relative_to(installed) for p in installed.rglob("*") if "__pycache__" not in p.parts
                   or p.suffix == ".pyc")
    assert after == before
    assert not list(installed.rglob("*.nbi")) and not list(installed.rglob("*.nbc"))
    # ... and the kernels were cached in the user's cache folder instead.
    assert list((tmp_path / "cache" / "edgepipe" / "numba").rglob("*.nbi"))

    # The test command's editable install over it, then the command from another folder.
    _run(pip + ["-e", str(project)], cwd=tmp_path, env=env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = _run([str(bin_dir / "edgepipe"), "--version"], cwd=elsewhere, env=env)
    assert done.stdout.strip().startswith("edgepipe ")
    done = _run([str(python), "-c", "import pipeline, sys; print(pipeline.__file__)"], cwd=elsewhere, env=env)
    assert Path(done.stdout.strip()).resolve() == (project / "pipeline" / "__init__.py").resolve()


def test_numba_cache_dir_env_still_wins(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "mine"))
    code = "import numba, pipeline.kernels.options as o; print(numba.config.CACHE_DIR)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(tmp_path / "mine")
    env.pop("NUMBA_CACHE_DIR")
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    digest = subprocess.run([sys.executable, "-c", "import pipeline.kernels.options as o; "
                             "print(o.sources_digest())"], env=env, capture_output=True, text=True,
                            check=True).stdout.strip()
    assert out.stdout.strip() == str(tmp_path / "xdg" / "edgepipe" / "numba" / digest)
