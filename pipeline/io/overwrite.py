"""A run never writes over its own input: every sink output against every source input.

Two paths name the same file when ``os.stat`` finds the same device and inode behind
them, which sees through every spelling at once: ``./x``, ``../dir/x``, a symlinked file
or folder, a hard link, another case on a case-insensitive filesystem.  An output that
does not exist yet cannot be an input (inputs exist), so only existing outputs are
compared, and nothing is created or opened.

What each component reads or writes comes from its settings, by type (the components
are not built, so the check runs at config load, before anything opens):

* inputs: ``file`` ``path``, the pictures ``images`` ``glob`` matches now;
* outputs: ``video`` and ``stats`` ``path`` (not ``-``), and every existing picture an
  ``images`` pattern names at any index (see :func:`pattern_outputs`), or for each input
  picture's stem (:func:`stem_outputs`).

The inputs are listed only when some output exists, so a config whose outputs are all
new costs no glob.

A source or sink class of a plugin takes part by defining
``input_paths(settings) -> list[str]`` or ``output_paths(settings, inputs) -> list[str]``
as a classmethod.

::

    clash = find_overwrite(["out/a.avi"], ["in/a.avi"])  # ("out/a.avi", "in/a.avi") or None
"""

from __future__ import annotations

import glob
import os
import re
import string
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pipeline.io.base import SinkError
from pipeline.io.formats import natural_sort_key
from pipeline.io.sinks.images import pattern_problem

#: Sinks whose ``path`` setting names one output file (``-`` is standard output).
FILE_SINKS = ("video", "stats")


def file_identity(path: str) -> tuple[int, int] | None:
    """``(device, inode)`` of the file ``path`` names through any links, or None if none."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def output_identity(path: str) -> tuple[int, int] | None:
    """The file an output path will land on, if it exists: :func:`file_identity`, or else
    that of the path as it resolves once the sink has made its missing folders.

    Sinks make missing folders before they write, so ``new/../x.avi`` lands on ``x.avi``
    although it does not resolve today (``new`` is missing); ``os.path.realpath`` takes
    ``..`` after a missing folder the same way.
    """
    return file_identity(path) or file_identity(os.path.realpath(path))


def input_paths(name: str, settings: dict, cls: type | None = None) -> list[str]:
    """The files a source of type ``name`` with ``settings`` reads (as it would name them)."""
    own = getattr(cls, "input_paths", None)
    if callable(own):
        return list(own(settings))
    if name == "file" and isinstance(settings.get("path"), str):
        return [settings["path"]]
    if name == "images" and isinstance(settings.get("glob"), str):
        pattern = os.path.expanduser(settings["glob"])
        return [p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)]
    return []


def output_paths(name: str, settings: dict, inputs: list[str] | Callable[[], list[str]],
                 cls: type | None = None) -> list[str]:
    """The files a sink of type ``name`` could write over, among those that exist.

    ``inputs`` (the source's files, or a function that lists them, called only when
    needed) matters only to an ``images`` pattern with ``{index}`` in a folder name.  A
    file sink's one path is returned whether or not it exists (the comparison skips
    missing files).
    """
    own = getattr(cls, "output_paths", None)
    if callable(own):
        return list(own(settings, _listed(inputs)))
    path = settings.get("path")
    if not isinstance(path, str):
        return []
    if name in FILE_SINKS:
        return [] if path == "-" else [path]
    if name == "images":
        if "{stem" in path or "{" not in path:
            return stem_outputs(path, _listed(inputs))
        return pattern_outputs(path, inputs)
    return []


def stem_outputs(pattern: str, inputs: list[str]) -> list[str]:
    """The pictures a pattern with ``{stem}`` (or one fixed name) writes for ``inputs``.

    With ``{index}`` as well, each input is paired with its number in the images
    source's order (natural sort), as the run numbers them when every picture decodes.
    """
    ordered = sorted(inputs, key=natural_sort_key)
    try:
        return sorted({pattern.format(stem=Path(path).stem, index=index)
                       for index, path in enumerate(ordered)} or {pattern.format(stem="", index=0)})
    except (ValueError, IndexError, KeyError, AttributeError, TypeError):
        return []  # not a pattern the images sink accepts: its own check says why


def _listed(inputs: list[str] | Callable[[], list[str]]) -> list[str]:
    return list(inputs()) if callable(inputs) else list(inputs)


def pattern_outputs(pattern: str, inputs: list[str] | Callable[[], list[str]] = ()) -> list[str]:
    """The existing pictures ``pattern`` (with ``{index}``) would write over, at any index.

    When the index is in the file name only (the usual case), these are the files of the
    pattern's folder whose name is the pattern's for the number where ``{index}`` is
    (any width, glued to literal digits as in ``img2{index}.png``); ``inputs`` is not
    needed.  When the index is in a folder name, every run of digits in every input's
    whole path (as written and resolved), and every part of one, is tried as an index.
    """
    if pattern_problem(pattern) is not None:
        return []  # not a pattern the images sink accepts: its own check says why
    try:
        samples = [pattern.format(index=index) for index in (0, 1, 12345678)]
    except (ValueError, IndexError, KeyError, AttributeError, TypeError):
        return []
    if len({os.path.dirname(sample) for sample in samples}) == 1:
        folder = os.path.dirname(samples[0])
        try:
            entries = os.listdir(folder or ".")
        except OSError:
            return []  # no such folder: no picture there to write over
        shape, name = _name_regex(os.path.basename(pattern)), os.path.basename(pattern)
        found = []
        for entry in entries:
            match = shape.fullmatch(entry)
            if match is None:
                continue
            for text in match.groups():
                if text.strip().lstrip("+-").isdigit() and name.format(index=int(text)) == entry:
                    found.append(os.path.join(folder, entry))
                    break
        return sorted(found)
    spellings = set()
    for path in _listed(inputs):
        spellings.update((path, os.path.realpath(path)))
    runs = {run for spelling in spellings for run in re.findall(r"\d+", spelling)}
    indices = {int(run[i:j]) for run in runs for i in range(len(run)) for j in range(i + 1, len(run) + 1)}
    return [pattern.format(index=index) for index in sorted(indices)]


def _name_regex(pattern: str) -> re.Pattern:
    """A file name pattern's literal text as is, each ``{index...}`` field as a group."""
    parts = []
    for literal, field, _, _ in string.Formatter().parse(pattern):
        parts.append(re.escape(literal))
        if field is not None:
            parts.append(r"(\s*[-+]?\d+)")
    return re.compile("".join(parts))


