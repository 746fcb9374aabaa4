"""Every command ends the same way (pipeline/cli/outcome.py): its exit codes come from the
one table in pipeline/cli/guard.py, and each has --json, --traceback and --quiet; an
unexpected error is one line (the traceback only with --traceback), Ctrl+C is one line
and 130, and --json always says ok, exit_code and the error."""

from __future__ import annotations

import ast
import json
import os
import pathlib
import re
import signal
import subprocess
import sys

import pytest

from pipeline.cli import guard, outcome
from pipeline.cli.main import COMMANDS, main, parser

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = ROOT / "pipeline" / "cli"
ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))

#: For each command: its words (a config that does not exist where it takes one), and a
#: function it calls once its arguments are parsed, to make fail on purpose.
COMMAND_CASES = {
    "run": (["run", "{missing}"], "pipeline.cli.run.Config.from_yaml"),
    "validate": (["validate", "{missing}"], "pipeline.cli.validate.load_any"),
    "stages": (["stages", "widget"], "pipeline.cli.stages.describe"),
    "batch": (["batch", "{missing}"], "pipeline.cli.batch.load_job"),
    "experiment": (["experiment", "{missing}"], "pipeline.cli.experiment.load_experiment"),
    "warmup": (["warmup"], "pipeline.cli.warmup.precompile"),
}


def words(name: str, tmp_path) -> list[str]:
    return [w.format(missing=tmp_path / "missing.yaml") for w in COMMAND_CASES[name][0]]


def help_text(name: str) -> str:
    commands = next(a for a in parser()._actions if a.dest == "command")
    return commands.choices[name].format_help()


# ---------------------------------------------------------------- the one table

def test_every_command_is_covered_here():
    assert set(COMMAND_CASES) == set(COMMANDS)


