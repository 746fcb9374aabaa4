"""Running a chain: the engine (threads and queues, live and batch), run controls, stats.

* :mod:`pipeline.runtime.engine`: source thread, processing thread, one thread per sink.
* :mod:`pipeline.runtime.controls`: stop / pause / threshold / tuner toggles, live stats.
* :mod:`pipeline.runtime.stats`: fps, latency percentiles, time per stage, the summary.
"""