def find_overwrite(outputs: Iterable[str], inputs: Iterable[str] | dict) -> tuple[str, str] | None:
    """The first ``(output, input)`` that name the same existing file, or None.

    ``inputs`` may be given as :func:`identities` already, to compare several sinks.

    Examples
    --------
    >>> find_overwrite(["no/such/file.avi"], ["samples/tree.avi"]) is None
    True
    """
    by_identity = inputs if isinstance(inputs, dict) else identities(inputs)
    if not by_identity:
        return None
    for path in outputs:
        identity = output_identity(path)
        if identity in by_identity:
            return path, by_identity[identity]
    return None


def identities(paths: Iterable[str]) -> dict[tuple[int, int], str]:
    """Each existing file's ``(device, inode)`` with the first of ``paths`` that names it."""
    found: dict[tuple[int, int], str] = {}
    for path in paths:
        identity = file_identity(path)
        if identity is not None:
            found.setdefault(identity, path)
    return found


def overwrite_message(what: str, source: str) -> str:
    """The one-line refusal: the output and the input as written, the file both name, what works."""
    real = os.path.realpath(source)
    stem, extension = os.path.splitext(os.path.basename(real))
    example = os.path.join(os.path.dirname(real), f"{stem}_edges{extension}")
    return (f"{what} would write over the input {source!r} (both name {real}); a run never "
            f"replaces its own input: write to another path, e.g. {example!r}, or another folder")


def check_no_overwrite(source: Any, sinks: Iterable[Any],
                       error: Callable[[tuple, str], Exception] | None = None,
                       lookup: Callable[[str, str], type] | None = None) -> None:
    """Refuse a config whose sinks would write over its source's input, naming both.

    Parameters
    ----------
    source : Component
        The config's source (``name``, ``settings``, ``path`` as in
        :class:`pipeline.config.run.Component`).
    sinks : iterable of Component
        The config's sinks.
    error : callable, optional
        ``error(key_path, message)`` makes the exception to raise (the config's
        :meth:`Document.error`, which places it at the sink's ``path`` line); default a
        :class:`pipeline.io.base.SinkError`.
    lookup : callable, optional
        ``lookup(kind, name)`` gives a component's class, for plugins' own
        ``input_paths``/``output_paths``.

    Raises
    ------
    Exception
        Whatever ``error`` makes, when a sink output is a source input.
    """
    classes = lookup or (lambda kind, name: None)
    found: list = []  # the inputs and their identities, listed once some output exists

    def inputs() -> list[str]:
        if not found:
            found.append(input_paths(source.name, source.settings, classes("source", source.name)))
        return found[0]

    for sink in sinks:
        outputs = output_paths(sink.name, sink.settings, inputs, classes("sink", sink.name))
        outputs = [path for path in outputs if output_identity(path) is not None]
        if not outputs:
            continue  # nothing there yet: nothing to write over (and no glob to expand)
        if len(found) < 2:
            found.append(identities(inputs()))
        clash = find_overwrite(outputs, found[1])
        if clash is None:
            continue
        key = tuple(sink.path) + ("path",)
        where = f"{sink.name} sink {sink.settings.get('path')!r}"
        if clash[0] != sink.settings.get("path"):
            where += f" (picture {clash[0]!r})"
        message = overwrite_message(where, clash[1])
        if error is not None:
            raise error(key, message)
        raise SinkError(message)
