// emorec page: an image analysed where the page runs it, by the emorec server (POST /v1/analyze) or in this
// browser (browser.js's runtime, loaded once, and engine.js): the result has POST /v1/analyze's JSON shape in
// both.
// It is one of the page's classic scripts, which share one global scope (no modules, no build step):
// index.html loads draw.js, analyze.js, camera.js, then app.js, which declares what they share (el, state,
// the URL's options, showError, options(), show()) and starts the page; the functions here run only after it.
"use strict";

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
