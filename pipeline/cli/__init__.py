"""The ``edgepipe`` command line, on top of everything else in the package.

* :mod:`pipeline.cli.guard`: exit codes (the one table), Ctrl+C held until a command is
  ready, closed standard streams, a reader that went away, and
  :func:`~pipeline.cli.guard.install_stop_signals` (used by the runtime's engine and by
  ``batch`` too).  It imports nothing of the package, so anything may import it.
* :mod:`pipeline.cli.entry`: the console script, ``python -m pipeline`` and
  ``python -m pipeline.batch``, inside the guard.
* :mod:`pipeline.cli.main`: the parser; every command ends through
  :func:`pipeline.cli.outcome.conclude` (the one-line error, ``--json``, the exit code).
* One module per command: :mod:`~pipeline.cli.run`, :mod:`~pipeline.cli.validate`,
  :mod:`~pipeline.cli.stages`, :mod:`~pipeline.cli.batch`, :mod:`~pipeline.cli.experiment`,
  :mod:`~pipeline.cli.warmup`.
* The one-liner (``edgepipe run INPUT [OUTPUT ...]``): :mod:`pipeline.cli.oneliner` (words
  to a config, ``--print-config``) and :mod:`pipeline.cli.oneliner_flags` (the FFmpeg-like
  flags); :mod:`pipeline.cli.helptext` is the text of ``edgepipe stages``.

Nothing is imported here: importing :mod:`pipeline.cli.guard` costs only the guard.
"""
