// emorec's in-browser mode: YuNet and the emotion models run in this page with ONNX Runtime Web (its
// WebAssembly backend, vendored under static/vendor/onnxruntime-web/). Nothing leaves the page: the models
// are fetched from this site like its scripts, frames and results stay here. The pixel work is engine.js's.
//
// The site describes its models in models/index.json (written by `emorec web`, or served by `emorec serve`):
//   {server, default, models: [{name, onnx, card, classes, input_size, scaling, temperature}],
//    detector: {name, onnx, present, problem, margin, align, score_threshold, nms_threshold, top_k, min_size,
//               work_size, min_input, min_px, largest, next_pass, min_pass, strides},
//    tracking: {detect_every, smooth, iou_threshold, max_missed, search, hold}, uploads: {formats},
//    colors, fallback_color, synonyms, runtime: {version}}
// (paths relative to the site's root; "problem": what to tell the user when YuNet's file is missing). The
// detector's and tracker's settings are emorec's Python defaults (emorec.web.manifest): this page has no copy.
"use strict";

(function () {
  const E = window.EmorecEngine;
  const SCRIPT = document.currentScript ? document.currentScript.src : location.href;
  const ORT_DIR = new URL("vendor/onnxruntime-web/", SCRIPT).href;
  const MAX_PIXELS = 50e6;  // a photo larger than this is refused here (the canvas would take 200 MB)

  class NeedsYuNet extends Error {}

  /** The models of one site, loaded into ONNX Runtime Web; one inference at a time. */
  class BrowserRuntime {
    constructor(manifest, base) {
      this.manifest = manifest;
      this.base = base;               // the site's root URL: the manifest's paths are relative to it
      this.ort = null;
      this.yunet = null;              // {session, input, settings, outputs}: settings from the manifest (E.yunetSettings)
      this.models = new Map();        // name -> Promise of {session, input, output, classes, temperature, size}
      this.queue = Promise.resolve(); // ONNX Runtime Web runs one session call at a time
      this.problem = "";             // why faces cannot be found here (no YuNet file), or ""
      this.timings = null;           // the last analysis's steps, in ms: detect, crop, classify, total
      this.info = { backend: "wasm", threads: null, version: null, isolated: !!self.crossOriginIsolated,
        loadMs: null, yunet: false };
    }

    async fetchBytes(path, what) {
      let resp;
      try {
        resp = await fetch(new URL(path, this.base).href);
      } catch (e) {
        throw new Error(`cannot download ${what} (${path}): ${e.message}`);
      }
      if (!resp.ok) throw new Error(`cannot download ${what} (${path}): ${resp.status} ${resp.statusText}`);
      return new Uint8Array(await resp.arrayBuffer());
    }

    /** Load ONNX Runtime Web, YuNet and the default model. ``threads``: WebAssembly threads (default:
     *  ONNX Runtime's own choice; 1 where the page is not cross-origin isolated). */
    async init({ threads = null, model = null } = {}) {
      const t0 = performance.now();
      try {
        this.ort = await import(ORT_DIR + "ort.wasm.min.mjs");
      } catch (e) {
        throw new Error(`cannot load ONNX Runtime Web from ${ORT_DIR} (${e.message}). The site must serve ` +
          ".mjs files as text/javascript and .wasm files as application/wasm.");
      }
      const ort = this.ort;
      ort.env.wasm.wasmPaths = ORT_DIR;
      if (threads) ort.env.wasm.numThreads = threads;
      ort.env.logLevel = "error";
      // YuNet is looked for even where the manifest says the site lacks it: it may have been copied there since
      const yunet = this.loadYuNet().then(() => { this.info.yunet = true; }, (e) => {
        const d = this.manifest.detector || {};
        this.problem = e instanceof NeedsYuNet ? (d.problem || e.message) : e.message;
      });
      await Promise.all([this.model(model || this.manifest.default), yunet]);
      this.info.threads = ort.env.wasm.numThreads;
      this.info.version = ort.env.versions ? ort.env.versions.web || ort.env.versions.common : null;
      this.info.loadMs = Math.round(performance.now() - t0);
      return this;
    }

    session(bytes) {
      return this.ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
    }

    async loadYuNet() {
      const d = this.manifest.detector || {};
      if (!d.onnx) throw new NeedsYuNet("this site names no YuNet model file");
      const settings = E.yunetSettings(d);  // the site's manifest must give YuNet's settings
      // a server's manifest is made live: when it says the file is missing, it is. A static site's file may
      // have been copied in after the build, as the page advises: it is looked for all the same
      if (this.manifest.server && !d.present) throw new NeedsYuNet("this server has no YuNet model file");
      let raw;
      try {
        raw = await this.fetchBytes(d.onnx, "the YuNet face detector");
      } catch (e) {
        throw new NeedsYuNet(e.message);
      }
      // its file declares a fixed 640x640 input: freed, it takes any multiple of 32 (detectors/onnx_shape.py)
      const session = await this.session(E.freeDims(raw, [2, 3], [1]));
      const outputs = E.yunetOutputs(settings), missing = outputs.filter((n) => !session.outputNames.includes(n));
      if (missing.length) throw new Error(`${d.onnx} is not YuNet's face_detection_yunet_2023mar.onnx (no ${missing.join(", ")})`);
      this.yunet = { session, input: session.inputNames[0], settings, outputs };
    }

    /** The loaded emotion model ``name`` (one of the manifest's). */
    model(name) {
      if (!this.models.has(name)) {
        const card = this.manifest.models.find((m) => m.name === name);
        if (!card) return Promise.reject(new Error(`unknown model ${name}; this site has ${this.manifest.models.map((m) => m.name).join(", ")}`));
        if (card.scaling && card.scaling !== "x/255*2-1") {
          return Promise.reject(new Error(`model ${name} expects scaling ${card.scaling}; this page applies x/255*2-1`));
        }
        const p = this.fetchBytes(card.onnx, `model ${name}`).then((b) => this.session(b)).then((session) => ({
          name, session, input: session.inputNames[0], output: session.outputNames[0], classes: card.classes,
          temperature: card.temperature || 1.0, size: card.input_size || 48,
        }));
        p.catch(() => this.models.delete(name));
        this.models.set(name, p);
      }
      return this.models.get(name);
    }

    /** Run ``fn`` after the calls queued before it (ONNX Runtime Web takes one run at a time). */
    serial(fn) {
      const run = this.queue.then(fn, fn);
      this.queue = run.catch(() => {});
      return run;
    }

    /** Faces in an RGBA image: [{box, landmarks, score}], largest first (YuNetDetector.detect); ``roi``
     *  [x, y, w, h]: only in that region; ``sizes`` [min, max]: faces of about those sizes in px. */
    async detect(rgba, width, height, roi = null, sizes = null) {
      if (!this.yunet) throw new NeedsYuNet(`in-browser mode cannot find faces: ${this.problem || "YuNet is not loaded"}`);
      const Y = this.yunet.settings;
      const minPx = sizes ? Math.max(1, Math.trunc(sizes[0])) : null;
      const maxPx = sizes ? Math.max(Math.trunc(sizes[1]), minPx + 1) : null;
      let img = rgba, w = width, h = height, dx = 0, dy = 0;
      if (roi) {
        const [x, y, rw, rh] = roi.map(Math.trunc);
        const x0 = Math.max(0, x), y0 = Math.max(0, y), x1 = Math.min(width, x + rw), y1 = Math.min(height, y + rh);
        if (x1 - x0 < Y.minPx || y1 - y0 < Y.minPx) return [];
        w = x1 - x0; h = y1 - y0; dx = x0; dy = y0;
        img = new Uint8ClampedArray(w * h * 4);
        for (let r = 0; r < h; r++) img.set(rgba.subarray(((y0 + r) * width + x0) * 4, ((y0 + r) * width + x1) * 4), r * w * 4);
      }
      const { scales, minPx: least } = E.yunetScales(Y, w, h, minPx, maxPx);
      const passes = [], steps = this.detectSteps || (this.detectSteps = {});
      for (const scale of scales) {
        const t0 = performance.now();
        const size = E.yunetSize(w, h, scale);
        // shrunk by area, enlarged (a small image) bilinearly from its RGB: YuNet's resized()
        const rgb = scale === 1 ? null : scale < 1 ? E.resizeArea(img, w, h, size.w, size.h, 4, 3)
          : E.resizeLinear(img, w, h, size.w, size.h, 4, 3);
        const blob = rgb ? E.yunetBlob(rgb, size.w, size.h, size.padW, size.padH, 3)
          : E.yunetBlob(img, w, h, size.padW, size.padH, 4);
        const tensor = new this.ort.Tensor("float32", blob, [1, 3, size.padH, size.padW]);
        const t1 = performance.now();
        const out = await this.yunet.session.run({ [this.yunet.input]: tensor });
        steps.resize = (steps.resize || 0) + t1 - t0;
        steps.yunet = (steps.yunet || 0) + performance.now() - t1;
        const outputs = {};
        for (const n of this.yunet.outputs) outputs[n] = out[n].data;
        passes.push({ rows: E.yunetDecode(Y, outputs, size.padW), scale });
      }
      const faces = E.yunetFaces(Y, passes, least, maxPx);
      return dx || dy ? E.shifted(faces, dx, dy) : faces;
    }

    /** Calibrated probabilities of 48x48 grey faces (Uint8Array each): one row per face (EmotionClassifier.predict). */
    async classify(name, faces, flip = false) {
      const m = await this.model(name);
      if (!faces.length) return [];
      const run = async (mirror) => {
        const x = new this.ort.Tensor("float32", E.toInput(faces, m.size, mirror), [faces.length, 1, m.size, m.size]);
        const out = await m.session.run({ [m.input]: x });
        return E.calibrated(out[m.output].data, faces.length, m.classes.length, m.temperature);
      };
      const probs = await run(false);
      if (!flip) return probs;
      const mirrored = await run(true);
      return probs.map((row, i) => row.map((p, k) => Math.fround(Math.fround(p + mirrored[i][k]) / 2)));
    }

    /** Every face of an RGBA image with its emotion: the faces of POST /v1/analyze's JSON. ``tracker``
     *  (EmorecEngine.FaceTracker): a webcam frame, its faces followed from the frames before (ids, smoothed
     *  probabilities, full searches only every few frames). ``crops``: also return the 48x48 faces the model saw. */
    analyze(rgba, width, height, { model, flip = false, minConfidence = 0, tracker = null, crops = false } = {}) {
      return this.serial(async () => {
        const m = await this.model(model);
        const d = this.manifest.detector;
        this.detectSteps = {};
        const times = { detect: 0, crop: 0, classify: 0 };
        let grey = null, faces48 = [];
        const detect = async (roi, sizes) => {
          const t0 = performance.now();
          try { return await this.detect(rgba, width, height, roi, sizes); } finally { times.detect += performance.now() - t0; }
        };
        const classify = async (faces) => {
          const t0 = performance.now();
          grey = grey || E.greyFromRGBA(rgba, width, height);
          faces48 = E.faceCrops(grey, width, height, faces, { margin: d.margin, align: d.align, size: m.size });
          const t1 = performance.now();
          const probs = await this.classify(model, faces48, flip);
          times.crop += t1 - t0;
          times.classify += performance.now() - t1;
          return probs;
        };
        const t0 = performance.now();
        let shown;
        if (tracker) {
          shown = await tracker.update(detect, classify);
        } else {
          const found = await detect(null, null);
          const probs = found.length ? await classify(found) : [];
          shown = found.map((f, i) => ({ box: f.box, probs: probs[i], score: f.score, id: null }));
        }
        this.timings = { ...times, ...this.detectSteps, total: performance.now() - t0 };
        const faces = shown.map((f) => E.faceRecord(E.clipBox(f.box, width, height), f.probs, m.classes, minConfidence,
          { id: f.id, detection: f.score }));
        return crops ? { faces, crops: faces48.map((c) => Array.from(c)) } : { faces };
      });
    }
  }

  // ------------------------------------------------------------------ pixels of images and video frames
  const grabCanvas = document.createElement("canvas");
  const grabCtx = grabCanvas.getContext("2d", { willReadFrequently: true });

  /** RGBA pixels of a drawable (video, ImageBitmap, image) at its own size. */
  function pixelsOf(source, width, height) {
    if (grabCanvas.width !== width || grabCanvas.height !== height) {
      grabCanvas.width = width; grabCanvas.height = height;
    }
    grabCtx.drawImage(source, 0, 0, width, height);
    return grabCtx.getImageData(0, 0, width, height).data;
  }

  /** A File or Blob decoded as the browser shows it (EXIF orientation applied, no colour conversion, as
   *  emorec's Python decoding does): {rgba, width, height}. */
  async function decodeImage(blob) {
    let bmp;
    try {
      bmp = await createImageBitmap(blob, { imageOrientation: "from-image", colorSpaceConversion: "none",
        premultiplyAlpha: "none" });
    } catch (e) {
      throw Object.assign(new Error("not an image this browser can decode"), { status: 415 });
    }
    try {
      if (bmp.width * bmp.height > MAX_PIXELS) {
        throw Object.assign(new Error(`image is ${bmp.width}x${bmp.height}; in-browser analysis takes up to ` +
          `${MAX_PIXELS / 1e6} megapixels`), { status: 413 });
      }
      return { rgba: pixelsOf(bmp, bmp.width, bmp.height), width: bmp.width, height: bmp.height };
    } finally {
      bmp.close();
    }
  }

  /** Load the site's manifest (models/index.json, relative to the page). */
  async function loadManifest(base = document.baseURI) {
    const url = new URL("models/index.json", base).href;
    const resp = await fetch(url, { cache: "no-cache" });
    if (!resp.ok) throw new Error(`${url}: ${resp.status} ${resp.statusText}`);
    return resp.json();
  }

  window.EmorecBrowser = { BrowserRuntime, NeedsYuNet, pixelsOf, decodeImage, loadManifest, ORT_DIR };
})();
