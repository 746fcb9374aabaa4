"""Temporary names and what killed writers left: one naming scheme, one sweep rule.

Every output is written under ``.NAME.part-<pid>-<token>[-<tag>]<ext>`` next to it
(:func:`temporary_path`); :func:`parse_temporary`, :func:`is_temporary` and
:func:`temporaries_of` read the same scheme back, so batch planning skips these files
and cleanup finds them.  The locks, watch and commit that use it are in
:mod:`pipeline.io.outputs`.

What a killed run left.  ``kill -9`` leaves the temporary file (and its ``.lock``) next
to the output.  The writer that next takes the output's lock removes the temporaries
whose writer is provably gone (:func:`sweep_temporaries`), and says so in one line:

* a plain temporary is written only under its output's lock, so holding the lock proves
  its writer gone (whatever its pid: pids are reused, and another machine's mean nothing);
* a tagged one (one :func:`~pipeline.io.outputs.commit.write_atomically` call, a batch job's
  staging name) or one nested in another temporary is written without that lock, so it
  goes only when the pid in its name is no live process here (a zombie counts as dead);
* a temporary's own lock file goes once its temporary is gone and nobody holds it.

Which locks this process holds is known here (:func:`held_here`), so two sinks of one
run on one output are told it is this run, whatever the lock file says.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import re
import secrets
import threading
from pathlib import Path

log = logging.getLogger("pipeline.io.outputs")

#: Random part of this process's temporary names: with the pid, unique across processes
#: and machines sharing a folder; within a process the output lock keeps writers apart.
PROCESS_TOKEN = secrets.token_hex(3)


def temporary_path(final: str | os.PathLike, tag: str = "") -> Path:
    """Where to write ``final`` until it is complete: same folder, hidden, extension last.

    The name holds the pid and a random token drawn once per process, so two processes
    never share a temporary file, and the same call in one process names the same file.

    Parameters
    ----------
    final : path-like
        The output.
    tag : str, optional
        A word of lowercase letters and digits, at least one letter past ``f`` so it
        is told apart from the token, for temporaries written without the output's lock: a batch job's
        staging name (``"batch"``), one :func:`write_atomically` call (``"w7"``).

    Examples
    --------
    >>> temporary_path("out/edges.mp4").name  # doctest: +ELLIPSIS
    '.edges.mp4.part-...mp4'
    >>> parse_temporary(temporary_path("out/edges.mp4", "batch").name).tag
    'batch'
    """
    final = Path(final)
    if tag and not re.fullmatch(_TAG, tag):
        raise ValueError(f"a temporary name's tag is lowercase letters and digits with a "
                         f"letter past f; got {tag!r}")
    tagged = f"-{tag}" if tag else ""
    return final.with_name(f".{final.name}{TEMP_MARK}{os.getpid()}-{PROCESS_TOKEN}{tagged}{final.suffix}")


#: What every temporary name holds after its output's name.
TEMP_MARK = ".part-"
#: A tag: never all hex digits, so it cannot be read as the token.
_TAG = r"[a-z0-9]*[g-z][a-z0-9]*"

_TEMPORARY = re.compile(r"\.(?P<final>.+)\.part-(?P<pid>\d+)(?:-(?P<token>[0-9a-f]+))?"
                        rf"(?:-(?P<tag>{_TAG}))?(?P<suffix>\.[^.]*)?")


@dataclasses.dataclass(frozen=True)
class TemporaryName:
    """What a temporary file's name says: whose output it is and who wrote it."""

    final: str  #: the output's file name (itself a temporary's, for a nested one)
    pid: int
    token: str | None
    tag: str | None


def parse_temporary(name: str) -> TemporaryName | None:
    """The parts of a temporary file name, or None when ``name`` is not one.

    Examples
    --------
    >>> parse_temporary(".edges.mp4.part-41-0a1b2c.mp4")
    TemporaryName(final='edges.mp4', pid=41, token='0a1b2c', tag=None)
    >>> parse_temporary("edges.mp4") is None
    True
    """
    match = _TEMPORARY.fullmatch(name)
    if match is None:
        return None
    final = match["final"]
    if Path(final).suffix != (match["suffix"] or ""):
        return None
    return TemporaryName(final, int(match["pid"]), match["token"], match["tag"])


def is_temporary(name: str) -> bool:
    """Whether a file name is an output being written (or a killed run's leftover), or its lock.

    Examples
    --------
    >>> is_temporary(".edges.mp4.part-41-0a1b2c.mp4"), is_temporary(".edges.mp4")
    (True, False)
    """
    if name.endswith(".lock") and name.startswith("."):
        name = name[1:-len(".lock")]
    return parse_temporary(name) is not None


def temporaries_of(final: str | os.PathLike) -> list[Path]:
    """Temporary files next to ``final`` that belong to it, nested ones and their locks too.

    A batch job's staging name is itself written through a sink's temporary
    (``..a.mp4.part-7-ab12cd-batch.mp4.part-7-ab12cd.mp4``): that one belongs to
    ``a.mp4`` as well.
    """
    final = Path(final)
    folder = final.parent
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    return [folder / entry for entry in sorted(entries) if _owner(entry) == final.name]


