"""``edgepipe`` (= ``python -m pipeline``): run, validate and list.

Every error a user can fix ends in one line, ``edgepipe: error: ...``, and an exit code:

====  =====================================================================
0     the run ended: end of stream, ``max_frames``, or stopped by the user
      (window closed, ``q``); ``validate``: the config is fine
1     a source, sink or stage failed (missing camera or file, undecodable
      input, no display for a window, unwritable output folder), or an
      existing output was not to be replaced (``-n``, or no ``-y``)
2     the command line or the config is wrong (names the file, line and key);
      nothing was opened
130   interrupted by Ctrl+C (SIGINT); outputs are finalized and play
141   the reader of standard output went away (a closed pipe: ``| head -1``)
143   terminated by SIGTERM; outputs are finalized and play
====  =====================================================================
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys

from pipeline import __version__
from pipeline.batch import command as batch_command
from pipeline.entry import interrupted, reader_gone, ready
from pipeline.experiments import command as experiment_command
from pipeline.runtime import precompile
from pipeline.outcome import (EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK,  # noqa: F401
                              EXIT_TERMINATED, EXIT_USAGE, add_report_options, error as _error,
                              fail, is_terminal, quiet_helpers, report, unexpected,
                              write_json)  # (re-exported)

EPILOG = """\
exit codes:
  0    finished (end of stream, max_frames, window closed); validate: config is fine
  1    a source, sink or stage failed (camera, file, display, output folder),
       or an existing output was not to be replaced (-n, or no -y off a terminal)
  2    bad command line or config (the message names file, line and key)
  130  interrupted by Ctrl+C; outputs are finalized
  141  the reader of the output went away (edgepipe stages | head -1)
  143  terminated by SIGTERM; outputs are finalized

examples:
  edgepipe run clip.mp4 edges.mp4              a file to a file (no YAML)
  edgepipe run clip.mp4 e.mp4 --start 10 --duration 5 --crf 18 -y   trim, encode, replace
  edgepipe run photo.jpg edges.png             one picture to one picture
  ffmpeg -i in.mkv -f nut - | edgepipe run - - | ffplay -    in a shell pipeline
  edgepipe run 0                               the first camera to a window
  edgepipe run 0 http://127.0.0.1:8080         the first camera to a browser
  edgepipe run 'shots/*.png' 'out/e_{index:04d}.png' --stages '[grayscale, gradient, map]'
  edgepipe run clip.mp4 edges.mp4 --print-config > my.yaml   the YAML it stands for
  edgepipe run configs/demo.yaml
  edgepipe run configs/video.yaml --set source.path=in.mp4 --set sinks.0.video.path=out/e.mp4
  edgepipe run configs/demo.yaml --set stages.gradient.kind=scharr --set source.type=synthetic
  edgepipe validate configs/webcam.yaml
  edgepipe stages
"""

SET_HELP = ("override a config value: KEY=VALUE, KEY a dotted path with list indices or "
            "names (stages.1.gradient.kind=scharr, stages.gradient.kind=scharr, "
            "source.path=in.mp4, runtime.mode=live); VALUE is YAML. Repeatable.")

RUN_USAGE = "edgepipe run (CONFIG | INPUT [OUTPUT ...]) [options]"
RUN_DESCRIPTION = """\
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


def _add_run(commands) -> None:
    run = commands.add_parser("run", help="run a config, or INPUT [OUTPUT ...] without one",
                              usage=RUN_USAGE, description=RUN_DESCRIPTION,
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("words", nargs="+", metavar="CONFIG | INPUT [OUTPUT ...]",
                     help="a YAML config (e.g. configs/demo.yaml), or an input and its outputs")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help=SET_HELP)
    run.add_argument("--stages", metavar="LIST",
                     help="one-liners: the chain as a YAML flow list, e.g. '[grayscale, "
                          "{gradient: {kind: scharr}}, map, {threshold: {value: auto}}, overlay]'")
    run.add_argument("--tuner", action="store_true",
                     help="one-liners: turn on the shipped tuner (moves threshold: auto online)")
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
    add_report_options(run, "no progress line and no summary (errors are always shown)")


