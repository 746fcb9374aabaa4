"""How outputs are written: temporary names, one writer per output, the sync-and-rename commit, folder checks.

Nothing half-written ever carries a final name.  Each output is written under a
temporary name in the same folder (``.edges.mp4.part-<pid>-<token>.mp4``: hidden, marked
as partial, unique to the process, the real extension last so its type shows in its
name), synced to disk (video and stats), and moved onto its final name
with ``os.replace`` (atomic within a filesystem) only when it is complete.  ``abort()``
removes the temporary file, so a failed run leaves nothing that looks finished.

Failed writes.  Python's own writes (``stats``, ``images``) raise OSError, which becomes
a :class:`~pipeline.io.base.SinkError` naming the path and the cause (``No space left on device``).
The video writer (FFmpeg's libraries through PyAV) raises on the writes FFmpeg sees
fail, but the muxer buffers, and a write into a file whose folder was removed succeeds,
so a :class:`~pipeline.io.outputs.watch.WriteWatch` looks, twice a second, whether the
temporary file is still there and its disk still has room, and the video sink's
``close()`` reads the finished video's frame count back from its container: a video that
does not hold every frame written is removed, never renamed.

One writer per output.  A sink holds an advisory lock (``fcntl.flock``) on
``.NAME.lock`` next to its output from ``open()`` to ``close()``/``abort()``; a second
run (or a second sink) writing the same output fails at once with "another edgepipe run
is writing OUT (pid N)" rather than replace the first run's file when it finishes.
The lock file is removed on release; a crashed run's lock is free (the kernel drops it
with the process), so a stale ``.lock`` file never blocks anything.  A lock also knows
when this process holds it, so two sinks of one run on one output are told so, whatever
the lock file holds.

What a killed run left. ``kill -9`` leaves the temporary file (and its ``.lock``) next
to the output. The writer that takes an output's lock next removes the temporaries of
that output whose writer is provably gone, and says so in one line: a plain temporary is
only ever written under the output's lock, so holding the lock proves its writer gone; a
tagged one (:func:`~pipeline.io.outputs.commit.write_atomically`'s, a batch job's
staging name) or one nested in another temporary is written without that lock, so it
goes only when the pid in its name is no live process here. The naming scheme and that
rule live in :mod:`pipeline.io.temporaries`.

The package, by job (import each name from its module):

* :mod:`~pipeline.io.outputs.locks`: :class:`OutputLock` (one writer per output) and
  :class:`FolderLock` (one job per folder);
* :mod:`~pipeline.io.outputs.watch`: :class:`WriteWatch` and :func:`free_bytes`;
* :mod:`~pipeline.io.outputs.commit`: :func:`commit` (sync and rename),
  :class:`StagedOutput` (a sink's output from lock to commit), :func:`write_atomically`;
* :mod:`~pipeline.io.outputs.folders`: checking and making folders, quiet cleanup.
"""
