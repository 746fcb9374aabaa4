"""Hard media cases made with the real ffmpeg, and edgepipe's output held against ffmpeg's.

Each ``make_*`` builds one class of file a user meets (a packed-bitstream Xvid AVI, an
MP4 with an edit list, damaged sound, an animated GIF, ...) with the real ``ffmpeg``
and returns its path.  :func:`check` runs ``edgepipe run IN OUT`` in a subprocess and
``ffmpeg -i IN -vf format=gray,sobel OUT`` and compares the two files with
:mod:`pipeline.io.media.probe` (the comparison ``scripts/media_parity.py`` makes too).

``python -m tests.io.media.mediacheck DIR`` writes every case into DIR (for the script).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import av

from pipeline.io.media import probe

ROOT = Path(__file__).resolve().parents[3]

#: Start code of an MPEG-4 Part 2 picture (VOP), and DivX's "packed" user data.
VOP = b"\x00\x00\x01\xb6"
PACKED_USER_DATA = b"\x00\x00\x01\xb2DivX503b1393p\x00"


def ffmpeg(*args: str) -> None:
    done = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------------- packed bitstream
def _vop_type(data: bytes) -> int:
    """0 I, 1 P, 2 B, 3 S: the coding type of the first VOP in ``data``."""
    at = data.find(VOP)
    return data[at + 4] >> 6


def _n_vop(b_frame: bytes, increment_bits: int) -> bytes:
    """A not-coded VOP (what DivX and Xvid write where a packed B-frame was): the B-frame's
    time fields, coding type P, ``vop_coded`` 0, then MPEG-4's stuffing to a byte."""
    at = b_frame.find(VOP)
    bits = "".join(f"{byte:08b}" for byte in b_frame[at + 4: at + 12])
    end = 2
    while bits[end] == "1":  # modulo_time_base: a 1 per whole second, then a 0
        end += 1
    end += 1 + 1 + increment_bits + 1  # the 0, marker, vop_time_increment, marker
    head = "01" + bits[2:end] + "0"
    head += "0" + "1" * ((7 - len(head)) % 8)
    return VOP + int(head, 2).to_bytes(len(head) // 8, "big")


def pack_bframes(unpacked: Path, out: Path, rate: int) -> None:
    """``unpacked`` (MPEG-4 with one B-frame between references, AVI) in DivX packed form.

    The inverse of FFmpeg's ``mpeg4_unpack_bframes`` bitstream filter: each B-frame goes
    into the packet of the reference before it, an N-VOP takes its place, and the first
    packet carries the user data "DivX503b1393p" that tells decoders the stream is packed.
    FFmpeg has no filter that packs; this is how old DivX and Xvid files are laid out.
    """
    increment_bits = max(1, (rate - 1).bit_length())
    packets: list[bytes] = []
    with av.open(str(unpacked)) as source:
        for packet in source.demux(source.streams.video[0]):
            if not packet.size:
                continue
            data = bytes(packet)
            if not packets:
                at = data.find(VOP)
                data = data[:at] + PACKED_USER_DATA + data[at:]
            if _vop_type(data) == 2 and packets:
                packets[-1] += data
                packets.append(_n_vop(data, increment_bits))
            else:
                packets.append(data)
    video_only = out.with_name(out.stem + "-video.avi")
    with av.open(str(unpacked)) as source, av.open(str(video_only), "w", format="avi") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for number, data in enumerate(packets):
            packet = av.Packet(data)
            packet.stream = stream
            packet.pts = packet.dts = number
            packet.time_base = stream.time_base
            packet.is_keyframe = _vop_type(data) == 0
            target.mux(packet)
    # ffmpeg copies the sound (PyAV's AVI sound copy loses its timing, see sound.AVI_AUDIO)
    ffmpeg("-i", video_only, "-i", unpacked, "-map", "0:v", "-map", "1:a?", "-c", "copy", out)
    video_only.unlink()


# ---------------------------------------------------------------------- damage
def corrupt_packet(path: Path, kind: str, index: int, seed: int = 7) -> None:
    """Overwrite the payload of the ``index``-th packet of the first ``kind`` stream in place."""
    with av.open(str(path)) as source:
        stream = next(s for s in source.streams if s.type == kind)
        found = [p for p in source.demux(stream) if p.size][index]
        position, size = found.pos, found.size
    noise = random.Random(seed).randbytes(max(1, size * 2 // 3))
    with open(path, "r+b") as file:
        file.seek(position)
        file.write(noise)


def _testsrc(rate: int = 24, size: str = "320x240") -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]


def _sine(rate: int = 48000) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}"]


# ---------------------------------------------------------------------- cases
def make_packed_xvid_ac3(folder: Path) -> Path:
    """MPEG-4 ASP in packed form with B-frames, AC3 48 kHz stereo whose first packet is broken."""
    unpacked = folder / "xvid-unpacked-src.avi"
    ffmpeg(*_testsrc(24), *_sine(), "-t", "6", "-c:v", "mpeg4", "-bf", "1", "-vtag", "XVID", "-q:v", "4",
           "-c:a", "ac3", "-ac", "2", unpacked)
    out = folder / "xvid-packed-ac3.avi"
    pack_bframes(unpacked, out, 24)
    unpacked.unlink()
    corrupt_packet(out, "audio", 0)
    return out


def make_unpacked_xvid_mp3(folder: Path) -> Path:
    """MPEG-4 ASP with two B-frames, DX50 tag, MP3 sound (unpacked, as FFmpeg writes)."""
    out = folder / "divx-bframes-mp3.avi"
    ffmpeg(*_testsrc(25), *_sine(44100), "-t", "5", "-c:v", "mpeg4", "-bf", "2", "-vtag", "DX50",
           "-c:a", "libmp3lame", out)
    return out


def make_h264_editlist_aac(folder: Path) -> Path:
    """H.264 with B-frames in MP4: an edit list, negative dts; AAC with a corrupt packet mid-way."""
    out = folder / "h264-bframes-editlist.mp4"
    ffmpeg(*_testsrc(30), *_sine(), "-t", "5", "-c:v", "libx264", "-bf", "3", "-c:a", "aac", out)
    corrupt_packet(out, "audio", 100)
    return out


def make_negative_dts_ts(folder: Path) -> Path:
    """H.264 B-frames in MPEG-TS with negative timestamps kept, MP2 sound."""
    out = folder / "negative-dts.ts"
    ffmpeg(*_testsrc(25), *_sine(), "-t", "4", "-c:v", "libx264", "-bf", "2", "-c:a", "mp2",
           "-avoid_negative_ts", "disabled", "-output_ts_offset", "-0.2", out)
    return out


def make_no_pts(folder: Path) -> Path:
    """A raw H.264 stream: no frame has a pts or dts of its own."""
    out = folder / "no-pts.h264"
    ffmpeg(*_testsrc(25), "-t", "3", "-c:v", "libx264", "-bf", "2", out)
    return out


def make_vfr(folder: Path) -> Path:
    """Variable frame rate: 30 fps for a second, then 10 fps, Vorbis sound in Matroska."""
    out = folder / "vfr-vorbis.mkv"
    ffmpeg(*_testsrc(30), *_sine(), "-t", "3", "-vf", "setpts='if(lt(N,30),N/30,1+(N-30)/10)/TB'",
           "-fps_mode", "vfr", "-c:v", "libx264", "-c:a", "libvorbis", out)
    return out


def make_duplicate_times(folder: Path) -> Path:
    """MJPEG in Matroska where every two frames share one timestamp (remuxed so: no encoder
    takes two equal pts)."""
    plain = folder / "duplicate-src.mkv"
    ffmpeg(*_testsrc(25), "-t", "3", "-c:v", "mjpeg", plain)
    out = folder / "duplicate-times.mkv"
    with av.open(str(plain)) as source, av.open(str(out), "w") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        packets = [p for p in source.demux(source.streams.video[0]) if p.size]
        step = packets[1].pts - packets[0].pts
        for number, packet in enumerate(packets):
            packet.pts = packet.dts = (number // 2) * 2 * step
            packet.stream = stream
            target.mux(packet)
    plain.unlink()
    return out


def make_gif(folder: Path) -> Path:
    """An animated GIF: 10 frames at 0.1 s, then 10 at 0.3 s (per-frame delays)."""
    out = folder / "animated.gif"
    ffmpeg(*_testsrc(10, "160x120"), "-t", "2", "-vf", "setpts='if(lt(N,10),N/10,1+(N-10)*0.3)/TB'",
           "-fps_mode", "vfr", out)
    return out


def make_joined_ts(folder: Path) -> Path:
    """Two MPEG-TS files joined with cat: timestamps start again (sound steps back)."""
    parts = []
    for number in range(2):
        part = folder / f"part{number}.ts"
        ffmpeg(*_testsrc(25), *_sine(), "-t", "2", "-c:v", "libx264", "-c:a", "aac", part)
        parts.append(part)
    out = folder / "joined.ts"
    out.write_bytes(b"".join(part.read_bytes() for part in parts))
    for part in parts:
        part.unlink()
    return out


def make_late_picture(folder: Path) -> Path:
    """H.264 starting 0.5 s after its AAC sound (Matroska): .mp4, .mov and .avi start at
    the sound, the first frame shown from there, as ffmpeg writes them."""
    out = folder / "late-picture.mkv"
    ffmpeg(*_sine(), "-itsoffset", "0.5", *_testsrc(24), "-map", "1:v", "-map", "0:a", "-t", "3",
           "-c:v", "libx264", "-c:a", "aac", out)
    return out


def make_avi_with_gaps(folder: Path) -> Path:
    """Every third frame of 30 fps in AVI: the index counts the empty chunks between them
    (58 stated, 20 that decode), as DivX/Xvid files with dropped frames do."""
    out = folder / "gaps.avi"
    ffmpeg(*_testsrc(30, "160x120"), "-t", "2", "-vf", "select='not(mod(n,3))'", "-fps_mode", "vfr",
           "-c:v", "mjpeg", out)
    return out


def make_mjpeg_pcm(folder: Path) -> Path:
    """An old camera's AVI: MJPEG with mono PCM at 11025 Hz (layout unspecified)."""
    out = folder / "camera-mjpeg-pcm.avi"
    ffmpeg(*_testsrc(15), *_sine(11025), "-t", "3", "-c:v", "mjpeg", "-c:a", "pcm_s16le", "-ac", "1", out)
    return out


def make_sound_only(folder: Path) -> Path:
    out = folder / "sound-only.m4a"
    ffmpeg(*_sine(), "-t", "1", "-c:a", "aac", out)
    return out


#: Every case that has video, in the order the script and the tests use.
CASES = (make_packed_xvid_ac3, make_unpacked_xvid_mp3, make_h264_editlist_aac, make_negative_dts_ts,
         make_no_pts, make_vfr, make_duplicate_times, make_gif, make_joined_ts, make_mjpeg_pcm,
         make_late_picture, make_avi_with_gaps)


# ---------------------------------------------------------------------- the comparison
def edgepipe_run(source: Path, output: Path) -> subprocess.CompletedProcess:
    """``edgepipe run SOURCE OUTPUT`` in a subprocess, with this checkout first on the path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pipeline", "run", str(source), str(output)],
                          capture_output=True, text=True, cwd=ROOT, env=env)


def check(source: Path, folder: Path, extension: str) -> tuple[probe.Parity, subprocess.CompletedProcess]:
    """edgepipe's and ffmpeg's edges of ``source`` as ``extension``, compared."""
    ours = folder / f"{source.stem}-{source.suffix[1:]}-edgepipe.{extension}"
    theirs = folder / f"{source.stem}-{source.suffix[1:]}-ffmpeg.{extension}"
    done = edgepipe_run(source, ours)
    assert done.returncode == 0, done.stderr
    reference = probe.ffmpeg_reference(str(source), str(theirs))
    assert reference.error is None, reference.error
    parity = probe.compare(probe.media_facts(str(ours)), probe.media_facts(str(theirs), check_decoding=False),
                           reference, probe.dropped_in_notes(done.stdout + done.stderr))
    return parity, done


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "hard-cases")
    folder.mkdir(parents=True, exist_ok=True)
    for make in CASES:
        print(make(folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
