// emorec page: upload an image or use the webcam, and draw the faces found and their emotions over it.
// Two modes ("Runs in"): the server (each image or frame goes to POST /v1/analyze) or this browser (YuNet and
// the emotion model run here with ONNX Runtime Web, browser.js + engine.js; nothing is sent anywhere).
// `/?run=browser` (or `?run=server`) opens the page in that mode with the webcam on. On a static site built
// by `emorec web` (no server) only the in-browser mode exists. No build step. `window.emorec` exposes the
// page's state: mode, runsIn, fps, lastResult (POST /v1/analyze's JSON in both modes), ... (used by the tests).
// The facts emorec's Python code defines come from the site's manifest, models/index.json, in both modes (the
// server answers it at /models/index.json): the colour of each emotion (emorec.drawing's palette, the one of
// the annotated images) and its other spellings, the accepted upload types, the detector's and the webcam
// tracker's settings (browser.js, engine.js).
"use strict";

const PARAMS = new URLSearchParams(location.search);
const SERVER_FPS = 4;          // server mode: frames sent per second at most (one request in flight at a time)
const CAMERA_MAX_WIDTH = 640;  // server mode: frames are scaled down to this before upload
const FPS_WINDOW_MS = 3000;    // window.emorec.fps: frames analysed per second over the last 3 seconds
// ?max_fps=N caps the frames analysed per second in either mode (0: as fast as frames come); ?threads=N
// sets ONNX Runtime Web's WebAssembly threads (default: its own choice; 1 unless cross-origin isolated)
const MAX_FPS = PARAMS.has("max_fps") ? Math.max(0, Number(PARAMS.get("max_fps")) || 0) : null;
const THREADS = Math.max(0, Math.floor(Number(PARAMS.get("threads")) || 0)) || null;
// ?detect_every=N: in-browser webcam, a full-frame search every N frames, a search around each face between
// (default: the manifest's tracking.detect_every, emorec.tracking's DETECT_EVERY; 1: the whole frame every time)
const DETECT_EVERY_ASKED = Math.floor(Number(PARAMS.get("detect_every")));
const DETECT_EVERY = DETECT_EVERY_ASKED >= 1 ? DETECT_EVERY_ASKED : null;
const PRIVACY = {
  server: "Images are analysed by this server only and not stored.",
  browser: "Images and webcam frames are analysed in this browser: none is sent anywhere.",
};

const $ = (id) => document.getElementById(id);
const el = {
  runsIn: $("runs-in"), model: $("model"), flip: $("flip"), minConfidence: $("min-confidence"), camera: $("camera"),
  file: $("file"), drop: $("drop"), error: $("error"), notice: $("notice"), stage: $("stage"), photo: $("photo"),
  video: $("video"), overlay: $("overlay"), status: $("status"), faces: $("faces"), limits: $("limits"),
  privacy: $("privacy"), api: $("api"), serverLinks: $("server-links"),
};

const state = window.emorec = {
  mode: "idle",        // idle | photo | camera
  runsIn: "server",    // server | browser: where images and frames are analysed
  fps: 0,              // camera: frames analysed per second over the last 3 seconds
  lastResult: null,    // last result, the JSON shape of POST /v1/analyze in both modes
  lastError: null,     // last {status, error, detail}
  frames: 0,           // camera frames analysed
  inFlight: 0, maxInFlight: 0,
  boxes: [],           // camera: first box of each analysed frame (the last 100)
  file: null,          // the uploaded File (re-analysed when the options change)
  site: null,          // models/index.json: the models and detector the in-browser mode runs
  server: false,       // whether an emorec server answers beside the page
  browser: { ready: false, loading: false, error: null },  // the in-browser runtime: threads, version, loadMs, ...
  engine: null,        // the in-browser runtime (EmorecBrowser.BrowserRuntime) once loaded
  firstResultMs: null, // performance.now() when the first result was shown (ms after navigation start)
};

