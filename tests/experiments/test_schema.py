"""The experiment config's schema: errors name file, line and key; the shipped configs load."""

import pytest

from pipeline.config.document import ConfigError
from pipeline.config.experiment import load_experiment
from tests.experiments.test_runners import CONFIGS, write


@pytest.mark.parametrize("text, line, key, message", [
    ("iterations: 3\n", 1, "version", "'version: 1' is required"),
    ("version: 2\ninputs: []\noptimizers: []\n", 1, "version", "version must be 1; got 2"),
    ("version: 1\niteration: 3\ninputs: [{function: square, starts: [1]}]\noptimizers: [{name: sign}]\n",
     2, "iteration", "did you mean 'iterations'"),
    ("version: 1\ninputs:\n  - function: squar\n    starts: [1]\noptimizers: [{name: sign}]\n",
     3, "inputs.0.function", "did you mean 'square'"),
    ("version: 1\ninputs:\n  - function: square\n    start: [1]\noptimizers: [{name: sign}]\n",
     4, "inputs.0.start", "unknown key 'start'"),
    ("version: 1\ninputs:\n  - function: bowl\n    starts: [1]\noptimizers: [{name: sign}]\n",
     4, "inputs.0.starts.0", "2 number"),
    ("version: 1\ninputs: [{function: square, starts: [1]}]\noptimizers:\n  - name: sgd\n    lr: -1\n",
     5, "optimizers.0.lr", "lr must be"),
    ("version: 1\ninputs: [{function: square, starts: [1]}]\noptimizers:\n  - {name: sgd, lr: [0.1, -1]}\n",
     4, "optimizers.0.lr", "lr must be"),
    ("version: 1\ninputs: [{function: square, starts: [1]}]\noptimizers:\n  - {name: sgdd, lr: 1}\n",
     4, "optimizers.0.name", "unknown optimizer"),
    ("version: 1\ninputs:\n  - video: a.mp4\n    target: 0.2\noptimizers: [{name: sign}]\n",
     4, "inputs.0.target", "density only"),
    ("version: 1\ninputs:\n  - synthetic: {widht: 3}\noptimizers: [{name: sign}]\n",
     3, "inputs.0.synthetic.widht", "did you mean 'width'"),
    ("version: 1\ninputs:\n  - {function: square, video: a.mp4, starts: [1]}\noptimizers: [{name: sign}]\n",
     3, "inputs.0", "exactly one of"),
    ("version: 1\ninputs:\n  - function: square\n    starts: [5]\n    bounds: [-1, 1]\noptimizers: [{name: sign}]\n",
     4, "inputs.0.starts", "outside bounds"),
    ("version: 1\ninputs: [{function: square, starts: {random: 0, low: 0, high: 1}}]\noptimizers: [{name: sign}]\n",
     2, "inputs.0.starts", "random >= 1"),
    ("version: 1\ninputs: [{function: square, starts: [1]}]\noptimizers: [{name: sign}]\nseed: !!python/object:os.system x\n",
     4, None, "not valid YAML"),
])
def test_bad_configs_name_file_line_and_key(tmp_path, text, line, key, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_experiment(path)
    error = caught.value
    assert error.file == str(path) and error.line == line and error.key == key


def test_shipped_configs_load():
    # Loading checks the schema only; tests/end_to_end/test_config_shipped.py runs them.
    for path in sorted(CONFIGS.glob("*.yaml")):
        experiment = load_experiment(path)
        assert experiment.name == path.stem and experiment.description


def test_the_shipped_canny_experiment_validates():
    experiment = load_experiment(CONFIGS / "canny-2d.yaml")
    assert {item.settings["objective"] for item in experiment.inputs} == {"multiotsu"}
    assert len(experiment.optimizers) == 5


@pytest.mark.parametrize("entry, key, message", [
    ("objective: multiotsu\n    start: 100", "start", "start is \\[low, high\\]"),
    ("objective: multiotsu\n    start: [50, 20]", "start", "low <= high"),
    ("objective: multiotsu\n    start: [10, 20]\n    bounds: [15, 200]", "start", "outside bounds"),
    ("objective: multiotsu\n    kind: scharr", "kind", "leave kind out"),
    ("objective: otsu\n    start: [10, 20]", "start", "tunes one threshold"),
    ("objective: otsu\n    start: auto", "start", "tunes one threshold"),
])
def test_bad_pair_inputs_name_the_key(tmp_path, entry, key, message):
    path = write(tmp_path, f"""version: 1
inputs:
  - video: clip.mkv
    {entry}
optimizers: [{{name: sign, step: 1}}]
""")
    with pytest.raises(ConfigError, match=message) as caught:
        load_experiment(path)
    assert caught.value.key.endswith(key)
