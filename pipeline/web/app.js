// edgepipe live view: polls /stats, draws the last minute on a <canvas>, and sends the
// slider, the tuner switch and the pause button to POST /control.  No framework, no
// build step: this file is served as it is by the http sink.
"use strict";

(() => {
  // The token the page was opened with (?token=) is in an HttpOnly cookie by now: take it
  // out of the address bar, so it stays out of history, bookmarks and screenshots.
  if (new URLSearchParams(window.location.search).has("token")) {
    const address = new URL(window.location.href);
    address.searchParams.delete("token");
    window.history.replaceState(window.history.state, "", address.pathname + address.search + address.hash);
  }

  const POLL_MS = 500;          // how often /stats is asked
  const WINDOW_S = 60;          // what the chart shows
  const GAP_S = 1.5;            // a longer pause between samples breaks the line
  const SEND_EVERY_MS = 100;    // at most this often while the slider moves

  const $ = (id) => document.getElementById(id);
  const el = {
    state: $("state"), stream: $("stream"), fps: $("fps"), latency: $("latency"),
    drops: $("drops"), threshold: $("threshold"), frame: $("frame"), slider: $("slider"),
    mode: $("threshold-mode"), auto: $("auto"), tuner: $("tuner"), pause: $("pause"),
    message: $("message"), chart: $("chart"), objectiveNote: $("objective-note"),
  };

  let samples = [];        // {t, threshold, objective} from /stats?since=
  let lastT = -1;          // the newest sample's time on the sink's clock
  let serverTime = 0;      // the sink's clock at the last answer
  let latest = null;       // the last /stats answer
  let failures = 0;
  let sliding = false;     // the user holds the slider: do not move it under them
  let settleUntil = 0;     // ...nor right after, until the last value has reached the run

  // ------------------------------------------------------------------ numbers
  const fixed = (value, digits) => (typeof value === "number" ? value.toFixed(digits) : "–");

  function setState(text, kind) {
    el.state.textContent = text;
    el.state.className = `state ${kind}`;
  }

  function show(s) {
    latest = s;
    el.fps.textContent = fixed(s.fps, 1);
    el.latency.textContent = typeof s.latency_p95_ms === "number" ? `${s.latency_p95_ms.toFixed(0)} ms` : "–";
    el.drops.textContent = s.dropped ?? "–";
    el.threshold.textContent = fixed(s.threshold, 0);
    el.frame.textContent = s.frame && s.frame.index !== null ? String(s.frame.index) : "–";
    const manual = s.threshold_manual !== null && s.threshold_manual !== undefined;
    el.mode.textContent = manual ? "manual" : "auto";
    el.auto.disabled = !manual;
    if (!sliding && Date.now() > settleUntil) {
      const value = manual ? s.threshold_manual : s.threshold;
      if (typeof value === "number") el.slider.value = String(Math.round(value));
    }
    // Off and greyed out when no tuner runs (no --tuner, no tuner: section).
    const tunerRuns = s.tuner_available !== false;
    el.tuner.checked = tunerRuns && Boolean(s.tuner_enabled);
    el.tuner.disabled = !tunerRuns;
    el.tuner.parentElement.title = tunerRuns ? "" : "no tuner runs: add --tuner or a tuner: section";
    el.pause.textContent = s.paused ? "resume" : "pause";
    el.pause.setAttribute("aria-pressed", s.paused ? "true" : "false");
    showCanny(s);
    if (s.stopped) setState("stopped", "bad");
    else if (s.paused) setState("paused", "paused");
    else setState("live", "live");
  }

  // ------------------------------------------------------------------ canny pair
  // Two sliders, low and high, each with its own auto.  Each sends only its own value
  // ({"canny": {"low": L}}, null for automatic): the run keeps the other one, so two
  // sliders moved at once never undo each other.
  const CANNY = ["low", "high"];
  const canny = {};
  for (const name of CANNY) {
    const part = $("canny-slider").content.cloneNode(true);
    const pick = (selector, id) => {
      const node = part.querySelector(selector);
      node.id = id;
      return node;
    };
    part.querySelector("label").htmlFor = `canny-${name}`;
    part.querySelector(".name").textContent = name;
    canny[name] = {
      slider: pick("input", `canny-${name}`), value: pick(".value", `canny-${name}-value`),
      mode: pick(".mode", `canny-${name}-mode`), auto: pick("button", `canny-${name}-auto`),
      sliding: false, settleUntil: 0,
    };
    canny[name].auto.title = `${name} back to the tuner or the config's value`;
    $("canny").appendChild(part);
  }

  function sendCanny(name, value) {
    control({ canny: { [name]: value } });
  }

  function showCanny(s) {
    const used = s.canny;
    $("canny").hidden = !used;
    if (!used) return;
    const manual = s.canny_manual || {};
    for (const name of CANNY) {
      const c = canny[name];
      const hand = typeof manual[name] === "number";
      c.value.textContent = fixed(used[name], 0);
      c.mode.textContent = hand ? "manual" : "auto";
      c.auto.disabled = !hand;
      if (!c.sliding && Date.now() > c.settleUntil) {
        c.slider.value = String(Math.round(hand ? manual[name] : used[name]));
      }
    }
  }

  for (const name of CANNY) {
    const c = canny[name];
    const send = () => sendCanny(name, Number(c.slider.value));
    c.slider.addEventListener("input", () => {
      c.sliding = true;
      c.value.textContent = c.slider.value;
      c.mode.textContent = "manual";
      send();
    });
    c.slider.addEventListener("change", () => {
      send();
      c.sliding = false;
      c.settleUntil = Date.now() + 1000;
    });
    c.auto.addEventListener("click", () => sendCanny(name, null));
  }

  // ------------------------------------------------------------------ polling
  async function poll() {
    try {
      const asked = performance.timeOrigin + performance.now();
      const response = await fetch(`stats?since=${lastT}`, { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const s = await response.json();
      // The server's wall clock, for the view's capture-to-display latency (view.js).
      if (typeof s.clock_ms === "number" && window.edgepipeView) {
        window.edgepipeView.clock(asked, s.clock_ms, performance.timeOrigin + performance.now());
      }
      if (s.time < serverTime) {          // a new run on the same address: start over
        samples = [];
        lastT = -1;
      }
      if (failures > 0) reconnectStream();
      failures = 0;
      serverTime = s.time;
      for (const sample of s.history || []) samples.push(sample);
      if (samples.length) lastT = samples[samples.length - 1].t;
      samples = samples.filter((p) => p.t >= serverTime - WINDOW_S);
      show(s);
      draw();
    } catch (error) {
      failures += 1;
      setState("disconnected, retrying…", "bad");
    }
    setTimeout(poll, failures ? Math.min(5000, POLL_MS * 2 ** failures) : POLL_MS);
  }

  function reconnectStream() {  // the plain <img>, when view.js fell back to it
    if (!el.stream.hidden) el.stream.src = `stream.mjpg?t=${Date.now()}`;
  }
  el.stream.addEventListener("error", () => setTimeout(reconnectStream, 1000));

  // ------------------------------------------------------------------ controls
  // One request in flight at a time, at most one every SEND_EVERY_MS; the wishes made
  // meanwhile wait in `queued`, merged so that only the newest per key is sent.  The
  // queue is read when the next request goes out, never copied earlier: a wish made
  // while a request is on its way is never overtaken by an older one.
  let sending = false;
  let queued = null;

  // The newest wish per key; canny's values merge one level down (low and high), a
  // null canny being both values automatic.
  function merge(old, body) {
    if (!old) return { ...body };
    const merged = { ...old, ...body };
    if (body.canny && old.canny !== undefined) {
      merged.canny = { ...(old.canny === null ? { low: null, high: null } : old.canny), ...body.canny };
    }
    return merged;
  }

  function control(body) {
    queued = merge(queued, body);
    if (!sending) sendQueued();
  }

  async function sendQueued() {
    sending = true;
    while (queued) {
      const body = queued;
      queued = null;
      await post(body);
      if (queued) await new Promise((resolve) => setTimeout(resolve, SEND_EVERY_MS));
    }
    sending = false;
  }

  async function post(body) {
    try {
      const response = await fetch("control", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await response.json();
      if (!response.ok) {
        el.message.textContent = answer.error || `HTTP ${response.status}`;
      } else {
        el.message.textContent = "";
        show(answer);
      }
    } catch (error) {
      el.message.textContent = `control not sent: ${error.message}`;
    }
  }

  el.slider.addEventListener("input", () => {
    sliding = true;
    el.threshold.textContent = el.slider.value;
    el.mode.textContent = "manual";
    control({ threshold: Number(el.slider.value) });
  });
  el.slider.addEventListener("change", () => {
    control({ threshold: Number(el.slider.value) });
    sliding = false;
    settleUntil = Date.now() + 1000;
  });
  el.auto.addEventListener("click", () => control({ threshold: null }));
  el.tuner.addEventListener("change", () => control({ tuner: el.tuner.checked }));
  el.pause.addEventListener("click", () => control({ pause: !(latest && latest.paused) }));

  // ------------------------------------------------------------------ chart
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  function draw() {
    const canvas = el.chart;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);

    const pad = { left: 34, right: 54, top: 8, bottom: 20 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const x = (t) => pad.left + plotW * (1 - (serverTime - t) / WINDOW_S);

    // Grid: threshold levels on the left, seconds ago along the bottom.
    g.font = "11px system-ui, sans-serif";
    g.lineWidth = 1;
    g.strokeStyle = css("--line");
    g.fillStyle = css("--muted");
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (const level of [0, 64, 128, 192, 255]) {
      const y = pad.top + plotH * (1 - level / 255);
      g.beginPath();
      g.moveTo(pad.left, y);
      g.lineTo(pad.left + plotW, y);
      g.stroke();
      g.fillText(String(level), pad.left - 6, y);
    }
    g.textAlign = "center";
    g.textBaseline = "top";
    for (let ago = WINDOW_S; ago >= 0; ago -= 10) {
      g.fillText(ago ? `-${ago}s` : "now", pad.left + plotW * (1 - ago / WINDOW_S), pad.top + plotH + 5);
    }

    const line = (key, colour, toY) => {
      g.strokeStyle = colour;
      g.lineWidth = 2;
      g.beginPath();
      let previous = null;
      for (const p of samples) {
        const v = p[key];
        if (typeof v !== "number") { previous = null; continue; }
        const px = x(p.t);
        const py = toY(v);
        if (previous === null || p.t - previous > GAP_S) g.moveTo(px, py);
        else g.lineTo(px, py);
        previous = p.t;
      }
      g.stroke();
    };

    const level = (v) => pad.top + plotH * (1 - v / 255);
    line("threshold", css("--threshold"), level);
    // A canny stage's pair, on the same 0-255 scale.
    const pair = samples.some((p) => typeof p.high === "number");
    for (const item of document.querySelectorAll(".canny-legend")) item.hidden = !pair;
    if (pair) {
      line("low", css("--canny-low"), level);
      line("high", css("--canny-high"), level);
    }

    // The objective has its own scale (right axis), fitted to what the minute shows.
    const values = samples.map((p) => p.objective).filter((v) => typeof v === "number");
    el.objectiveNote.textContent = values.length ? "(right)" : "(none yet: no tuner running)";
    if (values.length) {
      let lo = Math.min(...values);
      let hi = Math.max(...values);
      if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
      const toY = (v) => pad.top + plotH * (1 - (v - lo) / (hi - lo));
      line("objective", css("--objective"), toY);
      g.fillStyle = css("--objective");
      g.textAlign = "left";
      g.textBaseline = "middle";
      for (const v of [lo, (lo + hi) / 2, hi]) g.fillText(v.toPrecision(3), pad.left + plotW + 6, toY(v));
    }
  }

  window.addEventListener("resize", draw);
  poll();
})();
