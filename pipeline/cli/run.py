"""``edgepipe run``: a YAML config, or a one-liner without one (``run INPUT [OUTPUT ...]``).

The one-liner's words and flags become the config they stand for in
:mod:`pipeline.cli.oneliner`; from there a one-liner and a config run the same way.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from pipeline import written
from pipeline.cli import oneliner, oneliner_inputs
from pipeline.cli.guard import EXIT_FAILED, EXIT_OK, exit_codes_help, is_terminal, ready, reader_gone
from pipeline.cli.oneliner_flags import PIPE_FORMATS, flags_of
from pipeline.cli.outcome import add_report_options, error, fail, report
from pipeline.config.run import Config
from pipeline.config.document import ConfigError
from pipeline.io.base import SinkError, SourceError
from pipeline.io.media.writer import ENCODERS, PRESETS
from pipeline.io.sinks.stdout import ReaderGone
from pipeline.pipeline import Pipeline
from pipeline.replacing import decide, existing_outputs
from pipeline.stages.base import StageError

EPILOG = exit_codes_help({
    0: "finished (end of stream, max_frames, window closed)",
    1: "a source, sink or stage failed (camera, file, display, output folder),\n"
       "or an existing output was not to be replaced (-n, or no -y off a terminal)",
}) + """

examples:
  edgepipe run clip.mp4 edges.mp4              a file to a file (no YAML)
  edgepipe run clip.mp4 e.mp4 --start 10 --duration 5 --crf 18 -y   trim, encode, replace
  edgepipe run photo.jpg edges.png             one picture to one picture
  ffmpeg -i in.mkv -f nut - | edgepipe run - - | ffplay -    in a shell pipeline
  edgepipe run 0                               the first camera to a window
  edgepipe run 0 http://127.0.0.1:8080         the first camera to a browser
  edgepipe run -i a.mp4 -i rtsp://cam/s 'out/{source}.mp4'   two streams, one file each
  edgepipe run 'shots/*.png' 'out/e_{index:04d}.png' --stages '[grayscale, gradient, map]'
  edgepipe run clip.mp4 edges.mp4 --print-config > my.yaml   the YAML it stands for
  edgepipe run configs/demo.yaml
  edgepipe run configs/video.yaml --set source.path=in.mp4 --set sinks.0.video.path=out/e.mp4
  edgepipe run configs/demo.yaml --set stages.gradient.kind=scharr --set source.type=synthetic
"""

SET_HELP = ("override a config value: KEY=VALUE, KEY a dotted path with list indices or "
            "names (stages.1.gradient.kind=scharr, stages.gradient.kind=scharr, "
            "source.path=in.mp4, runtime.mode=live); VALUE is YAML. Repeatable.")

USAGE = "edgepipe run (CONFIG | INPUT [OUTPUT ...] | -i INPUT -i INPUT ... OUTPUT ...) [options]"
DESCRIPTION = """\
Run a YAML config, or a one-liner without one: edgepipe run INPUT [OUTPUT ...]

