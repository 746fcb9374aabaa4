"""Config loading: schema checks, errors naming file/line/key, --set overrides."""

import pathlib
import textwrap

import pytest

from pipeline.config.document import ConfigError
from pipeline.config.overrides import apply_override, parse_override
from pipeline.config.run import Config

# Run configs; batch and experiment configs have their own schema and tests.
CONFIGS = sorted(p for p in pathlib.Path(__file__).resolve().parent.parent.glob("configs/**/*.yaml")
                 if p.name != "batch.yaml" and "experiments" not in p.parts)

GOOD = """\
version: 1
source: {type: synthetic, width: 64, height: 48, length: 5}
stages:
  - grayscale
  - gradient: {kind: sobel, norm: l2}
  - map: {mode: abs, scale: 1.0}
  - threshold: {value: 40}
sinks:
  - discard
runtime: {mode: batch}
"""


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path, text, overrides=()):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        Config.from_yaml(path, overrides)
    return info.value, str(path)


def test_good_config(tmp_path):
    config = Config.from_yaml(write(tmp_path, GOOD))
    assert config.source.name == "synthetic"
    assert config.source.settings["width"] == 64
    assert [c.name for c in config.stages] == ["grayscale", "gradient", "map", "threshold"]
    assert config.stages[1].settings == {"kind": "sobel", "norm": "l2", "border": "reflect101"}
    assert config.stages[3].settings == {"value": 40.0}
    assert [c.name for c in config.sinks] == ["discard"]
    assert config.runtime == {"mode": "batch", "queue_size": None, "max_frames": None, "fps": None,
                              "workers": None, "scheduling": "auto"}


def test_to_dict_round_trips(tmp_path):
    config = Config.from_yaml(write(tmp_path, GOOD))
    again = Config.from_dict(config.to_dict())
    assert again.to_dict() == config.to_dict()
    source, stages, sinks = again.build()
    assert [type(s).__name__ for s in stages] == ["Grayscale", "Gradient", "Map", "Threshold"]


def test_source_defaults_to_synthetic_and_sinks_to_none():
    config = Config.from_dict({"version": 1})
    assert config.source.name == "synthetic"
    assert config.stages == [] and config.sinks == []


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    config = Config.from_yaml(path)
    assert config.data["version"] == 1


def test_shipped_configs_cover_the_seed_pictures():
    names = {p.stem for p in CONFIGS}
    assert {"demo", "webcam", "video", "forward_abs", "forward_shift", "central_shift",
            "sobel_x", "sobel_y", "sobel_magnitude"} <= names


@pytest.mark.parametrize("text, line, key, words", [
    (GOOD.replace("kind: sobel", "kind: sobal"), 5, "stages.1.gradient.kind", "did you mean 'sobel'"),
    (GOOD.replace("{kind: sobel, norm: l2}", "{kind: sobel, norm: l2, sigma: 2}"), 5,
     "stages.1.gradient.sigma", "unknown key 'sigma'"),
    (GOOD.replace("  - grayscale", "  - greyscale"), 4, "stages.0", "did you mean 'grayscale'"),
    (GOOD.replace("value: 40", "value: 400"), 7, "stages.3.threshold.value", "got 400"),
    (GOOD.replace("value: 40", "value: high"), 7, "stages.3.threshold.value", "'auto'"),
    (GOOD.replace("mode: batch", "mode: fast"), 10, "runtime.mode", "live, batch"),
    (GOOD.replace("  - discard", "  - printer"), 9, "sinks.0", "unknown sink 'printer'"),
    (GOOD.replace("type: synthetic,", "type: synthetc,"), 2, "source.type", "did you mean 'synthetic'"),
    (GOOD.replace("width: 64", "width: 2"), 2, "source.width", "got 2"),
    (GOOD.replace("version: 1", "version: 2"), 1, "version", "version must be 1"),
    (GOOD.replace("runtime:", "runtim:"), 10, "runtim", "unknown top-level key"),
    (GOOD.replace("{mode: abs, scale: 1.0}", "{mode: abs, scale: 1.0, fn: tanh}"), 6,
     "stages.2.map.fn", "only with mode activation"),
    (GOOD.replace("  - map: {mode: abs, scale: 1.0}", "  - map: {mode: abs}\n    threshold: {}"), 6,
     "stages.2", "indentation"),
    ("version: 1\nstages: grayscale\n", 2, "stages", "must be a list"),
    (GOOD.replace("{mode: batch}", "{queue_size: 0}"), 10, "runtime.queue_size", "got 0"),
])
def test_errors_name_file_line_and_key(tmp_path, text, line, key, words):
    error, path = error_of(tmp_path, text)
    assert (error.file, error.line, error.key) == (path, line, key)
    assert words in error.message
    assert str(error).startswith(f"{path}:{line} {key}: ")


