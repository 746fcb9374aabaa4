"""What a run wrote: one line per output in the summary, and the same in ``--json``.

After a run (finished, stopped or failed), each sink that writes files is asked what is
on disk now, so the summary never claims a file that was not kept: a video's path,
codec, frames, duration and size read back from the file itself (PyAV, the container's
own counts), a picture sink's pictures, a stats file's lines, standard output's frames.
Windows, browser views and ``null`` write nothing and are not listed.
"""

from __future__ import annotations

import os

import av


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _video(path: str) -> dict:
    """Codec, frames and seconds of the video file at ``path``, read back with PyAV."""
    found = {"codec": None, "frames": None, "seconds": None}
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            found["codec"] = stream.codec_context.name
            frames = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
            found["frames"] = int(frames)
            if container.duration is not None:
                found["seconds"] = round(container.duration / 1_000_000, 3)
            elif stream.duration is not None and stream.time_base:
                found["seconds"] = round(float(stream.duration * stream.time_base), 3)
    except (OSError, IndexError, ValueError):
        pass  # av's errors are OSErrors: a file that cannot be read back is listed as such
    return found


def describe(sink) -> dict | None:
    """The record of what ``sink`` wrote, or None for a sink that writes no file."""
    name = getattr(sink, "registry_name", type(sink).__name__)
    if name == "video":
        path = sink.path
        if not os.path.isfile(path):
            return {"sink": name, "path": path, "written": False}
        return {"sink": name, "path": path, "written": True, **_video(path), "bytes": _size(path)}
    if name == "images":
        pictures = [path for path in getattr(sink, "written", []) if os.path.isfile(path)]
        sizes = [_size(path) or 0 for path in pictures]
        return {"sink": name, "path": sink.path, "written": bool(pictures), "pictures": pictures,
                "codec": sink.extension.lstrip(".").replace("jpg", "jpeg"), "frames": len(pictures),
                "bytes": sum(sizes)}
    if name == "stats":
        if sink.path == "-":
            return {"sink": name, "path": "-", "written": True, "frames": sink.frames_written}
        kept = os.path.isfile(sink.path)
        return {"sink": name, "path": sink.path, "written": kept, "codec": "jsonl",
                "frames": sink.frames_written if kept else 0, "bytes": _size(sink.path)}
    if name == "stdout":
        return {"sink": name, "path": "-", "written": sink.frames_written > 0, "format": sink.format,
                "codec": sink.codec_used, "frames": sink.frames_written}
    return None


def outputs(sinks) -> list[dict]:
    """:func:`describe` for every sink that writes files."""
    return [record for record in map(describe, sinks or ()) if record is not None]


def human_bytes(count: int | None) -> str:
    """``1.2 MB`` (powers of 1000, as ``ls --si``)."""
    if count is None:
        return "? bytes"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def lines(records: list[dict]) -> list[str]:
    """The summary's ``output`` lines: path, codec, frames, duration, size."""
    out = []
    for record in records:
        path = "standard output" if record["path"] == "-" else record["path"]
        if not record["written"]:
            out.append(f"  output   {path}  not written")
            continue
        parts = [record.get("format"), record.get("codec")]
        if record["sink"] == "images":
            pictures = record["pictures"]
            path = pictures[0] if len(pictures) == 1 else f"{pictures[0]} ... {pictures[-1]}"
            parts.append(f"{len(pictures)} picture{'s' if len(pictures) != 1 else ''}")
        elif record.get("frames") is not None:
            parts.append(f"{record['frames']} frame{'s' if record['frames'] != 1 else ''}")
        if record.get("seconds") is not None:
            parts.append(f"{record['seconds']:.2f} s")
        if "bytes" in record:
            parts.append(human_bytes(record["bytes"]))
        out.append(f"  output   {path}  " + "  ".join(str(part) for part in parts if part))
    return out
