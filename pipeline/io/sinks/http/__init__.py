"""The ``http`` sink: the live picture, its numbers and its controls in a browser.

For boxes without a screen::

    sinks:
      - http: {host: 127.0.0.1, port: 8080, quality: 80, max_fps: 30, view: h264, bitrate: 2000000}

================  ========================================================================
``GET /``         one small page (``pipeline/web``: plain HTML, CSS and JavaScript, no
                  build step): the stream, fps, latency p95, drops, threshold, a chart of
                  the tuner's objective and threshold over the last minute, a threshold
                  slider, low and high sliders for a canny stage (each with auto), a
                  tuner switch and a pause button
``GET /stream.mjpg``  the newest picture as MJPEG (``multipart/x-mixed-replace``; each
                  part carries ``X-Frame-Index`` and ``X-Capture-Time``, ms on the
                  server's wall clock)
``GET /view.ws``  the H.264 view: a WebSocket of encoded chunks (:mod:`.view`), which
                  the page decodes with WebCodecs; the page falls back to MJPEG where the
                  browser has no ``VideoDecoder`` (or with ``view: mjpeg``)
``GET /stats``    the live stats as JSON; ``/stats?since=T`` adds the samples taken after
                  ``T`` (seconds on the sink's clock, ``time`` in every answer)
``POST /control`` JSON ``{"threshold": 0..255 or null, "tuner": bool, "pause": bool,
                  "canny": {"low": 0..255 or null, "high": ...} or null}`` (canny: the
                  values named; null both automatic),
                  any subset; anything wrong is a 400 naming the key, and nothing changes
                  (``"tuner": true`` in a run without a tuner: 409)
================  ========================================================================

The H.264 view is encoded once for every viewer too (:mod:`.feed`: one libx264 encoder
in its own thread, at most ``bitrate`` bits a second); each viewer gets consecutive chunks
while it keeps up, and skips to the next keyframe (asking for one) when it falls behind
or joins.  ``?size=tile`` on ``/view.ws`` and ``/stream.mjpg`` asks for the pictures
scaled to ``tile_width`` (the grid's tiles: a second encoder at a bitrate in proportion);
each size is encoded only while watched.  See docs/browser-view.md for the design and the
measured figures.

One picture, many viewers. :meth:`.sink.HttpSink.write` encodes the frame to JPEG once
(at most ``max_fps`` times a second, and only while someone watches) and publishes it in
a :class:`.broadcast.LatestFrame` under a new sequence number. Each viewer's thread
waits on its condition for a number newer than the one it sent last and sends the newest
picture: nothing is queued, so a slow viewer skips pictures and never holds up the
pipeline or the other viewers. Every connection has a socket timeout
(:data:`.server.CLIENT_TIMEOUT`), so a viewer that stops reading frees its thread;
:meth:`.sink.HttpSink.close` shuts every connection down at once and joins the threads.

Why :class:`http.server.ThreadingHTTPServer`: it is in the standard library (no
dependency for a feature many installs never use), a thread per connection is exactly
the model of "each viewer at its own pace", and a handful of viewers on a headless box
is far below where an asynchronous server would pay off.  The heavy work (the JPEG
encode) happens once per picture in the sink's thread, not per viewer.

Security: the sink binds ``127.0.0.1`` unless the config names another address.

* Bound to anything but loopback, every route needs a token, as Jupyter does: the
  config's ``token``, else one generated per run (:func:`secrets.token_urlsafe`), logged
  once as ``http://HOST:PORT/?token=...``.  A request carries it as the ``token`` query
  parameter (the answer then sets an HttpOnly, SameSite=Strict cookie, so the page's own
  requests carry it), as that cookie, or as ``Authorization: Bearer TOKEN`` (scripts).
  Without a valid one every route answers 401 with only an error message: nothing of
  the stream, the stats or the controls.  Tokens are compared in constant time
  (:func:`hmac.compare_digest`).  On loopback no token is needed unless one is configured.
* While bound to a loopback address, requests must name a loopback host
  (``Host: localhost:8080``, ``127.0.0.1``, ``[::1]``), which stops DNS-rebinding pages.
* Nothing a client does before its token is checked can hold resources for long: a
  request's line and headers must arrive complete within ``request_timeout`` seconds
  of its start, whatever the pace (one header line every few seconds does not keep a
  connection open), and at most ``max_connections`` connections are served at once.  A
  connection beyond the cap takes the place of the oldest one still waiting for its
  request, else it is closed at once, so a flood can neither exhaust threads and file
  descriptors nor lock out a viewer already watching.
* ``GET /view.ws`` from a browser must come from this server's own page (its ``Origin``
  names the host it asked): a WebSocket is not bound by the same-origin policy, so any
  site could otherwise read the view through a browser on this machine.
* ``POST /control`` needs ``Content-Type: application/json``, which a cross-site form
  cannot send without a CORS preflight that this server never grants; its body is at
  most :data:`.control.MAX_CONTROL_BYTES` and nested at most
  :data:`.control.MAX_CONTROL_DEPTH` deep.

The package, by job:

* :mod:`~pipeline.io.sinks.http.sink`: the registered ``http`` sink
  (:class:`~pipeline.io.sinks.http.sink.HttpSink`): its settings, open, write, close
  and the body of ``/stats``;
* :mod:`~pipeline.io.sinks.http.broadcast`: the newest picture shared by every viewer
  (``LatestFrame``) and the last minute of samples (``History``);
* :mod:`~pipeline.io.sinks.http.server`: the server (connections, their cap and
  deadlines) and the request handler (routing, the page, the stream, the stats);
* :mod:`~pipeline.io.sinks.http.auth`: the token, the ``Host`` check, the addresses;
* :mod:`~pipeline.io.sinks.http.control`: ``POST /control``, checked whole, then applied;
* :mod:`~pipeline.io.sinks.http.feed`: the H.264 view's shared encoder (full size, or
  scaled to a tile), its chunks and each viewer's cursor (in flight, skip to a keyframe);
* :mod:`~pipeline.io.sinks.http.view`: ``GET /view.ws``, one viewer per connection;
* :mod:`~pipeline.io.sinks.http.websocket`: the WebSocket handshake and frames (RFC 6455);
* :mod:`~pipeline.io.sinks.http.streams`: one server for every stream of a ``sources:``
  run: a channel per stream, the grid page, ``/streams``, ``/streams/NAME/...``, and
  ``POST /control`` by name, adding and removing streams.
"""
