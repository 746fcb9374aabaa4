"""The Pipeline a config builds: each run builds its components afresh."""

from pipeline.pipeline import Pipeline


def test_run_twice_builds_fresh_components(tmp_path):
    pipe = Pipeline.from_dict({"version": 1,
                               "source": {"type": "synthetic", "width": 40, "height": 30, "length": 5},
                               "sinks": ["discard"]})
    assert pipe.run().frames_out == pipe.run().frames_out == 5
    assert "synthetic" in repr(pipe)
