"""``sources:`` and ``{source}`` in a run config (pipeline/config/streams.py): each mistake
named by its key before anything opens, each stream's sinks filled with its name, and
the ``-i`` one-liner's names (pipeline/cli/oneliner_inputs.py)."""

from __future__ import annotations

import copy

import pytest

from pipeline.cli import oneliner_inputs
from pipeline.cli.main import main
from pipeline.cli.oneliner import to_yaml
from pipeline.config.document import ConfigError, Document
from pipeline.config.run import Config
from pipeline.config.streams import is_shared

CHAIN = ["grayscale", "gradient", "map"]


def several(tmp_path, *sinks) -> dict:
    return {"version": 1,
            "sources": [{"name": "door", "type": "synthetic", "length": 3},
                        {"name": "yard", "type": "synthetic", "length": 4, "width": 64, "height": 48}],
            "stages": list(CHAIN),
            "sinks": list(sinks) or [{"video": {"path": str(tmp_path / "{source}.mp4")}}]}


def error_of(data: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        Config.from_dict(data)
    return str(caught.value)


def test_each_stream_has_its_source_and_its_filled_sinks(tmp_path):
    stats = str(tmp_path / "all.jsonl")
    config = Config.from_dict(several(tmp_path, {"video": {"path": str(tmp_path / "{source}.mp4")}},
                                      {"stats": {"path": stats}}, "discard"))
    assert config.several and [s.name for s in config.streams] == ["door", "yard"]
    assert [s.source.settings["length"] for s in config.streams] == [3, 4]
    assert config.source is config.streams[0].source
    for stream in config.streams:
        video, shared, discard = stream.sinks
        assert video.settings["path"] == str(tmp_path / f"{stream.name}.mp4")
        assert shared is config.sinks[1] and is_shared(shared) and shared.settings["path"] == stats
        assert discard.name == "discard" and not is_shared(discard)
    # Each stream builds its own stage instances (own histograms, own tuned values).
    first, second = (config.build(stream)[1] for stream in config.streams)
    assert all(a is not b for a, b in zip(first, second))


def test_the_checked_config_loads_back_equal(tmp_path):
    config = Config.from_dict(several(tmp_path))
    again = Config.from_dict(config.to_dict())
    assert again.to_dict() == config.to_dict() and "source" not in config.to_dict()


@pytest.mark.parametrize("change, key, words", [
    (lambda d: d["sources"][1].update(name="door"), "sources.1.name", "already stream 0's"),
    (lambda d: d["sources"][1].update(name="a/b"), "sources.1.name", "got 'a/b'"),
    (lambda d: d["sources"][1].update(name=".hidden"), "sources.1.name", "a word"),
    (lambda d: d["sources"][1].update(name=7), "sources.1.name", "got 7"),
    (lambda d: d["sources"][0].pop("name"), "sources.0", "needs a name"),
    (lambda d: d["sources"][1].pop("type"), "sources.1", "needs a 'type'"),
    (lambda d: d["sources"][1].update(type="nope"), "sources.1.type", "nope"),
    (lambda d: d["sources"][1].update(length=-1), "sources.1.length", ""),
    (lambda d: d.update(sources=[]), "sources", "a list of streams"),
    (lambda d: d.update(sources={"a": 1}), "sources", "a list of streams"),
    (lambda d: d["sources"].append("synthetic"), "sources.2", "a mapping"),
    (lambda d: d.update(source={"type": "synthetic"}), "sources", "not both"),
])
def test_a_bad_sources_list_is_named_by_its_key(tmp_path, change, key, words):
    data = several(tmp_path)
    change(data)
    message = error_of(data)
    assert f" {key}:" in message and words in message


@pytest.mark.parametrize("sink, key", [
    ({"video": {"path": "out/edges.mp4"}}, "sinks.1.video"),
    ({"hls": {"path": "www/edges.m3u8"}}, "sinks.1.hls"),
    ({"images": {"path": "out/e_{index:04d}.png"}}, "sinks.1.images"),
    ({"network": {"url": "udp://127.0.0.1:5000"}}, "sinks.1.network"),
    ("stdout", "sinks.1.stdout"),
])
def test_a_sink_all_streams_cannot_share_is_refused_with_the_way_out(tmp_path, sink, key):
    data = several(tmp_path, {"video": {"path": str(tmp_path / "{source}.mp4")}}, sink)
    message = error_of(data)
    assert f" {key}:" in message and "takes one stream" in message
    assert "{source}" in message and "every stream: stats, http, window, discard" in message


def test_one_http_sink_is_shared_by_every_stream(tmp_path):
    config = Config.from_dict(several(tmp_path, {"http": {"port": 0}}))
    shared = config.sinks[0]
    assert is_shared(shared) and all(stream.sinks[0] is shared for stream in config.streams)


def test_one_window_without_source_is_shared_by_every_stream(tmp_path):
    config = Config.from_dict(several(tmp_path, {"window": {"title": "wall"}}))
    shared = config.sinks[0]
    assert is_shared(shared) and all(stream.sinks[0] is shared for stream in config.streams)
    assert shared.settings["title"] == "wall"


def test_source_in_a_window_title_gives_each_stream_its_window_and_snapshot_folder(tmp_path):
    config = Config.from_dict(several(tmp_path, {"window": {"title": "cam {source}"}},
                                      {"window": {"title": "{source}", "snapshot_dir": "s/{source}/k"}}))
    assert not any(is_shared(sink) for sink in config.sinks)
    for stream in config.streams:
        plain, placed = stream.sinks
        assert plain.settings["title"] == f"cam {stream.name}"
        assert plain.settings["snapshot_dir"] == f"snapshots/{stream.name}"  # the default's folder
        assert placed.settings["title"] == stream.name
        assert placed.settings["snapshot_dir"] == f"s/{stream.name}/k"


def grid_of(tmp_path, count: int, *sinks) -> dict:
    data = several(tmp_path, *sinks)
    data["sources"] = [{"name": f"cam{i}", "type": "synthetic", "length": 2} for i in range(count)]
    return data


@pytest.mark.parametrize("window", ["window", {"window": {"title": "wall"}}, {"window": None}])
def test_a_window_grid_of_more_than_16_streams_is_refused_naming_the_window(tmp_path, window):
    Config.from_dict(grid_of(tmp_path, 16, "discard", window))  # 16 tiles: fine
    message = error_of(grid_of(tmp_path, 17, "discard", window))
    assert " sinks.1.window:" in message and "at most 16 streams" in message
    assert "has 17" in message and "{source} in its title" in message and "http" in message


def test_a_run_of_a_window_grid_of_17_streams_exits_2_before_any_window_opens(tmp_path, capsys, monkeypatch):
    import yaml

    monkeypatch.delenv("DISPLAY", raising=False)  # no window could open: none is tried
    path = tmp_path / "wall.yaml"
    path.write_text(yaml.safe_dump(grid_of(tmp_path, 17, "window")))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "wall.yaml" in err and "sinks.0.window" in err and "at most 16 streams" in err


def test_windows_per_stream_are_not_limited_to_16(tmp_path):
    config = Config.from_dict(grid_of(tmp_path, 17, {"window": {"title": "cam {source}"}}))
    assert len({stream.sinks[0].settings["title"] for stream in config.streams}) == 17


def test_source_in_a_window_title_without_sources_is_refused():
    data = {"version": 1, "source": "synthetic", "stages": CHAIN,
            "sinks": [{"window": {"title": "cam {source}"}}]}
    message = error_of(data)
    assert " sinks.0.window.title:" in message and "sources:" in message


def test_source_placeholder_without_sources_is_refused(tmp_path):
    data = {"version": 1, "source": "synthetic", "stages": CHAIN,
            "sinks": [{"stats": {"path": str(tmp_path / "{source}.jsonl")}}]}
    message = error_of(data)
    assert " sinks.0.stats.path:" in message and "sources:" in message


def test_per_stream_outputs_and_inputs_are_checked_across_streams(tmp_path):
    clip = tmp_path / "yard.mp4"
    clip.write_bytes(b"not read: the check is on names")
    data = several(tmp_path)
    data["sources"][1] = {"name": "yard", "type": "file", "path": str(clip)}
    message = error_of(data)  # door's output {source}.mp4 -> yard.mp4 is yard's input
    assert "yard.mp4" in message


def test_placeholder_with_flow_braces_must_be_quoted_in_yaml(tmp_path):
    """The docs quote '{source}' paths: unquoted in a flow mapping, YAML refuses it."""
    with pytest.raises(ConfigError):
        Document.parse("sinks:\n  - video: {path: out/{source}.mp4}\n", "x.yaml")
    Document.parse("sinks:\n  - video: {path: 'out/{source}.mp4'}\n", "x.yaml")


# ---------------------------------------------------------------------- -i names
@pytest.mark.parametrize("text, kind, name", [
    ("clips/yard.mp4", "file", "yard"),
    ("rtsp://10.0.0.5:554/live/door.sdp", "url", "door"),
    ("rtsp://cam.local", "url", "cam.local"),
    ("0", "camera", "camera0"),
    ("/dev/video2", "camera", "video2"),
    ("synthetic", "synthetic", "synthetic"),
    ("my clip (1).mp4", "file", "my_clip_1"),
])
def test_a_stream_is_named_after_its_input(text, kind, name):
    assert oneliner_inputs.stream_name(text, kind) == name


def test_names_are_made_unique_and_given_names_kept():
    assert oneliner_inputs.unique_names([None, None, "a_2", None], ["a", "a", "x", "b"]) == \
        ["a", "a_3", "a_2", "b"]
    with pytest.raises(ConfigError, match="given twice"):
        oneliner_inputs.unique_names(["a", "a"], ["x", "y"])


def test_named_inputs_are_split_only_where_a_name_is_meant(tmp_path):
    assert oneliner_inputs.split_named("door=rtsp://h/x?a=b") == ("door", "rtsp://h/x?a=b")
    assert oneliner_inputs.split_named("rtsp://h/x?token=1") == (None, "rtsp://h/x?token=1")
    odd = tmp_path / "a=b.mp4"
    odd.write_bytes(b"")
    assert oneliner_inputs.split_named(str(odd)) == (None, str(odd))
    with pytest.raises(ConfigError, match="name"):
        oneliner_inputs.split_named("a b=synthetic")


def test_several_inputs_make_a_sources_config_that_prints_and_loads(tmp_path):
    data = oneliner_inputs.several_data(["synthetic", "cam=synthetic", "synthetic"],
                                        [str(tmp_path / "{source}.mp4")])
    assert [s["name"] for s in data["sources"]] == ["synthetic", "cam", "synthetic_2"]
    printed = to_yaml(copy.deepcopy(data), "edgepipe run ...")
    loaded = Config.from_document(Document.parse(printed, "printed.yaml"))
    assert loaded.to_dict() == Config.from_dict(data).to_dict()
    with pytest.raises(ConfigError, match="need an OUTPUT"):
        oneliner_inputs.several_data(["synthetic", "synthetic"], [])


@pytest.mark.parametrize("argv, words", [
    (["run"], "run needs a CONFIG"),
    (["run", "-i", "configs/multi.yaml"], "-i takes inputs, not a config"),
    (["run", "configs/multi.yaml", "-i", "synthetic"], "-i takes inputs, not a config"),
    (["run", "-i", "synthetic", "-i", "synthetic"], "need an OUTPUT"),
    (["run", "-i", "a b=synthetic", "-i", "synthetic", "x_{source}.mp4"], "a stream's name"),
])
def test_run_command_lines_with_i_that_cannot_run_exit_2(argv, words, capsys):
    assert main(argv) == 2
    assert words in capsys.readouterr().err
