"""The ``hls`` sink: HLS into a folder, a playlist (.m3u8) and MPEG-TS segments beside it.

Each segment and each new playlist is written under a temporary name and renamed when
whole (the hls muxer's ``temp_file`` flag), so a player or web server never reads half a
file.  The codec keys, the encoder and the sound are the network sinks' (:mod:`pipeline.
io.sinks.network`); ``low_latency`` cuts 1-second segments, a keyframe each.
"""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path

from pipeline.io.base import SinkError
from pipeline.io.outputs.folders import check_writable_folder
from pipeline.io.sinks.network import CODEC_KEYS, StreamSink
from pipeline.config.registry import Param, ParamError, register

log = logging.getLogger(__name__)


@register("sink", "hls")
class HlsSink(StreamSink):
    """HLS: a playlist (.m3u8) and MPEG-TS segments beside it, each written whole."""

    registry_label = "hls"
    params = (
        Param("path", str, help="the playlist, e.g. www/live/edges.m3u8; segments go beside it"),
        *CODEC_KEYS,
        Param("segment", float, 2.0, min=0.2, max=60, help="seconds a segment (cut at a keyframe)"),
        Param("list_size", int, 6, min=0, max=100000, help="segments in the playlist (0: all, a VOD list)"),
        Param("low_latency", bool, False, help="1-second segments, a keyframe each; a player starts sooner"),
        Param("keep_segments", bool, False, help="keep segments that left the playlist (default: delete them)"),
    )
    reconnect = False  # a file that cannot be written is an error of the run

    def validate(self) -> None:
        if Path(self.path).suffix.lower() != ".m3u8":
            raise ParamError("path", f"hls sink: {self.path!r} must end in .m3u8 (the playlist); "
                                     "segments are written beside it")
        super().validate()

    def check(self) -> None:
        if os.path.isdir(self.path):
            raise SinkError(f"hls sink: {self.path!r} is a folder; give the playlist, e.g. "
                            f"{os.path.join(self.path, 'edges.m3u8')!r}")
        check_writable_folder(self.path, "hls sink")

    def target(self) -> str:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        return self.path

    def name(self) -> str:
        return self.path

    def seconds(self) -> float:
        return min(self.segment, 1.0) if self.low_latency else self.segment

    def keyframe_seconds(self) -> float:
        return self.seconds()

    def abort(self) -> None:
        """A failed sink leaves no output: closing the muxer writes ``#EXT-X-ENDLIST``, which
        would make the playlist of a failed run look like a finished stream, so the playlist
        and the segments it wrote are removed."""
        super().abort()
        stem = Path(self.path).with_suffix("")
        written = [Path(self.path), *stem.parent.glob(f"{glob.escape(stem.name)}_[0-9][0-9][0-9][0-9][0-9][0-9].ts*")]
        for path in written:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as error:
                log.warning("hls sink %s: could not remove %s after the failure: %s", self.path, path,
                            error.strerror)

    def muxer(self) -> tuple[str, dict]:
        flags = ["temp_file", "independent_segments"]
        if self.list_size and not self.keep_segments:
            flags.append("delete_segments")
        if self.low_latency:
            flags.append("split_by_time")
        stem = Path(self.path).with_suffix("")
        options = {"hls_time": f"{self.seconds():g}", "hls_list_size": str(self.list_size),
                   "hls_flags": "+".join(flags), "hls_segment_filename": f"{stem}_%06d.ts"}
        if self.list_size == 0:
            options["hls_playlist_type"] = "event"  # every segment listed; VOD once ENDLIST is written
        return "hls", options
