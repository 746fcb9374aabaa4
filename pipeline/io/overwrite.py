"""A run never writes over its own input: every sink output against every source input.

Two paths name the same file when ``os.stat`` finds the same device and inode behind
them, which sees through every spelling at once: ``./x``, ``../dir/x``, a symlinked file
or folder, a hard link, another case on a case-insensitive filesystem.  An output that
does not exist yet cannot be an input (inputs exist), so only existing outputs are
compared, and nothing is created or opened.

What each component reads or writes comes from its settings, by type (the components
are not built, so the check runs at config load, before anything opens):

* inputs: ``file`` ``path``, the pictures ``images`` ``glob`` matches now;
* outputs: ``video`` and ``stats`` ``path`` (not ``-``), and every picture an ``images``
  pattern would write over: each integer in an input's path is tried as an index, and
  the picture it names is compared with the input (so any index, any padding).

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
from collections.abc import Callable, Iterable
from typing import Any

#: Sinks whose ``path`` setting names one output file (``-`` is standard output).
FILE_SINKS = ("video", "stats")


def file_identity(path: str) -> tuple[int, int] | None:
    """``(device, inode)`` of the file ``path`` names through any links, or None if none."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


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


def output_paths(name: str, settings: dict, inputs: list[str], cls: type | None = None) -> list[str]:
    """The existing files among those a sink of type ``name`` could write over ``inputs``.

    For an ``images`` pattern that means the pictures it names for the indices that
    appear in the inputs' paths; a file sink's one path is returned whether or not it
    exists (the comparison skips missing files).
    """
    own = getattr(cls, "output_paths", None)
    if callable(own):
        return list(own(settings, inputs))
    path = settings.get("path")
    if not isinstance(path, str):
        return []
    if name in FILE_SINKS:
        return [] if path == "-" else [path]
    if name == "images":
        return pattern_outputs(path, inputs)
    return []


def pattern_outputs(pattern: str, inputs: Iterable[str]) -> list[str]:
    """The pictures ``pattern`` (with ``{index}``) names for every index an input's path holds.

    Every run of digits in an input's path, as written and as resolved, and every part
    of such a run, is tried as an index, so ``{index:06d}``, ``{index}`` and a number
    glued to literal digits (``img2{index}.png``) are all found.
    """
    indices: set[int] = set()
    for path in inputs:
        for spelling in (path, os.path.realpath(path)):
            for run in re.findall(r"\d+", spelling):
                indices.update(int(run[i:j]) for i in range(len(run)) for j in range(i + 1, len(run) + 1))
    names = []
    for index in sorted(indices):
        try:
            names.append(pattern.format(index=index))
        except (ValueError, IndexError, KeyError, AttributeError):
            return []  # not a pattern the images sink accepts: its own check says why
    return names


def find_overwrite(outputs: Iterable[str], inputs: Iterable[str]) -> tuple[str, str] | None:
    """The first ``(output, input)`` that name the same existing file, or None.

    Examples
    --------
    >>> find_overwrite(["no/such/file.avi"], ["samples/tree.avi"]) is None
    True
    """
    by_identity: dict[tuple[int, int], str] = {}
    for path in inputs:
        identity = file_identity(path)
        if identity is not None:
            by_identity.setdefault(identity, path)
    if not by_identity:
        return None
    for path in outputs:
        identity = file_identity(path)
        if identity in by_identity:
            return path, by_identity[identity]
    return None


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
        :class:`pipeline.config.Component`).
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
    inputs = input_paths(source.name, source.settings, classes("source", source.name))
    if not inputs:
        return
    for sink in sinks:
        outputs = output_paths(sink.name, sink.settings, inputs, classes("sink", sink.name))
        clash = find_overwrite(outputs, inputs)
        if clash is None:
            continue
        key = tuple(sink.path) + ("path",)
        where = f"{sink.name} sink {sink.settings.get('path')!r}"
        if clash[0] != sink.settings.get("path"):
            where += f" (picture {clash[0]!r})"
        message = overwrite_message(where, clash[1])
        if error is not None:
            raise error(key, message)
        from pipeline.io.base import SinkError

        raise SinkError(message)
