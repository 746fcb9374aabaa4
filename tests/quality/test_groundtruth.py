"""Reading BSDS ground truth (every annotator's Boundaries) from .mat files."""

import numpy as np
import pytest

from pipeline.quality import GroundTruthError, read_boundaries, write_boundaries
from tests.quality.synthetic import outline


def test_every_annotator_round_trips(tmp_path):
    maps = [outline(), outline(top=30, left=30, size=20)]
    write_boundaries(tmp_path / "1.mat", maps)
    read = read_boundaries(tmp_path / "1.mat")
    assert read.shape == (2, 100, 100) and read.dtype == np.uint8
    assert np.array_equal(read[0], maps[0]) and np.array_equal(read[1], maps[1])


def test_a_single_annotator_reads_as_one(tmp_path):
    write_boundaries(tmp_path / "1.mat", [outline()])
    assert read_boundaries(tmp_path / "1.mat").shape == (1, 100, 100)


def test_bad_files_name_themselves(tmp_path):
    from scipy.io import savemat

    with pytest.raises(GroundTruthError, match="missing.mat"):
        read_boundaries(tmp_path / "missing.mat")
    savemat(tmp_path / "other.mat", {"segs": np.zeros((3, 3))})
    with pytest.raises(GroundTruthError, match="other.mat: no 'groundTruth'.*segs"):
        read_boundaries(tmp_path / "other.mat")
    (tmp_path / "junk.mat").write_bytes(b"not a mat file")
    with pytest.raises(GroundTruthError, match="junk.mat"):
        read_boundaries(tmp_path / "junk.mat")
