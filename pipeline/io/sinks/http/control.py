"""``POST /control`` of the http view: reading and checking a request body, applying it.

Every body is checked entirely before anything changes (:func:`read_control`, then the
checks against the run in :func:`apply_control`); anything wrong is a
:class:`ControlError` that names the key (or the body) and says what is allowed, which
the server answers as a 4xx with that JSON: 400 for a wrong body, 413 for a body over
the size cap, 409 for ``"tuner": true`` in a run without a tuner.  Bodies are small (:data:`MAX_CONTROL_BYTES`)
and flat (:data:`MAX_CONTROL_DEPTH`), checked before json's recursive parser runs.
"""

from __future__ import annotations

import json
import re
import reprlib
from http import HTTPStatus

from pipeline.errors import EdgepipeError
from pipeline.controls import Controls
from pipeline.tuned import CANNY_TARGET, THRESHOLD_MAX, THRESHOLD_MIN, THRESHOLD_TARGET

#: The largest ``POST /control`` body accepted, in bytes.
MAX_CONTROL_BYTES = 4096

#: How deep a ``POST /control`` body may nest (its own object is 1; values are flat).
#: Checked before parsing: json's parser and repr recurse, and 3000 ``[`` would end
#: in a RecursionError instead of an answer.
MAX_CONTROL_DEPTH = 8

_short = reprlib.Repr()
_short.maxlevel, _short.maxstring, _short.maxother = 2, 40, 40

#: What ``POST /control`` accepts, key by key (also the text of its 400 answers).
CONTROL_KEYS = {
    "threshold": f"a number in [{THRESHOLD_MIN:g}, {THRESHOLD_MAX:g}], or null for automatic",
    "tuner": "true or false",
    "pause": "true or false",
    "canny": f'{{"low": L, "high": H}} (either alone changes only that one), each a number in '
             f"[{THRESHOLD_MIN:g}, {THRESHOLD_MAX:g}] or null for automatic; or null for both automatic",
    "stream": "a stream's name (a run with sources:): the other keys change that stream only",
    "add": 'a sources: item, alone: {"name": N, "type": "url", "url": U, ...} (a run with sources:)',
    "remove": "a stream's name, alone: that stream stops with reason removed (a run with sources:)",
}

#: The keys about which streams run, not how one runs (a several-stream run, :mod:`.streams`).
STREAM_KEYS = ("stream", "add", "remove")


#: Why ``"tuner": true`` is refused when the run has no tuner, and how to start one.
NO_TUNER = ("no tuner runs in this run, so there is none to switch on; start the run with a "
            "tuner: section in its config, or add --tuner to the edgepipe command")


class ControlError(EdgepipeError, ValueError):
    """A ``POST /control`` request that cannot be applied; ``key`` is None for the body.

    ``allowed`` replaces what :data:`CONTROL_KEYS` says the key takes, where the run
    allows less than the key does (``tuner`` without a tuner: only ``false``).
    """

    def __init__(self, key: str | None, message: str, status: int = HTTPStatus.BAD_REQUEST,
                 allowed: str | None = None):
        super().__init__(message)
        self.key = key
        self.message = message
        self.status = int(status)
        self.allowed = allowed

    def to_json(self) -> dict:
        """The 4xx answer's body: the message, the key and what it allows."""
        body = {"error": self.message, "key": self.key}
        if self.allowed is not None:
            body["allowed"] = self.allowed
        elif self.key in CONTROL_KEYS:
            body["allowed"] = CONTROL_KEYS[self.key]
        else:
            body["allowed"] = {key: text for key, text in CONTROL_KEYS.items()}
        return body


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _no_duplicates(pairs: list) -> dict:
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise ControlError(key, f"{key!r} is given twice; give each key once")
    return dict(pairs)


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def nesting_depth(text: str) -> int:
    """How deep ``[`` and ``{`` nest in JSON ``text`` (brackets inside strings not counted).

    Strings are blanked first; an unterminated one keeps its brackets, which can only
    make the count higher (refused sooner), never hide a deep body.
    """
    depth = deepest = 0
    for char in _JSON_STRING.sub('""', text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)  # stray closers do not hide the openers after them
    return deepest


