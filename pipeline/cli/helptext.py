"""The text of ``edgepipe stages``: every registered component and its parameters, as plain text.

Docstrings and parameter help are written in numpydoc/reStructuredText; a terminal
shows them without the markup (:func:`plain_text`).
"""

from __future__ import annotations

import re
import textwrap

from pipeline.config.run import Runtime, load_plugins
from pipeline.config.registry import KINDS, REGISTRIES

# :func:`pipeline.ops.derivative`, :class:`~pipeline.io.base.Sink`, :ref:`title <target>`
_ROLE = re.compile(r":(?:[a-zA-Z]+:)?[a-zA-Z]+:`(~?)([^`<]*?)\s*(?:<([^`>]*)>)?`")
_LITERAL = re.compile(r"``(.+?)``")
_INTERPRETED = re.compile(r"`([^`]+)`_{0,2}")
_WIDTH = 96


def _role(match: re.Match) -> str:
    tilde, text, target = match.groups()
    if target is not None and text:
        return text  # an explicit title
    name = text or target or ""
    return name.rsplit(".", 1)[-1] if tilde else name


def plain_text(text: str) -> str:
    """``text`` without reST roles, literals and interpreted text (``x``, :func:`x`, `x`)."""
    text = _ROLE.sub(_role, text)
    text = _LITERAL.sub(r"\1", text)
    text = _INTERPRETED.sub(r"\1", text)
    return re.sub(r"::$", ":", text)


def describe(kinds: list[str] | None = None) -> str:
    """The text of ``edgepipe stages``; ``kinds`` limits it (stage, source, sink, ..., runtime).

    Raises
    ------
    ValueError
        A kind that is not one of them.
    """
    load_plugins()
    wanted = kinds or list(KINDS) + ["runtime"]
    lines: list[str] = []
    for kind in wanted:
        if kind == "runtime":
            lines.append("runtime (the runtime: section)")
            lines += _component("runtime", Runtime)
            continue
        table = REGISTRIES.get(kind)
        if table is None:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, runtime; got {kind!r}")
        if table:
            lines.append(f"{kind}s")
            for name in sorted(table):
                lines += _component(name, table[name])
    return "\n".join(lines)


def _component(name: str, cls: type) -> list[str]:
    doc = (cls.__doc__ or "").strip().splitlines()
    lines = [f"  {name}" + (f"  - {plain_text(doc[0].strip())}" if doc else "")]
    if not cls.params:
        lines.append("      (no parameters)")
    width = max((len(p.name) for p in cls.params), default=0)
    for param in cls.params:
        text = plain_text(param.describe() + (f". {param.help}" if param.help else ""))
        wrapped = textwrap.wrap(text, _WIDTH - width, subsequent_indent=" " * (width + 8))
        lines.append(f"      {param.name:<{width}}  {wrapped[0]}")
        lines.extend(wrapped[1:])
    return lines
