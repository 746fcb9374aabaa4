"""``--set KEY=VALUE`` overrides of a config document, for every kind of config.

An override addresses the document by a dotted path: ``stages.1.gradient.kind=scharr``
(list index, then the stage's name), or ``stages.gradient.kind=scharr`` (the only stage
of that name), ``source.path=in.mp4``, ``sinks.0.video.path=out/a.mp4``,
``executor.workers=2``, ``optimizers.0.lr=0.1``.  Values are YAML read by the same
loader (:class:`~pipeline.config.document.Document`), so
``--set 'stages.4.overlay.color=[0, 0, 255]'`` is a list and ``--set optimizers.1.lr=3e3``
a number.  Setting ``source.type`` to a different type starts a fresh source mapping,
since the old type's keys would not fit.  The key an override set is recorded in the
document's lines, so a later error about that value names ``--set KEY``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline.config.document import ConfigError, Document, Path, dotted, forget_lines


def apply_overrides(doc: Document, overrides: Iterable[str] | str) -> Document:
    """Apply ``--set KEY=VALUE`` strings to ``doc`` in order (in place); return it."""
    if isinstance(overrides, str):
        overrides = [overrides]
    for text in overrides:
        apply_override(doc, text)
    return doc


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``"stages.1.gradient.kind=scharr"`` into the key and the YAML-read value."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"expected KEY=VALUE, e.g. stages.1.gradient.kind=scharr; got {text!r}",
                          "--set", None, key or None)
    if not raw.strip():
        return key, None
    try:
        value = Document.parse(raw, "--set").data
    except ConfigError as exc:
        problem = exc.message.removeprefix("not valid YAML: ")
        raise ConfigError(f"value {raw!r} is not valid YAML ({problem})", "--set", None,
                          key) from None
    return key, value


def entry_name(entry: Any) -> str | None:
    """The name of a stage or sink entry (a bare name or a one-key mapping)."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and len(entry) == 1:
        return next(iter(entry))
    return None


# Lists whose entries are named one-key mappings ("- gradient: {...}"), in any config.
NAMED_LISTS = (("stages",), ("sinks",))


def apply_override(doc: Document, text: str) -> None:
    """Apply one ``KEY=VALUE`` override to the document in place."""
    key, value = parse_override(text)

    def fail(message: str) -> ConfigError:
        return ConfigError(message, "--set", None, key)

    if doc.data is None:
        raise ConfigError("the config is empty, nothing to override; start it with "
                          "'version: 1'", doc.file, 1)
    if not isinstance(doc.data, dict):
        raise fail("the config is not a mapping, nothing to override")
    parts: list[Any] = key.split(".")
    if any(part == "" for part in parts):
        raise fail("empty part in the key; use dots between parts, e.g. runtime.mode")
    container: Any = doc.data
    path: Path = ()
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if isinstance(container, list):
            index = _list_index(container, part, path, fail)
            if last:
                if index == len(container):
                    container.append(value)
                else:
                    container[index] = value
                path += (index,)
                break
            if index == len(container):
                # appending a new entry by name: stages.6.hud.corner=top-right
                if path not in NAMED_LISTS:
                    raise fail(f"{dotted(path)} has {len(container)} entries; "
                               f"set {dotted(path + (index,))}=VALUE to append one")
                container.append({parts[position + 1]: {}})
            entry = container[index]
            if isinstance(entry, str) and len(parts) > position + 1:
                # a bare stage name gets settings: "gradient" -> {"gradient": {}}
                entry = container[index] = {entry: {}}
            container, path = entry, path + (index,)
            if not part.lstrip("-").isdigit():
                # addressed by name (stages.gradient.kind): the name was this part
                if isinstance(container, dict) and container.get(part) is None:
                    container[part] = {}
                container, path = container[part], path + (part,)
            continue
        if not isinstance(container, dict):
            raise fail(f"{dotted(path) or 'the config'} is {container!r}, not a mapping")
        if path in NAMED_LISTS:
            raise fail(f"after {path[0]} comes a list index or a {path[0][:-1]} name; got {part!r}")
        if len(path) == 2 and path[:1] in NAMED_LISTS and part not in container:
            raise fail(f"{dotted(path)} is {entry_name(container)!r}, not {part!r}")
        if last:
            if path == ("source",) and part == "type" and container.get("type") != value:
                container.clear()  # the old type's keys would not fit the new type
                forget_lines(doc.lines, path)
            container[part] = value
            path += (part,)
            break
        if container.get(part) is None:
            container[part] = {}
        elif path == () and part == "source" and isinstance(container[part], str):
            container[part] = {"type": container[part]}
        container, path = container[part], path + (part,)
    forget_lines(doc.lines, path)
    doc.lines[path] = key


def _list_index(items: list, part: str, path: Path, fail) -> int:
    """The list index named by ``part``: a number, or the name of a unique entry."""
    if part.lstrip("-").isdigit():
        index = int(part)
        if not 0 <= index <= len(items):
            last = f"0..{len(items) - 1}" if items else "none yet"
            raise fail(f"{dotted(path)} has {len(items)} entries (indices {last}; "
                       f"{len(items)} appends); got {index}")
        return index
    matches = [i for i, entry in enumerate(items) if entry_name(entry) == part]
    if len(matches) != 1:
        names = ", ".join(str(entry_name(entry)) for entry in items) or "none"
        how = "no" if not matches else "more than one"
        raise fail(f"{dotted(path)} has {how} entry named {part!r} (entries: {names}); "
                   f"use its index instead")
    return matches[0]
