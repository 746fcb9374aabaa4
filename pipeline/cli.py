"""``edgepipe`` (= ``python -m pipeline``): run, validate and list.

Every error a user can fix ends in one line, ``edgepipe: error: ...``, and an exit code:

====  =====================================================================
0     the run ended: end of stream, ``max_frames``, or stopped by the user
      (window closed, ``q``); ``validate``: the config is fine
1     a source, sink or stage failed (missing camera or file, undecodable
      input, no display for a window, unwritable output folder)
2     the command line or the config is wrong (names the file, line and key);
      nothing was opened
130   interrupted by Ctrl+C (SIGINT); outputs are finalized and play
143   terminated by SIGTERM; outputs are finalized and play
====  =====================================================================
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
import traceback

from pipeline import __version__
from pipeline.batch import command as batch_command

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

EPILOG = """\
exit codes:
  0    finished (end of stream, max_frames, window closed); validate: config is fine
  1    a source, sink or stage failed (camera, file, display, output folder)
  2    bad command line or config (the message names file, line and key)
  130  interrupted by Ctrl+C; outputs are finalized
  143  terminated by SIGTERM; outputs are finalized

examples:
  edgepipe run configs/demo.yaml
  edgepipe run configs/video.yaml --set source.path=in.mp4 --set sinks.0.video.path=out/e.mp4
  edgepipe run configs/demo.yaml --set stages.gradient.kind=scharr --set source.type=synthetic
  edgepipe validate configs/webcam.yaml
  edgepipe stages
"""

SET_HELP = ("override a config value: KEY=VALUE, KEY a dotted path with list indices or "
            "names (stages.1.gradient.kind=scharr, stages.gradient.kind=scharr, "
            "source.path=in.mp4, runtime.mode=live); VALUE is YAML. Repeatable.")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgepipe",
        description="Edge maps from cameras, streams and video files, in real time.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"edgepipe {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    run = commands.add_parser("run", help="run a config: source -> stages -> sinks",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("config", metavar="CONFIG", help="YAML config, e.g. configs/demo.yaml")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help=SET_HELP)
    run.add_argument("--mode", choices=("live", "batch"),
                     help="shorthand for --set runtime.mode=MODE")
    run.add_argument("--max-frames", type=int, metavar="N",
                     help="shorthand for --set runtime.max_frames=N")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="no progress line and no summary")
    run.add_argument("--json", metavar="PATH",
                     help="also write the summary as JSON to PATH ('-' for stdout)")
    run.add_argument("--traceback", action="store_true",
                     help="show the full traceback of an unexpected error")

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
                        help="only these: stage, source, sink, objective, optimizer, runtime")
    batch_command.add_parser(commands)
    from pipeline import experiments  # imports OpenCV: after main() set its log level

    experiments.add_parser(commands)
    return parser


def _error(message: str) -> None:
    print(f"edgepipe: error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``edgepipe`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--traceback" not in argv:
        # Our one-line errors say what OpenCV's and FFmpeg's log lines would; a user's
        # own setting of these variables wins.  Set before anything imports OpenCV.
        os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    # Sinks log what a user needs to see (the URL of the http view, a codec fallback).
    logging.basicConfig(level=logging.INFO, format="edgepipe: %(message)s")
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "batch":
            return batch_command.run(args)
        if args.command == "experiment":
            from pipeline import experiments

            return experiments.run(args)
        return _stages(args)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED


def _load(args):
    from pipeline.config import Config

    return Config.from_yaml(args.config, args.overrides)


def _run(args) -> int:
    from pipeline.config import ConfigError
    from pipeline.io.base import SinkError, SourceError
    from pipeline.pipeline import Pipeline
    from pipeline.stages.base import StageError

    if args.mode:
        args.overrides.append(f"runtime.mode={args.mode}")
    if args.max_frames is not None:
        args.overrides.append(f"runtime.max_frames={args.max_frames}")
    try:
        pipe = Pipeline(_load(args))
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    progress = not args.quiet and sys.stderr.isatty()
    try:
        summary = pipe.run(progress=progress, handle_signals=True)
    except (SourceError, SinkError, StageError) as exc:
        if pipe.summary is not None and not args.quiet:  # what was done before it failed
            print(pipe.summary.format(), file=sys.stderr)
        _error(str(exc))
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001  (a bug: one line unless asked)
        if args.traceback:
            traceback.print_exc()
        _error(f"unexpected {type(exc).__name__}: {exc} (rerun with --traceback for details)")
        return EXIT_FAILED
    return report(summary, args)


def report(summary, args, ok: bool = True) -> int:
    """Print ``summary`` (unless ``--quiet``), write ``--json``; return the exit code.

    Shared by ``run`` and ``batch``: interrupted and terminated runs keep their codes,
    otherwise 0 when ``ok`` and 1 when not.
    """
    if not args.quiet:
        print(summary.format(), file=sys.stderr)
    if args.json:
        text = json.dumps(summary.to_dict(), indent=2)
        if args.json == "-":
            print(text)
        else:
            try:
                with open(args.json, "w", encoding="utf-8") as handle:
                    handle.write(text + "\n")
            except OSError as exc:
                _error(f"cannot write the summary to {args.json}: {exc.strerror}")
                return EXIT_FAILED
    if summary.stop_reason == "interrupted":
        return EXIT_INTERRUPTED
    if summary.stop_reason == "terminated":
        return EXIT_TERMINATED
    return EXIT_OK if ok else EXIT_FAILED


def _validate(args) -> int:
    import yaml

    from pipeline.config import ConfigError, describe_config, load_any
    from pipeline.io.base import SinkError

    try:
        kind, config = load_any(args.config, args.overrides)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
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


def describe(kinds: list[str] | None = None) -> str:
    """The text of ``edgepipe stages``: every registered component and its parameters."""
    from pipeline.config import Runtime, load_plugins
    from pipeline.registry import KINDS, REGISTRIES

    load_plugins()
    wanted = kinds or list(KINDS) + ["runtime"]
    lines: list[str] = []

    def add(title: str, name: str, cls: type) -> None:
        doc = (cls.__doc__ or "").strip().splitlines()
        lines.append(f"  {name}" + (f"  - {doc[0].strip()}" if doc else ""))
        if not cls.params:
            lines.append("      (no parameters)")
        width = max((len(p.name) for p in cls.params), default=0)
        for param in cls.params:
            text = param.describe() + (f". {param.help}" if param.help else "")
            wrapped = textwrap.wrap(text, 96 - width, subsequent_indent=" " * (width + 8))
            lines.append(f"      {param.name:<{width}}  {wrapped[0]}")
            lines.extend(wrapped[1:])

    for kind in wanted:
        if kind == "runtime":
            lines.append("runtime (the runtime: section)")
            add("runtime", "runtime", Runtime)
            continue
        table = REGISTRIES.get(kind)
        if table is None:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, runtime; got {kind!r}")
        if not table:
            continue
        lines.append(f"{kind}s")
        for name in sorted(table):
            add(kind, name, table[name])
    return "\n".join(lines)


def _stages(args) -> int:
    try:
        print(describe(args.kinds))
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
