"""SRT through the ``ffmpeg`` program: PyAV's bundled FFmpeg has no SRT, Debian's has.

The network sink muxes MPEG-TS itself and hands the bytes to ``ffmpeg -c copy`` (no
second encode), which sends them to the srt:// URL, as caller or listener.
"""

from __future__ import annotations

import functools
import queue
import shutil
import subprocess
import threading
import time

#: Seconds the SRT connection stays open after the last packet (a receiver's latency, twice).
SRT_DRAIN = 0.5


@functools.lru_cache(maxsize=1)
def ffmpeg_has_srt() -> bool:
    """True when the ``ffmpeg`` program on PATH writes srt:// URLs."""
    program = shutil.which("ffmpeg")
    if program is None:
        return False
    try:
        listing = subprocess.run([program, "-hide_banner", "-protocols"], capture_output=True, text=True,
                                 timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    output = listing.split("Output:", 1)[-1].split()
    return "srt" in output


class Relay:
    """A file object for PyAV that feeds ``ffmpeg -c copy`` sending MPEG-TS to an SRT URL.

    Writes are queued and sent by a thread, so a listener waiting for its caller (or a
    slow link) never blocks the run; :attr:`backlog` says how far behind it is and
    :attr:`broken` that ffmpeg went away (the receiver closed, or none was there).
    """

    def __init__(self, url: str):
        command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-probesize", "32",
                   "-analyzeduration", "0", "-f", "mpegts", "-i", "pipe:0", "-map", "0", "-c", "copy",
                   "-flush_packets", "1", "-f", "mpegts", "-omit_video_pes_length", "0", url]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._chunks: queue.SimpleQueue = queue.SimpleQueue()
        self.backlog = 0
        self.broken = False
        self._thread = threading.Thread(target=self._send, name="srt-relay", daemon=True)
        self._thread.start()

    def write(self, data) -> int:
        if self.broken:
            raise BrokenPipeError("the SRT connection closed")
        chunk = bytes(data)
        self.backlog += len(chunk)
        self._chunks.put(chunk)
        return len(chunk)

    def _send(self) -> None:
        while True:
            chunk = self._chunks.get()
            if chunk is None:
                break
            try:
                self.process.stdin.write(chunk)
                self.process.stdin.flush()
            except (OSError, ValueError):
                self.broken = True
                break
            finally:
                self.backlog -= len(chunk)
        if not self.broken:
            # An SRT receiver holds packets for its latency (120 ms by default) and drops
            # them when the connection closes: keep it open that long after the last one.
            time.sleep(SRT_DRAIN)
        try:
            self.process.stdin.close()
        except OSError:
            pass

    def close(self, wait: float = 5.0) -> bool:
        """Send what is queued, end ffmpeg's input and wait for it (then kill it).

        True when everything reached ffmpeg and it ended by itself: the stream was sent.
        """
        self._chunks.put(None)
        self._thread.join(wait)
        try:
            self.process.wait(wait)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return False
        return not self.broken and not self._thread.is_alive() and self.process.returncode == 0