// the colour of an emotion: the manifest's (emorec.drawing.EMOTION_COLORS as CSS), by its common name (the
// manifest's synonyms: FER+'s 'happiness' is 'happy'); other names get its fallback colour. Without a manifest
// (a server that serves none) every face gets the page's accent colour.
const colorOf = (emotion) => {
  const site = state.site || {}, colors = site.colors || {}, synonyms = site.synonyms || {};
  const key = String(emotion).trim().toLowerCase();
  return colors[synonyms[key] || key] || site.fallback_color ||
    getComputedStyle(document.documentElement).getPropertyValue("--accent").trim();
};
// black or white, whichever reads better on a "#rrggbb" colour (WCAG contrast)
const inkOn = (hex) => {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return "#fff";
  const lin = (c) => { const v = parseInt(c, 16) / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = 0.2126 * lin(m[1]) + 0.7152 * lin(m[2]) + 0.0722 * lin(m[3]);
  return (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) ? "#000" : "#fff";
};
const pct = (p) => `${Math.round(p * 100)}%`;
// a face's label: its emotion, or "unsure" where the server withheld it (emotion null: below min_confidence)
const labelOf = (face) => face.emotion ?? "unsure";
const topOf = (face) => Math.max(...Object.values(face.scores));

function showError(msg) {
  el.error.textContent = msg;
  el.error.hidden = !msg;
}

function showNotice(msg) {
  el.notice.textContent = msg;
  el.notice.hidden = !msg;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const options = () => ({
  model: el.model.value, flip: el.flip.checked,
  minConfidence: Math.min(1, Math.max(0, Number(el.minConfidence.value) || 0)),
});

// ------------------------------------------------------------------ talking to the server
async function analyze(blob, filename) {
  const form = new FormData();
  form.append("file", blob, filename);
  const opts = options();
  const query = new URLSearchParams({ model: opts.model, flip: opts.flip ? "true" : "false",
    min_confidence: String(opts.minConfidence) });
  state.inFlight++;
  state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
  let resp;
  try {
    resp = await fetch(`v1/analyze?${query}`, { method: "POST", body: form });
  } catch (e) {
    throw Object.assign(new Error("Cannot reach the emorec server (is `emorec serve` still running?)"), { status: 0 });
  } finally {
    state.inFlight--;
  }
  let body = null;
  try { body = await resp.json(); } catch (e) { /* not JSON */ }
  if (!resp.ok) {
    const detail = body && (body.detail || body.error) || `${resp.status} ${resp.statusText}`;
    state.lastError = { status: resp.status, error: body && body.error, detail };
    throw Object.assign(new Error(typeof detail === "string" ? detail : JSON.stringify(detail)),
      { status: resp.status, code: body && body.error });
  }
  state.lastError = null;
  return body;
}

// ------------------------------------------------------------------ analysing in this browser
let runtimePromise = null;

/** The in-browser runtime, loaded once (ONNX Runtime Web, YuNet, the default model). */
function browserRuntime() {
  if (!runtimePromise) {
    if (!state.site) return Promise.reject(new Error("this site does not describe its models (models/index.json)"));
    state.browser.loading = true;
    const rt = new window.EmorecBrowser.BrowserRuntime(state.site, document.baseURI);
    runtimePromise = rt.init({ threads: THREADS, model: el.model.value || state.site.default }).then(() => {
      Object.assign(state.browser, rt.info, { ready: true, loading: false, error: rt.problem || null });
      state.engine = rt;
      if (rt.problem) showNotice(`In-browser mode cannot find faces: ${rt.problem}`);
      return rt;
    }, (e) => {
      Object.assign(state.browser, { ready: false, loading: false, error: e.message });
      runtimePromise = null;  // a later try may work (a file supplied meanwhile)
      throw e;
    });
  }
  return runtimePromise;
}

/** Analyse RGBA pixels in this browser; the result has POST /v1/analyze's JSON shape. */
async function analyzeHere(pixels, width, height, file, format, tracker = null) {
  const rt = await browserRuntime();
  if (rt.problem) throw Object.assign(new Error(`in-browser mode cannot find faces: ${rt.problem}`), { status: 0 });
  const opts = options(), t0 = performance.now();
  state.inFlight++;
  state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
  try {
    const rgba = typeof pixels === "function" ? pixels() : pixels;
    const { faces } = await rt.analyze(rgba, width, height, { ...opts, tracker });
    state.lastError = null;
    return { file, format, model: opts.model, detector: "yunet", flip: opts.flip, min_confidence: opts.minConfidence,
      width, height, faces, elapsed_ms: Math.round((performance.now() - t0) * 10) / 10 };
  } finally {
    state.inFlight--;
  }
}

async function analyzePhotoHere(file) {
  let img;
  try {
    img = await window.EmorecBrowser.decodeImage(file);
  } catch (e) {
    state.lastError = { status: e.status || 415, error: "unsupported_type", detail: e.message };
    throw e;
  }
  return analyzeHere(img.rgba, img.width, img.height, file.name || "image", file.type || "image");
}

// ------------------------------------------------------------------ drawing
function mediaElement() { return state.mode === "camera" ? el.video : el.photo; }

function sizeOverlay() {
  const media = mediaElement();
  const w = media.clientWidth, h = media.clientHeight, dpr = window.devicePixelRatio || 1;
  const c = el.overlay;
  c.style.width = `${w}px`; c.style.height = `${h}px`;
  c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
  const ctx = c.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, w, h };
}

function roundRect(ctx, x, y, w, h, r) {
  ctx.beginPath();
  ctx.moveTo(x + r, y); ctx.arcTo(x + w, y, x + w, y + h, r); ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r); ctx.arcTo(x, y, x + w, y, r); ctx.closePath();
}

