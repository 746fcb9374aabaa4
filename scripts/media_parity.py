"""edgepipe's edge videos against ffmpeg's own, file by file: frames, times, sound.

For each input and each output extension asked, runs

    edgepipe run IN OUT.EXT
    ffmpeg -i IN -vf format=gray,sobel OUT_ffmpeg.EXT

and compares the two with ffprobe (:mod:`pipeline.io.media.probe` says what "matches"
means: frame count less ffmpeg's duplicates, each frame and the video's end within one
frame interval, sound present and ending within one interval, and ffmpeg decoding
edgepipe's file without an error line).  Prints one row per file and extension, then
``N/M files match ffmpeg``.  A file ffmpeg itself cannot convert is reported and left
out of the count.

Usage::

    python scripts/media_parity.py clip.avi other.ts [--ext mp4 webm avi] [--keep DIR]

The hard cases the tests build can be made with ``python -m tests.io.media.mediacheck DIR``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.io.media import probe  # noqa: E402

HEADER = ("file", "out", "frames", "video end s", "sound", "sound end s", "result")


def run_edgepipe(source: Path, output: Path) -> tuple[str | None, str]:
    """``edgepipe run SOURCE OUTPUT`` (this checkout): its last error line (None if it
    worked) and everything it printed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", str(source), str(output)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    printed = done.stdout + done.stderr
    if done.returncode == 0:
        return None, printed
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return (lines[-1] if lines else f"exit {done.returncode}"), printed


def _pair(values, digits: int = 3) -> str:
    ours, theirs = values
    if isinstance(ours, bool):
        return f"{'yes' if ours else 'no'}/{'yes' if theirs else 'no'}"
    if ours is None and theirs is None:
        return "-"
    show = (lambda v: "-" if v is None else f"{v:.{digits}f}") if digits else str
    return f"{show(ours)}/{show(theirs)}"


def compare_one(source: Path, extension: str, folder: Path) -> tuple[tuple, bool | None]:
    """One row of the table and whether it matches (None: ffmpeg itself failed)."""
    name = f"{source.stem}-{source.suffix[1:]}"
    ours, theirs = folder / f"{name}.{extension}", folder / f"{name}_ffmpeg.{extension}"
    reference = probe.ffmpeg_reference(str(source), str(theirs))
    if reference.error is not None:
        return (source.name, extension, "-", "-", "-", "-", f"ffmpeg fails: {reference.error[:60]}"), None
    failure, notes = run_edgepipe(source, ours)
    if failure is not None:
        return (source.name, extension, "-", "-", "-", "-", f"edgepipe fails: {failure[:80]}"), False
    parity = probe.compare(probe.media_facts(str(ours)), probe.media_facts(str(theirs), check_decoding=False),
                           reference, probe.dropped_in_notes(notes))
    result = "match" if parity.matches else "; ".join(parity.problems)
    return (source.name, extension, _pair(parity.frames, 0), _pair(parity.video_end), _pair(parity.sound),
            _pair(parity.sound_end), result), parity.matches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", type=Path, help="media files to convert")
    parser.add_argument("--ext", nargs="+", default=["mp4", "webm"], help="output extensions (default mp4 webm)")
    parser.add_argument("--keep", type=Path, help="write the outputs here and keep them")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="media-parity-") as temporary:
        folder = (args.keep or Path(temporary)).resolve()  # the tools run from the checkout
        folder.mkdir(parents=True, exist_ok=True)
        rows, outcomes = [], []
        for source in (path.resolve() for path in args.inputs):
            for extension in args.ext:
                row, outcome = compare_one(source, extension.lstrip("."), folder)
                rows.append(row)
                outcomes.append(outcome)
                print(" | ".join(row), file=sys.stderr, flush=True)
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    counted = [outcome for outcome in outcomes if outcome is not None]
    print(f"\n{sum(counted)}/{len(counted)} files match ffmpeg (frames/end/sound: edgepipe/ffmpeg; "
          f"{len(outcomes) - len(counted)} that ffmpeg itself cannot convert left out)")
    return 0 if all(counted) else 1


if __name__ == "__main__":
    raise SystemExit(main())
