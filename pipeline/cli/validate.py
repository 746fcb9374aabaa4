"""``edgepipe validate CONFIG``: check a run, batch or experiment config without running it."""

from __future__ import annotations

import argparse
import sys

import yaml

from pipeline.cli.guard import EXIT_OK, exit_codes_help, ready
from pipeline.cli.outcome import add_report_options, write_json
from pipeline.config.dispatch import describe_config, load_any
from pipeline.io.base import SinkError

SET_HELP = ("override a config value: KEY=VALUE, KEY a dotted path with list indices or "
            "names (stages.1.gradient.kind=scharr, source.path=in.mp4); VALUE is YAML. "
            "Repeatable.")

EPILOG = exit_codes_help({
    0: "the config is fine",
    1: "--sinks: a sink's check failed (output folder not writable, no display)",
    2: "the config is wrong (the message names file, line and key)",
}) + """

examples:
  edgepipe validate configs/webcam.yaml
  edgepipe validate configs/demo.yaml --set stages.gradient.kind=scharr --print
  edgepipe validate configs/batch.yaml
"""


def add_parser(commands) -> argparse.ArgumentParser:
    """Add ``validate`` to the ``edgepipe`` sub-commands; return its parser."""
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
    add_report_options(validate, "no line on success (errors are always shown)")
    return validate


def run(args) -> int:
    """Run ``edgepipe validate`` for parsed ``args``; return the exit code."""
    kind, config = load_any(args.config, args.overrides)  # ConfigError: exit 2
    ready()
    if kind != "run":  # batch and experiment configs: checked against their own schema
        return _ok(args, kind, describe_config(kind, config))
    if args.sinks:
        for stream in config.streams:
            _, _, sinks = config.build(stream)
            for component, sink in zip(stream.sinks, sinks):
                try:
                    sink.check()
                except SinkError as exc:
                    raise SinkError(f"{'.'.join(map(str, component.path))}: {exc}") from None
    if args.show:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=None), end="")
    stages = " -> ".join(c.name for c in config.stages) or "(no stages)"
    sinks = ", ".join(c.name for c in config.sinks) or "no sinks"
    sources = (f"{len(config.streams)} streams ({', '.join(s.name for s in config.streams)})"
               if config.several else config.source.name)
    return _ok(args, kind, f"{sources} -> {stages} -> {sinks}; mode {config.runtime['mode']}")


def _ok(args, kind: str, description: str) -> int:
    if not args.quiet:
        print(f"{args.config}: ok ({description})", file=sys.stderr)
    write_json(args, {"ok": True, "exit_code": EXIT_OK, "config": args.config, "kind": kind,
                      "description": description})
    return EXIT_OK