function drawResult(result) {
  const { ctx, w, h } = sizeOverlay();
  ctx.clearRect(0, 0, w, h);
  if (!result || !result.width) return;
  const s = w / result.width;
  const mirrored = state.mode === "camera";   // the webcam preview is shown mirrored, like a mirror
  const compact = result.faces.length > 3 || w < 420;
  // every box with its tag; a panel per face where it covers no box, tag or other panel
  const placed = result.faces.map((f) => {
    const [x, y, bw, bh] = f.box.map((v) => v * s);
    return [mirrored ? w - x - bw : x, y - 20, bw, bh + 20];
  });
  const panels = [];
  result.faces.forEach((face, i) => {
    let [x, y, bw, bh] = face.box.map((v) => v * s);
    if (mirrored) x = w - x - bw;
    const color = colorOf(labelOf(face));
    ctx.lineWidth = Math.max(2, Math.min(4, bw / 40));
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, bw, bh);

    // label tag above the box (inside it when there is no room above)
    const label = `${result.faces.length > 1 ? `${i + 1}. ` : ""}${labelOf(face)} ${pct(topOf(face))}`;
    ctx.font = "600 14px system-ui, sans-serif";
    const tw = ctx.measureText(label).width + 10, th = 20;
    const ty = y - th >= 0 ? y - th : y;
    ctx.fillStyle = color;
    ctx.fillRect(x - ctx.lineWidth / 2, ty, tw, th);
    ctx.fillStyle = inkOn(color);
    ctx.textBaseline = "middle";
    ctx.fillText(label, x + 5 - ctx.lineWidth / 2, ty + th / 2 + 1);
    if (compact) return;

    // probability bars beside the box: right if there is room, else left, else under it
    const entries = Object.entries(face.scores);
    const pw = 150, row = 15, ph = entries.length * row + 8;
    const clampY = (v) => Math.max(0, Math.min(v, h - ph));
    const spots = [[x + bw + 6, clampY(y)], [x - pw - 6, clampY(y)],
      [Math.max(0, Math.min(x, w - pw)), clampY(y + bh + 6)]];
    const hits = (a, b) => a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3];
    const free = ([sx, sy], others) => sx >= 0 && sx + pw <= w && !others.some((r) => hits([sx, sy, pw, ph], r));
    let spot = spots.find((p) => free(p, placed.concat(panels)));
    if (!spot && bw > pw + 8 && bh > ph + 8) {  // a big face: inside its own box, bottom right
      const inside = [x + bw - pw - 4, clampY(y + bh - ph - 4)];
      if (free(inside, panels.concat(placed.filter((_, k) => k !== i)))) spot = inside;
    }
    if (!spot) return;  // no free room: this face's bars are in the list under the image
    const [px, py] = spot;
    panels.push([px, py, pw, ph]);
    ctx.fillStyle = "rgba(255,255,255,0.88)";
    roundRect(ctx, px, py, pw, ph, 5); ctx.fill();
    ctx.font = "11px system-ui, sans-serif";
    entries.forEach(([name, p], k) => {
      const ry = py + 4 + k * row;
      ctx.fillStyle = "#1d2430";
      ctx.fillText(name, px + 5, ry + row / 2);
      ctx.fillStyle = "#e3e7ee";
      ctx.fillRect(px + 62, ry + 4, 58, row - 8);
      ctx.fillStyle = colorOf(name);
      ctx.fillRect(px + 62, ry + 4, 58 * p, row - 8);
      ctx.fillStyle = "#5d6878";
      ctx.fillText(pct(p), px + 124, ry + row / 2);
    });
  });
}

