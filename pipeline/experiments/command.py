"""``edgepipe experiment CONFIG``: the sub-command's parser and its exit codes."""

from __future__ import annotations

import sys
from typing import Any


def add_parser(subparsers) -> Any:
    """Add the ``experiment`` sub-command to an argparse ``add_subparsers()`` object."""
    parser = subparsers.add_parser(
        "experiment", help="run a grid of optimizers over functions or videos; CSV, JSON, plots",
        description="Run every optimizer of an experiment config on every input and write "
                    "iterations.csv, summary.json and one PNG per input.")
    parser.add_argument("config", metavar="CONFIG",
                        help="experiment YAML, e.g. configs/experiments/local-minimum.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a value: iterations=10, optimizers.0.lr=0.1 (repeatable)")
    parser.add_argument("-o", "--output", metavar="DIR", help="output folder (overrides output:)")
    parser.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNGs")
    parser.add_argument("--save-maps", metavar="DIR",
                        help="quality experiments: write each method's soft maps to DIR/METHOD/NAME.png")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    return parser


def plots_available() -> bool:
    """Whether matplotlib (the optional ``plots`` extra) can be imported."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def run(args) -> int:
    """Run the sub-command: 0 done, 1 an input or output failed, 2 a bad config."""
    # Imported here, not above: the parser is built for every edgepipe command.
    from pipeline.config.document import ConfigError
    from pipeline.experiments.runners import run_experiment
    from pipeline.config.experiment import load_experiment
    from pipeline.io.base import SourceError

    try:
        experiment = load_experiment(args.config, args.overrides, args.output)
    except ConfigError as exc:
        print(f"edgepipe: error: {exc}", file=sys.stderr)
        return 2
    if args.plots and not plots_available():  # said before minutes of computing, not after
        print("edgepipe: error: the plots need matplotlib, which is not installed: "
              "pip install 'edgepipe[plots]', or run with --no-plots (CSV and JSON only)",
              file=sys.stderr)
        return 1
    if hasattr(experiment, "methods") or args.save_maps:  # the quality kind
        from pipeline.experiments.quality_command import run_quality_command

        return run_quality_command(experiment, args)
    try:
        summary = run_experiment(experiment, plots=args.plots,
                                 log=None if args.quiet else sys.stderr)
    except ConfigError as exc:  # a bound only known once the inputs are read
        print(f"edgepipe: error: {exc}", file=sys.stderr)
        return 2
    except (SourceError, OSError) as exc:
        print(f"edgepipe: error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        for entry in summary["runs"]:
            where = entry.get("ends_near") or ""
            if entry["kind"] == "function":
                final = ", ".join(f"{c:.6g}" for c in entry["final"])
                text = f"ends at ({final}) f={entry['final_value']:.6g} {where}".rstrip()
            elif "pairs" in entry:
                low, high = entry["pairs"][-1]
                text = (f"{entry['frames']} frames, last pair ({low:.2f}, {high:.2f}), mean "
                        f"objective {entry['mean_final_value']:.4g}")
            else:
                text = (f"{entry['frames']} frames, last threshold "
                        f"{entry['thresholds'][-1]:.2f}, mean objective "
                        f"{entry['mean_final_value']:.4g}")
            print(f"  {entry['input']:<14} {entry['label']:<40} {text}", file=sys.stderr)
        print(f"{experiment.name}: wrote {summary['files']['csv']}, {summary['files']['summary']}"
              + (f" and {len(summary['files']['plots'])} plot(s)" if args.plots else ""),
              file=sys.stderr)
    return 0

