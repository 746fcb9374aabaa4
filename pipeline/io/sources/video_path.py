"""Whether a path names a video file a ``file`` source can read, and what it is if not.

A named pipe, a device, a socket, a folder or a kernel file under /proc each get their
own sentence and the source to use instead, before FFmpeg is asked to open anything.
"""

from __future__ import annotations

import os
import stat

from pipeline.io.base import SourceError


def check_video_path(path: str) -> None:
    """SourceError naming ``path`` and its real problem, unless it is a non-empty regular file.

    A named pipe, ``/dev/zero`` or ``/dev/null`` all have size 0 to ``os.path.getsize``;
    each is said for what it is, not "empty".
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        folder = os.path.dirname(os.path.abspath(path))
        raise SourceError(f"video file {path!r} does not exist (looked in {folder}); "
                          "check the path, or use a `synthetic` source to run without a file") from None
    except OSError as error:
        raise SourceError(f"cannot look at video file {path!r}: {error.strerror}; "
                          "check the path and its permissions") from None
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise SourceError(f"{path!r} is a folder, not a video file; for a folder of pictures "
                          "use an `images` source with a glob such as 'folder/*.png'")
    if stat.S_ISFIFO(mode):
        raise SourceError(f"{path!r} is a named pipe (FIFO), not a video file: a file source "
                          "must seek and count frames; save the video to a regular file, or send "
                          "it to a `url` source (e.g. ffmpeg ... -f mpegts udp://127.0.0.1:5000)")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "character" if stat.S_ISCHR(mode) else "block"
        raise SourceError(f"{path!r} is a {kind} device, not a video file; give the path of a "
                          "video file (for a capture device such as /dev/video0 use a `camera` source)")
    if stat.S_ISSOCK(mode):
        raise SourceError(f"{path!r} is a socket, not a video file; give the path of a video file "
                          "(for a network stream use a `url` source)")
    if info.st_size == 0:
        top = os.path.realpath(path).split(os.sep)[1:2]
        if top in (["proc"], ["sys"]):  # kernel files all say 0 bytes
            raise SourceError(f"{path!r} is a kernel file under /{top[0]}, not a video file; "
                              "give the path of a video file")
        raise SourceError(f"video file {path!r} is empty (0 bytes); check how it was copied or recorded")