def test_missing_required_setting_points_at_the_entry(tmp_path):
    error, path = error_of(tmp_path, GOOD.replace("{type: synthetic, width: 64, height: 48, length: 5}",
                                                  "{type: file}"))
    assert (error.line, error.key) == (2, "source")
    assert "'path'" in error.message


def test_missing_version(tmp_path):
    error, path = error_of(tmp_path, GOOD.replace("version: 1\n", ""))
    assert error.key == "version" and "required" in error.message


@pytest.mark.parametrize("text, line, words", [
    ("version: 1\nstages: [grayscale\n", 3, "not valid YAML"),
    ("version: 1\nsource: {type: synthetic}\nsource: {type: file}\n", 3, "appears twice"),
    ("version: 1\nsource: !!python/object:os.system {}\n", 2, "not valid YAML"),
    ("", 1, "empty"),
    ("- a\n- b\n", 1, "mapping"),
])
def test_yaml_level_errors(tmp_path, text, line, words):
    error, path = error_of(tmp_path, text)
    assert error.file == path and error.line == line
    assert words in error.message


def test_only_safe_loading_no_python_objects_built(tmp_path):
    marker = tmp_path / "pwned"
    text = f"version: 1\nsource: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(ConfigError):
        Config.from_yaml(write(tmp_path, text))
    assert not marker.exists()


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found") as info:
        Config.from_yaml(tmp_path / "nope.yaml")
    assert info.value.file.endswith("nope.yaml")


def test_merge_keys_and_anchors_work_like_safe_load(tmp_path):
    text = """\
    version: 1
    stages:
      - grayscale
      - blur: &b {ksize: 7}
      - blur: {<<: *b, sigma: 1.5}
      - gradient: {kind: scharr}
      - map: {mode: abs}
    """
    config = Config.from_yaml(write(tmp_path, text))
    assert config.stages[2].settings["ksize"] == 7
    assert config.stages[2].settings["sigma"] == 1.5


# ---------------------------------------------------------------- --set

@pytest.mark.parametrize("override, check", [
    ("stages.1.gradient.kind=scharr", lambda c: c.stages[1].settings["kind"] == "scharr"),
    ("stages.gradient.kind=prewitt", lambda c: c.stages[1].settings["kind"] == "prewitt"),
    ("stages.0.grayscale={}", lambda c: c.stages[0].name == "grayscale"),
    ("stages.3.threshold.value=auto", lambda c: c.stages[3].settings["value"] == "auto"),
    ("stages.4={hud: {corner: bottom-left}}", lambda c: c.stages[4].settings["corner"] == "bottom-left"),
    ("stages.1=derivative", lambda c: c.stages[1].name == "derivative"),
    ("source.width=32", lambda c: c.source.settings["width"] == 32),
    ("source.type=synthetic", lambda c: c.source.settings["width"] == 64),  # same type: kept
    ("runtime.mode=live", lambda c: c.runtime["mode"] == "live"),
    ("runtime.max_frames=3", lambda c: c.runtime["max_frames"] == 3),
    ("sinks.0=discard", lambda c: c.sinks[0].name == "discard"),
    ("sinks.1={video: {path: out/x.mp4}}", lambda c: c.sinks[1].settings["path"] == "out/x.mp4"),
    ("stages.4.overlay.color=[0, 0, 255]", lambda c: c.stages[-1].settings["color"] == [0, 0, 255]),
])
def test_overrides(tmp_path, override, check):
    text = GOOD.replace("  - threshold: {value: 40}", "  - threshold: {value: 40}\n  - overlay")
    config = Config.from_yaml(write(tmp_path, text), [override])
    assert check(config)


def test_override_of_a_bare_stage_name_gives_it_settings(tmp_path):
    text = GOOD.replace("  - threshold: {value: 40}", "  - blur")
    config = Config.from_yaml(write(tmp_path, text), ["stages.3.blur.ksize=9", "stages.4.hud.corner=top-right"])
    assert config.stages[4].settings["corner"] == "top-right"
    assert config.stages[3].settings["ksize"] == 9


def test_changing_the_source_type_starts_a_fresh_source(tmp_path):
    text = GOOD.replace("{type: synthetic, width: 64, height: 48, length: 5}",
                        "{type: file, path: clip.mp4}")
    config = Config.from_yaml(write(tmp_path, text), ["source.type=synthetic", "source.length=3"])
    assert config.source.name == "synthetic"
    assert config.source.settings["length"] == 3
    assert "path" not in config.source.settings