INPUT   a video file, a quoted image glob ('shots/*.png') or a picture, a stream URL
        (rtsp://, http://, udp://, tcp://), a camera (0, /dev/video2), synthetic, or -
        (standard input: y4m, nut, mpegts, matroska ...)
OUTPUT  a video file (.mp4 .mov .mkv .webm .avi: the extension picks the codec), a
        picture pattern with {index} and/or {stem} ('out/e_{index:05d}.png',
        'out/{stem}.png'), one picture name for one input picture, a stats file
        (.jsonl), window, http://HOST:PORT (a browser view), - (standard output: y4m,
        or --format), or null (discard).  Several are fine.  None given: a camera or
        stream goes to a window, a file to INPUT-STEM_edges.mp4 beside it, pictures to
        FOLDER_edges/NAME.png, standard input to standard output.  An existing output
        is replaced only with -y (asked on a terminal).  --print-config shows the YAML
        the one-liner stands for."""

#: The one-liner's flags (flag, attribute): a config takes none of them.
ONE_LINER_FLAGS = (("--stages", "stages"), ("--tuner", "tuner"), ("--print-config", "print_config"),
                   ("--start", "start"), ("--duration", "duration"), ("--to", "to"),
                   ("--codec", "codec"), ("--crf", "crf"), ("--bitrate", "bitrate"),
                   ("--preset", "preset"), ("--no-audio", "no_audio"), ("--format", "format"),
                   ("--fast-gray", "fast_gray"), ("-y/-n", "replace"))


def add_parser(commands) -> argparse.ArgumentParser:
    """Add ``run`` to the ``edgepipe`` sub-commands; return its parser."""
    run = commands.add_parser("run", help="run a config, or INPUT [OUTPUT ...] without one",
                              usage=USAGE, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("words", nargs="*", metavar="CONFIG | INPUT [OUTPUT ...]",
                     help="a YAML config (e.g. configs/demo.yaml), or an input and its outputs")
    run.add_argument("-i", dest="inputs", action="append", default=[], metavar="[NAME=]INPUT",
                     help="one-liners: an input; several -i run one stream each in one process "
                          "(named after the input, or NAME), every word is then an OUTPUT, "
                          "and {source} in an output's name makes one per stream: "
                          "-i a.mp4 -i b.mp4 'out/{source}.mp4'")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help=SET_HELP)
    run.add_argument("--stages", metavar="LIST",
                     help="one-liners: the chain as a YAML flow list, e.g. '[grayscale, "
                          "{gradient: {kind: scharr}}, map, {threshold: {value: auto}}, overlay]'")
    run.add_argument("--tuner", action="store_true",
                     help="one-liners: turn on the shipped tuner (moves threshold: auto online)")
    run.add_argument("--fast-gray", action="store_true",
                     help="one-liners: take the grey picture straight from the decoder's luma "
                          "plane of a file or stream (grayscale: {from: luma}); skips the colour "
                          "conversion, a level or two off the exact grey (docs/video.md)")
    run.add_argument("--print-config", action="store_true",
                     help="one-liners: print the YAML config the command stands for, and exit")
    modes = run.add_mutually_exclusive_group()
    modes.add_argument("--mode", choices=("live", "batch"),
                       help="shorthand for --set runtime.mode=MODE")
    modes.add_argument("--live", dest="mode", action="store_const", const="live",
                       help="live mode: drop frames to keep up (--mode live)")
    modes.add_argument("--batch", dest="mode", action="store_const", const="batch",
                       help="batch mode: keep every frame (--mode batch)")
    run.add_argument("--max-frames", type=int, metavar="N",
                     help="shorthand for --set runtime.max_frames=N")
    _add_ffmpeg_flags(run)
    add_report_options(run, "no progress line, no summary and no notices such as kernels compiling "
                            "(errors and warnings are always shown)")
    return run


def _add_ffmpeg_flags(run) -> None:
    """The one-liner's flags an FFmpeg user looks for (:mod:`pipeline.cli.oneliner_flags`)."""
    trim = run.add_argument_group("trimming (one-liners; a video file or -)")
    trim.add_argument("--start", metavar="TIME", help="start there (ffmpeg -ss): seconds or "
                      "[HH:]MM:SS[.ms]; seeks in files, drops the frames before it")
    trim.add_argument("--duration", metavar="TIME", help="read this long (ffmpeg -t)")
    trim.add_argument("--to", metavar="TIME", help="stop at this position (ffmpeg -to)")
    encode = run.add_argument_group("encoding (one-liners; every video output)")
    encode.add_argument("--codec", choices=tuple(ENCODERS), help="video codec (ffmpeg -c:v)")
    encode.add_argument("--crf", type=int, metavar="N", help="constant quality (ffmpeg -crf)")
    encode.add_argument("--bitrate", metavar="RATE", help="bits per second, e.g. 4M (ffmpeg -b:v)")
    encode.add_argument("--preset", choices=PRESETS, help="encoder speed (ffmpeg -preset)")
    encode.add_argument("--no-audio", action="store_true", help="leave the sound out (ffmpeg -an)")
    encode.add_argument("--format", choices=PIPE_FORMATS,
                        help="container of - as OUTPUT (ffmpeg -f); default y4m")
    replace = run.add_mutually_exclusive_group()
    replace.add_argument("-y", "--overwrite", dest="replace", action="store_const", const="yes",
                         help="replace existing outputs without asking (ffmpeg -y)")
    replace.add_argument("-n", "--no-overwrite", dest="replace", action="store_const", const="no",
                         help="never replace an existing output; exit 1 at once (ffmpeg -n)")


def config_of(args):
    """The checked config of ``run``: a YAML file, or the one-liner's."""
    config = _config(args)
    if args.json == "-" and _to_stdout(config):
        raise ConfigError("--json - and a video on standard output (-) would mix on stdout; "
                          "give --json a file", "command line")
    return config


