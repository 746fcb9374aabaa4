"""The edgepipe command: run, validate, stages, --set, error messages and exit codes,
and Ctrl+C / SIGTERM on a real subprocess leaving a playable file."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from pipeline.cli.main import main
from pipeline.config.run import load_plugins
from pipeline.config.registry import REGISTRIES
from tests.harness import decode

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Run configs; batch and experiment configs have their own schema and commands.
CONFIGS = sorted(p for p in ROOT.glob("configs/**/*.yaml")
                 if p.name != "batch.yaml" and "experiments" not in p.parts)


def config(tmp_path, body, name="c.yaml"):
    path = tmp_path / name
    path.write_text("version: 1\n" + body)
    return str(path)


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert lines[-1].startswith("edgepipe: error: ")
    return lines[-1]


# ---------------------------------------------------------------- validate, stages, help

@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_validate_shipped_configs(path, capsys):
    assert main(["validate", str(path)]) == 0
    assert ": ok (" in capsys.readouterr().err


def test_validate_reports_file_line_key_and_exits_2(tmp_path, capsys):
    path = config(tmp_path, "stages:\n  - grayscale\n  - gradient: {kind: sobal}\n")
    assert main(["validate", path]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line == (f"edgepipe: error: {path}:4 stages.1.gradient.kind: kind must be one of "
                    "forward, central, sobel, scharr, prewitt; got 'sobal' (did you mean 'sobel'?)")


def test_validate_with_set_and_print(tmp_path, capsys):
    path = config(tmp_path, "stages: [grayscale, gradient]\n")
    assert main(["validate", path, "--set", "stages.gradient.kind=scharr", "--print"]) == 0
    out = capsys.readouterr().out
    assert "gradient: {kind: scharr, norm: l2, border: reflect101}" in out
    assert main(["validate", path, "--set", "stages.gradient.kind=nope"]) == 2
    assert "--set stages.gradient.kind: kind must be one of" in capsys.readouterr().err


def test_stages_lists_the_optimizers_and_objectives_with_their_settings(capsys):
    assert main(["stages", "optimizer"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("optimizers\n")
    for name in ("adam", "momentum", "nesterov", "sgd", "sign"):
        assert f"\n  {name}  - " in out, name
    assert "lr     float in [0, ]; required" in out  # adam's, sgd's, momentum's
    assert "beta2  float in [0, 1]; default 0.999" in out
    assert "step  float in [0, ]; default 1.0" in out  # sign's
    assert main(["stages", "objectives"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("objectives\n")
    for name in ("agreement", "density", "multiotsu", "otsu"):
        assert f"\n  {name}  - " in out, name
    assert "target  float in [0, 1]; default 0.1" in out  # density's
    assert out.count("tau ") == 4  # every objective's softness


def test_validate_sinks_runs_sink_checks(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    path = config(tmp_path, f"sinks: [{{video: {{path: {tmp_path / 'afile' / 'x.mp4'}}}}}]\n")
    assert main(["validate", path]) == 0
    assert main(["validate", path, "--sinks"]) == 1
    assert "sinks.0.video: video sink" in one_error_line(capsys.readouterr().err)


def test_stages_lists_every_component_with_parameters(capsys):
    assert main(["stages"]) == 0
    out = capsys.readouterr().out
    load_plugins()
    for kind in ("stage", "source", "sink", "objective", "optimizer"):
        assert REGISTRIES[kind], f"nothing registers as {kind}"
        for name, cls in REGISTRIES[kind].items():
            assert f"\n  {name}" in out, name
            for param in cls.params:
                assert param.name in out
    assert "kind    forward | central | sobel | scharr | prewitt; default 'sobel'" in out
    assert "runtime (the runtime: section)" in out and "queue_size" in out
    assert main(["stages", "sink"]) == 0
    only = capsys.readouterr().out
    assert only.startswith("sinks\n") and "gradient" not in only
    assert main(["stages", "sinks"]) == 0  # the plural the listing prints works too
    assert capsys.readouterr().out == only
    assert main(["stages", "stages", "sources"]) == 0
    both = capsys.readouterr().out
    assert both.startswith("stages\n") and "\nsources\n" in both and "\nsinks\n" not in both
    assert main(["stages", "widget"]) == 2


def test_help_documents_exit_codes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for code in ("130", "143", "  2 ", "  1 "):
        assert code in out
    assert main(["frobnicate"]) == 2
    assert main([]) == 2


# ---------------------------------------------------------------- run

def test_run_with_set_overrides_and_json(tmp_path, capsys):
    out = tmp_path / "o" / "demo.mp4"
    summary = tmp_path / "summary.json"
    code = main(["run", str(ROOT / "configs" / "demo.yaml"), "--set", "source.length=6",
                 "--set", "source.width=96", "--set", "source.height=64",
                 "--set", f"sinks.0.video.path={out}", "--json", str(summary)])
    assert code == 0
    assert len(decode(out)) == 6
    err = capsys.readouterr().err
    assert "frames   in 6  out 6  dropped 0" in err and "latency  p50" in err
    data = json.loads(summary.read_text())
    assert data["frames_out"] == 6 and data["stop_reason"] == "end of stream"


def test_run_mode_and_max_frames_shorthands_and_quiet(tmp_path, capsys):
    path = config(tmp_path, "source: {type: synthetic, width: 32, height: 24, length: 0}\n"
                            "sinks: [discard]\n")
    assert main(["run", path, "--max-frames", "5", "--mode", "batch", "-q", "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["frames_out"] == 5
    assert captured.err == ""
    assert main(["run", path, "--max-frames", "0"]) == 2
    assert "--set runtime.max_frames" in capsys.readouterr().err


def test_quiet_leaves_out_the_kernels_news_too(capsys):
    # The notice that kernels compile in the background, and the line when they are
    # ready, go through tiers.say: --quiet (any command's) leaves them out, and the next
    # command without it has them again.
    from pipeline.cli.main import TIERS_LOGGER
    from pipeline.stages import tiers

    assert tiers.log.name == TIERS_LOGGER
    for quiet, said in ((True, ""), (False, "edgepipe: news\n"), (True, "")):
        assert main(["stages", "-q"] if quiet else ["stages"]) == 0
        capsys.readouterr()
        tiers.say("edgepipe: news")
        assert capsys.readouterr().err == said
    main(["stages"])  # as it was for the tests after this one
    capsys.readouterr()


def test_config_error_exits_2_before_anything_opens(tmp_path, capsys):
    out = tmp_path / "made" / "e.mp4"
    path = config(tmp_path, f"source: {{type: file, path: {tmp_path / 'missing.mp4'}}}\n"
                            f"stages: [{{blur: {{ksize: 4}}}}]\nsinks: [{{video: {{path: {out}}}}}]\n")
    assert main(["run", path]) == 2
    assert "stages.0.blur.ksize: ksize must be odd" in one_error_line(capsys.readouterr().err)
    assert not out.parent.exists()
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


@pytest.mark.parametrize("case, words", [
    ("camera", "cannot open camera 9"),
    ("missing", "does not exist"),
    ("undecodable", "cannot decode"),
    ("window", "use a `video`"),
    ("unwritable", "is a file, not a folder"),
])
def test_run_errors_are_one_line_and_exit_1(tmp_path, capsys, monkeypatch, case, words):
    (tmp_path / "afile").write_text("")
    (tmp_path / "bad.mp4").write_bytes(os.urandom(4000))
    bodies = {
        "camera": "source: {type: camera, device: 9}\nsinks: [discard]\n",
        "missing": f"source: {{type: file, path: {tmp_path / 'nope.mp4'}}}\nsinks: [discard]\n",
        "undecodable": f"source: {{type: file, path: {tmp_path / 'bad.mp4'}}}\nsinks: [discard]\n",
        "window": "source: {type: synthetic, length: 2}\nsinks: [window]\n",
        "unwritable": "source: {type: synthetic, length: 2}\n"
                      f"sinks: [{{video: {{path: {tmp_path / 'afile' / 'x.mp4'}}}}}]\n",
    }
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["run", config(tmp_path, bodies[case])]) == 1
    assert words in one_error_line(capsys.readouterr().err)


def test_chain_that_cannot_run_is_refused_before_frame_0(tmp_path, capsys):
    # Was a stage error at frame 0 (exit 1); the chain's flow is now checked at load.
    path = config(tmp_path, "source: {type: synthetic, width: 32, height: 24, length: 3}\n"
                            "stages: [gradient]\nsinks: [discard]\n")
    assert main(["run", path]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "stages.0: gradient needs a grey picture" in line and "put grayscale before it" in line


# ---------------------------------------------------------------- signals

def start(tmp_path, out):
    path = config(tmp_path, "source: {type: synthetic, width: 160, height: 120, length: 0}\n"
                            "stages: [grayscale, gradient, map]\n"
                            f"sinks: [{{video: {{path: {out}}}}}]\nruntime: {{mode: batch}}\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "run", path], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(out.parent.glob(f".{out.name}.part-*")):  # the writer is open
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.05)
    time.sleep(0.5)
    return process


@pytest.mark.parametrize("sig, code, reason", [(signal.SIGINT, 130, "interrupted"),
                                               (signal.SIGTERM, 143, "terminated")])
def test_signal_mid_run_leaves_a_playable_file(tmp_path, sig, code, reason):
    out = tmp_path / "out" / "edges.mp4"
    process = start(tmp_path, out)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert f"edgepipe: {reason}" in err and "Traceback" not in err
    frames = len(decode(out))
    assert frames > 0
    assert f"out {frames}" in err
    assert not list(out.parent.glob(".*part*"))  # the temporary file became the output


def test_edgepipe_stages_lists_canny_with_its_settings(capsys):
    from pipeline.cli.main import main

    assert main(["stages"]) == 0
    out = capsys.readouterr().out
    assert "canny" in out and "strong-edge threshold" in out and "l2" in out


@pytest.mark.parametrize("modules, absent", [
    # Every command imports every command's modules (the experiment runners among them,
    # a few milliseconds): matplotlib (loaded by the plots when they are drawn) and the
    # activation ufuncs would cost seconds of start-up.
    ("pipeline.cli.main", ["pipeline.activations", "matplotlib"]),
    # A run with a tuner needs the logistic function, not eighteen compiled ufuncs.
    ("pipeline.runtime.tuner", ["pipeline.activations"]),
])
def test_start_up_imports_only_what_the_command_needs(modules, absent):
    script = (f"import sys, {modules}; "
              f"print([m for m in {absent!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "[]"


def test_experiments_package_still_offers_its_names_lazily():
    from pipeline import experiments

    assert callable(experiments.run_experiment) and "double_well" in experiments.FUNCTIONS
    assert set(experiments.__all__) == set(experiments._FROM) <= set(dir(experiments))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        experiments.nope  # noqa: B018


# ---------------------------------------------------------------- quiet helpers, optional extras
def _tiny_batch(tmp_path) -> list[str]:
    (tmp_path / "in").mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "1",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(tmp_path / "in" / "a.mp4")], check=True)
    job = tmp_path / "job.yaml"
    job.write_text("version: 1\ninputs: {glob: in/*.mp4}\noutput: {dir: out}\n"
                   "stages: [grayscale, gradient, map]\nexecutor: {type: dask, workers: 1}\n")
    return [sys.executable, "-m", "pipeline", "batch", str(job), "--force"]


@pytest.mark.skipif(subprocess.run(["which", "ffmpeg"], capture_output=True).returncode != 0,
                    reason="ffmpeg is not installed")
def test_dask_logs_only_warnings_unless_verbose(tmp_path):
    pytest.importorskip("distributed")
    command = _tiny_batch(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("DASK_LOGGING__DISTRIBUTED", None)
    quiet = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.startswith("edgepipe batch: finished"), quiet.stderr  # the summary, nothing before
    loud = subprocess.run([*command, "--verbose"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert loud.returncode == 0, loud.stderr
    chatter = [line for line in loud.stderr.splitlines() if line.startswith("edgepipe: ")
               and any(word in line for word in ("Scheduler", "scheduler", "Nanny", "Worker", "worker"))]
    assert len(chatter) >= 3, loud.stderr  # Dask's INFO lines are there when asked for


def test_experiment_without_matplotlib_stops_before_computing(tmp_path):
    root = ROOT
    code = ("import sys; sys.modules['matplotlib'] = None; from pipeline.cli.entry import console; "
            "sys.exit(console())")
    config = root / "configs" / "experiments" / "local-minimum.yaml"
    done = subprocess.run([sys.executable, "-c", code, "experiment", str(config), "-o", str(tmp_path / "x")],
                          cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(root)), capture_output=True,
                          text=True)
    assert done.returncode == 1
    assert "the plots need matplotlib" in done.stderr and "--no-plots" in done.stderr
    assert not (tmp_path / "x").exists()  # nothing computed, nothing written


def test_tuner_switch_follows_whether_a_tuner_runs():
    from pipeline.pipeline import Pipeline

    base = {"version": 1, "source": {"type": "synthetic", "length": 1}, "stages": ["grayscale"],
            "sinks": ["discard"]}
    assert Pipeline.from_dict(base).engine().controls.snapshot().tuner_available is False
    tuned = dict(base, stages=["grayscale", "gradient", "map", {"threshold": {"value": "auto"}}],
                 tuner={"objective": "otsu"})
    assert Pipeline.from_dict(tuned).engine().controls.snapshot().tuner_available is True


def test_the_browser_view_says_whether_a_tuner_runs():
    from tests.io.sinks.test_http import config as http_config, get_json, running

    with running(http_config()) as (pipe, _, sink):
        assert get_json(sink)["tuner_available"] is False  # the page greys its switch out
    tuned = dict(http_config(), tuner={"objective": "otsu"})
    with running(tuned) as (pipe, _, sink):
        assert get_json(sink)["tuner_available"] is True
    page = (ROOT / "pipeline" / "web" / "app.js").read_text()
    assert "el.tuner.disabled = !tunerRuns" in page


def test_outputs_may_follow_a_flag_as_ffmpeg_users_write_them():
    from pipeline.cli.main import parse

    args = parse(["run", "in.mp4", "--start", "5", "out.mp4", "-y", "s.jsonl"])
    assert args.words == ["in.mp4", "out.mp4", "s.jsonl"] and args.replace == "yes"
    with pytest.raises(SystemExit):  # an unknown flag is still argparse's error
        parse(["run", "in.mp4", "--bogus", "out.mp4"])
