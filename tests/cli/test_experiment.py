"""``edgepipe experiment``'s exit codes."""

from tests.experiments.test_runners import command, write


def test_command_exit_codes(tmp_path, capsys):
    bad = write(tmp_path, "version: 1\n", "bad.yaml")
    assert command(bad, "-q") == 2
    assert "bad.yaml" in capsys.readouterr().err
    assert command(tmp_path / "missing.yaml") == 2
    missing_video = write(tmp_path, "version: 1\ninputs: [{video: nothing/*.mp4}]\n"
                                    "optimizers: [{name: sign}]\n", "video.yaml")
    assert command(missing_video, "-o", tmp_path / "o", "-q") == 1
    assert "no file matches" in capsys.readouterr().err
