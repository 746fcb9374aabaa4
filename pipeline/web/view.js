// edgepipe live view: the picture, and its own numbers (capture-to-display latency, the
// bitrate received, pictures shown).  H.264 over a WebSocket (view.ws), decoded with
// WebCodecs onto the canvas; where the browser has no VideoDecoder (or ?view=mjpeg), the
// MJPEG stream read with fetch and drawn on the same canvas; where even that is missing,
// the plain <img>.  The newest picture wins: what arrives while the page is busy is
// dropped until the next keyframe, and the server is told so.
//
// window.edgepipePlayer(canvas, img, base, mode, size) starts one such view of the stream
// whose routes are under `base` ("" or "streams/NAME/"): the single page makes one (its
// window.edgepipeView), the grid page (grid.js) one per tile, with size "tile": pictures
// scaled down by the server to the sink's tile_width (view.ws?size=tile), not full size.
"use strict";

(() => {
  const WINDOW_MS = 1000;       // what the numbers are over
  const PING_MS = 1000;         // clock pings on the WebSocket
  const MAX_QUEUE = 2;          // decodes waiting before the page drops to a keyframe
  const HEADER = 24;            // a chunk's header (pipeline/io/sinks/http/feed.py)
  const now = () => performance.timeOrigin + performance.now();  // ms on the wall clock

  function player(canvas, img, base, wanted, size) {
    const g = canvas.getContext("2d");
    const dir = location.pathname.replace(/[^/]*$/, "") + base;  // where this stream's routes are
    const sized = size === "tile" ? "size=tile" : "";  // the query that asks for a tile's pictures

    // What the tests and scripts/bench_view.py read (window.edgepipeView, a tile's .view).
    const view = {
      transport: null, reason: "", shown: 0, bytes: 0, chunks: 0, keyframes: 0, dropped: 0,
      decodeErrors: 0, width: 0, height: 0, index: null,
      latencies: [],              // every [display time, ms] (the last 4000), for the benchmark
      offset: null,               // server clock - page clock (ms), from the best round trip
    };
    let stopped = false;          // view.stop(): a tile left the grid
    let socket = null;
    let reader = null;
    let clockSamples = [];        // [round trip, offset] of recent pings
    const recent = { shown: [], bytes: [] };  // [time, value] over the last WINDOW_MS

    // ------------------------------------------------------------------ numbers
    // Offsets from the pings with the smallest round trip are the least skewed by queueing.
    view.clock = (sent, serverMs, received) => {
      clockSamples.push([received - sent, serverMs - (sent + received) / 2]);
      clockSamples = clockSamples.slice(-20);
      view.offset = clockSamples.reduce((best, s) => (s[0] < best[0] ? s : best))[1];
    };

    function trim(list, t) {
      while (list.length && list[0][0] < t - WINDOW_MS) list.shift();
    }

    function received(bytes) {
      view.bytes += bytes;
      view.chunks += 1;
      recent.bytes.push([now(), bytes]);
    }

    function shown(captureMs, index, width, height) {
      const t = now();
      view.shown += 1;
      view.index = index;
      view.width = width;
      view.height = height;
      recent.shown.push([t, 1]);
      if (view.offset !== null && captureMs > 0) {
        view.latencies.push([t, t - (captureMs - view.offset)]);
        if (view.latencies.length > 4000) view.latencies.splice(0, 1000);
      }
    }

    function quantile(sorted, q) {
      return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null;
    }

    view.numbers = () => {
      const t = now();
      trim(recent.shown, t);
      trim(recent.bytes, t);
      const last = view.latencies.filter((p) => p[0] >= t - WINDOW_MS).map((p) => p[1]).sort((a, b) => a - b);
      return {
        transport: view.transport,
        fps: recent.shown.length * 1000 / WINDOW_MS,
        mbps: recent.bytes.reduce((sum, p) => sum + p[1], 0) * 8 / 1e6 * 1000 / WINDOW_MS,
        p50: quantile(last, 0.5), p95: quantile(last, 0.95),
      };
    };

    function draw(source, width, height) {
      if (canvas.width !== width || canvas.height !== height) {
        canvas.width = width;
        canvas.height = height;
      }
      g.drawImage(source, 0, 0);
    }

    // ------------------------------------------------------------------ H.264 + WebCodecs
    function startH264() {
      if (stopped) return;
      view.transport = "h264";
      const ws = socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${dir}view.ws${sized ? `?${sized}` : ""}`);
      ws.binaryType = "arraybuffer";
      const meta = new Map();     // seq -> [capture ms, frame index]
      let decoder = null;
      let config = null;
      let waitKey = true;
      let pictures = 0;
      let pinger = null;

      const send = (message) => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message)); };
      const askKeyframe = () => { waitKey = true; send({ keyframe: true }); };

      function makeDecoder() {
        decoder = new VideoDecoder({
          output: (frame) => {
            const seq = frame.timestamp;
            // The chunk's own size: the encoder pads odd sizes by a row or column.
            const m = meta.get(seq) || [0, null, frame.displayWidth, frame.displayHeight];
            meta.delete(seq);
            draw(frame, m[2], m[3]);
            shown(m[0], m[1], m[2], m[3]);
            frame.close();
            pictures += 1;
            send({ ack: seq });
          },
          error: () => {
            view.decodeErrors += 1;
            makeDecoder();
            askKeyframe();
          },
        });
        if (config) decoder.configure(config);
      }

      ws.onopen = () => {
        const ping = () => send({ ping: now() });
        ping();
        pinger = setInterval(ping, PING_MS);
      };
      ws.onmessage = (event) => {
        if (typeof event.data === "string") {
          const message = JSON.parse(event.data);
          if (message.type === "pong") view.clock(message.ping, message.server, now());
          if (message.type === "config") {
            config = { codec: message.codec, codedWidth: message.width, codedHeight: message.height,
                       optimizeForLatency: true };
            makeDecoder();
            waitKey = true;
          }
          return;
        }
        const data = event.data;
        const head = new DataView(data, 0, HEADER);
        const key = (head.getUint8(1) & 1) === 1;
        const seq = head.getUint32(8, true);
        received(data.byteLength);
        if (key) view.keyframes += 1;
        // Newest wins: behind a keyframe, or with decodes piling up, drop to the next keyframe.
        if (!decoder || (waitKey && !key) || decoder.decodeQueueSize > MAX_QUEUE) {
          view.dropped += 1;
          send({ ack: seq });
          if (decoder && !waitKey) askKeyframe();
          return;
        }
        waitKey = false;
        meta.set(seq, [head.getFloat64(16, true), head.getUint32(12, true),
                       head.getUint16(2, true), head.getUint16(4, true)]);
        if (meta.size > 64) meta.delete(meta.keys().next().value);
        decoder.decode(new EncodedVideoChunk({ type: key ? "key" : "delta", timestamp: seq,
                                               data: new Uint8Array(data, HEADER) }));
      };
      ws.onclose = () => {
        clearInterval(pinger);
        if (decoder && decoder.state !== "closed") decoder.close();
        // Refused or broken before any picture: this server or browser cannot; MJPEG does.
        if (pictures === 0) startMjpeg("the h264 view did not start");
        else setTimeout(startH264, 1000);  // the run ended or restarted
      };
    }

    // ------------------------------------------------------------------ MJPEG
    const CRLF2 = [13, 10, 13, 10];

    function find(buffer, pattern) {
      outer: for (let i = 0; i + pattern.length <= buffer.length; i++) {
        for (let j = 0; j < pattern.length; j++) if (buffer[i + j] !== pattern[j]) continue outer;
        return i;
      }
      return -1;
    }

    async function startMjpeg(reason) {
      if (stopped) return;
      view.transport = "mjpeg";
      view.reason = reason || "";
      if (!window.ReadableStream || !window.createImageBitmap) {  // the picture alone
        canvas.hidden = true;
        img.hidden = false;
        img.src = `${dir}stream.mjpg${sized ? `?${sized}` : ""}`;
        return;
      }
      let busy = false;
      let next = null;            // the newest picture waiting while one is decoded
      const decode = async () => {
        while (next) {
          const [blob, capture, index] = next;
          next = null;
          try {
            const bitmap = await createImageBitmap(blob);
            draw(bitmap, bitmap.width, bitmap.height);
            shown(capture, index, bitmap.width, bitmap.height);
            bitmap.close();
          } catch (error) {
            view.decodeErrors += 1;
          }
        }
        busy = false;
      };
      try {
        const response = await fetch(`${dir}stream.mjpg?t=${Date.now()}${sized ? `&${sized}` : ""}`, { cache: "no-store" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        reader = response.body.getReader();
        let buffer = new Uint8Array(0);
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          received(value.length);
          const joined = new Uint8Array(buffer.length + value.length);
          joined.set(buffer);
          joined.set(value, buffer.length);
          buffer = joined;
          for (;;) {
            const end = find(buffer.subarray(0, 512), CRLF2);
            if (end < 0) break;
            const head = new TextDecoder().decode(buffer.subarray(0, end));
            const length = Number((/Content-Length:\s*(\d+)/i.exec(head) || [])[1]);
            if (!(length >= 0)) { buffer = buffer.subarray(end + 4); continue; }  // the first boundary
            if (buffer.length < end + 4 + length) break;
            const capture = Number((/X-Capture-Time:\s*([\d.]+)/i.exec(head) || [])[1]) || 0;
            const index = Number((/X-Frame-Index:\s*(\d+)/i.exec(head) || [])[1]);
            if (next) view.dropped += 1;
            next = [new Blob([buffer.slice(end + 4, end + 4 + length)], { type: "image/jpeg" }), capture, index];
            buffer = buffer.subarray(end + 4 + length);
            if (!busy) { busy = true; decode(); }
          }
        }
      } catch (error) {
        view.reason = `mjpeg: ${error.message}`;
      }
      setTimeout(() => startMjpeg(reason), 1000);  // the stream ended: the run restarted or stopped
    }

    view.stop = () => {
      stopped = true;
      if (socket) socket.close();
      if (reader) reader.cancel().catch(() => {});
      if (!img.hidden) img.removeAttribute("src");
    };

    if (wanted === "mjpeg") startMjpeg("asked for (?view=mjpeg)");
    else if (typeof window.VideoDecoder !== "function") startMjpeg("this browser has no VideoDecoder (WebCodecs)");
    else startH264();
    return view;
  }

  window.edgepipePlayer = player;
  const $ = (id) => document.getElementById(id);
  if (!$("video")) return;  // the grid page: grid.js makes a player per tile

  // ------------------------------------------------------------------ on the page
  const view = player($("video"), $("stream"), "", new URLSearchParams(location.search).get("view"));
  window.edgepipeView = view;
  const ms = (v) => (v === null ? "–" : `${v.toFixed(0)}`);
  setInterval(() => {
    const n = view.numbers();
    $("view-transport").textContent = n.transport || "–";
    $("view-transport").title = view.reason;
    $("view-fps").textContent = n.fps.toFixed(0);
    $("view-latency").textContent = n.p50 === null ? "–" : `${ms(n.p50)} / ${ms(n.p95)} ms`;
    $("view-rate").textContent = `${n.mbps.toFixed(2)} Mbps`;
  }, 250);
})();
