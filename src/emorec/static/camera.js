// emorec page: the webcam. Its frames go to the server (at most SERVER_FPS a second, one request at a time) or
// are analysed in this browser, each new frame once, its faces followed from frame to frame (FaceTracker).
// It is one of the page's classic scripts, which share one global scope (no modules, no build step):
// index.html loads draw.js, analyze.js, camera.js, then app.js, which declares what they share (el, state,
// the URL's options, showError, options(), show()) and starts the page; the functions here run only after it.
"use strict";

const SERVER_FPS = 4;          // server mode: frames sent per second at most (one request in flight at a time)
const CAMERA_MAX_WIDTH = 640;  // server mode: frames are scaled down to this before upload
const FPS_WINDOW_MS = 3000;    // window.emorec.fps: frames analysed per second over the last 3 seconds

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
