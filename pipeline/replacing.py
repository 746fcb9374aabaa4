"""Whether a one-liner may replace outputs that exist: ``-y``, ``-n``, or ask, as ffmpeg does.

``edgepipe run IN OUT`` never replaces an existing ``OUT`` silently:

* ``-y`` / ``--overwrite``: replace it;
* ``-n`` / ``--no-overwrite``: refuse at once (exit 1, nothing opened);
* neither, on a terminal (standard input and standard error both are one): ask
  ``Overwrite? [y/N]``, as ffmpeg asks; off a terminal (a script, a pipe into ``-``):
  refuse, saying to add ``-y``.

Outputs are found as the input-is-output check finds them (:mod:`pipeline.io.overwrite`):
a video or stats file, every existing picture a pattern names.  YAML configs are not
asked about (a config names its outputs on purpose; batch keeps its own resume rules).
"""

from __future__ import annotations

import os
import sys

from pipeline.cli.guard import is_terminal
from pipeline.errors import EdgepipeError
from pipeline.io.overwrite import input_paths, output_paths


class Refused(EdgepipeError):
    """An existing output would be replaced and that was not allowed; the message says so."""


def existing_outputs(config) -> list[str]:
    """The outputs of ``config`` (a checked :class:`~pipeline.config.run.Config`) that exist now,
    every stream's (``sources:``) counted."""
    found = []
    for stream in config.streams:
        listed: list = []

        def inputs(source=stream.source, listed=listed) -> list[str]:
            if not listed:
                listed.append(input_paths(source.name, source.settings))
            return listed[0]

        for sink in stream.sinks:
            for path in output_paths(sink.name, sink.settings, inputs):
                if os.path.lexists(path) and path not in found:
                    found.append(path)
    return found


def _named(paths: list[str]) -> str:
    more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
    return f"{paths[0]!r}{more}"


def decide(paths: list[str], policy: str | None, stdin=None, stderr=None) -> None:
    """Allow replacing ``paths`` or raise :class:`Refused`.

    Parameters
    ----------
    paths : list of str
        Outputs that exist (:func:`existing_outputs`).
    policy : {"yes", "no"} or None
        ``-y``, ``-n``, or neither (ask on a terminal, else refuse).
    stdin, stderr : file, optional
        Where to ask (default the process's own).
    """
    if not paths or policy == "yes":
        return
    stdin = sys.stdin if stdin is None else stdin
    stderr = sys.stderr if stderr is None else stderr
    if policy == "no":
        raise Refused(f"{_named(paths)} already exist{'s' if len(paths) == 1 else ''}; not "
                      "replacing (-n); name another output, or give -y to replace")
    if not (is_terminal(stdin) and is_terminal(stderr)):
        raise Refused(f"{_named(paths)} already exist{'s' if len(paths) == 1 else ''}; give -y "
                      "(--overwrite) to replace, or -n to never replace (edgepipe asks only on "
                      "a terminal)")
    stderr.write(f"edgepipe: {_named(paths)} already exist{'s' if len(paths) == 1 else ''}. "
                 "Overwrite? [y/N] ")
    stderr.flush()
    answer = stdin.readline()
    if answer.strip().lower() not in ("y", "yes"):
        if not answer:
            stderr.write("\n")
        raise Refused(f"not replacing {_named(paths)}")
