"""The http view's token, over real sockets: 401 without it, the three ways to give it.

Bound to anything but loopback the sink needs a token (generated unless configured);
on loopback only when one is configured.  Clients are ``http.client`` and raw sockets.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import subprocess
import sys
import threading

import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.base import SinkError
from pipeline.io.sinks.http.sink import HttpSink
from pipeline.pipeline import Pipeline
from pipeline.config.registry import ParamError
from pipeline.tuned import single
from tests.harness import ROOT
from tests.io.sinks.test_http import HEIGHT, WIDTH, make_frame, open_sink, request

TOKEN = "s3cret-Token_for.tests~0123"

#: Every route and method the sink has, found or not.
ROUTES = [("GET", "/"), ("GET", "/index.html"), ("GET", "/app.js"), ("GET", "/style.css"),
          ("HEAD", "/"), ("GET", "/stream.mjpg"), ("GET", "/stats"), ("GET", "/stats?since=0"),
          ("POST", "/control"), ("GET", "/control"), ("GET", "/nothing-here"), ("POST", "/")]


def ask(sink, method, path, headers=None, body=None):
    headers = dict(headers or {})
    if method == "POST":
        body = body if body is not None else b'{"threshold": 12}'
        headers.setdefault("Content-Type", "application/json")
    return request(sink, method, path, body, headers)


def refused(status, headers, body):
    """401 with an error message only: nothing of the stream, the stats or the page."""
    if status != 401 or "Bearer" not in headers.get("WWW-Authenticate", ""):
        return False
    if not body:  # HEAD
        return True
    return list(json.loads(body)) == ["error"] and b"token" in body


@pytest.mark.parametrize("method, path", ROUTES)
def test_every_route_without_the_token_is_401_and_changes_nothing(method, path):
    with open_sink(host="0.0.0.0") as sink:
        sink.write(make_frame(1))
        status, headers, body = ask(sink, method, path)
        assert refused(status, headers, body), (status, body[:200])
        assert b"threshold" not in body and b"\xff\xd8" not in body and b"<html" not in body
        assert single(sink.controls.tuned.manual("threshold")) is None and sink.board.viewers == 0


@pytest.mark.parametrize("offered", [
    "", "wrong", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "%C3%A9" * 5, "%00", TOKEN + "%00",
])
def test_wrong_tokens_are_refused_in_every_place(offered):
    with open_sink(host="0.0.0.0", token=TOKEN) as sink:
        for headers, path in (({}, f"/stats?token={offered}"),
                              ({"Authorization": f"Bearer {offered}"}, "/stats"),
                              ({"Cookie": f"{sink.cookie_name}={offered}"}, "/stats"),
                              ({"Authorization": f"Basic {TOKEN}"}, "/stats")):
            status, answer_headers, body = ask(sink, "GET", path, headers)
            assert refused(status, answer_headers, body), (headers, path, status)
            assert "Set-Cookie" not in answer_headers


def test_the_query_token_sets_a_cookie_that_the_page_then_carries():
    with open_sink(host="0.0.0.0", token=TOKEN) as sink:
        status, headers, body = ask(sink, "GET", f"/?token={TOKEN}")
        assert status == 200 and b"view.js" in body
        cookie = headers["Set-Cookie"]
        assert cookie.startswith(f"{sink.cookie_name}={TOKEN};")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        jar = {"Cookie": cookie.split(";")[0]}
        assert ask(sink, "GET", "/stats", jar)[0] == 200
        status, _, answer = ask(sink, "POST", "/control", jar, b'{"threshold": 33}')
        assert status == 200 and json.loads(answer)["threshold_manual"] == 33.0
        assert single(sink.controls.tuned.manual("threshold")) == 33.0
        # Another sink's cookie (another port) is not this one's.
        other = {"Cookie": f"edgepipe_token_{sink.port_bound + 1}={TOKEN}"}
        assert ask(sink, "GET", "/stats", other)[0] == 401


def test_a_bearer_token_serves_scripts_including_the_stream():
    with open_sink(host="0.0.0.0", token=TOKEN) as sink:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        status, headers, body = ask(sink, "GET", "/stats", bearer)
        assert status == 200 and json.loads(body)["frame"]["index"] is None
        assert "Set-Cookie" not in headers
        conn = http.client.HTTPConnection("127.0.0.1", sink.port_bound, timeout=5)
        conn.request("GET", "/stream.mjpg", headers=bearer)
        response = conn.getresponse()
        assert response.status == 200
        response.readline()
        sink.write(make_frame(2))
        while response.readline() != b"\r\n":
            pass
        conn.close()


def test_a_generated_token_is_logged_once_in_the_url_and_works(caplog):
    caplog.set_level(logging.INFO, logger="pipeline.io.sinks.http")
    with open_sink(host="0.0.0.0") as sink:
        token = sink.access_token
        assert token and len(token) >= 32 and sink.token is None  # settings stay as given
        lines = [r.getMessage() for r in caplog.records if token in r.getMessage()]
        assert len(lines) == 1
        assert re.search(rf"open http://[^/\s]+:{sink.port_bound}/\?token={re.escape(token)} ", lines[0])
        assert ask(sink, "GET", "/stats")[0] == 401
        assert ask(sink, "GET", f"/stats?token={token}")[0] == 200
    with open_sink(host="0.0.0.0") as again:
        assert again.access_token != token  # one per run
    assert token not in repr(sink)


def test_loopback_needs_no_token_unless_one_is_configured(caplog):
    caplog.set_level(logging.INFO, logger="pipeline.io.sinks.http")
    with open_sink() as sink:
        assert sink.access_token is None
        assert all(ask(sink, m, p)[0] != 401 for m, p in ROUTES if p != "/stream.mjpg")
    assert not [r for r in caplog.records if "token" in r.getMessage()]
    with open_sink(token=TOKEN) as sink:
        assert refused(*ask(sink, "GET", "/stats"))
        assert ask(sink, "GET", "/stats", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert "token=<the configured token>" in caplog.text and TOKEN not in caplog.text


BAD_TOKENS = ["short", "has space in it 12345", "x" * 300, "ünïcode-token-123456", ""]


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_a_token_that_cannot_travel_in_a_url_is_refused_with_the_settings(token):
    with pytest.raises(ParamError, match="token must be 16 to 256 characters") as caught:
        HttpSink(host="0.0.0.0", port=0, token=token)
    assert caught.value.key == "token" and (not token or token not in str(caught.value))


@pytest.mark.parametrize("token", ["short", "has space in it 12345"])
def test_validate_refuses_the_token_run_would_refuse_with_file_line_and_key(tmp_path, token):
    config = tmp_path / "view.yaml"
    config.write_text(f"version: 1\nsource: {{type: synthetic, length: 3}}\nstages: []\nsinks:\n"
                      f"  - http: {{host: 0.0.0.0, port: 0, token: '{token}'}}\n")
    for command in ("validate", "run"):
        done = subprocess.run([sys.executable, "-m", "pipeline", command, str(config)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert f"{config}:5 sinks.0.http.token: token must be 16 to 256 characters" in done.stderr
        assert token not in done.stderr


def test_the_token_from_the_environment(monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("EDGEPIPE_TOKEN", TOKEN)
    with open_sink(host="0.0.0.0") as sink:
        assert sink.access_token == TOKEN
        assert refused(*ask(sink, "GET", "/stats"))
        assert ask(sink, "GET", "/stats", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    assert "token=<$EDGEPIPE_TOKEN>" in caplog.text and TOKEN not in caplog.text
    with open_sink(host="0.0.0.0", token="the-Config_token.wins~1") as sink:
        assert sink.access_token == "the-Config_token.wins~1"
    monkeypatch.setenv("EDGEPIPE_TOKEN", "has space in it 12345")
    with pytest.raises(ParamError, match=r"\$EDGEPIPE_TOKEN .* must be 16 to 256 characters"):
        HttpSink(host="0.0.0.0", port=0)


def test_an_unauthorized_post_with_a_body_does_not_smuggle_a_second_request():
    with open_sink(host="0.0.0.0", token=TOKEN) as sink:
        smuggled = b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n"
        raw = (b"POST /control HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(smuggled)) + smuggled
        with socket.create_connection(("127.0.0.1", sink.port_bound), timeout=5) as conn:
            conn.sendall(raw)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.count(b"HTTP/1.1 ") == 1 and answer.startswith(b"HTTP/1.1 401")


def test_a_pipeline_with_a_configured_token_over_every_interface():
    pipe = Pipeline.from_dict({
        "version": 1,
        "source": {"type": "synthetic", "width": WIDTH, "height": HEIGHT, "fps": 30.0, "length": 0,
                   "live": True},
        "stages": ["grayscale", "gradient", "map", "threshold"],
        "sinks": [{"http": {"host": "0.0.0.0", "port": 0, "token": TOKEN}}],
        "runtime": {"mode": "live"},
    })
    engine = pipe.engine()
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    try:
        sink = engine.sinks[0]
        deadline = 50
        while sink.port_bound is None and deadline:
            threading.Event().wait(0.1)
            deadline -= 1
        assert refused(*ask(sink, "GET", "/stats"))
        status, _, body = ask(sink, "GET", "/stats", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and json.loads(body)["stopped"] is False
        reader_headers = {"Authorization": f"Bearer {TOKEN}"}
        status, _, _ = ask(sink, "POST", "/control", reader_headers, b'{"pause": true}')
        assert status == 200 and engine.controls.paused
    finally:
        engine.controls.stop()
        thread.join(10)
    assert not thread.is_alive()


def test_the_token_in_the_one_liner_url_is_the_views_token():
    from pipeline.cli import oneliner

    data = oneliner.config_data(["synthetic", f"http://0.0.0.0:0/?token={TOKEN}"])
    assert data["sinks"] == [{"http": {"host": "0.0.0.0", "port": 0, "token": TOKEN}}]
    assert Pipeline.from_dict(data).engine().sinks[0].access_token == TOKEN


@pytest.mark.parametrize("url, says", [
    ("http://0.0.0.0:0/?token=short", "sinks.0.http.token: token must be 16 to 256 characters"),
    ("http://0.0.0.0:0/?token=abcdefghijklmnopq&x=1", "the browser view takes only ?token=TOKEN"),
])
def test_a_bad_token_in_the_one_liner_url_is_exit_2_and_not_shown(url, says):
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", "synthetic", url, "--set", "source.length=3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert "short" not in done.stderr and "abcdefghijklmnopq" not in done.stderr
