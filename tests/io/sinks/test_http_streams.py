"""One http sink for every stream of a ``sources:`` run (pipeline/io/sinks/http/streams.py):
``/streams``, each stream's own routes, ``POST /control`` by name, and streams added and
removed while the run goes on, over real engines, a real server and a real stats file."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from pipeline.io.base import SinkError
from pipeline.tuned import single
from tests.harness import eventually, running_streams

CHAIN = ["grayscale", "gradient", "map", {"threshold": {"value": "auto"}}]
WIDTHS = {"a": 64, "b": 80, "c": 96}


def live(name: str, width: int) -> dict:
    return {"name": name, "type": "synthetic", "width": width, "height": 48, "fps": 20.0,
            "length": 0, "live": True}


def config(tmp_path, names=("a", "b", "c")) -> dict:
    return {"version": 1, "sources": [live(name, WIDTHS[name]) for name in names],
            "stages": CHAIN, "runtime": {"mode": "live"},
            "sinks": [{"http": {"port": 0}}, {"stats": {"path": str(tmp_path / "all.jsonl")}}]}


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                      headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())



def listing(url: str) -> dict:
    status, body = get(url + "streams")
    assert status == 200
    return {s["name"]: s for s in body["streams"]}


def frames_out(url: str, name: str) -> int:
    entry = listing(url).get(name)
    return -1 if entry is None else entry["frames_out"]


def test_streams_lists_every_stream_with_its_numbers_and_routes_by_name(tmp_path):
    with running_streams(config(tmp_path)) as (pipe, streams, sink):
        url = sink.url
        assert eventually(lambda: all(frames_out(url, n) > 0 for n in WIDTHS))
        first = {name: frames_out(url, name) for name in WIDTHS}
        assert eventually(lambda: all(frames_out(url, n) > first[n] for n in WIDTHS))  # live
        entries = listing(url)
        assert list(entries) == ["a", "b", "c"]
        for name, entry in entries.items():
            assert entry["running"] and entry["state"] == "live" and entry["fps"] > 0
            assert entry["frame"]["width"] == WIDTHS[name]
            assert entry["frame_age_ms"]["p95"] >= entry["frame_age_ms"]["p50"] >= 0
            assert entry["reconnects"] == 0 and entry["last_error"] is None
            # Each stream's own routes: its stats, its page (the single page), its picture.
            status, stats = get(f"{url}streams/{name}/stats")
            assert status == 200 and stats["frame"]["width"] == WIDTHS[name]
            assert stats["reconnects"] == 0 and stats["last_error"] is None
            assert stats["frame_age_ms"]["p95"] >= 0 and stats["fps"] > 0
            with urllib.request.urlopen(f"{url}streams/{name}/", timeout=10) as page:
                assert b"<title>edgepipe live</title>" in page.read()
        with urllib.request.urlopen(url, timeout=10) as page:
            assert b"<title>edgepipe streams</title>" in page.read()  # the grid
        status, answer = get(url + "stats")
        assert status == 404 and "3 streams (a, b, c)" in answer["error"] and "/streams/NAME/stats" in answer["error"]
        status, answer = get(url + "streams/zz/stats")
        assert status == 404 and "'zz'" in answer["error"] and "a, b, c" in answer["error"]


def test_control_by_name_changes_that_stream_only(tmp_path):
    with running_streams(config(tmp_path)) as (pipe, streams, sink):
        url = sink.url
        assert eventually(lambda: all(frames_out(url, n) > 0 for n in WIDTHS))
        status, answer = post(url + "control", {"stream": "b", "threshold": 201})
        assert status == 200 and answer["threshold_manual"] == 201.0
        manual = {name: single(c.tuned.manual("threshold")) for name, c in pipe.stream_controls.items()}
        assert manual == {"a": None, "b": 201.0, "c": None}
        assert eventually(lambda: listing(url)["b"]["threshold"] == 201.0)
        assert {listing(url)[n]["threshold"] for n in "ac"} != {201.0}
        # The stream's own address needs no name.
        status, _ = post(url + "streams/c/control", {"pause": True})
        assert status == 200
        assert [pipe.stream_controls[n].paused for n in "abc"] == [False, False, True]
        assert eventually(lambda: listing(url)["c"]["state"] == "paused")
        # Without a name, several streams: 400 naming them; an unknown one: 404 naming them.
        status, answer = post(url + "control", {"threshold": 50})
        assert status == 400 and answer["key"] == "stream" and "a, b, c" in answer["error"]
        status, answer = post(url + "control", {"stream": "zz", "pause": True})
        assert status == 404 and "'zz'" in answer["error"] and "a, b, c" in answer["error"]
        status, answer = post(url + "streams/a/control", {"stream": "b", "pause": True})
        assert status == 400 and "another stream's" in answer["error"]
        status, answer = post(url + "control", {"stream": 3})
        assert status == 400 and answer["key"] == "stream"
        assert not any(pipe.stream_controls[n].paused for n in "ab")
        assert all(pipe.stream_controls[n].tuned.manual("threshold") is None for n in "ac")


def test_a_stream_added_and_one_removed_while_the_others_go_on(tmp_path):
    with running_streams(config(tmp_path, names=("a", "b"))) as (pipe, streams, sink):
        url = sink.url
        assert eventually(lambda: all(frames_out(url, n) > 0 for n in "ab"))
        # Checked as the config checks sources:, the key named.
        status, answer = post(url + "control", {"add": {"name": "c", "type": "synthetic", "widht": 3}})
        assert status == 400 and answer["error"].startswith("add.widht: unknown key 'widht'")
        status, answer = post(url + "control", {"add": {"name": "a", "type": "synthetic"}})
        assert status == 400 and "add.name" in answer["error"] and "'a'" in answer["error"]
        status, answer = post(url + "control", {"add": live("c", 96), "pause": True})
        assert status == 400 and "alone" in answer["error"]
        status, answer = post(url + "control", {"add": live("c", 96)})
        assert status == 200 and answer["added"] == "c"
        assert [s["name"] for s in answer["streams"]] == ["a", "b", "c"]
        assert eventually(lambda: frames_out(url, "c") > 2)
        assert listing(url)["c"]["frame"]["width"] == 96 and "c" in pipe.stream_controls
        # Remove one: it ends with reason "removed" and leaves the listing; the others go on.
        status, answer = post(url + "control", {"remove": "a"})
        assert status == 200 and answer["removed"] == "a"
        removed = next(run for run in streams.streams if run.name == "a")
        assert eventually(lambda: removed.summary is not None)
        assert removed.summary.stop_reason == "removed"
        assert eventually(lambda: "a" not in listing(url))
        going = {name: frames_out(url, name) for name in "bc"}
        assert eventually(lambda: all(frames_out(url, n) > going[n] for n in "bc"))
        status, answer = post(url + "control", {"remove": "zz"})
        assert status == 404 and "'zz'" in answer["error"] and "a, b, c" in answer["error"]
    summary = streams.summary
    reasons = {s["name"]: s["stop_reason"] for s in summary.streams}
    assert reasons == {"a": "removed", "b": "stopped", "c": "stopped"} and summary.ok
    rows = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    counts = {name: sum(row["source"] == name for row in rows) for name in "abc"}
    outs = {s["name"]: s["frames_out"] for s in summary.streams}
    assert counts == outs and counts["c"] > 2  # the added stream wrote to the shared file


def test_removing_the_last_stream_ends_the_run_and_stops_the_server(tmp_path):
    with running_streams(config(tmp_path, names=("a",))) as (pipe, streams, sink):
        url = sink.url
        assert eventually(lambda: frames_out(url, "a") > 0)
        # One stream: the top routes and a nameless control are its own.
        assert get(url + "stats")[1]["frame"]["width"] == 64
        assert post(url + "control", {"threshold": 90})[0] == 200
        assert single(pipe.stream_controls["a"].tuned.manual("threshold")) == 90.0
        status, _ = post(url + "control", {"remove": "a"})
        assert status == 200
        assert eventually(lambda: streams.summary is not None)
        assert eventually(lambda: sink.url is None)  # every stream let go: the server stopped
    assert streams.summary.stop_reason == "removed"
    assert streams.streams[0].summary.stop_reason == "removed"
    with pytest.raises(urllib.error.URLError):  # nothing listens any more
        urllib.request.urlopen(url + "streams", timeout=5)
    # The run is over: nothing can join it (the shared sinks are finished).
    with pytest.raises(SinkError, match="cannot join"):
        pipe.new_stream(live("b", 64))


def test_a_run_with_one_source_refuses_stream_keys_and_keeps_its_page(tmp_path):
    from tests.harness import running

    data = {"version": 1, "source": {"type": "synthetic", "width": 64, "height": 48, "fps": 20.0,
                                     "length": 0, "live": True},
            "stages": CHAIN, "sinks": [{"http": {"port": 0}}], "runtime": {"mode": "live"}}
    with running(data) as (pipe, _, sink):
        for body in ({"add": live("b", 64)}, {"remove": "a"}, {"stream": "a", "pause": True}):
            status, answer = post(sink.url + "control", body)
            assert status == 409 and "one source:" in answer["error"]
        assert not pipe.controls.paused
        with urllib.request.urlopen(sink.url, timeout=10) as page:
            assert b"<title>edgepipe live</title>" in page.read()
        assert get(sink.url + "streams")[0] == 404


def test_a_failed_stream_stays_listed_with_its_error_while_the_others_go_on(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 4096)
    data = config(tmp_path, names=("a",))
    data["sources"].append({"name": "broken", "type": "file", "path": str(broken)})
    with running_streams(data) as (pipe, streams, sink):
        url = sink.url
        assert eventually(lambda: not listing(url)["broken"]["running"])
        entry = listing(url)["broken"]
        assert entry["state"].startswith("ended") and "broken.mp4" in entry["last_error"]
        before = frames_out(url, "a")
        assert eventually(lambda: frames_out(url, "a") > before)
        assert listing(url)["a"]["running"] and listing(url)["a"]["last_error"] is None
    failed = {record["input"] for record in streams.summary.failed}
    assert failed == {"stream broken"}


def one_live_one_ended(tmp_path) -> dict:
    data = config(tmp_path, names=("a",))
    data["sources"].append({"name": "e", "type": "synthetic", "width": 32, "height": 24, "length": 3})
    return data


def test_a_stream_that_ended_counts_no_more_at_the_top_routes(tmp_path):
    with running_streams(one_live_one_ended(tmp_path)) as (pipe, streams, sink):
        url = sink.url
        assert eventually(lambda: not listing(url)["e"]["running"] and frames_out(url, "a") > 0)
        status, answer = get(url + "stats")  # the only stream running: a
        assert status == 200 and answer["frame"]["width"] == 64
        assert post(url + "control", {"threshold": 90})[0] == 200
        assert single(pipe.stream_controls["a"].tuned.manual("threshold")) == 90.0
        assert pipe.stream_controls["e"].tuned.manual("threshold") is None
        assert post(url + "control", {"add": live("b", 80)})[0] == 200
        assert eventually(lambda: frames_out(url, "b") > 0)
        status, answer = get(url + "stats")  # two running now: the ended one is not counted
        assert status == 404 and "this run has 2 streams (a, b) running" in answer["error"]
        status, answer = post(url + "control", {"pause": True})
        assert status == 400 and "(a, b)" in answer["error"]


def test_removing_a_stream_that_ended_takes_its_tile_away(tmp_path):
    with running_streams(one_live_one_ended(tmp_path)) as (pipe, streams, sink):
        url = sink.url
        assert eventually(lambda: not listing(url)["e"]["running"])
        status, answer = post(url + "control", {"remove": "e"})
        assert status == 200 and answer["removed"] == "e"
        assert [s["name"] for s in answer["streams"]] == ["a"] and list(listing(url)) == ["a"]
        assert get(url + "streams/e/stats")[0] == 404
    reasons = {s["name"]: s["stop_reason"] for s in streams.summary.streams}
    assert reasons == {"a": "stopped", "e": "end of stream"}  # the summary keeps how e ended