function listFaces(result) {
  el.faces.replaceChildren(...result.faces.map((face, i) => {
    const li = document.createElement("li");
    li.className = "face";
    li.dataset.emotion = labelOf(face);
    li.dataset.box = face.box.join(",");
    li.style.setProperty("--c", colorOf(labelOf(face)));
    const title = document.createElement("span");
    title.className = "face-label";
    title.textContent = `Face ${i + 1}: ${labelOf(face)} (${pct(topOf(face))})`;
    li.append(title);
    for (const [name, p] of Object.entries(face.scores).sort((a, b) => b[1] - a[1])) {
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.setProperty("--c", colorOf(name));
      bar.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>';
      bar.querySelector(".name").textContent = name;
      bar.querySelector(".fill").style.width = pct(p);
      bar.querySelector(".pct").textContent = pct(p);
      li.append(bar);
    }
    return li;
  }));
}

function show(result, extra = "") {
  state.lastResult = result;
  drawResult(result);
  listFaces(result);
  const n = result.faces.length;
  if (state.firstResultMs === null) state.firstResultMs = performance.now();
  el.status.textContent = `${n === 0 ? "No face found" : n === 1 ? "1 face" : `${n} faces`} · ` +
    `${result.width}×${result.height} · ${result.model}${result.flip ? " + mirror TTA" : ""} · ` +
    `${Math.round(result.elapsed_ms)} ms ${state.runsIn === "browser" ? "in this browser" : "on the server"}${extra}`;
}

// ------------------------------------------------------------------ photos
async function analyzePhoto(file) {
  if (!file) return;
  showError("");
  if (state.mode === "camera") stopCamera();
  state.mode = "photo";
  state.file = file;
  el.stage.hidden = false;
  el.video.hidden = true;
  el.photo.hidden = false;
  el.faces.replaceChildren();
  el.status.textContent = "Analysing…";
  const url = URL.createObjectURL(file);
  const shown = new Promise((resolve) => {
    el.photo.onload = () => resolve(true);
    el.photo.onerror = () => resolve(false);
  });
  if (el.photo.dataset.url) URL.revokeObjectURL(el.photo.dataset.url);
  el.photo.dataset.url = url;
  el.photo.src = url;
  try {
    const work = state.runsIn === "browser" ? analyzePhotoHere(file) : analyze(file, file.name || "image");
    const [result, ok] = await Promise.all([work, shown]);
    if (state.file !== file) return;  // another image was chosen meanwhile
    el.stage.hidden = !ok;  // no broken-image icon: the faces are listed below all the same
    show(result, ok ? "" : " · (this browser cannot display the image itself)");
  } catch (e) {
    if (state.file !== file) return;
    drawResult(null);
    el.stage.hidden = true;  // nothing to show over: no stale or broken image
    el.status.textContent = "";
    showError(`Could not analyse ${file.name || "the image"}: ${e.message}`);
  }
}

el.file.addEventListener("change", () => { analyzePhoto(el.file.files[0]); el.file.value = ""; });
for (const ev of ["dragenter", "dragover"]) {
  el.drop.addEventListener(ev, (e) => { e.preventDefault(); el.drop.classList.add("over"); });
}
for (const ev of ["dragleave", "drop"]) {
  el.drop.addEventListener(ev, (e) => { e.preventDefault(); el.drop.classList.remove("over"); });
}
el.drop.addEventListener("drop", (e) => {
  const file = e.dataTransfer && e.dataTransfer.files[0];
  if (file) analyzePhoto(file);
});
window.addEventListener("paste", (e) => {
  const item = [...(e.clipboardData ? e.clipboardData.items : [])].find((i) => i.type.startsWith("image/"));
  if (item) analyzePhoto(item.getAsFile());
});

// ------------------------------------------------------------------ webcam
let stream = null;
const grab = document.createElement("canvas");

function frameBlob() {
  const vw = el.video.videoWidth, vh = el.video.videoHeight;
  const scale = Math.min(1, CAMERA_MAX_WIDTH / vw);
  grab.width = Math.round(vw * scale); grab.height = Math.round(vh * scale);
  grab.getContext("2d").drawImage(el.video, 0, 0, grab.width, grab.height);
  return new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", 0.85));
}

