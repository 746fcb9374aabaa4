// edgepipe's grid of streams: one tile per stream of a several-stream run (GET /streams,
// polled), each with its name, its picture (view.js's player on /streams/NAME/, asking
// for tile-sized pictures: the server scales them to its tile_width before encoding, so a
// grid of 720p streams costs far less than full-size encodes) and its numbers.  A click on a tile enlarges it: the stream's own page (/streams/NAME/, the
// single-stream page with its controls) over the grid; the bar above it, or Esc, goes
// back.  No framework, no build step.
"use strict";

(() => {
  if (new URLSearchParams(window.location.search).has("token")) {  // as app.js: out of the address bar
    const address = new URL(window.location.href);
    address.searchParams.delete("token");
    window.history.replaceState(window.history.state, "", address.pathname + address.search + address.hash);
  }

  const POLL_MS = 500;
  const MAX_TILES = 16;
  // MJPEG pictures are long requests, and a browser opens at most six at once per host:
  // past four MJPEG tiles, /streams and the enlarged page would wait behind them.  H.264
  // tiles use WebSockets, which do not count.
  const MAX_MJPEG_TILES = 4;
  const mjpeg = () => wanted === "mjpeg" || typeof window.VideoDecoder !== "function";
  const $ = (id) => document.getElementById(id);
  const grid = $("grid");
  const wanted = new URLSearchParams(location.search).get("view");
  const tiles = new Map();      // name -> {node, view, el}
  let mjpegTiles = 0;           // tiles given an MJPEG picture so far
  let enlarged = null;
  let failures = 0;

  // What the tests read: each tile's player (shown pictures) and how often the list came.
  window.edgepipeGrid = { tiles, polls: 0 };

  const fixed = (value, digits) => (typeof value === "number" ? value.toFixed(digits) : "–");
  const route = (name) => `streams/${encodeURIComponent(name)}/`;

  function setState(text, kind) {
    $("state").textContent = text;
    $("state").className = `state ${kind}`;
  }

  function makeTile(name) {
    const node = $("tile").content.firstElementChild.cloneNode(true);
    const pick = (selector) => node.querySelector(selector);
    node.dataset.name = name;
    pick(".name").textContent = name;
    const el = {
      state: pick(".tile-state"), fps: pick(".fps"), age: pick(".age"), drops: pick(".drops"),
      reconnects: pick(".reconnects"), frame: pick(".frame"), error: pick(".tile-error"),
    };
    const [canvas, img] = node.querySelectorAll(".picture");
    canvas.setAttribute("aria-label", `edge map of ${name}`);
    node.addEventListener("click", () => enlarge(name));
    node.addEventListener("keydown", (event) => { if (event.key === "Enter") enlarge(name); });
    grid.appendChild(node);
    let view;
    const usesMjpeg = mjpeg() && mjpegTiles < MAX_MJPEG_TILES;
    if (mjpeg() && !usesMjpeg) {  // numbers only; a click shows the picture
      view = { shown: 0, width: 0, transport: null, stop: () => {} };
      el.error.textContent = `no picture here: this browser streams MJPEG to ${MAX_MJPEG_TILES} tiles at most; click to see it`;
      canvas.hidden = true;
    } else {
      if (usesMjpeg) mjpegTiles += 1;
      view = window.edgepipePlayer(canvas, img, route(name), wanted, "tile");  // scaled by the server
    }
    return { node, el, view, ended: false, usesMjpeg };
  }

  function stopPicture(tile) {  // its MJPEG request, if any, frees a place for a new tile
    tile.view.stop();
    if (tile.usesMjpeg) {
      tile.usesMjpeg = false;
      mjpegTiles -= 1;
    }
  }

  function showTile(tile, s) {
    const { el } = tile;
    el.state.textContent = s.state;
    el.state.className = `tile-state state ${s.running ? (s.paused ? "paused" : "live") : "bad"}`;
    el.fps.textContent = fixed(s.fps, 1);
    const age = s.frame_age_ms || {};
    el.age.textContent = typeof age.p50 === "number" ? `${age.p50.toFixed(1)} / ${age.p95.toFixed(1)} ms` : "–";
    el.drops.textContent = String(s.dropped);
    el.reconnects.textContent = String(s.reconnects);
    el.frame.textContent = s.frame ? String(s.frame.index) : "–";
    if (s.last_error || tile.view.transport !== null) el.error.textContent = s.last_error || "";
    if (!s.running && s.stop_reason && !tile.ended) {  // it ended: its picture stays as it was
      tile.ended = true;
      tile.node.classList.add("ended");
      stopPicture(tile);
    }
  }

  function layout() {
    const columns = Math.max(1, Math.ceil(Math.sqrt(tiles.size)));
    grid.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
    grid.style.setProperty("--rows", String(Math.max(1, Math.ceil(tiles.size / columns))));
    grid.dataset.columns = String(columns);
  }

  async function poll() {
    try {
      const response = await fetch("streams", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const listing = await response.json();
      const shown = listing.streams.slice(0, MAX_TILES);
      const names = new Set(shown.map((s) => s.name));
      for (const [name, tile] of tiles) {  // removed streams leave the grid
        if (!names.has(name)) {
          stopPicture(tile);
          tile.node.remove();
          tiles.delete(name);
          if (enlarged === name) back();
        }
      }
      for (const s of shown) {
        if (!tiles.has(s.name)) tiles.set(s.name, makeTile(s.name));
        showTile(tiles.get(s.name), s);
      }
      layout();
      const more = listing.streams.length - shown.length;
      $("count").textContent = `${listing.streams.length} stream${listing.streams.length === 1 ? "" : "s"}`
        + (more > 0 ? ` (the first ${MAX_TILES} shown)` : "");
      const running = listing.streams.filter((s) => s.running).length;
      setState(running ? "live" : "every stream has ended", running ? "live" : "bad");
      failures = 0;
      window.edgepipeGrid.polls += 1;
    } catch (error) {
      failures += 1;
      setState("disconnected, retrying…", "bad");
    }
    setTimeout(poll, failures ? Math.min(5000, POLL_MS * 2 ** failures) : POLL_MS);
  }

  // ------------------------------------------------------------------ one stream, enlarged
  const frame = $("enlarged-page");

  function enlarge(name) {
    enlarged = name;
    $("enlarged-name").textContent = name;
    frame.src = route(name);
    $("enlarged").hidden = false;
  }

  function back() {
    if (enlarged === null) return;
    const name = enlarged;
    enlarged = null;
    $("enlarged").hidden = true;
    frame.src = "about:blank";  // its viewers and polling end
    const tile = tiles.get(name);
    if (tile) tile.node.focus();
  }

  const escape = (event) => { if (event.key === "Escape") back(); };
  document.addEventListener("keydown", escape);
  frame.addEventListener("load", () => {  // Esc while the enlarged page has the focus
    try { frame.contentWindow.addEventListener("keydown", escape); } catch (error) { /* about:blank */ }
  });
  $("back").addEventListener("click", (event) => { event.stopPropagation(); back(); });
  document.querySelector(".enlarged-bar").addEventListener("click", back);

  poll();
})();