@pytest.mark.parametrize("override, words", [
    ("stages.1.gradient.kind=scharx", "did you mean 'scharr'"),
    ("stages.9.gradient.kind=scharr", "has 4 entries"),
    ("stages.1.map.mode=abs", "is 'gradient', not 'map'"),
    ("stages.blur.ksize=3", "no entry named 'blur'"),
    ("stages.kind=scharr", "no entry named 'kind'"),
    ("runtime.mode", "expected KEY=VALUE"),
    ("runtime.mode=[live", "not valid YAML"),
    ("runtime..mode=live", "empty part"),
    ("version=2", "version must be 1"),
    ("runtime.max_frames=0", "got 0"),
    ("source.type=camra", "did you mean 'camera'"),
])
def test_override_errors_name_the_set_key(tmp_path, override, words):
    error, _ = error_of(tmp_path, GOOD, [override])
    assert error.file == "--set"
    assert error.key == override.partition("=")[0]
    assert words in error.message
    assert str(error).startswith(f"--set {error.key}: ")


def test_error_inside_an_overridden_value_names_the_set_key(tmp_path):
    error, _ = error_of(tmp_path, GOOD, ["stages.4={hud: {corner: middle}}"])
    assert (error.file, error.key) == ("--set", "stages.4")


def test_other_errors_still_point_into_the_file_after_an_override(tmp_path):
    error, path = error_of(tmp_path, GOOD.replace("value: 40", "value: -1"), ["runtime.mode=live"])
    assert (error.file, error.line, error.key) == (path, 7, "stages.3.threshold.value")


def test_parse_override_values_are_yaml():
    assert parse_override("a.b=3") == ("a.b", 3)
    assert parse_override("a=3.5") == ("a", 3.5)
    assert parse_override("a=true") == ("a", True)
    assert parse_override("a=") == ("a", None)
    assert parse_override("a=x=y") == ("a", "x=y")


def test_from_dict_with_overrides_leaves_the_input_alone():
    data = {"version": 1, "stages": ["grayscale", {"gradient": {"kind": "sobel"}}]}
    config = Config.from_dict(data, ["stages.1.gradient.kind=scharr"])
    assert config.stages[1].settings["kind"] == "scharr"
    assert data["stages"][1]["gradient"]["kind"] == "sobel"
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"version": 1, "stages": [{"gradient": {"kind": 3}}]})
    assert info.value.file == "<dict>" and info.value.key == "stages.0.gradient.kind"


def test_config_errors_come_before_anything_is_opened(tmp_path):
    # A missing input file and an unwritable output: the config error wins, nothing made.
    out = tmp_path / "made" / "edges.mp4"
    text = f"""\
    version: 1
    source: {{type: file, path: {tmp_path / 'missing.mp4'}}}
    stages: [grayscale, {{gradient: {{kind: nope}}}}]
    sinks: [{{video: {{path: {out}}}}}]
    """
    with pytest.raises(ConfigError, match="kind"):
        Config.from_yaml(write(tmp_path, text))
    assert not (tmp_path / "made").exists()


def test_apply_override_records_the_set_key_for_errors(tmp_path):
    from pipeline.config.document import Document

    doc = Document({"version": 1, "runtime": {}}, {}, "x")
    apply_override(doc, "runtime.mode=live")
    assert doc.data["runtime"] == {"mode": "live"}
    assert doc.error(("runtime", "mode"), "bad").key == "runtime.mode"


def test_stem_in_an_images_sink_needs_pictures_as_the_source(tmp_path):
    """Caught when the config loads (exit 2 at validate), not when the sink opens mid-run."""
    error, path = error_of(tmp_path, "version: 1\nsource: {type: synthetic, length: 3}\n"
                                     "stages: [grayscale, gradient, map]\n"
                                     "sinks:\n  - images: {path: 'out/{stem}.png'}\n")
    assert f"{path}:5 sinks.0.images.path:" in str(error)
    assert "{stem}" in str(error) and "'synthetic'" in str(error) and "use {index}" in str(error)
    folder = tmp_path / "photos"
    folder.mkdir()
    Config.from_yaml(write(tmp_path, f"version: 1\nsource: {{type: images, glob: '{folder}/*.png'}}\n"
                                     "stages: [grayscale]\nsinks:\n  - images: {path: 'out/{stem}.png'}\n",
                           "ok.yaml"))
