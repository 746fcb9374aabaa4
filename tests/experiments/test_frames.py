"""Experiment inputs read through the sources: videos frame by frame, synthetic frames, picture
and video globs in the sources' order."""

import json

import cv2
import numpy as np
import pytest

from pipeline import experiments
from pipeline.config.experiment import load_experiment
from pipeline.experiments import run_experiment
from tests.experiments.test_runners import clip, command, read_csv, write


@pytest.mark.parametrize("objective", ["otsu", "density", "agreement"])
def test_video_input_tunes_the_threshold_frame_by_frame(tmp_path, objective):
    video = clip(tmp_path / "clip.mkv")
    path = write(tmp_path, f"""version: 1
iterations: 10
inputs:
  - video: {video}
    objective: {objective}
    start: 100
optimizers: [{{name: adam, lr: 3.0}}, {{name: sign, step: 2}}]
""")
    assert command(path, "-o", tmp_path / "out", "-q") == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    first, second = summary["runs"]
    assert first["frames"] == 12 and len(first["thresholds"]) == 12
    rows = read_csv(tmp_path / "out" / "iterations.csv")
    assert len(rows) == 2 * 12 * 11
    # warm start: each frame's run starts where the previous frame's ended
    run0 = [r for r in rows if r["run"] == "0"]
    for frame in range(1, 12):
        starts = [r for r in run0 if r["frame"] == str(frame) and r["iteration"] == "0"]
        assert float(starts[0]["x"]) == first["thresholds"][frame - 1]
    assert float(run0[0]["x"]) == 100.0
    assert (tmp_path / "out" / "clip.png").stat().st_size > 0


def test_synthetic_input_and_frame_globs(tmp_path):
    for index in range(3):
        image = np.zeros((40, 50, 3), np.uint8)
        cv2.circle(image, (25, 20), 5 + 3 * index, (255, 255, 255), -1)
        cv2.imwrite(str(tmp_path / f"f{index}.png"), image)
    path = write(tmp_path, f"""version: 1
iterations: 5
inputs:
  - synthetic: {{width: 64, height: 48, length: 4}}
  - video: {tmp_path}/f*.png
    label: pictures
optimizers: [{{name: adam, lr: 2.0}}]
""")
    experiment = load_experiment(path)
    experiment.output = tmp_path / "out"
    summary = run_experiment(experiment, plots=False)
    assert [r["frames"] for r in summary["runs"]] == [4, 3]


def test_picture_globs_are_read_in_the_images_sources_order(tmp_path):
    # The old reader sorted names as text (f10 before f2); the images source sorts
    # naturally, and the experiment now reads through it.
    from pipeline.experiments.frames import read_frames
    from pipeline.config.registry import build

    for index in (1, 2, 10):
        image = np.full((24, 32, 3), index * 20, np.uint8)
        cv2.imwrite(str(tmp_path / f"f{index}.png"), image)
    settings = {"video": str(tmp_path / "f*.png")}
    levels = [int(image[0, 0, 0]) for image in read_frames(settings, None)]
    source = build("source", "images", {"glob": settings["video"]})
    source.open()
    expected = [int(cv2.imread(path)[0, 0, 0]) for path in source.paths]
    source.close()
    assert levels == expected == [20, 40, 200]
    assert [int(i[0, 0, 0]) for i in read_frames(settings, 2)] == [20, 40]
    # One picture whose name has glob characters is read as that one file.
    odd = tmp_path / "odd[1].png"
    cv2.imwrite(str(odd), np.full((24, 32, 3), 7, np.uint8))
    assert [int(i[0, 0, 0]) for i in read_frames({"video": str(odd)}, None)] == [7]


def test_video_globs_are_read_one_file_after_another_in_natural_order(tmp_path):
    from pipeline.experiments.frames import read_frames

    for index, frames in ((10, 2), (2, 3)):
        writer = cv2.VideoWriter(str(tmp_path / f"c{index}.avi"), cv2.VideoWriter_fourcc(*"MJPG"),
                                 10.0, (32, 24))
        for _ in range(frames):
            writer.write(np.full((24, 32, 3), index * 10, np.uint8))
        writer.release()
    levels = [int(round(image.mean())) for image in read_frames({"video": str(tmp_path / "c*.avi")}, None)]
    assert len(levels) == 5 and all(abs(v - 20) <= 3 for v in levels[:3])
    assert all(abs(v - 100) <= 3 for v in levels[3:])
    cv2.imwrite(str(tmp_path / "c5.png"), np.zeros((24, 32, 3), np.uint8))
    with pytest.raises(experiments.frames.SourceError, match="pictures and videos"):
        list(read_frames({"video": str(tmp_path / "c*")}, None))
