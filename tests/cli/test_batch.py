"""``edgepipe batch``: ``--quiet`` never hides which file failed and why."""

from __future__ import annotations

from pipeline.cli import batch as command
from tests.batch.test_runner import make_clip, write_config


def test_quiet_batch_still_names_each_failed_file_and_why(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "rec" / "good.mp4", frames=5)
    (tmp_path / "rec" / "noise.mp4").write_bytes(b"\x00not a video" * 100)
    config = write_config(tmp_path / "b.yaml", inputs={"glob": "rec/*.mp4"}, output={"dir": "out"},
                          executor={"workers": 1})
    assert command.main([str(config), "-q"]) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgepipe: error: ")
    assert str(tmp_path / "rec" / "noise.mp4") in lines[0] and "decode" in lines[0]
    assert captured.out == ""


def test_dry_run_refuses_a_manifest_that_is_a_folder_as_a_run_does(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "rec" / "good.mp4", frames=3)
    (tmp_path / "out" / "m").mkdir(parents=True)
    config = write_config(tmp_path / "b.yaml", inputs={"glob": "rec/*.mp4"},
                          output={"dir": "out", "manifest": "out/m"}, executor={"workers": 1})
    assert command.main([str(config), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "output.manifest" in err and "is a folder" in err and "unexpected" not in err
