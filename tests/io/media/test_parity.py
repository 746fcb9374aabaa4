"""edgepipe against ffmpeg on the hard cases: frames, times, sound, damage, every container.

Each case is built here with the real ``ffmpeg`` (:mod:`tests.io.media.mediacheck`),
converted by a real ``edgepipe run`` subprocess and by ``ffmpeg -i IN -vf
format=gray,sobel OUT``, and the two outputs are compared with ffprobe
(:func:`pipeline.io.media.probe.compare`: frame count, each frame and the end within one
frame interval, sound present and its end, no error line when ffmpeg decodes ours).
"""

from __future__ import annotations

import av
import pytest

from pipeline.io.media import probe
from tests.io.media import mediacheck


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each case's file, made once for the module (on first use)."""
    folder = tmp_path_factory.mktemp("cases")
    made = {}

    def get(make):
        if make not in made:
            made[make] = mediacheck.__dict__[make](folder)
        return made[make]
    return get


CASES = [
    ("make_packed_xvid_ac3", "mp4"), ("make_packed_xvid_ac3", "mov"), ("make_packed_xvid_ac3", "mkv"),
    ("make_packed_xvid_ac3", "webm"), ("make_packed_xvid_ac3", "avi"),
    ("make_unpacked_xvid_mp3", "mp4"), ("make_h264_editlist_aac", "mp4"), ("make_negative_dts_ts", "mkv"),
    ("make_no_pts", "mp4"), ("make_vfr", "webm"), ("make_gif", "mp4"), ("make_joined_ts", "mp4"),
    ("make_joined_ts", "avi"), ("make_mjpeg_pcm", "mp4"), ("make_late_picture", "mp4"),
    ("make_late_picture", "avi"), ("make_late_picture", "webm"), ("make_avi_with_gaps", "mp4"),
]


@pytest.mark.parametrize("make,extension", CASES, ids=[f"{m[5:]}-{e}" for m, e in CASES])
def test_edgepipe_matches_ffmpeg(built, tmp_path, make, extension):
    parity, done = mediacheck.check(built(make), tmp_path, extension)
    assert parity.matches, "\n".join(parity.problems) + "\n" + done.stderr


def test_the_packed_file_is_what_the_issue_saw(built):
    """Packed: most frames carry no pts in ffmpeg 5.1's reading, and PyAV's pts go back."""
    source = built("make_packed_xvid_ac3")
    frames = probe.ffprobe(source, "-select_streams", "v:0", "-show_entries", "frame=pts")["frames"]
    assert sum("pts" not in frame for frame in frames) > len(frames) // 2
    with av.open(str(source)) as container:
        stamps = [frame.pts for frame in container.decode(video=0)]
    assert any(b < a for a, b in zip(stamps, stamps[1:] if stamps[0] is not None else []) if a and b)


def test_an_avi_index_counting_empty_chunks_is_not_called_truncated(built, tmp_path):
    """58 index entries, 20 frames: the frames reach the stated time, so nothing is missing."""
    source = built("make_avi_with_gaps")
    assert probe.ffprobe(source, "-show_entries", "stream=nb_frames")["streams"][0]["nb_frames"] == "58"
    done = mediacheck.edgepipe_run(source, tmp_path / "out.mkv")
    assert done.returncode == 0, done.stderr
    printed = done.stdout + done.stderr
    assert "20 frames" in printed and "truncated" not in printed


def test_sound_before_a_late_picture_is_kept_in_mp4(built, tmp_path):
    """ffmpeg's .mp4 starts at the sound and shows the first frame from 0: so does ours."""
    out = tmp_path / "late.mp4"
    done = mediacheck.edgepipe_run(built("make_late_picture"), out)
    assert done.returncode == 0, done.stderr
    assert "left out" not in done.stdout + done.stderr
    facts = probe.media_facts(str(out))
    assert facts.times[0] == 0.0 and abs(facts.times[1] - (0.521 + 1 / 24)) < 0.01


def test_damaged_sound_is_skipped_counted_and_named(built, tmp_path):
    """A broken first AC3 packet and a corrupt AAC packet mid-way: skipped, said, the file whole."""
    for make, extension in (("make_packed_xvid_ac3", "mp4"), ("make_h264_editlist_aac", "mkv")):
        source = built(make)
        out = tmp_path / f"{make}.{extension}"
        done = mediacheck.edgepipe_run(source, out)
        assert done.returncode == 0, done.stderr
        printed = done.stdout + done.stderr
        assert f"sound of {source}: 1 packet(s) did not decode" in printed, printed
        assert probe.decode_errors(str(out)) == []


def test_duplicate_timestamps_keep_every_frame_in_order(built, tmp_path):
    """Pairs of equal times: every frame written, spread between its neighbours, none shifted.

    (ffmpeg writes this file to .mp4 at 12.5 fps, pushing each second frame of a pair one
    slot on and dropping some; edgepipe keeps the input's own times, so the comparison is
    with the input.)
    """
    source = built("make_duplicate_times")
    out = tmp_path / "dup.mp4"
    done = mediacheck.edgepipe_run(source, out)
    assert done.returncode == 0, done.stderr
    facts = probe.media_facts(str(out))
    inputs = probe.media_facts(str(source), check_decoding=False)
    assert len(facts.times) == len(inputs.times) == 75
    assert all(b > a for a, b in zip(facts.times, facts.times[1:]))
    assert abs(facts.times[-1] - (inputs.times[-1] - inputs.start)) <= 1e-3
    assert "repeated or stepped back" in done.stdout + done.stderr


