"""``edgepipe batch``: many video files through one chain, resumable, in parallel.

Also runs alone as ``python -m pipeline.batch CONFIG`` (:func:`main`), ended the same way.
Exit codes are the table's (:mod:`pipeline.cli.guard`): 0 every file done or already
complete; 1 a file failed (the summary and the manifest name it) or the job could not
start (output folder, another job's lock, the executor); 2 the command line or config is
wrong (file, line and key named; nothing was processed); 130 Ctrl+C; 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.batch.jobs import load_job
from pipeline.batch.manifest import Manifest, ManifestError
from pipeline.batch.output_folder import check_manifest
from pipeline.batch.runner import Terminated, run_job
from pipeline.cli.guard import (EXIT_OK, EXIT_USAGE, exit_codes_help, install_stop_signals,
                                is_terminal, ready)
from pipeline.cli.outcome import add_report_options, conclude, quiet_helpers, report

DESCRIPTION = """\
Process many video files with one chain of stages: each input becomes an edge video at a
mirrored path under the output folder, written under a hidden name and renamed when
complete.  A rerun skips files the manifest proves complete (--force redoes them).  One
bad file does not stop the others."""

EPILOG = exit_codes_help({
    0: "every file done, or already complete",
    1: "a file failed (listed in the summary and the manifest), or the job could not\n"
       "start (output folder not writable, another job running there, executor)",
    130: "interrupted by Ctrl+C; files in flight are redone next time",
    143: "terminated by SIGTERM; files in flight are redone next time",
}) + """

examples:
  edgepipe batch configs/batch.yaml
  edgepipe batch configs/batch.yaml --set inputs.glob='recordings/**/*.mp4' --workers 2
  edgepipe batch configs/batch.yaml --executor dask --address tcp://10.0.0.5:8786
  edgepipe batch configs/batch.yaml --dry-run
"""

SET_HELP = ("override a config value: KEY=VALUE with KEY a dotted path "
            "(executor.workers=2, inputs.glob='clips/*.mp4', output.dir=out/e, "
            "stages.1.gradient.kind=scharr); VALUE is YAML. Repeatable.")


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the batch command's arguments to ``parser``."""
    parser.add_argument("config", metavar="CONFIG", help="batch YAML config, e.g. configs/batch.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help=SET_HELP)
    parser.add_argument("--force", action="store_true",
                        help="redo every file, even those the manifest proves complete")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="shorthand for --set executor.workers=N")
    parser.add_argument("--executor", choices=("local", "dask"),
                        help="shorthand for --set executor.type=TYPE")
    parser.add_argument("--address", metavar="ADDR",
                        help="dask scheduler address; implies --executor dask")
    parser.add_argument("--dry-run", action="store_true",
                        help="list each input, its output and whether it would run; process nothing")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show Dask's own log lines (INFO); by default only its warnings")
    add_report_options(parser, "no progress bar and no summary (failed files and errors are always shown)")
    return parser


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``batch`` to the ``edgepipe`` sub-commands; return its parser."""
    parser = subparsers.add_parser(
        "batch", help="many video files: resumable, local process pool or Dask cluster",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    return configure(parser)


def _overrides(args) -> list[str]:
    overrides = list(args.overrides)
    if args.executor:
        overrides.append(f"executor.type={args.executor}")
    if args.address:
        overrides.append("executor.type=dask")
        overrides.append(f"executor.address={json.dumps(args.address)}")
    if args.workers is not None:
        overrides.append(f"executor.workers={args.workers}")
    return overrides


def run(args) -> int:
    """Run ``edgepipe batch`` for parsed ``args``; return the exit code."""
    job = load_job(args.config, _overrides(args))  # ConfigError: exit 2
    if args.dry_run:
        return _dry_run(job, args)
    ready()  # from here Ctrl+C stops the workers (see pipeline.cli.guard)
    restore = install_stop_signals(_raise_terminated, ctrl_c=False)
    try:
        summary = run_job(job, force=args.force, progress=not args.quiet and is_terminal(sys.stderr))
    finally:
        restore()
    return report(summary, args, ok=summary.ok)


def _dry_run(job, args) -> int:
    """List each input, its output and whether it would run (the same refusals as a run)."""
    items = job.plan()
    check_manifest(job, items)  # the same refusals (exit 2) as a real run
    try:
        manifest = Manifest(job.manifest_path)
    except ManifestError as exc:
        raise ManifestError(f"{job.file}: {exc}") from None
    for item in items:
        done = None if args.force else manifest.completed(item.input, item.output, job.chain_digest)
        print(f"{'skip' if done else 'run '}  {item.input} -> {item.output}")
    return EXIT_OK


def _raise_terminated(reason: str) -> None:
    """SIGTERM during a job: the runner stops the workers and keeps what is done."""
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.batch``: the batch command on its own."""
    parser = configure(argparse.ArgumentParser(
        prog="python -m pipeline.batch", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    quiet_helpers(args.verbose)
    return conclude(run, args)
