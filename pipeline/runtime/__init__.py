"""Running a chain: the engine (threads and queues, live and batch), run controls, stats.

* :mod:`pipeline.runtime.engine`: source thread, processing thread, one thread per sink.
* :mod:`pipeline.runtime.tuner`: the tuner thread and its targets.
* :mod:`pipeline.controls` (beside :mod:`pipeline.frame`, a leaf every layer reads): stop /
  pause / snapshot requests, live stats, and the tuned values of every target.
* :mod:`pipeline.runtime.stats`: fps, latency percentiles, time per stage, the summary.
"""