def test_exit_codes_are_assigned_in_the_guard_only():
    assigned = {}
    for path in (ROOT / "pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AnnAssign) else [])
            for target in targets:
                if isinstance(target, ast.Name) and target.id.startswith("EXIT_"):
                    assigned.setdefault(target.id, []).append(str(path.relative_to(ROOT)))
    assert set(assigned) >= {"EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED",
                             "EXIT_BROKEN_PIPE", "EXIT_TERMINATED"}
    assert {name: paths for name, paths in assigned.items()
            if paths != ["pipeline/cli/guard.py"]} == {}
    assert sorted(guard.EXIT_CODES) == [0, 1, 2, 130, 141, 143]


def test_no_command_returns_or_exits_with_a_number_of_its_own():
    literal = []
    for path in CLI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            value = node.value if isinstance(node, ast.Return) else (
                node.args[0] if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "exit"
                and node.args else None)
            if isinstance(value, ast.Constant) and type(value.value) is int:  # not True/False
                literal.append(f"{path.name}:{node.lineno}")
    assert literal == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_commands_help_lists_the_tables_codes(name):
    text = help_text(name)
    listed = [int(code) for code in re.findall(r"^  (\d+) ", text.split("exit codes:")[1], re.M)]
    assert listed == list(guard.EXIT_CODES)


def test_a_code_outside_the_table_cannot_be_documented():
    with pytest.raises(ValueError, match="not in the table"):
        guard.exit_codes_help({3: "something else"})


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_json_traceback_and_quiet(name):
    text = help_text(name)
    assert "--json PATH" in text and "--traceback" in text and "--quiet" in text


# ---------------------------------------------------------------- the same ending for each

@pytest.mark.parametrize("name", sorted(set(COMMANDS) - {"warmup"}))  # warmup takes no config
def test_a_bad_config_or_word_is_exit_2_with_json_saying_so(name, tmp_path, capsys):
    report = tmp_path / "out.json"
    assert main([*words(name, tmp_path), "--json", str(report)]) == guard.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("edgepipe: error: ") == 1 and "Traceback" not in err
    data = json.loads(report.read_text())
    assert data["ok"] is False and data["exit_code"] == 2 and data["error"] in err


def boom(*args, **kwargs):
    raise RuntimeError("a bug in edgepipe")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_unexpected_error_is_one_line_and_exit_1(name, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(COMMAND_CASES[name][1], boom)
    report = tmp_path / "out.json"
    assert main([*words(name, tmp_path), "-q", "--json", str(report)]) == guard.EXIT_FAILED
    err = capsys.readouterr().err
    assert err == ("edgepipe: error: unexpected RuntimeError: a bug in edgepipe "
                   "(rerun with --traceback for details)\n")
    assert json.loads(report.read_text()) == {"ok": False, "exit_code": 1,
                                              "error": "unexpected RuntimeError: a bug in edgepipe"}
    assert main([*words(name, tmp_path), "-q", "--traceback"]) == guard.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "in boom" in err
    assert err.splitlines()[-1].startswith("edgepipe: error: unexpected RuntimeError")


@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize("stop, code, reason", [(KeyboardInterrupt, 130, "interrupted"),
                                                (guard.Terminated, 143, "terminated")])
def test_a_stop_is_one_line_and_its_code_with_json(name, stop, code, reason, tmp_path, capsys,
                                                   monkeypatch):
    def interrupt(*args, **kwargs):
        raise stop

    monkeypatch.setattr(COMMAND_CASES[name][1], interrupt)
    report = tmp_path / "out.json"
    assert main([*words(name, tmp_path), "-q", "--json", str(report)]) == code
    assert capsys.readouterr().err == f"edgepipe: {reason}\n"
    assert json.loads(report.read_text()) == {"ok": False, "exit_code": code, "error": reason}


def test_sigterm_raises_only_while_a_command_runs(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def command(args):
        seen.append(signal.getsignal(signal.SIGTERM))
        os.kill(os.getpid(), signal.SIGTERM)
        return 0

    class Args:
        json = None

    assert outcome.conclude(command, Args()) == 143
    assert seen[0] is not before and signal.getsignal(signal.SIGTERM) is before


# ---------------------------------------------------------------- experiment, as the others

FUNCTION_ONLY = ("version: 1\nname: tiny\niterations: 5\ninputs:\n  - function: square\n"
                 "    starts: [7]\noptimizers:\n  - {name: sign, step: 1}\n")


def test_experiment_writes_its_summary_as_json(tmp_path, capsys):
    config = tmp_path / "e.yaml"
    config.write_text(FUNCTION_ONLY)
    assert main(["experiment", str(config), "-o", str(tmp_path / "o"), "--no-plots", "-q",
                 "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    data = json.loads(captured.out)
    written = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert data["ok"] is True and data["exit_code"] == 0
    assert data["runs"] == written["runs"] and data["files"] == written["files"]
    assert [run["final"] for run in data["runs"]] == [[2.0]]  # 7 - 5 sign steps of 1


def test_experiment_failures_are_exit_1_with_json(tmp_path, capsys):
    config = tmp_path / "v.yaml"
    config.write_text("version: 1\ninputs: [{video: nothing/*.mp4}]\noptimizers: [{name: sign}]\n")
    report = tmp_path / "r.json"
    assert main(["experiment", str(config), "-o", str(tmp_path / "o"), "--json", str(report)]) == 1
    err = capsys.readouterr().err
    data = json.loads(report.read_text())
    assert data["exit_code"] == 1 and "no file matches" in data["error"] and data["error"] in err


def test_experiment_save_maps_on_an_optimizer_config_is_exit_2(tmp_path, capsys):
    config = tmp_path / "e.yaml"
    config.write_text(FUNCTION_ONLY)
    report = tmp_path / "r.json"
    assert main(["experiment", str(config), "--save-maps", str(tmp_path / "m"),
                 "--json", str(report)]) == 2
    assert "--save-maps applies to quality experiments" in json.loads(report.read_text())["error"]
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("sig, code, reason", [(signal.SIGINT, 130, "interrupted"),
                                               (signal.SIGTERM, 143, "terminated")])
def test_experiment_stopped_for_real_is_one_line_its_code_and_json(tmp_path, sig, code, reason):
    # A function input (it says "done"), then a synthetic video long enough to be
    # running when the signal comes.
    config = tmp_path / "e.yaml"
    config.write_text("version: 1\nname: long\niterations: 5\ninputs:\n  - function: square\n"
                      "    starts: [7]\n  - synthetic: {width: 64, height: 48, length: 100000}\n"
                      "    objective: otsu\n    start: 128\noptimizers:\n  - {name: sign, step: 1}\n")
    report = tmp_path / "r.json"
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "experiment", str(config),
                                "-o", str(tmp_path / "o"), "--no-plots", "--json", str(report)],
                               env=ENV, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    assert process.stderr.readline().startswith("long: ")  # the function input is done
    process.send_signal(sig)
    err = process.stderr.read()
    assert process.wait(timeout=120) == code, err
    assert err == f"edgepipe: {reason}\n"
    assert json.loads(report.read_text()) == {"ok": False, "exit_code": code, "error": reason}