// frames the video element has presented (requestVideoFrameCallback), so that the in-browser loop analyses
// each new frame once and starts on it as soon as it is there
let frameCount = 0, frameWaiters = [], watched = null;
function watchFrames(myStream) {
  if (!el.video.requestVideoFrameCallback || watched === myStream) return;
  watched = myStream;
  const onFrame = () => {
    frameCount++;
    const waiting = frameWaiters;
    frameWaiters = [];
    waiting.forEach((resolve) => resolve());
    if (stream === myStream) el.video.requestVideoFrameCallback(onFrame);
  };
  el.video.requestVideoFrameCallback(onFrame);
}
function newFrameAfter(seen) {
  if (!el.video.requestVideoFrameCallback) return sleep(15);
  if (frameCount > seen) return Promise.resolve();
  return Promise.race([new Promise((resolve) => frameWaiters.push(resolve)), sleep(500)]);
}

let loops = 0;  // the newest camera loop runs; an older one (the other mode's) ends at its next frame

async function cameraLoop(myStream) {
  const me = ++loops;
  let times = [];
  const started = performance.now();
  let tracker = null;  // in-browser mode: ids and smoothed probabilities (a new one when the model changes)
  const runsIn = state.runsIn;
  const maxFps = MAX_FPS !== null ? MAX_FPS : runsIn === "server" ? SERVER_FPS : 0;
  watchFrames(myStream);
  while (stream === myStream && loops === me) {
    const t0 = performance.now();
    const seen = frameCount;
    if (el.video.readyState >= 2 && el.video.videoWidth > 0) {
      try {
        let result;
        if (runsIn === "browser") {
          const w = el.video.videoWidth, h = el.video.videoHeight;
          if (!tracker || tracker.model !== el.model.value) {
            const E = window.EmorecEngine, settings = E.trackerSettings(state.site.tracking);  // tracking.py's
            if (DETECT_EVERY !== null) settings.detectEvery = DETECT_EVERY;
            tracker = Object.assign(new E.FaceTracker(settings), { model: el.model.value });
          }
          result = await analyzeHere(() => window.EmorecBrowser.pixelsOf(el.video, w, h), w, h, "webcam", "video/raw",
            tracker);
        } else {
          const blob = await frameBlob();
          if (stream !== myStream) break;                      // stopped while the frame was being encoded
          result = await analyze(blob, "webcam.jpg");         // awaited: never more than one request in flight
        }
        if (stream !== myStream || loops !== me) break;
        state.frames++;
        if (result.faces.length) {
          state.boxes.push(result.faces[0].box);
          if (state.boxes.length > 100) state.boxes.shift();
        }
        const now = performance.now();
        times.push(now);
        times = times.filter((t) => t > now - FPS_WINDOW_MS);
        state.fps = Math.round(times.length / (Math.min(FPS_WINDOW_MS, now - started) / 1000) * 10) / 10;
        showError("");
        show(result, ` · webcam ${state.fps.toFixed(1)} frames/s`);
      } catch (e) {
        if (stream !== myStream || loops !== me) break;
        showError(`Webcam frame not analysed: ${e.message}`);
        await sleep(e.status === 503 ? 1000 : 500);
      }
    }
    if (maxFps > 0) await sleep(Math.max(0, 1000 / maxFps - (performance.now() - t0)));
    if (runsIn === "browser") await newFrameAfter(seen);
  }
}

async function startCamera() {
  showError("");
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError("The webcam needs a secure page: open this page as http://localhost:PORT or http://127.0.0.1:PORT " +
      "(or serve it over HTTPS).");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (e) {
    showError(`Cannot open the webcam: ${e.message || e.name}. Check that one is connected and that this page may use it.`);
    stream = null;
    return;
  }
  state.mode = "camera";
  state.file = null;
  state.frames = 0;
  state.boxes = [];
  el.stage.hidden = false;
  el.photo.hidden = true;
  el.video.hidden = false;
  el.video.style.transform = "scaleX(-1)";
  el.video.srcObject = stream;
  await el.video.play().catch(() => {});
  el.camera.textContent = "Stop webcam";
  el.camera.setAttribute("aria-pressed", "true");
  el.status.textContent = state.runsIn === "browser" && !state.browser.ready ? "Webcam on; loading the models into this browser…"
    : "Webcam on…";
  cameraLoop(stream);
}

function stopCamera() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  el.video.srcObject = null;
  el.camera.textContent = "Use webcam";
  el.camera.setAttribute("aria-pressed", "false");
  if (state.mode === "camera") {
    state.mode = "idle";
    el.stage.hidden = true;
    el.status.textContent = "Webcam off.";
  }
}

