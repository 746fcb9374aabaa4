"""``edgepipe experiment CONFIG``: a grid of optimizer runs, or a quality benchmark.

The config's kind picks the runner: optimizers over functions and videos
(:mod:`pipeline.experiments.runners`), or edge maps scored by the boundary benchmark
(a ``dataset:`` key, :mod:`pipeline.experiments.quality_run`).  It ends like every other
command (:func:`pipeline.cli.outcome.conclude`): 0 done, 1 an input or output failed,
2 a bad config or command line, 130 Ctrl+C; ``--json`` gets the summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys

from pipeline.cli.guard import EXIT_FAILED, exit_codes_help, ready
from pipeline.cli.outcome import add_report_options, fail, report
from pipeline.config.document import ConfigError
from pipeline.experiments.quality_run import run_quality
from pipeline.experiments.runners import run_experiment
from pipeline.config.experiment import load_experiment
from pipeline.io.base import SourceError

EPILOG = exit_codes_help({
    0: "every run done; iterations.csv, summary.json and the plots written",
    1: "an input or output failed (no file matches, an unreadable video, an\n"
       "unwritable output folder), or the plots need matplotlib",
    2: "bad command line or config (the message names file, line and key)",
    130: "interrupted by Ctrl+C; files are written whole or not at all",
    143: "terminated by SIGTERM; files are written whole or not at all",
}) + """

examples:
  edgepipe experiment configs/experiments/local-minimum.yaml
  edgepipe experiment configs/experiments/local-minimum.yaml --set iterations=10 -o out/x
  edgepipe experiment docs/bsds-val.yaml --save-maps out/maps --json summary.json
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``experiment`` to the ``edgepipe`` sub-commands; return its parser."""
    parser = subparsers.add_parser(
        "experiment", help="run a grid of optimizers over functions or videos; CSV, JSON, plots",
        description="Run every optimizer of an experiment config on every input and write "
                    "iterations.csv, summary.json and one PNG per input.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", metavar="CONFIG",
                        help="experiment YAML, e.g. configs/experiments/local-minimum.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a value: iterations=10, optimizers.0.lr=0.1 (repeatable)")
    parser.add_argument("-o", "--output", metavar="DIR", help="output folder (overrides output:)")
    parser.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNGs")
    parser.add_argument("--save-maps", metavar="DIR",
                        help="quality experiments: write each method's soft maps to DIR/METHOD/NAME.png")
    add_report_options(parser, "print nothing on success (errors are always shown)")
    return parser


def plots_available() -> bool:
    """Whether matplotlib (the optional ``plots`` extra) can be imported."""
    return importlib.util.find_spec("matplotlib") is not None


@dataclasses.dataclass
class ExperimentSummary:
    """What an experiment did, in the shape :func:`~pipeline.cli.outcome.report` prints."""

    data: dict
    lines: list
    stop_reason: str = "finished"

    def format(self) -> str:
        return "\n".join(self.lines)

    def to_dict(self) -> dict:
        return self.data


def run(args) -> int:
    """Run ``edgepipe experiment`` for parsed ``args``; return the exit code."""
    experiment = load_experiment(args.config, args.overrides, args.output)  # ConfigError: 2
    quality = hasattr(experiment, "methods")
    if args.save_maps and not quality:
        raise ConfigError(f"--save-maps applies to quality experiments (a config with "
                          f"dataset:); {experiment.file} is an optimizer experiment")
    if args.plots and not plots_available():  # said before minutes of computing, not after
        return fail("the plots need matplotlib, which is not installed: pip install "
                    "'edgepipe[plots]', or run with --no-plots (CSV and JSON only)", args, EXIT_FAILED)
    ready()
    log = None if args.quiet else sys.stderr
    try:
        if quality:
            summary = run_quality(experiment, plots=args.plots, log=log, save_maps=args.save_maps)
            return report(ExperimentSummary(summary, quality_lines(experiment, summary)), args)
        summary = run_experiment(experiment, plots=args.plots, log=log)
    except (SourceError, OSError) as exc:  # an input that cannot be read, an output not written
        return fail(str(exc), args, EXIT_FAILED)
    return report(ExperimentSummary(summary, grid_lines(experiment, summary, args.plots)), args)


def grid_lines(experiment, summary: dict, plots: bool) -> list[str]:
    """The lines an optimizer experiment prints: where each run ended, the files written."""
    lines = []
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
        lines.append(f"  {entry['input']:<14} {entry['label']:<40} {text}")
    lines.append(f"{experiment.name}: wrote {summary['files']['csv']}, {summary['files']['summary']}"
                 + (f" and {len(summary['files']['plots'])} plot(s)" if plots else ""))
    return lines


def quality_lines(experiment, summary: dict) -> list[str]:
    """The table of a quality experiment: ODS, OIS, AP, R50 per method, the tuned scores."""
    lines = [f"{experiment.name}: {summary['images']} image(s), {summary['thresholds']} thresholds, "
             f"{summary['seconds']:.1f} s",
             f"  {'method':<40} {'ODS':>6} {'OIS':>6} {'AP':>6} {'R50':>6}  ODS threshold"]
    for name, entry in summary["methods"].items():
        lines.append(f"  {name:<40} {entry['ods']:6.3f} {entry['ois']:6.3f} {entry['ap']:6.3f} "
                     f"{entry['r50']:6.3f}  {entry['ods_threshold']:.3f} ({entry['ods_level']:.0f}/255)")
    for name, entry in summary["tuned"].items():
        values = ", ".join(f"{k} {v:.1f}" for k, v in entry["mean_values"].items())
        lines.append(f"  {name:<40} F_tuned {entry['f_tuned']:.3f}  (mean {values})")
    files = summary["files"]
    lines.append(f"{experiment.name}: wrote {files['summary']}, {files['per_image']}"
                 + (f" and {files['plot']}" if files["plot"] else ""))
    return lines