def read_control(headers, rfile) -> dict:
    """Read a ``POST /control`` request's body from ``rfile`` and check it (:func:`parse_control`).

    ``headers`` are the request's (``Content-Length`` and ``Content-Type`` are needed).
    A body over :data:`MAX_CONTROL_BYTES` is refused unread, with status 413: the caller
    closes the connection, as the unread body would be taken for the next request.
    """
    length = headers.get("Content-Length")
    if length is None or not length.isdigit():
        raise ControlError(None, "a Content-Length header is needed (a JSON body)")
    if int(length) > MAX_CONTROL_BYTES:
        raise ControlError(None, f"the body is {length} bytes; at most {MAX_CONTROL_BYTES}",
                           HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    return parse_control(rfile.read(int(length)), headers.get("Content-Type"))


def parse_control(body: bytes, content_type: str | None) -> dict:
    """Check a ``POST /control`` request entirely; return the changes it asks for.

    Parameters
    ----------
    body : bytes
        The request body: a JSON object with any of ``threshold``, ``canny``, ``tuner``,
        ``pause``.
    content_type : str or None
        The ``Content-Type`` header; must be ``application/json`` (parameters allowed).

    Returns
    -------
    dict
        The checked values by key (``threshold`` as a float, or None for automatic;
        ``canny`` as the values it sets, ``{"low": float or None, "high": ...}``).

    Raises
    ------
    ControlError
        Naming the key (or the body) and what is allowed; nothing is applied.
    """
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ControlError(None, f"Content-Type must be application/json; got {content_type or 'none'}")
    try:
        text = body.decode("utf-8")
        depth = nesting_depth(text)
        if depth > MAX_CONTROL_DEPTH:
            raise ControlError(None, f"the body nests {depth} levels deep (at most "
                                     f"{MAX_CONTROL_DEPTH}); send one flat JSON object such as "
                                     f'{{"threshold": 80}}')
        data = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicates)
    except ControlError:
        raise
    except RecursionError:  # not reached after the depth check; never an empty reply
        raise ControlError(None, "the body nests too deep; send one flat JSON object") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise ControlError(None, f"the body must be a JSON object such as "
                                 f'{{"threshold": 80}}; it is not JSON ({error})') from error
    if not isinstance(data, dict):
        raise ControlError(None, f"the body must be a JSON object such as "
                                 f'{{"threshold": 80}}; got {type(data).__name__} {_short.repr(data)}')
    changes = {}
    for key, value in data.items():
        if key not in CONTROL_KEYS:
            raise ControlError(key, f"unknown key {_short.repr(key)}; known keys: {', '.join(CONTROL_KEYS)}")
        changes[key] = _checked(key, value)
    for key in ("add", "remove"):
        if key in changes and len(changes) > 1:
            others = ", ".join(k for k in changes if k != key)
            raise ControlError(key, f"{key} goes alone in its request; send {others} in another")
    return changes


def _checked(key: str, value):
    """One key's value of a body, checked (a ControlError naming the key otherwise)."""
    if key == "threshold":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ControlError(key, f"threshold must be {CONTROL_KEYS[key]}; got {_short.repr(value)}")
        if not THRESHOLD_MIN <= value <= THRESHOLD_MAX:  # NaN and inf fail this too
            raise ControlError(key, f"threshold must be {CONTROL_KEYS[key]}; got {value!r}")
        return float(value)
    if key == "canny":
        return _canny_pair(value)
    expected = {"stream": str, "remove": str, "add": dict}.get(key, bool)
    if not isinstance(value, expected) or (expected is str and not value):
        raise ControlError(key, f"{key} must be {CONTROL_KEYS[key]}; got {_short.repr(value)}")
    return value


def _level(name: str, value) -> float | None:
    """A canny value from a body: None, or a float in the threshold range."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            THRESHOLD_MIN <= value <= THRESHOLD_MAX):  # NaN and inf fail the range too
        raise ControlError("canny", f"canny.{name} must be a number in [{THRESHOLD_MIN:g}, "
                                    f"{THRESHOLD_MAX:g}] or null for automatic; got {_short.repr(value)}")
    return float(value)


def _canny_pair(value) -> dict:
    """The ``canny`` value of a body: the values it sets, by name (None: automatic).

    ``null`` sets both to automatic; a mapping sets the ones it names, so that two
    sliders moved at once never undo each other.
    """
    if value is None:
        return {"low": None, "high": None}
    if not isinstance(value, dict):
        raise ControlError("canny", f"canny must be {CONTROL_KEYS['canny']}; got {_short.repr(value)}")
    for name in value:
        if name not in ("low", "high"):
            raise ControlError("canny", f"unknown key canny.{_short.repr(name)}; canny takes "
                                        f"low and high")
    if not value:
        raise ControlError("canny", "canny names low, high or both; got {} (null sets both "
                                    "to automatic)")
    return {name: _level(name, value[name]) for name in ("low", "high") if name in value}


def apply_control(controls: Controls, changes: dict) -> None:
    """Apply changes checked by :func:`parse_control` to the run's controls.

    Raises
    ------
    ControlError
        Status 409, naming ``tuner``, when the changes switch a tuner on in a run that has
        none (:data:`NO_TUNER`); nothing is applied then.
    """
    for key in STREAM_KEYS:
        if key in changes:
            raise ControlError(key, f"{key} is for a run of several streams (sources:); this run "
                                    "has one source:, and the other keys steer it as they are",
                               HTTPStatus.CONFLICT, allowed="nothing in a run with one source:")
    if changes.get("tuner") is True and not controls.snapshot().tuner_available:
        raise ControlError("tuner", NO_TUNER, HTTPStatus.CONFLICT,
                           allowed="false (no tuner runs in this run)")
    if "threshold" in changes:
        controls.tuned.set_manual(THRESHOLD_TARGET, threshold=changes["threshold"])
    if "canny" in changes:
        controls.tuned.set_manual(CANNY_TARGET, **changes["canny"])
    if "tuner" in changes:
        controls.tuner_enabled = changes["tuner"]
    if "pause" in changes:
        controls.paused = changes["pause"]