el.camera.addEventListener("click", () => (stream ? stopCamera() : startCamera()));

// ------------------------------------------------------------------ where it runs
function setRunsIn(where) {
  if (where === "server" && !state.server) where = "browser";
  if (where === "browser" && !state.site) where = "server";
  state.runsIn = where;
  el.runsIn.value = where;
  el.privacy.textContent = PRIVACY[where];
  if (el.limits.dataset.server === undefined) el.limits.dataset.server = el.limits.textContent;
  el.limits.textContent = where === "browser" ? "any image this browser can open · up to 50 megapixels"
    : el.limits.dataset.server;
  showNotice("");
  if (where === "browser") {
    el.status.textContent = state.browser.ready ? el.status.textContent : "Loading the models into this browser…";
    browserRuntime().then(() => {
      if (state.runsIn === "browser" && el.status.textContent.startsWith("Loading the models")) {
        el.status.textContent = `Ready: analysing in this browser (ONNX Runtime Web ${state.browser.version || ""}, ` +
          `${state.browser.threads} thread${state.browser.threads === 1 ? "" : "s"}).`;
      }
    }, (e) => {
      if (state.runsIn === "browser") showError(`The in-browser mode cannot start: ${e.message}`);
    });
  }
  if (stream) cameraLoop(stream);  // the running loop (the other mode's) ends at its next frame
  else if (state.mode === "photo" && state.file) analyzePhoto(state.file);
}

el.runsIn.addEventListener("change", () => setRunsIn(el.runsIn.value));

// ------------------------------------------------------------------ options, resize, start
for (const ctl of [el.model, el.flip, el.minConfidence]) {
  ctl.addEventListener("change", () => { if (state.mode === "photo" && state.file) analyzePhoto(state.file); });
}
window.addEventListener("resize", () => { if (state.lastResult && state.mode !== "idle") drawResult(state.lastResult); });

// the image types the server accepts (emorec.server.uploads.ALLOWED_FORMATS, in the manifest): the file input
// offers them, the note under it names them
function uploadTypes() {
  const formats = (state.site && state.site.uploads && state.site.uploads.formats) || {};
  const names = Object.keys(formats);
  if (names.length) el.file.accept = Object.values(formats).join(",");
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}` : names[0] || "images";
}

function fillModels(cards, def) {
  el.model.replaceChildren(...cards.map((card) => {
    const o = document.createElement("option");
    const acc = card.accuracy || (card.evaluation && card.evaluation.PublicTest && card.evaluation.PublicTest.accuracy);
    o.value = card.name;
    o.textContent = `${card.name} (${card.classes.length} emotions${acc ? `, ${Math.round(acc * 100)}% on FER2013 PublicTest` : ""})`;
    return o;
  }));
  el.model.value = def;
}

(async function init() {
  try {
    state.site = await window.EmorecBrowser.loadManifest();
  } catch (e) {
    state.site = null;  // an older server, or a site without models/index.json: server mode only
  }
  state.server = state.site ? !!state.site.server : true;
  const types = uploadTypes();
  if (state.server) {
    try {
      const [models, health] = await Promise.all([fetch("v1/models").then((r) => r.json()),
        fetch("healthz").then((r) => r.json())]);
      if (models.models && models.models.length) fillModels(models.models, models.default);
      const lim = health.limits;
      if (lim) {
        el.limits.textContent = `${types} · up to ${(lim.max_upload_bytes / 1e6).toFixed(0)} MB ` +
          `and ${(lim.max_pixels / 1e6).toFixed(0)} megapixels`;
      }
    } catch (e) {
      showError("Cannot reach the emorec server (is `emorec serve` still running?)");
    }
  } else {
    fillModels(state.site.models, state.site.default);
    el.api.hidden = true;
    el.serverLinks.hidden = true;
    const opt = el.runsIn.querySelector('option[value="server"]');
    opt.disabled = true;
    opt.textContent = "a server (none: this is a static site)";
  }
  if (!state.site) el.runsIn.querySelector('option[value="browser"]').disabled = true;
  const run = PARAMS.get("run");
  setRunsIn(run === "browser" || run === "server" ? run : state.server ? "server" : "browser");
  document.body.dataset.ready = "true";
  if (run === "browser" || run === "server") startCamera();  // the browser asks the user, or has granted it
})();
