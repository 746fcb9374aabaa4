"""Batch jobs: many video files through one chain of stages, resumable, in parallel.

::

    configs/batch.yaml ──► jobs (check, plan inputs -> mirrored outputs)
                              │
                              ▼
                 runner (resume from the manifest, progress, summary)
                   │ submits tasks                    ▲ results
                   ▼                                  │
       executors: local process pool  |  dask.distributed cluster
                   │
                   ▼
       tasks (in a worker): one file through Pipeline -> hidden name -> rename
                            or, split: probe -> parts (frame ranges) -> join

* :mod:`pipeline.batch.jobs`: the job: its config (``inputs``, ``output``, ``stages``,
  ``executor``, ``split``; checked with file, line and key by
  :mod:`pipeline.config.batch`) and the plan of inputs and outputs.
* :mod:`pipeline.batch.manifest`: the JSON Lines record of every file's outcome, and
  the completeness check that lets a rerun skip finished files.
* :mod:`pipeline.batch.tasks`: what a worker runs; it imports nothing heavy at module
  level, so a worker can cap numba's threads before numba loads.
* :mod:`pipeline.batch.split`: frame ranges of a long file, exact seeking, joining.
* :mod:`pipeline.batch.executors`: the local process pool (and, from
  :mod:`pipeline.batch.cluster`, the Dask executor).
* :mod:`pipeline.batch.runner`: the driver loop; :mod:`pipeline.batch.summary`: its
  summary and progress bar.
* ``edgepipe batch`` is :mod:`pipeline.cli.batch`.

Only the driver writes the manifest; workers write outputs, each under a hidden
temporary name renamed when complete.  A cluster therefore needs the inputs and the
output folder on a filesystem every worker sees at the same path.
"""
