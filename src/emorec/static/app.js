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
//
// The page's scripts (classic scripts sharing one global scope; index.html loads them in this order, this
// one last, since it starts the page): draw.js (the overlay, the bars, the colours), analyze.js (an image
// analysed by the server or in this browser), camera.js (the webcam loop), app.js (the page's state and
// controls, photos, where it runs, start).
"use strict";

const PARAMS = new URLSearchParams(location.search);
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