def _add_ffmpeg_flags(run) -> None:
    """The one-liner's flags an FFmpeg user looks for (README: the table of spellings)."""
    from pipeline.io.media.writer import ENCODERS, PRESETS
    from pipeline.oneliner_flags import PIPE_FORMATS

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgepipe",
        description="Edge maps from cameras, streams and video files, in real time.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"edgepipe {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    _add_run(commands)

    validate = commands.add_parser("validate", help="check a config without running it",
                                   epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    validate.add_argument("config", metavar="CONFIG")
    validate.add_argument("--set", dest="overrides", action="append", default=[],
                          metavar="KEY=VALUE", help=SET_HELP)
    validate.add_argument("--sinks", action="store_true",
                          help="also run each sink's check (output folders writable, display "
                               "present); exit 1 if one fails")
    validate.add_argument("--print", dest="show", action="store_true",
                          help="print the checked config with every default filled in")

    stages = commands.add_parser("stages", help="list stages, sources, sinks and their parameters")
    stages.add_argument("kinds", nargs="*", metavar="KIND",
                        help="only these: stage(s), source(s), sink(s), objective(s), "
                             "optimizer(s), runtime")
    batch_command.add_parser(commands)
    experiment_command.add_parser(commands)
    precompile.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``edgepipe`` (see :mod:`pipeline.entry`); returns the exit code.

    Ctrl+C at any moment (imports, parsing) is one line and 130; a closed pipe on
    stdout is quiet and 141.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return interrupted()
    except BrokenPipeError:
        return reader_gone()


def _main(argv: list[str]) -> int:
    if "--traceback" not in argv:
        # Our one-line errors say what OpenCV's and FFmpeg's log lines would; a user's
        # own setting of these variables wins.  Set before anything imports OpenCV.
        os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    try:
        args = _parse(_parser(), argv)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    args.argv = argv
    # Sinks log what a user needs to see (the URL of the http view, a codec fallback);
    # helpers' own INFO chatter (Dask's scheduler and workers) only with --verbose.
    logging.basicConfig(level=logging.INFO, format="edgepipe: %(message)s")
    quiet_helpers(getattr(args, "verbose", False))
    if args.command == "run":
        return _run(args)
    if args.command == "validate":
        return _validate(args)
    if args.command == "batch":
        return batch_command.run(args)
    if args.command == "warmup":
        return precompile.run(args)
    if args.command == "experiment":
        ready()
        return experiment_command.run(args)
    return _stages(args)


def _parse(parser, argv: list[str]):
    """``argv`` parsed; for ``run``, OUTPUTs may also follow a flag, as ffmpeg users write
    them (``edgepipe run IN --start 5 OUT``: argparse alone takes OUT for an unknown word)."""
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "command", None) == "run" and not any(
            word.startswith("-") and word != "-" for word in extra):
        args.words += extra
        return args
    return parser.parse_args(argv)  # anything else left over: argparse's own error


def _load(args):
    from pipeline.config.run import Config

    return Config.from_yaml(args.config, args.overrides)


ONE_LINER_FLAGS = (("--stages", "stages"), ("--tuner", "tuner"), ("--print-config", "print_config"),
                   ("--start", "start"), ("--duration", "duration"), ("--to", "to"),
                   ("--codec", "codec"), ("--crf", "crf"), ("--bitrate", "bitrate"),
                   ("--preset", "preset"), ("--no-audio", "no_audio"), ("--format", "format"),
                   ("-y/-n", "replace"))


def _flags(args):
    """The one-liner's FFmpeg-like flags, times parsed (ConfigError naming the flag)."""
    from pipeline.config.document import ConfigError
    from pipeline.oneliner_flags import Flags
    from pipeline.timecode import parse_time

    times = {}
    for flag in ("start", "duration", "to"):
        text = getattr(args, flag)
        if text is not None:
            try:
                times[flag] = parse_time(text, f"--{flag}")
            except ValueError as exc:
                raise ConfigError(str(exc), "command line") from None
    return Flags(codec=args.codec, crf=args.crf, bitrate=args.bitrate, preset=args.preset,
                 no_audio=args.no_audio, format=args.format, **times)


def _run_config(args):
    """The checked config of ``run``: a YAML file, or the one-liner's (see :mod:`pipeline.oneliner`)."""
    from pipeline import oneliner
    from pipeline.config.document import ConfigError
    from pipeline.config.run import Config

    overrides = list(args.overrides)
    if args.max_frames is not None:
        overrides.append(f"runtime.max_frames={args.max_frames}")
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
    data = oneliner.config_data(args.words, args.stages, args.tuner, args.mode, _flags(args))
    return Config.from_dict(data, overrides, file="command line")


def _to_stdout(config) -> bool:
    """Whether the run writes a video (or stats) to standard output."""
    return any(c.name == "stdout" or (c.name == "stats" and c.settings.get("path") == "-")
               for c in config.sinks)


def _run(args) -> int:
    from pipeline import written
    from pipeline.config.document import ConfigError
    from pipeline.io.base import SinkError, SourceError
    from pipeline.io.sinks.stdout import ReaderGone
    from pipeline.pipeline import Pipeline
    from pipeline.replacing import Refused, decide, existing_outputs
    from pipeline.stages.base import StageError

    try:
        config = _run_config(args)
        if args.json == "-" and _to_stdout(config):
            raise ConfigError("--json - and a video on standard output (-) would mix on stdout; "
                              "give --json a file", "command line")
    except ConfigError as exc:
        return fail(str(exc), args, EXIT_USAGE)
    ready()
    if args.print_config:
        from pipeline.oneliner import to_yaml

        shown = [word for word in args.argv if word != "--print-config"]
        print(to_yaml(config.data, shlex.join(["edgepipe", *shown])), end="")
        return EXIT_OK
    if not _oneliner_is_config(args):
        try:
            decide(existing_outputs(config), args.replace)
        except Refused as exc:
            return fail(str(exc), args, EXIT_FAILED)
    pipe = Pipeline(config)
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
    except Exception as exc:  # noqa: BLE001  (a bug: one line unless asked)
        code = unexpected(exc, args)
        write_json(args, {"ok": False, "exit_code": code,
                          "error": f"unexpected {type(exc).__name__}: {exc}"})
        return code
    outputs = written.outputs(pipe.sinks)
    return report(summary, args, outputs=outputs, output_lines=written.lines(outputs))


def _oneliner_is_config(args) -> bool:
    from pipeline.oneliner import is_config

    return is_config(args.words[0])


def _validate(args) -> int:
    import yaml

    from pipeline.config.dispatch import describe_config, load_any
    from pipeline.config.document import ConfigError
    from pipeline.io.base import SinkError

    try:
        kind, config = load_any(args.config, args.overrides)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    ready()
    if kind != "run":  # batch and experiment configs: checked against their own schema
        print(f"{args.config}: ok ({describe_config(kind, config)})", file=sys.stderr)
        return EXIT_OK
    if args.sinks:
        _, _, sinks = config.build()
        for component, sink in zip(config.sinks, sinks):
            try:
                sink.check()
            except SinkError as exc:
                _error(f"{'.'.join(map(str, component.path))}: {exc}")
                return EXIT_FAILED
    if args.show:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=None), end="")
    stages = " -> ".join(c.name for c in config.stages) or "(no stages)"
    sinks = ", ".join(c.name for c in config.sinks) or "no sinks"
    print(f"{args.config}: ok ({config.source.name} -> {stages} -> {sinks}; "
          f"mode {config.runtime['mode']})", file=sys.stderr)
    return EXIT_OK



def _stages(args) -> int:
    from pipeline.helptext import describe
    from pipeline.config.registry import KINDS

    # The listing heads its parts "stages", "sources", "sinks": those names work too.
    singular = {f"{kind}s": kind for kind in (*KINDS, "runtime")}
    kinds = [singular.get(kind, kind) for kind in args.kinds]
    try:
        text = describe(kinds)
        ready()
        print(text)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    from pipeline.entry import console

    sys.exit(console())
