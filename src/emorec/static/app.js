// emorec page: upload an image or stream webcam frames to POST /v1/analyze and draw the faces over them.
// No build step, no dependencies. `window.emorec` exposes the page's state (used by the browser test).
"use strict";

// One colour per emotion, by the common names the server answers with (emorec/labels.py); other spellings
// of the same emotions (FER+'s nouns) map to them, so no class falls back to the default colour.
const COLORS = {
  angry: "#d93025", disgust: "#188038", fear: "#8e44ad", happy: "#f29900", sad: "#1a73e8",
  surprise: "#00a3bf", neutral: "#7a8594", contempt: "#a0522d", unsure: "#808080",
};
const SYNONYMS = {
  anger: "angry", happiness: "happy", sadness: "sad", surprised: "surprise", fearful: "fear", disgusted: "disgust",
};
const DEFAULT_COLOR = "#2f6fde";
const CAMERA_FPS = 4;          // frames sent per second at most (one request in flight at a time)
const CAMERA_MAX_WIDTH = 640;  // frames are scaled down to this before upload

const $ = (id) => document.getElementById(id);
const el = {
  model: $("model"), flip: $("flip"), minConfidence: $("min-confidence"), camera: $("camera"), file: $("file"), drop: $("drop"), error: $("error"),
  stage: $("stage"), photo: $("photo"), video: $("video"), overlay: $("overlay"), status: $("status"),
  faces: $("faces"), limits: $("limits"),
};

const state = window.emorec = {
  mode: "idle",        // idle | photo | camera
  lastResult: null,    // last JSON answer of /v1/analyze
  lastError: null,     // last {status, error, detail}
  frames: 0,           // camera frames analysed
  inFlight: 0, maxInFlight: 0,
  boxes: [],           // camera: first box of each analysed frame (the last 100)
  file: null,          // the uploaded File (re-analysed when the options change)
};

const colorOf = (emotion) => {
  const key = String(emotion).toLowerCase();
  return COLORS[SYNONYMS[key] || key] || DEFAULT_COLOR;
};
const pct = (p) => `${Math.round(p * 100)}%`;
// a face's label: its emotion, or "unsure" where the server withheld it (emotion null: below min_confidence)
const labelOf = (face) => face.emotion ?? "unsure";
const topOf = (face) => Math.max(...Object.values(face.scores));

function showError(msg) {
  el.error.textContent = msg;
  el.error.hidden = !msg;
}

// ------------------------------------------------------------------ talking to the server
async function analyze(blob, filename) {
  const form = new FormData();
  form.append("file", blob, filename);
  const query = new URLSearchParams({ model: el.model.value, flip: el.flip.checked ? "true" : "false",
    min_confidence: String(Math.min(1, Math.max(0, Number(el.minConfidence.value) || 0))) });
  state.inFlight++;
  state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
  let resp;
  try {
    resp = await fetch(`/v1/analyze?${query}`, { method: "POST", body: form });
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
    ctx.fillStyle = "#fff";
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
  el.status.textContent = `${n === 0 ? "No face found" : n === 1 ? "1 face" : `${n} faces`} · ` +
    `${result.width}×${result.height} · ${result.model}${result.flip ? " + mirror TTA" : ""} · ` +
    `${Math.round(result.elapsed_ms)} ms on the server${extra}`;
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
    const [result, ok] = await Promise.all([analyze(file, file.name || "image"), shown]);
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

async function cameraLoop(myStream) {
  let times = [];
  while (stream === myStream) {
    const t0 = performance.now();
    if (el.video.readyState >= 2 && el.video.videoWidth > 0) {
      try {
        const blob = await frameBlob();
        if (stream !== myStream) break;                      // stopped while the frame was being encoded
        const result = await analyze(blob, "webcam.jpg");   // awaited: never more than one request in flight
        if (stream !== myStream) break;
        state.frames++;
        if (result.faces.length) {
          state.boxes.push(result.faces[0].box);
          if (state.boxes.length > 100) state.boxes.shift();
        }
        times.push(performance.now());
        times = times.filter((t) => t > performance.now() - 3000);
        showError("");
        show(result, ` · webcam ${(times.length / 3).toFixed(1)} frames/s`);
      } catch (e) {
        if (stream !== myStream) break;
        showError(`Webcam frame not analysed: ${e.message}`);
        await new Promise((r) => setTimeout(r, e.status === 503 ? 1000 : 500));
      }
    }
    const wait = 1000 / CAMERA_FPS - (performance.now() - t0);
    await new Promise((r) => setTimeout(r, Math.max(0, wait)));
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
  el.status.textContent = "Webcam on…";
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

// ------------------------------------------------------------------ options, resize, start
for (const ctl of [el.model, el.flip, el.minConfidence]) {
  ctl.addEventListener("change", () => { if (state.mode === "photo" && state.file) analyzePhoto(state.file); });
}
window.addEventListener("resize", () => { if (state.lastResult && state.mode !== "idle") drawResult(state.lastResult); });

(async function init() {
  try {
    const [models, health] = await Promise.all([fetch("/v1/models").then((r) => r.json()),
      fetch("/healthz").then((r) => r.json())]);
    if (models.models && models.models.length) {
      el.model.replaceChildren(...models.models.map((card) => {
        const o = document.createElement("option");
        const acc = card.evaluation && card.evaluation.PublicTest && card.evaluation.PublicTest.accuracy;
        o.value = card.name;
        o.textContent = `${card.name} (${card.classes.length} emotions${acc ? `, ${Math.round(acc * 100)}% on FER2013 PublicTest` : ""})`;
        return o;
      }));
      el.model.value = models.default;
    }
    const lim = health.limits;
    if (lim) {
      el.limits.textContent = `JPEG, PNG, WebP, BMP or TIFF · up to ${(lim.max_upload_bytes / 1e6).toFixed(0)} MB ` +
        `and ${(lim.max_pixels / 1e6).toFixed(0)} megapixels`;
    }
  } catch (e) {
    showError("Cannot reach the emorec server (is `emorec serve` still running?)");
  }
  document.body.dataset.ready = "true";
})();