def is_config_run(args) -> bool:
    """Whether ``run`` was given a YAML config (not a one-liner)."""
    return not args.inputs and bool(args.words) and oneliner.is_config(args.words[0])


def _config(args):
    overrides = list(args.overrides)
    if args.max_frames is not None:
        overrides.append(f"runtime.max_frames={args.max_frames}")
    if not args.words and not args.inputs:
        raise ConfigError("run needs a CONFIG, an INPUT [OUTPUT ...], or -i INPUT ... OUTPUT "
                          "(edgepipe run --help shows examples)", "command line")
    if args.inputs:
        return _inputs_config(args, overrides)
    first, *rest = args.words
    if oneliner.is_config(first):
        if rest:
            raise ConfigError(f"a config takes no OUTPUT (got {rest[0]!r}); change its sinks "
                              "with --set sinks.0.video.path=..., or run INPUT OUTPUT without "
                              "a config", "command line")
        used = [flag for flag, key in ONE_LINER_FLAGS if getattr(args, key) not in (None, False)]
        if used:
            raise ConfigError(f"{used[0]} is for one-liners (run INPUT [OUTPUT ...]); with a "
                              "config, edit it or use --set (validate --print shows it)",
                              "command line")
        if args.mode:
            overrides.append(f"runtime.mode={args.mode}")
        return Config.from_yaml(first, overrides)
    data = oneliner.config_data(args.words, args.stages, args.tuner, args.mode, flags_of(args))
    return Config.from_dict(data, overrides, file="command line")


def _inputs_config(args, overrides: list):
    """The config of ``run -i INPUT ... [OUTPUT ...]``: one stream per ``-i`` (one unnamed
    ``-i`` is the plain one-liner)."""
    if any(oneliner.is_config(word) for word in args.inputs + args.words[:1]):
        raise ConfigError("-i takes inputs, not a config; run a config as edgepipe run "
                          "CONFIG.yaml", "command line")
    named = [oneliner_inputs.split_named(text)[0] for text in args.inputs]
    if len(args.inputs) == 1 and named[0] is None:
        data = oneliner.config_data(args.inputs + args.words, args.stages, args.tuner,
                                    args.mode, flags_of(args))
    else:
        data = oneliner_inputs.several_data(args.inputs, args.words, args.stages, args.tuner,
                                            args.mode, flags_of(args))
    return Config.from_dict(data, overrides, file="command line")


def _to_stdout(config) -> bool:
    """Whether the run writes a video (or stats) to standard output."""
    return any(c.name == "stdout" or (c.name == "stats" and c.settings.get("path") == "-")
               for c in config.sinks)


def run(args) -> int:
    """Run ``edgepipe run`` for parsed ``args``; return the exit code."""
    config = config_of(args)
    ready()
    if args.print_config:
        shown = [word for word in args.argv if word != "--print-config"]
        print(oneliner.to_yaml(config.data, shlex.join(["edgepipe", *shown])), end="")
        return EXIT_OK
    if not is_config_run(args):
        decide(existing_outputs(config), args.replace)  # Refused: exit 1 (outcome.conclude)
    pipe = Pipeline(config)
    if config.several:
        return _run_streams(pipe, args)
    progress = not args.quiet and is_terminal(sys.stderr)
    try:
        summary = pipe.run(progress=progress, handle_signals=True)
    except ReaderGone:
        return reader_gone()
    except (SourceError, SinkError, StageError) as exc:
        outputs = written.outputs(pipe.sinks)
        if pipe.summary is not None and not args.quiet:  # what was done before it failed
            print("\n".join([pipe.summary.format(), *written.lines(outputs)]), file=sys.stderr)
        return fail(str(exc), args, EXIT_FAILED, pipe.summary, outputs)
    outputs = written.outputs(pipe.sinks)
    return report(summary, args, outputs=outputs, output_lines=written.lines(outputs))


def _run_streams(pipe: Pipeline, args) -> int:
    """Run a ``sources:`` config's streams side by side; exit 1 if any failed."""
    progress = not args.quiet and is_terminal(sys.stderr)
    summary = pipe.run_streams(handle_signals=True, progress=progress)
    if not args.quiet:  # the summary names them too; the error lines are what scripts grep
        for record in summary.failed:
            error(f"{record['input']}: {record['error']}")
    outputs = written.outputs(pipe.sinks)
    return report(summary, args, ok=summary.ok, outputs=outputs,
                  output_lines=written.lines(outputs))