def test_avi_output_has_a_true_header_and_clean_streams(built, tmp_path):
    source = built("make_packed_xvid_ac3")
    out = tmp_path / "out.avi"
    assert mediacheck.edgepipe_run(source, out).returncode == 0
    stream = probe.ffprobe(out, "-select_streams", "v:0", "-count_packets", "-show_entries",
                           "stream=nb_frames,nb_read_packets,duration,r_frame_rate")["streams"][0]
    # The header counts every tick up to the end (an empty one where a time was free),
    # as the header of ffmpeg's own AVI of this file does; every frame is a packet.
    numerator, denominator = map(int, stream["r_frame_rate"].split("/"))
    assert int(stream["nb_frames"]) == round(float(stream["duration"]) * numerator / denominator)
    assert int(stream["nb_read_packets"]) == 144
    assert probe.decode_errors(str(out)) == []


def test_an_input_without_video_is_said_in_one_line(built, tmp_path):
    source = mediacheck.make_sound_only(tmp_path)
    done = mediacheck.edgepipe_run(source, tmp_path / "out.mp4")
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "holds no video stream (audio only)" in lines[0] and str(source) in lines[0]


def test_a_frame_size_beyond_the_codec_is_refused_naming_the_limit(tmp_path):
    source = tmp_path / "tall.mkv"
    mediacheck.ffmpeg("-f", "lavfi", "-i", "color=size=2x65535:rate=5", "-frames:v", "2", "-c:v", "ffv1",
                      "-pix_fmt", "gray", source)
    out = tmp_path / "out.mp4"
    done = mediacheck.edgepipe_run(source, out)
    assert done.returncode != 0
    assert done.returncode == 1 and "are beyond h264's limit of 16384 pixels a side" in done.stderr
    assert f"video sink {str(out)!r}" in done.stderr
    assert not out.exists()


def test_max_pixels_refuses_a_huge_frame_before_decoding(tmp_path):
    """The 16000x16000 MJPEG AVI: refused naming the file, the size and the key."""
    source = tmp_path / "huge.avi"
    mediacheck.ffmpeg("-f", "lavfi", "-i", "color=size=16000x16000:rate=1", "-frames:v", "1", "-c:v", "mjpeg",
                      "-pix_fmt", "yuvj420p", source)
    done = mediacheck.edgepipe_run(source, tmp_path / "out.mp4")
    assert done.returncode != 0
    assert str(source) in done.stderr and "16000x16000" in done.stderr and "max_pixels" in done.stderr


@pytest.mark.parametrize("extension,rate", [
    (".flv", 10), (".ts", 10), (".m2ts", 10), (".mpg", 25), (".3gp", 10), (".ogv", 10), (".wmv", 10),
    (".y4m", 10), (".gif", 10)])
def test_the_containers_a_user_tries_are_read_frame_for_frame(tmp_path, extension, rate):
    """Each file ffmpeg writes by that name: every frame ffprobe counts, in time order."""
    from pipeline.io import formats
    from pipeline.io.sources.file import FileSource

    assert extension in formats.VIDEO_INPUTS
    source = tmp_path / f"clip{extension}"
    mediacheck.ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=176x144:rate={rate}", "-frames:v", "20", source)
    counted = probe.ffprobe(source, "-count_frames", "-select_streams", "v:0",
                            "-show_entries", "stream=nb_read_frames")["streams"][0]["nb_read_frames"]
    reader = FileSource(path=str(source))
    reader.open()
    try:
        times = []
        while (item := reader.read_timed()) is not None:
            times.append(item[1])
    finally:
        reader.close()
    assert len(times) == int(counted) == 20
    assert all(b > a for a, b in zip(times, times[1:]))


@pytest.mark.parametrize("layout,rate,codec,extension", [
    ("hexadecagonal", 48000, "pcm_s16le", "mp4"), ("7.1", 192000, "pcm_s24le", "mp4"),
    ("mono", 8000, "pcm_u8", "webm"), ("5.1", 44100, "pcm_s16le", "avi")])
def test_any_channel_layout_and_rate_is_resampled_for_the_encoder(tmp_path, layout, rate, codec, extension):
    """16 channels, 7.1 at 192 kHz, 8-bit mono at 8 kHz (MKV, layout unspecified as MKV
    stores PCM): the output is written, its sound decodes, and the summary says how."""
    source = tmp_path / "pcm.mkv"
    mediacheck.ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-f", "lavfi", "-i",
                      f"sine=sample_rate={rate}", "-t", "2", "-af", f"aformat=channel_layouts={layout}",
                      "-c:v", "mjpeg", "-c:a", codec, source)
    out = tmp_path / f"out.{extension}"
    done = mediacheck.edgepipe_run(source, out)
    assert done.returncode == 0, done.stderr
    facts = probe.media_facts(str(out))
    assert facts.sound and abs(facts.sound_end - 2.0) < 0.1 and facts.errors == []
    assert f"sound of {source}: pcm" in done.stdout + done.stderr
