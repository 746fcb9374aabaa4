"""``POST /control`` against hostile bodies: always an answer, never a dropped connection.

Deep nesting used to reach json's recursive parser and end in a RecursionError logged
at debug level and an empty reply.  Every body now gets a 200 or a 4xx with a JSON
error, which the hypothesis fuzz below checks over generated JSON, near-JSON and bytes.
"""

from __future__ import annotations

import http.client
import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.sinks.http.control import (CONTROL_KEYS, MAX_CONTROL_BYTES, MAX_CONTROL_DEPTH, ControlError,
                                            apply_control, nesting_depth, parse_control)
from pipeline.io.sinks.http.sink import HttpSink
from pipeline.controls import Controls
from pipeline.tuned import single
from tests.io.sinks.test_http import make_frame


@pytest.fixture(scope="module")
def sink():
    sink = HttpSink(port=0)
    sink.check()
    sink.open(make_frame(0), 30.0, Controls())
    yield sink
    sink.close()


def post(sink, body: bytes, content_type="application/json"):
    """``(status, parsed JSON answer)``; a dropped connection raises, failing the test."""
    conn = http.client.HTTPConnection("127.0.0.1", sink.port_bound, timeout=10)
    try:
        conn.request("POST", "/control", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


DEEP = [
    b"[" * 3000,
    b"[" * 2000 + b"]" * 2000,
    b"{" * 2000,
    b'{"threshold": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    b'{"threshold": ' + b"[" * 1000 + b"1" + b"]" * 1000 + b"}",
    b'{"tuner": ' + b'{"a": ' * 500 + b"1" + b"}" * 500 + b"}",
    b'[' * (MAX_CONTROL_DEPTH + 1),
]


@pytest.mark.parametrize("body", DEEP, ids=lambda b: f"{len(b)}B-{b[:14].decode()}")
def test_deep_nesting_is_a_400_that_names_the_nesting(sink, body, caplog):
    caplog.set_level(logging.DEBUG, logger="pipeline.io.sinks.http")
    status, answer = post(sink, body)
    assert status == 400 and "nests" in answer["error"] and "levels deep" in answer["error"]
    assert answer["key"] is None and "threshold" in answer["allowed"]
    assert "RecursionError" not in caplog.text
    assert single(sink.controls.tuned.manual("threshold")) is None


def test_nesting_within_the_limit_is_refused_by_what_the_value_is(sink):
    status, answer = post(sink, b'{"threshold": [[[1]]]}')
    assert status == 400 and answer["key"] == "threshold" and "got [[[...]]]" in answer["error"]  # shortened
    status, answer = post(sink, b'{"threshold": ' + b"[" * (MAX_CONTROL_DEPTH - 1) + b"]" * (MAX_CONTROL_DEPTH - 1) + b"}")
    assert status == 400 and answer["key"] == "threshold" and len(answer["error"]) < 300


def test_a_deep_body_over_the_size_cap_is_413(sink):
    status, answer = post(sink, b"[" * (MAX_CONTROL_BYTES + 1))
    assert status == 413 and "at most" in answer["error"]


@pytest.mark.parametrize("text, depth", [
    ('{"threshold": 80}', 1), ("[[]]", 2), ('{"a": "[[[[{{{{"}', 1), ('["\\"[["]', 1),
    ('{"a": {"b": [1, {"c": []}]}}', 5), ("", 0), ("]]][[", 2),
])
def test_nesting_depth_skips_brackets_in_strings(text, depth):
    assert nesting_depth(text) == depth


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["threshold", "tuner", "pause", "x", ""]) | st.text(max_size=8),
                      inner, max_size=4),
    max_leaves=30)

control_objects = st.fixed_dictionaries({}, optional={
    "threshold": st.none() | st.floats(allow_nan=True) | st.integers(-300, 600) | json_values,
    "tuner": st.booleans() | json_values,
    "pause": st.just(False) | json_values,
})


def _encode(value) -> bytes:
    return json.dumps(value).encode()


