"""``edgepipe experiment`` on a quality config: run it, print the table, exit codes."""

from __future__ import annotations

import sys


def run_quality_command(experiment, args) -> int:
    """0 done, 1 an image, map or output failed, 2 ``--save-maps`` on another kind."""
    from pipeline.experiments.quality_run import run_quality
    from pipeline.io.base import SourceError

    if not hasattr(experiment, "methods"):
        print(f"edgepipe: error: --save-maps applies to quality experiments (a config with "
              f"dataset:); {experiment.file} is an optimizer experiment", file=sys.stderr)
        return 2
    try:
        summary = run_quality(experiment, plots=args.plots, log=None if args.quiet else sys.stderr,
                              save_maps=args.save_maps)
    except (SourceError, OSError) as exc:
        print(f"edgepipe: error: {exc}", file=sys.stderr)
        return 1
    if args.quiet:
        return 0
    print(f"{experiment.name}: {summary['images']} image(s), {summary['thresholds']} thresholds, "
          f"{summary['seconds']:.1f} s", file=sys.stderr)
    print(f"  {'method':<40} {'ODS':>6} {'OIS':>6} {'AP':>6} {'R50':>6}  ODS threshold",
          file=sys.stderr)
    for name, entry in summary["methods"].items():
        print(f"  {name:<40} {entry['ods']:6.3f} {entry['ois']:6.3f} {entry['ap']:6.3f} "
              f"{entry['r50']:6.3f}  {entry['ods_threshold']:.3f} ({entry['ods_level']:.0f}/255)",
              file=sys.stderr)
    for name, entry in summary["tuned"].items():
        values = ", ".join(f"{k} {v:.1f}" for k, v in entry["mean_values"].items())
        print(f"  {name:<40} F_tuned {entry['f_tuned']:.3f}  (mean {values})", file=sys.stderr)
    files = summary["files"]
    print(f"{experiment.name}: wrote {files['summary']}, {files['per_image']}"
          + (f" and {files['plot']}" if files["plot"] else ""), file=sys.stderr)
    return 0
