"""``edgepipe run -i A -i B 'out/{source}.mp4'``: several inputs on one line, one stream each.

Each ``-i`` is one stream of a ``sources:`` config (:mod:`pipeline.config.streams`),
named after its input: a file's stem (``yard.mp4`` -> ``yard``), a URL's last path part
or host, ``camera0`` for camera 0, ``synthetic``; a name met twice gets a number
(``clip``, ``clip_2``).  ``-i NAME=INPUT`` names a stream itself.  The outputs, the chain
and the flags are the one-liner's (:mod:`pipeline.cli.oneliner`); an output with
``{source}`` in it is one per stream, and the config check refuses an output all streams
cannot share.  One ``-i`` without a name is the one-liner as before.
"""

from __future__ import annotations

import copy
import os
import re
import urllib.parse

from pipeline.cli.oneliner import (PIPE, PLAIN_EDGES, TUNED_EDGES, TUNER, parse_input,
                                   parse_output, parse_stages)
from pipeline.cli.oneliner_flags import Flags, apply_encoder, apply_fast_gray, apply_trim
from pipeline.config.document import ConfigError
from pipeline.config.streams import NAME_PATTERN, NAME_RULE, PLACEHOLDER

EXAMPLE = "edgepipe run -i a.mp4 -i b.mp4 'out/{source}.mp4'"


def _fail(message: str) -> ConfigError:
    return ConfigError(message, "command line")


def split_named(text: str) -> tuple[str | None, str]:
    """``NAME=INPUT`` as ``(NAME, INPUT)``; anything else (a file whose name has ``=``, a
    URL's ``?a=b``) as ``(None, text)``."""
    name, equals, rest = text.partition("=")
    if not equals or os.path.exists(text) or "://" in name or not rest:
        return None, text
    if not NAME_PATTERN.fullmatch(name):
        raise _fail(f"-i {text!r}: a stream's name (before '=') is {NAME_RULE}; got {name!r}")
    return name, rest


def stream_name(text: str, kind: str) -> str:
    """The name a stream of input ``text`` (of ``kind``) gets: a plain word from the input."""
    if kind == "url":
        parts = urllib.parse.urlsplit(text)
        last = parts.path.rstrip("/").rsplit("/", 1)[-1]
        word = os.path.splitext(last)[0] or parts.hostname or "stream"
    elif kind == "camera":
        word = "camera" + text if text.isdigit() else os.path.basename(text)
    elif kind in ("synthetic", "stdin"):
        word = kind
    elif kind == "images":
        word = os.path.basename(os.path.dirname(text.split("*")[0])) or "pictures"
    else:
        word = os.path.splitext(os.path.basename(text))[0]
    word = re.sub(r"[^A-Za-z0-9_.-]+", "_", word).strip("_.-")[:56]
    return word or "stream"


def unique_names(wanted: list[str | None], made: list[str]) -> list[str]:
    """Each stream's name: the one given (``wanted``), else ``made`` with a number if taken."""
    taken = {name for name in wanted if name is not None}
    names = []
    for name, base in zip(wanted, made):
        if name is None:
            name, number = base, 2
            while name in taken:
                name, number = f"{base}_{number}", number + 1
            taken.add(name)
        elif name in names:
            raise _fail(f"-i {name}=...: the name {name!r} is given twice; each stream needs its own")
        names.append(name)
    return names


def several_data(inputs: list[str], outputs: list[str], stages: str | None = None,
                 tuner: bool = False, mode: str | None = None, flags: Flags | None = None) -> dict:
    """The ``sources:`` config (plain data, not yet checked) of ``run -i A -i B OUTPUT ...``.

    Raises
    ------
    ConfigError
        An input that is not there, no output, an output with no ``{source}`` where
        the streams cannot share it (from the config check), a flag an input cannot take.
    """
    flags = flags or Flags()
    if not outputs:
        raise _fail(f"several inputs (-i) need an OUTPUT, with {PLACEHOLDER} for one per "
                    f"stream, e.g. {EXAMPLE}")
    if sum(text == PIPE for text in inputs) > 1:
        raise _fail("standard input (-) can be one of the inputs once")
    named = [split_named(text) for text in inputs]
    sources, made, kinds = [], [], []
    for _, text in named:
        source, kind = parse_input(text)
        apply_trim(source, kind, flags)
        sources.append(source)
        made.append(stream_name(text, kind))
        kinds.append(kind)
    names = unique_names([name for name, _ in named], made)
    sinks = [parse_output(word) for word in outputs]
    apply_encoder(sinks, flags)
    chain = parse_stages(stages) if stages is not None else copy.deepcopy(
        TUNED_EDGES if tuner else PLAIN_EDGES)
    chain = apply_fast_gray(chain, kinds, flags)
    data = {"version": 1, "sources": [{"name": name, **source}
                                      for name, source in zip(names, sources)],
            "stages": chain, "sinks": sinks}
    if mode is not None:
        data["runtime"] = {"mode": mode}
    if tuner:
        data["tuner"] = copy.deepcopy(TUNER)
    return data