bodies = st.one_of(
    control_objects.map(_encode),
    json_values.map(_encode),
    st.integers(1, 3000).map(lambda n: b"[" * n),
    st.tuples(st.integers(1, 1500), st.sampled_from([b"[", b"{", b'{"a":'])).map(
        lambda t: b'{"threshold": ' + t[1] * t[0]),
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    control_objects.map(_encode).map(lambda b: b[: len(b) // 2]),  # cut short
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_fuzz_every_body_gets_a_200_or_a_4xx_with_a_json_error(sink, body):
    sink.controls.paused = False
    status, answer = post(sink, body)
    if status == 200:
        assert "threshold" in answer and "paused" in answer
    else:
        assert 400 <= status < 500 and isinstance(answer["error"], str) and answer["error"]
    sink.controls.paused = False
    sink.controls.tuned.set_manual("threshold", threshold=None)


# --- POST /control ----------------------------------------------------------------------
@pytest.mark.parametrize("data, expected", [
    ({"canny": {"low": 40, "high": 120}}, {"low": 40.0, "high": 120.0}),
    ({"canny": {"low": None, "high": 99.5}}, {"low": None, "high": 99.5}),
    ({"canny": None}, {"low": None, "high": None}),
    ({"canny": {"low": 200, "high": 10}}, {"low": 200.0, "high": 10.0}),  # swapped by the stage
    ({"canny": {"low": 40}}, {"low": 40.0}),  # only low changes
    ({"canny": {"high": None}}, {"high": None}),
])
def test_parse_control_accepts_the_pair(data, expected):
    assert parse_control(json.dumps(data).encode(), "application/json") == {"canny": expected}


@pytest.mark.parametrize("body, words", [
    (b'{"canny": {}}', "names low, high or both"),
    (b'{"canny": {"low": 40, "high": 300}}', "canny.high must be a number in [0, 255]"),
    (b'{"canny": {"low": "40", "high": 50}}', "canny.low must be"),
    (b'{"canny": {"low": true, "high": 50}}', "canny.low must be"),
    (b'{"canny": {"low": 1, "high": 2, "mid": 3}}', "unknown key canny.'mid'"),
    (b'{"canny": [40, 120]}', "canny must be"),
    (b'{"canny": 40}', "canny must be"),
])
def test_parse_control_refuses_bad_pairs_naming_canny(body, words):
    with pytest.raises(ControlError) as caught:
        parse_control(body, "application/json")
    assert caught.value.key == "canny" and words in caught.value.message
    assert "low" in caught.value.to_json()["allowed"]


# --- POST /control parsing ---------------------------------------------------------------
@pytest.mark.parametrize("data, expected", [
    ({"threshold": 80}, {"threshold": 80.0}),
    ({"threshold": 12.5}, {"threshold": 12.5}),
    ({"threshold": 0}, {"threshold": 0.0}),
    ({"threshold": 255}, {"threshold": 255.0}),
    ({"threshold": None}, {"threshold": None}),
    ({"tuner": False, "pause": True}, {"tuner": False, "pause": True}),
    ({}, {}),
])
def test_parse_control_accepts(data, expected):
    assert parse_control(json.dumps(data).encode(), "application/json; charset=utf-8") == expected


@pytest.mark.parametrize("body, content_type, key, words", [
    (b'{"threshold": "80"}', "application/json", "threshold", "[0, 255]"),
    (b'{"threshold": true}', "application/json", "threshold", "[0, 255]"),
    (b'{"threshold": -1}', "application/json", "threshold", "[0, 255]"),
    (b'{"threshold": 255.5}', "application/json", "threshold", "[0, 255]"),
    (b'{"threshold": 1e999}', "application/json", "threshold", "[0, 255]"),
    (b'{"threshold": 1' + b"0" * 400 + b"}", "application/json", "threshold", "[0, 255]"),
    (b'{"threshold": NaN}', "application/json", None, "not JSON"),
    (b'{"tuner": 1}', "application/json", "tuner", "true or false"),
    (b'{"pause": "yes"}', "application/json", "pause", "true or false"),
    (b'{"treshold": 80}', "application/json", "treshold", "known keys: threshold, tuner, pause"),
    (b'{"threshold": 1, "threshold": 2}', "application/json", "threshold", "twice"),
    (b"threshold=80", "application/json", None, "not JSON"),
    (b"[80]", "application/json", None, "JSON object"),
    (b"\xff\xfe", "application/json", None, "not JSON"),
    (b'{"threshold": 80}', "application/x-www-form-urlencoded", None, "application/json"),
    (b'{"threshold": 80}', "text/plain", None, "application/json"),
    (b'{"threshold": 80}', None, None, "application/json"),
])
def test_parse_control_refuses(body, content_type, key, words):
    with pytest.raises(ControlError) as caught:
        parse_control(body, content_type)
    assert caught.value.key == key
    assert words in caught.value.message
    assert caught.value.status == 400
    answer = caught.value.to_json()
    assert answer["key"] == key and answer["error"] == caught.value.message
    assert answer["allowed"] == (CONTROL_KEYS[key] if key in CONTROL_KEYS
                                 else CONTROL_KEYS)


# --- what the run allows -------------------------------------------------------------------
def test_tuner_on_in_a_run_without_a_tuner_is_a_409_that_says_how_to_start_one():
    controls = Controls(tuner_available=False)
    with pytest.raises(ControlError) as caught:
        apply_control(controls, {"threshold": 42.0, "tuner": True})
    error = caught.value
    assert error.status == 409 and error.key == "tuner"
    assert "no tuner runs" in error.message and "tuner:" in error.message and "--tuner" in error.message
    assert error.to_json()["allowed"].startswith("false")
    assert single(controls.tuned.manual("threshold")) is None  # nothing of the body was applied
    apply_control(controls, {"tuner": False})  # off is fine without a tuner
    assert controls.tuner_enabled is False


def test_tuner_on_in_a_run_with_a_tuner_is_applied():
    controls = Controls(tuner_enabled=False, tuner_available=True)
    apply_control(controls, {"tuner": True})
    assert controls.tuner_enabled is True


def test_the_server_answers_409_for_a_tuner_the_run_lacks():
    sink = HttpSink(port=0)
    sink.check()
    sink.open(make_frame(0), 30.0, Controls(tuner_available=False))
    try:
        status, answer = post(sink, b'{"tuner": true}')
        assert status == 409 and answer["key"] == "tuner" and "--tuner" in answer["error"]
        assert sink.controls.tuner_enabled is True  # unchanged (it follows nothing anyway)
    finally:
        sink.close()