def _owner(name: str) -> str | None:
    """The output a temporary (or a temporary's lock) belongs to, through nesting."""
    if name.endswith(".lock") and name.startswith("."):
        name = name[1:-len(".lock")]
    parsed = parse_temporary(name)
    if parsed is None:
        return None
    while True:
        inner = parse_temporary(parsed.final)
        if inner is None:
            return parsed.final
        parsed = inner


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process here (a zombie, killed but not yet reaped, is not)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: alive, someone else's
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


def _writer_gone(path: Path) -> bool:
    """Whether the writer of temporary ``path`` is provably gone, given the output's lock held.

    A plain temporary is written only under its output's lock, which the caller holds;
    a tagged or nested one is not, so its pid must be dead here.
    """
    parsed = parse_temporary(path.name)
    if parsed.tag is None and parse_temporary(parsed.final) is None:
        return True
    return not pid_alive(parsed.pid)


def _remove_free_lock(path: Path) -> bool:
    """Remove lock file ``path`` if nobody holds it, removing it while holding it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if held_here(fd):
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return _remove_counted(path)
    except OSError:
        return False
    finally:
        os.close(fd)


def sweep_temporaries(final: str | os.PathLike, what: str = "output",
                      writers_gone: bool = False) -> list[Path]:
    """Remove what killed writers of ``final`` left next to it; call with its lock held.

    Parameters
    ----------
    final : path-like
        The output, whose :func:`lock_path` lock the caller holds.
    what : str
        The writer, for the message (``"video sink"``).
    writers_gone : bool
        The caller knows no writer of a tagged temporary can be running (a batch job
        holding its folder's lock): remove those whatever their pid.

    Returns
    -------
    list of Path
        The files removed; when any, one warning line names the output and the files.
    """
    found = temporaries_of(final)
    removed = [path for path in found if not path.name.endswith(".lock")
               and (writers_gone or _writer_gone(path)) and _remove_counted(path)]
    for path in found:  # a temporary's lock, once its temporary is gone and nobody holds it
        if (path.name.endswith(".lock") and not path.with_name(path.name[1:-len(".lock")]).exists()
                and _remove_free_lock(path)):
            removed.append(path)
    files = [path.name for path in removed if not path.name.endswith(".lock")]
    if files:
        log.warning("%s: removed %d temporary file%s left next to %s by a writer that is gone: %s", what,
                    len(files), "" if len(files) == 1 else "s", final, ", ".join(files))
    return removed


def sweep_dead_writers(folder: str | os.PathLike, what: str = "output") -> list[Path]:
    """Remove the tagged and nested temporaries in ``folder`` whose writer's pid is dead here.

    Those are written without an output's lock (one :func:`write_atomically` call per
    picture, a batch staging name), so no lock is needed to judge them; a plain
    temporary waits for its own output's lock (:func:`sweep_temporaries`).
    """
    folder = Path(folder)
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return []
    removed = []
    for entry in entries:
        parsed = parse_temporary(entry)
        if parsed is None or (parsed.tag is None and parse_temporary(parsed.final) is None):
            continue
        if not pid_alive(parsed.pid) and _remove_counted(folder / entry):
            removed.append(folder / entry)
    if removed:
        log.warning("%s: removed %d temporary file%s left in %s by a writer that is gone: %s", what,
                    len(removed), "" if len(removed) == 1 else "s", folder,
                    ", ".join(path.name for path in removed))
    return removed


def _remove_counted(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as error:
        log.warning("could not remove temporary file %s: %s", path, error)
        return False
    return True


def lock_path(final: str | os.PathLike) -> Path:
    """The advisory lock file of output ``final``: ``.NAME.lock`` in the same folder.

    Examples
    --------
    >>> lock_path("out/edges.mp4").name
    '.edges.mp4.lock'
    """
    final = Path(final)
    return final.with_name(f".{final.name}.lock")


#: Lock files this process holds, by (device, inode): how a lock knows "this run".
_HELD: set[tuple[int, int]] = set()
_HELD_GUARD = threading.Lock()


def hold(fd: int, held: bool) -> None:
    """Record that this process took (``held=True``) or dropped the lock file open as ``fd``."""
    info = os.fstat(fd)
    with _HELD_GUARD:
        (_HELD.add if held else _HELD.discard)((info.st_dev, info.st_ino))


def held_here(fd: int) -> bool:
    """Whether the lock file open as ``fd`` is one this process holds."""
    try:
        info = os.fstat(fd)
    except OSError:
        return False
    with _HELD_GUARD:
        return (info.st_dev, info.st_ino) in _HELD


def _forget_after_fork() -> None:
    # A forked child shares its parent's locks but is not the run that took them; and a
    # guard another thread held at the fork would stay locked in the child for good.
    global _HELD_GUARD
    _HELD_GUARD = threading.Lock()
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
