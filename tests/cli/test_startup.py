"""What a plain ``edgepipe run`` imports before its kernels load: only what the run needs.

numba (with the scipy it imports), Dask, matplotlib, tqdm, the activation ufuncs, the http
sink's server (``http.server`` with ``email`` and ``ssl``) and the other commands' modules
each cost tens to hundreds of milliseconds of a start-up whose
first frame should be out within half a second (issue 31).  The kernel loader imports
numba on its own thread after the first frame; here it is held back (its ``start`` does
nothing), so whatever else imported one of these modules is caught.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import yaml

from tests.harness import ROOT

#: Never imported by a plain run, up to its end, when the kernel loader is held back.
NOT_NEEDED = ["numba", "scipy", "dask", "distributed", "matplotlib", "tqdm",
              "pipeline.activations", "pipeline.kernels", "pipeline.batch.jobs",
              "pipeline.experiments.runners", "pipeline.cli.batch", "pipeline.cli.experiment",
              "pipeline.cli.warmup", "http.server", "email", "ssl"]

SCRIPT = textwrap.dedent("""
    import json, sys
    from pipeline.stages import tiers
    tiers.KernelLoader.start = lambda self, *after: self  # the loader imports numba: held back
    from pipeline.cli.main import main
    code = main(["run", sys.argv[1], "-q"])
    found = sorted(m for m in sys.modules
                   if any(m == name or m.startswith(name + ".") for name in sys.argv[2:]))
    print(json.dumps({"code": code, "found": found}))
""")


def test_a_plain_run_imports_none_of_the_modules_it_does_not_need(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "version": 1, "source": {"type": "synthetic", "width": 64, "height": 48, "length": 3},
        "stages": ["grayscale", {"gradient": {"kind": "sobel"}}, "map",
                   {"threshold": {"value": "auto"}}, "overlay"],
        "sinks": [{"video": {"path": str(tmp_path / "out.mkv"), "codec": "ffv1"}},
                  {"stats": {"path": str(tmp_path / "stats.jsonl")}}],
        "runtime": {"mode": "batch"}}))
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(config), *NOT_NEEDED],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"code": 0, "found": []}
    assert len((tmp_path / "stats.jsonl").read_text().splitlines()) == 3  # the run did run


def test_a_command_builds_its_own_parser_only_and_help_lists_them_all():
    script = textwrap.dedent("""
        import json, sys
        from pipeline.cli.main import COMMANDS, parse, parser
        parse(["run", "some.yaml"])
        run_only = sorted(n for n in COMMANDS if COMMANDS[n] in sys.modules)
        listed = next(a for a in parser()._actions if a.dest == "command").choices
        print(json.dumps([run_only, sorted(listed)]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    run_only, listed = json.loads(done.stdout)
    assert run_only == ["run"]
    assert listed == sorted(["run", "validate", "stages", "batch", "experiment", "warmup"])


def test_openblas_idle_threads_sleep_from_before_numpy_loads_unless_the_user_says():
    # numpy's and OpenCV's OpenBLAS threads would spin ~0.1 s of CPU each at the import.
    script = textwrap.dedent("""
        import os, sys

        seen = []  # OPENBLAS_THREAD_TIMEOUT when numpy (and its OpenBLAS) loads

        class Watch:
            def find_spec(self, name, path=None, target=None):
                if name == "numpy" and not seen:
                    seen.append(os.environ.get("OPENBLAS_THREAD_TIMEOUT"))

        sys.meta_path.insert(0, Watch())
        from pipeline.cli.entry import main
        code = main(["stages"])
        print(code, seen, file=sys.stderr)
    """)
    for given, expected in ((None, "4"), ("20", "20")):
        env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_THREAD_TIMEOUT"}
        env.update(PYTHONPATH=str(ROOT), **({} if given is None else {"OPENBLAS_THREAD_TIMEOUT": given}))
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=120, env=env)
        assert done.stderr.strip().splitlines()[-1] == f"0 ['{expected}']", done.stderr
