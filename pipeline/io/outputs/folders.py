"""Folders for outputs: checked before a run, made when writing, and quiet cleanup."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from pipeline.io.base import SinkError

log = logging.getLogger(__name__)


def check_writable_folder(path: str | os.PathLike, what: str) -> None:
    """Raise :class:`SinkError` unless the folder of ``path`` exists or can be created.

    Nothing is created: the nearest existing ancestor must be a folder in which a file
    can really be made (a probe file is created and removed, which catches read-only
    filesystems that ``os.access`` misses, e.g. when running as root).

    Parameters
    ----------
    path : path-like
        The output file.
    what : str
        How to name the output in the message, e.g. ``"video sink"``.
    """
    folder = Path(path).parent if str(Path(path).parent) else Path(".")
    folder = Path(os.path.abspath(folder))
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise SinkError(
            f"{what}: cannot create folder {str(folder)!r} for {str(path)!r}: "
            f"{str(existing)!r} is a file, not a folder; choose another output path"
        )
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".edgepipe-probe-"):
            pass
    except OSError as error:
        place = "folder" if existing == folder else f"folder {str(folder)!r}: its parent"
        kind = virtual_filesystem(existing)
        cause = (f"it is on the kernel's {kind} filesystem, which holds no files"
                 if kind is not None else error.strerror)
        raise SinkError(
            f"{what}: cannot write to {place} {str(existing)!r} ({cause}); "
            "choose a writable output path"
        ) from error


#: Filesystems the kernel makes up (no file can be created on them).
VIRTUAL_FILESYSTEMS = {"proc", "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs",
                       "pstore", "bpf", "configfs", "efivarfs", "fusectl", "binfmt_misc"}


def virtual_filesystem(path: str | os.PathLike) -> str | None:
    """The type of the kernel filesystem ``path`` lies on (``"proc"``, ``"sysfs"``...), or None.

    Read from ``/proc/self/mounts`` (the longest mount point that holds ``path``); None
    where that file does not exist (not Linux) or the filesystem holds real files.
    """
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as handle:
            mounts = [line.split()[1:3] for line in handle if len(line.split()) >= 3]
    except OSError:
        return None
    target = os.path.realpath(path)
    best, kind = "", None
    for point, fstype in mounts:
        point = point.replace("\\040", " ")
        if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
            best, kind = point, fstype
    return kind if kind in VIRTUAL_FILESYSTEMS else None


def make_folder(path: Path, what: str) -> None:
    """Create the folder of ``path`` (and parents); SinkError naming it on failure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SinkError(f"{what}: cannot create folder {str(path.parent)!r} ({error.strerror})") from error


def remove_quietly(path: Path | None) -> None:
    """Remove ``path`` if it exists (cleanup after an error must not raise again)."""
    if path is not None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:  # pragma: no cover - cleanup best effort
            log.warning("could not remove temporary file %s: %s", path, error)


def close_quietly(handle) -> None:
    """Close a file whose data is being thrown away (a failed flush must not raise again)."""
    try:
        handle.close()
    except (OSError, ValueError):
        pass
