"""Chains that cannot run are refused at load (issue 15.10); chains that load do run.

Each stage declares the kind of image it takes and gives (pipeline.stages.kinds), and the
loader walks the chain.  The property checked over every chain of up to three stages:
a chain the loader accepts runs on a real frame, fused and unfused, and a picture sink
gets a uint8 picture; a refused one is refused at a stage that is in it, by name.
"""

from __future__ import annotations

import itertools
import json
import textwrap

import numpy as np
import pytest

from pipeline.batch.jobs import job_from_text
from pipeline.config.document import ConfigError
from pipeline.config.run import Config, load_plugins
from pipeline.frame import Frame
from pipeline.config.registry import REGISTRIES
from pipeline.stages import Chain, kinds

load_plugins()

BASE = "version: 1\nsource: {type: synthetic, width: 48, height: 32, length: 2}\n"


def run_config(stages: list, sinks=("discard",)) -> dict:
    return {"version": 1, "source": {"type": "synthetic", "width": 48, "height": 32, "length": 2},
            "stages": stages, "sinks": list(sinks)}


def refusal(stages, sinks=("discard",)) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        Config.from_dict(run_config(stages, sinks))
    return info.value


# ---------------------------------------------------------------- the cases

@pytest.mark.parametrize("stages, index, words", [
    (["overlay", "grayscale", "gradient", "map"], 0, "overlay needs an edge map or a binary edge map"),
    (["grayscale", "threshold", "gradient", "map"], 2, "gradient needs a grey picture"),
    (["map"], 0, "map needs a gradient magnitude or a signed derivative"),
    # neighbours: other orders and other stages of the same mistakes
    (["grayscale", "map"], 1, "but stage grayscale gives a grey picture"),
    (["gradient", "map"], 0, "but the source gives a colour picture"),
    (["derivative"], 0, "derivative needs a grey picture (put grayscale before it)"),
    (["grayscale", "gradient", "map", "gradient"], 3, "but stage map gives an edge map"),
    (["grayscale", "gradient", "overlay"], 2, "but stage gradient gives a gradient magnitude"),
    (["threshold"], 0, "threshold needs"),
    (["grayscale", "gradient", "map", "hud", "threshold"], 4, "but stage hud gives a colour picture"),
    (["grayscale", {"derivative": {"mapping": "abs"}}, "map"], 2, "but stage derivative gives an edge map"),
    (["blur", "gradient"], 1, "but stage blur gives a colour picture"),
])
def test_chains_that_cannot_run_are_refused_naming_the_stage(tmp_path, stages, index, words):
    error = refusal(stages)
    assert error.key == f"stages.{index}" and words in error.message
    # The same from a file: placed at the stage's line.
    text = BASE + "stages:\n" + "".join(f"  - {json.dumps(s)}\n" for s in stages) + "sinks: [discard]\n"
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        Config.from_yaml(path)
    assert info.value.line == 4 + index and info.value.file == str(path)


def test_a_picture_sink_needs_a_picture_but_stats_does_not():
    chain = ["grayscale", "gradient"]
    for sink in ("video", "images", "window", "http"):
        settings = {"video": {"path": "o.mp4"}, "images": {"path": "o_{index}.png"}}.get(sink, {})
        error = refusal(chain, [{sink: settings}])
        assert error.key == "sinks.0" and f"sink {sink} writes a uint8 picture" in error.message
        assert "stage gradient gives a gradient magnitude" in error.message
    Config.from_dict(run_config(chain, ["discard", {"stats": {"path": "s.jsonl"}}]))


def test_refused_through_set_and_in_batch_configs(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(BASE + "stages: [grayscale, gradient, map]\nsinks: [discard]\n")
    with pytest.raises(ConfigError) as info:
        Config.from_yaml(path, ["stages.1=threshold"])
    assert info.value.key == "stages.2" and info.value.line == 3
    assert "map needs" in info.value.message and "stage threshold gives" in info.value.message
    with pytest.raises(ConfigError) as info:
        Config.from_yaml(path, ["stages.0=map"])
    assert info.value.file == "--set" and info.value.key == "stages.0"
    batch = textwrap.dedent("""\
    version: 1
    inputs: {glob: "*.mp4"}
    output: {dir: out}
    stages:
      - grayscale
      - map
    """)
    with pytest.raises(ConfigError) as info:
        job_from_text(batch, "b.yaml")
    assert (info.value.file, info.value.line, info.value.key) == ("b.yaml", 6, "stages.1")
    with pytest.raises(ConfigError) as info:
        job_from_text(batch.replace("  - map\n", "  - gradient\n"), "b.yaml")
    assert info.value.line == 3 and "sink video writes a uint8 picture" in info.value.message


# ---------------------------------------------------------------- declarations

def test_every_stage_declares_kinds_it_can_give():
    for name, cls in REGISTRIES["stage"].items():
        stage = cls(**({"scale": 0.5} if name == "resize" else {}))
        assert stage.accepts and set(stage.accepts) <= set(kinds.ALL), name
        for kind in stage.accepts:
            assert stage.output_kind(kind) in kinds.ALL, (name, kind)


# ---------------------------------------------------------------- accepted => runs

VARIANTS = [
    "grayscale", {"blur": {"ksize": 3}}, {"resize": {"scale": 0.5}}, "derivative",
    {"derivative": {"mapping": "abs"}}, "gradient", "map", {"map": {"mode": "shift"}},
    {"threshold": {"value": 40}}, "overlay", "hud",
]


def frame() -> Frame:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    return Frame(0, 0.0, image, image.copy())


def test_every_chain_the_loader_accepts_runs_and_a_refused_one_names_its_stage():
    accepted = refused = 0
    for length in (1, 2, 3):
        for chain in itertools.product(VARIANTS, repeat=length):
            try:
                config = Config.from_dict(run_config(list(chain), ["discard", {"video": {"path": "o.mp4"}}]))
            except ConfigError as error:
                refused += 1
                assert error.key.startswith(("stages.", "sinks.")), error
                continue
            accepted += 1
            _, stages, _ = config.build()
            for fuse in (False, True):
                out = Chain(stages, fuse=fuse)(frame())
                assert out.image.dtype == np.uint8 and out.image.ndim in (2, 3), chain
    # Both sides are exercised (the counts are whatever the kinds give, not typed in).
    assert accepted > 20 and refused > 20
