// emorec's in-browser engine: the pixel work of the in-browser mode, with no DOM and no runtime, so that the
// same code runs in the page and in Node (the tests compare it with emorec's Python functions).
//
// The contract is emorec's Python one (src/emorec/crop.py, preprocess.py, detectors/yunet.py, classifier.py,
// tracking.py; the model card's "preprocess"): square crop centred on the box with side
// max(w, h) * (1 + 2 * margin), border pixels repeated, turned about the box centre so the eyes lie level
// (YuNet); grey with cv2's BGR2GRAY weights; 48x48 by area interpolation when shrinking, linear when
// enlarging; x / 255 * 2 - 1; the card's calibration temperature; "unsure" below min_confidence. The
// integer arithmetic of OpenCV's 8-bit paths (BGR2GRAY, warpAffine INTER_LINEAR, resize INTER_AREA and INTER_LINEAR) is
// reproduced, so that a crop made here has the pixels Python's has.
//
// The settings (the crop margin, YuNet's thresholds and search sizes, the tracker's) are not written here:
// they come from the site's models/index.json (emorec.web.manifest, made from the Python constants), through
// yunetSettings and trackerSettings, and the functions below take them as arguments.
"use strict";

(function (root, factory) {
  if (typeof module === "object" && module.exports) module.exports = factory();
  else root.EmorecEngine = factory();
}(typeof self !== "undefined" ? self : this, function () {
  const f32 = Math.fround;

  // ---------------------------------------------------------------- rounding as numpy / OpenCV do
  /** Round half to even (numpy's rint, Python's round, cvRound). */
  function rint(x) {
    const r = Math.floor(x + 0.5);
    return (r - x === 0.5 && (r % 2) !== 0) ? r - 1 : r;
  }
  const clamp = (v, lo, hi) => (v < lo ? lo : v > hi ? hi : v);

  // ---------------------------------------------------------------- settings (models/index.json)
  const camel = (key) => key.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

  /** The values of ``keys`` (the manifest's snake_case names) in an entry of the manifest, by camelCase name;
   *  an Error naming the ones missing (a manifest from an older emorec). */
  function settingsOf(entry, keys, what) {
    const out = {}, missing = [];
    for (const key of keys) {
      const v = entry ? entry[key] : undefined;
      if (v === undefined || v === null) missing.push(key);
      else out[camel(key)] = v;
    }
    if (missing.length) {
      throw new Error(`the site's models/index.json gives no ${what} ${missing.join(", ")}: it comes from another ` +
        "emorec version than this page (rebuild the site with `emorec web`, or restart `emorec serve`)");
    }
    return out;
  }

  // the names of the settings, as emorec.web.manifest writes them
  const YUNET_KEYS = ["score_threshold", "nms_threshold", "top_k", "min_size", "work_size", "min_input", "min_px",
    "largest", "next_pass", "min_pass", "strides"];
  const TRACKER_KEYS = ["detect_every", "smooth", "iou_threshold", "max_missed", "search", "hold"];

  /** YuNet's settings from the manifest's ``detector`` entry (detectors/yunet.py's constants), camelCased:
   *  scoreThreshold, nmsThreshold, topK, minSize, workSize, minInput, minPx, largest, nextPass, minPass, strides. */
  function yunetSettings(detector) {
    return settingsOf(detector, YUNET_KEYS, "YuNet setting");
  }

  /** The webcam tracker's settings from the manifest's ``tracking`` entry (tracking.FaceTracker's defaults),
   *  camelCased: detectEvery, smooth, iouThreshold, maxMissed, search, hold. */
  function trackerSettings(tracking) {
    return settingsOf(tracking, TRACKER_KEYS, "tracking setting");
  }

  /** An Error unless ``value`` is a number (a setting the caller must give). */
  function needNumber(value, name) {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new TypeError(`${name} must be given (a number; the site's models/index.json has it), got ${value}`);
    }
    return value;
  }

  // ---------------------------------------------------------------- colour
  /** Grey uint8 (H*W) from RGBA bytes (canvas ImageData), with cv2.cvtColor(BGR2GRAY)'s fixed-point weights. */
  function greyFromRGBA(rgba, width, height) {
    const n = width * height, out = new Uint8Array(n);
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      out[i] = (rgba[j] * 9798 + rgba[j + 1] * 19235 + rgba[j + 2] * 3735 + 16384) >> 15;
    }
    return out;
  }

  // ---------------------------------------------------------------- resizing (cv2.resize on uint8)
  // INTER_AREA's weights (OpenCV's computeResizeAreaTab): for each destination index the source indices
  // it covers and their share.
  function areaTable(ssize, dsize, scale) {
    const tab = [];
    for (let dx = 0; dx < dsize; dx++) {
      const fsx1 = dx * scale, fsx2 = fsx1 + scale, cell = Math.min(scale, ssize - fsx1);
      let sx1 = Math.ceil(fsx1), sx2 = Math.floor(fsx2);
      sx2 = Math.min(sx2, ssize - 1);
      sx1 = Math.min(sx1, sx2);
      if (sx1 - fsx1 > 1e-3) tab.push([dx, sx1 - 1, f32((sx1 - fsx1) / cell)]);
      for (let sx = sx1; sx < sx2; sx++) tab.push([dx, sx, f32(1.0 / cell)]);
      if (fsx2 - sx2 > 1e-3) tab.push([dx, sx2, f32(Math.min(Math.min(fsx2 - sx2, 1.0), cell) / cell)]);
    }
    return tab;
  }

  /** Shrink an image (uint8, ``cn`` channels interleaved) by area interpolation, as cv2.INTER_AREA does;
   *  ``outChannels``: keep only the first ones (RGBA in, RGB out). */
  function resizeArea(src, sw, sh, dw, dh, cn = 1, outChannels = 0) {
    const ocn = outChannels || cn, dst = new Uint8Array(dw * dh * ocn);
    const sx = sw / dw, sy = sh / dh;
    const ix = Math.round(sx), iy = Math.round(sy);
    if (Math.abs(sx - ix) < 2.220446049250313e-16 && Math.abs(sy - iy) < 2.220446049250313e-16 &&
        sw === dw * ix && sh === dh * iy) {
      // OpenCV's fast path for whole factors: the mean of each block (2x2: (sum + 2) >> 2)
      const area = ix * iy, inv = f32(1 / area);
      for (let y = 0; y < dh; y++) {
        for (let x = 0; x < dw; x++) {
          for (let c = 0; c < ocn; c++) {
            let sum = 0;
            for (let v = 0; v < iy; v++) {
              const row = ((y * iy + v) * sw + x * ix) * cn + c;
              for (let u = 0; u < ix; u++) sum += src[row + u * cn];
            }
            dst[(y * dw + x) * ocn + c] = area === 4 ? (sum + 2) >> 2 : clamp(rint(f32(sum * inv)), 0, 255);
          }
        }
      }
      return dst;
    }
    const xtab = areaTable(sw, dw, sx), ytab = areaTable(sh, dh, sy);
    const oc = outChannels || cn, width = dw * oc, nx = xtab.length;
    const buf = new Float32Array(width), sum = new Float32Array(width);
    const xd = Int32Array.from(xtab, (t) => t[0] * oc), xs = Int32Array.from(xtab, (t) => t[1] * cn);
    const xa = Float32Array.from(xtab, (t) => t[2]);
    let prev = ytab.length ? ytab[0][0] : 0;
    const flush = (dy) => {
      const o = dy * width;
      for (let i = 0; i < width; i++) {
        const v = rint(sum[i]);
        dst[o + i] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    };
    // each source row's horizontal sums, made once (a row can serve two destination rows)
    let cachedRow = -1;
    for (let j = 0; j < ytab.length; j++) {
      const dy = ytab[j][0], beta = ytab[j][2], syi = ytab[j][1], row = syi * sw * cn;
      if (syi !== cachedRow) {
        cachedRow = syi;
        buf.fill(0);
        if (oc === 1) {
          for (let k = 0; k < nx; k++) { const d = xd[k]; buf[d] = f32(buf[d] + f32(src[row + xs[k]] * xa[k])); }
        } else if (oc === 3) {  // the first three of cn >= 3 channels (RGBA: RGB, the alpha skipped)
          for (let k = 0; k < nx; k++) {
            const a = xa[k], d = xd[k], q = row + xs[k];
            buf[d] = f32(buf[d] + f32(src[q] * a));
            buf[d + 1] = f32(buf[d + 1] + f32(src[q + 1] * a));
            buf[d + 2] = f32(buf[d + 2] + f32(src[q + 2] * a));
          }
        } else {
          for (let k = 0; k < nx; k++) {
            const a = xa[k], d = xd[k], q = row + xs[k];
            for (let c = 0; c < oc; c++) buf[d + c] = f32(buf[d + c] + f32(src[q + c] * a));
          }
        }
      }
      if (dy !== prev) {
        flush(prev);
        for (let i = 0; i < width; i++) sum[i] = f32(beta * buf[i]);
        prev = dy;
      } else {
        for (let i = 0; i < width; i++) sum[i] = f32(sum[i] + f32(beta * buf[i]));
      }
    }
    flush(prev);
    return dst;
  }

  /** Enlarge a grey uint8 image with bilinear interpolation as cv2.INTER_LINEAR does on 8 bits: 11-bit
   *  weights, rows filtered horizontally then vertically (the vertical step in OpenCV's SIMD form, 16
   *  pixels at a time, and its exact form for the rest of a row). */
  function resizeLinear(src, sw, sh, dw, dh) {
    const dst = new Uint8Array(dw * dh);
    const coef = (ssize, dsize, clampEdges) => {
      const scale = ssize / dsize, ofs = new Int32Array(dsize), w = new Int32Array(dsize * 2);
      for (let d = 0; d < dsize; d++) {
        let f = f32((d + 0.5) * scale - 0.5), s = Math.floor(f);
        f = f32(f - s);
        if (clampEdges && s < 0) { f = 0; s = 0; }
        if (clampEdges && s >= ssize - 1) { f = 0; s = ssize - 1; }
        ofs[d] = s;
        w[2 * d] = clamp(rint(f32(f32(1 - f) * 2048)), -32768, 32767);
        w[2 * d + 1] = clamp(rint(f32(f * 2048)), -32768, 32767);
      }
      return [ofs, w];
    };
    const [xo, xw] = coef(sw, dw, true), [yo, yw] = coef(sh, dh, false);
    const hrow = (sy, out) => {
      const base = clamp(sy, 0, sh - 1) * sw;
      for (let x = 0; x < dw; x++) {
        const sx = xo[x];
        out[x] = sx >= sw - 1 ? src[base + sx] * 2048 : src[base + sx] * xw[2 * x] + src[base + sx + 1] * xw[2 * x + 1];
      }
    };
    const r0 = new Int32Array(dw), r1 = new Int32Array(dw), simd = Math.floor(dw / 16) * 16;
    for (let y = 0; y < dh; y++) {
      hrow(yo[y], r0); hrow(yo[y] + 1, r1);
      const b0 = yw[2 * y], b1 = yw[2 * y + 1];
      for (let x = 0; x < dw; x++) {
        let v;
        if (x < simd) {
          const t0 = clamp(r0[x] >> 4, -32768, 32767), t1 = clamp(r1[x] >> 4, -32768, 32767);
          v = (((t0 * b0) >> 16) + ((t1 * b1) >> 16) + 2) >> 2;
        } else {
          v = (r0[x] * b0 + r1[x] * b1 + (1 << 21)) >> 22;
        }
        dst[y * dw + x] = clamp(v, 0, 255);
      }
    }
    return dst;
  }

  /** A grey square crop (side x side) to the network's size x size face: area when shrinking, linear when
   *  enlarging (emorec.preprocess.to_uint8_face). */
  function toFace(crop, side, size = 48) {
    if (side === size) return crop;
    return side >= size ? resizeArea(crop, side, side, size, size, 1) : resizeLinear(crop, side, side, size, size);
  }

  // ---------------------------------------------------------------- crop geometry (emorec.crop)
  // ``margin``: the manifest's detector.margin (the card's preprocess.crop.yunet.margin, else crop.MARGIN)

  /** The square [x, y, side, side] centred on box [x, y, w, h], grown by margin per side (crop.square_box). */
  function squareBox(box, margin) {
    needNumber(margin, "margin");
    const [x, y, w, h] = box.map(Number);
    const side = Math.max(w, h) * (1.0 + 2.0 * margin);
    const cx = x + w / 2.0, cy = y + h / 2.0;
    const s = Math.max(1, rint(side));
    return [rint(cx - s / 2.0), rint(cy - s / 2.0), s, s];
  }

  /** The square grey crop around box from a grey image; border pixels repeat outside it (crop.crop_face). */
  function cropFace(grey, width, height, box, margin) {
    const [x, y, s] = squareBox(box, margin);
    if (Math.min(width, x + s) <= Math.max(0, x) || Math.min(height, y + s) <= Math.max(0, y)) {
      throw new Error(`box ${box.map(Math.trunc)} lies outside the ${width}x${height} image`);
    }
    const out = new Uint8Array(s * s);
    for (let v = 0; v < s; v++) {
      const row = clamp(y + v, 0, height - 1) * width;
      for (let u = 0; u < s; u++) out[v * s + u] = grey[row + clamp(x + u, 0, width - 1)];
    }
    return { pixels: out, side: s };
  }

  /** Degrees the face is tilted: the angle of the line from its right eye to its left eye (crop.eye_angle). */
  function eyeAngle(landmarks) {
    const [[rx, ry], [lx, ly]] = landmarks;
    return Math.atan2(ly - ry, lx - rx) * 180 / Math.PI;
  }

  // cv2.getRotationMatrix2D and cv2.invertAffineTransform, in doubles
  function rotationMatrix(cx, cy, angle) {
    const a = angle * Math.PI / 180, alpha = Math.cos(a), beta = Math.sin(a);
    return [alpha, beta, (1 - alpha) * cx - beta * cy, -beta, alpha, beta * cx + (1 - alpha) * cy];
  }
  function invertAffine(m) {
    let d = m[0] * m[4] - m[1] * m[3];
    d = d !== 0 ? 1 / d : 0;
    const a11 = m[4] * d, a22 = m[0] * d, a12 = -m[1] * d, a21 = -m[3] * d;
    return [a11, a12, -a11 * m[2] - a12 * m[5], a21, a22, -a21 * m[2] - a22 * m[5]];
  }

  // warpAffine's bilinear weights: 32 x 32 sub-pixel positions, 15-bit integers summing to 32768
  let WARP_TAB = null;
  function warpTable() {
    if (WARP_TAB) return WARP_TAB;
    WARP_TAB = new Int32Array(32 * 32 * 4);
    for (let i = 0; i < 32; i++) {
      for (let j = 0; j < 32; j++) {
        const fy = f32(i / 32), fx = f32(j / 32), ty = [f32(1 - fy), fy], tx = [f32(1 - fx), fx];
        const w = [0, 1, 2, 3].map((k) => rint(f32(f32(ty[k >> 1] * tx[k & 1]) * 32768)));
        const diff = w[0] + w[1] + w[2] + w[3] - 32768;
        if (diff) {
          let mx = 0, mn = 0;
          for (let k = 1; k < 4; k++) { if (w[k] > w[mx]) mx = k; if (w[k] < w[mn]) mn = k; }
          if (diff < 0) w[mx] -= diff; else w[mn] -= diff;
        }
        WARP_TAB.set(w, (i * 32 + j) * 4);
      }
    }
    return WARP_TAB;
  }

  /** cv2.warpAffine(grey, m, (dw, dh), INTER_LINEAR, BORDER_REPLICATE) on a grey uint8 image (m maps the
   *  source to the destination; OpenCV's 10-bit coordinates and 15-bit weights). */
  function warpAffine(grey, width, height, m, dw, dh) {
    const inv = invertAffine(m), tab = warpTable(), out = new Uint8Array(dw * dh);
    const adelta = new Int32Array(dw), bdelta = new Int32Array(dw);
    for (let x = 0; x < dw; x++) { adelta[x] = rint(inv[0] * x * 1024); bdelta[x] = rint(inv[3] * x * 1024); }
    const px = (yy, xx) => grey[clamp(yy, 0, height - 1) * width + clamp(xx, 0, width - 1)];
    for (let y = 0; y < dh; y++) {
      const x0 = rint((inv[1] * y + inv[2]) * 1024) + 16, y0 = rint((inv[4] * y + inv[5]) * 1024) + 16;
      for (let x = 0; x < dw; x++) {
        const X = (x0 + adelta[x]) >> 5, Y = (y0 + bdelta[x]) >> 5;
        const ix = X >> 5, iy = Y >> 5, t = ((Y & 31) * 32 + (X & 31)) * 4;
        let v;
        if (ix >= 0 && iy >= 0 && ix + 1 < width && iy + 1 < height) {
          const k = iy * width + ix;
          v = grey[k] * tab[t] + grey[k + 1] * tab[t + 1] + grey[k + width] * tab[t + 2] + grey[k + width + 1] * tab[t + 3];
        } else {
          v = px(iy, ix) * tab[t] + px(iy, ix + 1) * tab[t + 1] + px(iy + 1, ix) * tab[t + 2] + px(iy + 1, ix + 1) * tab[t + 3];
        }
        out[y * dw + x] = clamp((v + 16384) >> 15, 0, 255);
      }
    }
    return out;
  }

  /** The square crop of cropFace, rotated about the box centre so the eyes lie level (crop.aligned_crop). */
  function alignedCrop(grey, width, height, box, landmarks, margin) {
    const [x, y, s] = squareBox(box, margin);
    const m = rotationMatrix(x + s / 2.0, y + s / 2.0, eyeAngle(landmarks));
    m[2] -= x; m[5] -= y;
    return { pixels: warpAffine(grey, width, height, m, s, s), side: s };
  }

  /** The 48x48 grey faces the classifier sees, from a grey image and the detector's faces
   *  ({box, landmarks?}); aligned where ``align`` and landmarks are given (EmotionRecognizer.crops).
   *  ``margin`` and ``align``: the manifest's detector.margin and detector.align. */
  function faceCrops(grey, width, height, faces, { margin, align, size = 48 } = {}) {
    needNumber(margin, "margin");
    if (typeof align !== "boolean") throw new TypeError(`align must be given (true or false), got ${align}`);
    return faces.map((f) => {
      const c = align && f.landmarks ? alignedCrop(grey, width, height, f.box, f.landmarks, margin)
        : cropFace(grey, width, height, f.box, margin);
      return toFace(c.pixels, c.side, size);
    });
  }

  // ---------------------------------------------------------------- the classifier's input and output
  const TWO_OVER_255 = f32(2.0 / 255.0);

  /** uint8 faces (each size*size) to the float32 (N, 1, size, size) input: x / 255 * 2 - 1 (preprocess.scaled). */
  function toInput(faces, size = 48, flip = false) {
    const n = size * size, out = new Float32Array(faces.length * n);
    faces.forEach((face, i) => {
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const v = face[y * size + (flip ? size - 1 - x : x)];
          out[i * n + y * size + x] = f32(f32(v * TWO_OVER_255) - 1);
        }
      }
    });
    return out;
  }

  /** Probabilities as the model gives them with its logits divided by temperature (calibration.with_temperature). */
  function withTemperature(probs, temperature) {
    if (temperature === 1.0) return Array.from(probs);
    const logp = Array.from(probs, (p) => Math.log(clamp(p, 1e-30, 1.0)) / temperature);
    const mx = Math.max(...logp), e = logp.map((v) => Math.exp(v - mx)), s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  }

  /** Rows of the network's output (Float32Array N*C) calibrated with the card's temperature, as float32s. */
  function calibrated(output, n, classes, temperature) {
    const rows = [];
    for (let i = 0; i < n; i++) {
      rows.push(withTemperature(output.subarray(i * classes, (i + 1) * classes), temperature).map(f32));
    }
    return rows;
  }

  /** One face's JSON, as Face.to_dict: box, emotion (null below minConfidence), scores, id, detection. */
  function faceRecord(box, probs, classes, minConfidence = 0, extra = {}) {
    let k = 0;
    for (let i = 1; i < probs.length; i++) if (probs[i] > probs[k]) k = i;
    const scores = {};
    classes.forEach((c, i) => { scores[c] = probs[i]; });
    const rec = { box: box.map((v) => Math.trunc(v)), emotion: probs[k] >= minConfidence ? classes[k] : null, scores };
    if (extra.id != null) rec.id = extra.id;
    if (extra.detection != null) rec.detection = Math.round(extra.detection * 1e4) / 1e4;
    return rec;
  }

  // ---------------------------------------------------------------- YuNet (detectors/yunet.py)
  // ``settings``: yunetSettings(manifest.detector)

  /** YuNet's output names (detectors/yunet.py's OUTPUTS) for the network's strides. */
  function yunetOutputs(settings) {
    return ["cls", "obj", "bbox", "kps"].flatMap((k) => settings.strides.map((s) => `${k}_${s}`));
  }

  /** The scales YuNet searches an image at (YuNetDetector._detect and pass_scales). */
  function yunetScales(settings, width, height, minPx = null, maxPx = null) {
    const Y = settings;
    const mp = Math.max(Y.minPx, minPx || Y.minSize);
    const short = Math.min(width, height);
    let scale = Y.workSize ? Math.min(1.0, Y.workSize / mp) : 1.0;
    scale = Math.max(scale, Math.min(1.0, Y.minInput / short));
    const largest = maxPx == null ? short : Math.min(short, maxPx * 1.25);
    const scales = [scale];
    while (largest * scales[scales.length - 1] > Y.largest) {
      const last = scales[scales.length - 1];
      const next = Math.max(last * Y.nextPass, Math.min(1.0, Y.minPass / short));
      if (next >= last) break;
      scales.push(next);
    }
    return { scales, minPx: mp };
  }

  /** The size a searched copy has at ``scale`` (YuNet's resized()), and its size padded to a multiple of 32. */
  function yunetSize(width, height, scale) {
    const w = scale >= 1 ? width : Math.max(1, rint(width * scale));
    const h = scale >= 1 ? height : Math.max(1, rint(height * scale));
    return { w, h, padW: Math.ceil(w / 32) * 32, padH: Math.ceil(h / 32) * 32 };
  }

  /** YuNet's input from RGB-ordered pixels (``cn`` = 3, or 4 for RGBA): float32 (1, 3, padH, padW), BGR
   *  planes, 0-255, black at the right and bottom (the padding to a multiple of 32). */
  function yunetBlob(rgb, w, h, padW, padH, cn = 3) {
    const plane = padW * padH, out = new Float32Array(3 * plane);
    for (let y = 0; y < h; y++) {
      let s = y * w * cn, d = y * padW;
      for (let x = 0; x < w; x++, s += cn, d++) {
        out[d] = rgb[s + 2]; out[plane + d] = rgb[s + 1]; out[2 * plane + d] = rgb[s];
      }
    }
    return out;
  }

  /** Intersection over union of two [x, y, w, h] boxes (OpenCV's Rect overlap for NMS, tracking.iou). */
  function iou(a, b) {
    const iw = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
    const ih = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
    const inter = iw * ih, union = a[2] * a[3] + b[2] * b[3] - inter;
    return union > 0 ? inter / union : 0;
  }

  /** cv2.dnn.NMSBoxes: indices kept, best score first (scores above scoreThreshold, at most topK considered,
   *  none or 0: all, as cv2's default; a box dropped when it overlaps a kept one by more than nmsThreshold). */
  function nmsBoxes(boxes, scores, scoreThreshold, nmsThreshold, topK) {
    const least = f32(scoreThreshold), most = f32(nmsThreshold);  // OpenCV takes them as floats
    let order = scores.map((s, i) => [s, i]).filter(([s]) => s > least);
    order.sort((a, b) => b[0] - a[0] || a[1] - b[1]);  // stable, descending
    if (topK > 0 && topK < order.length) order = order.slice(0, topK);
    const keep = [];
    for (const [, i] of order) {
      if (keep.every((k) => f32(iou(boxes[i], boxes[k])) <= most)) keep.push(i);
    }
    return keep;
  }

  /** YuNet's 12 outputs (name -> Float32Array) for an input padW pixels wide: rows [x, y, w, h, 5 landmarks
   *  (x, y), score] scoring settings.scoreThreshold or more, after NMS (settings.nmsThreshold, topK), as
   *  cv2.FaceDetectorYN.detect gives them. */
  function yunetDecode(settings, outputs, padW) {
    const { scoreThreshold, nmsThreshold, topK } = settings;
    const rows = [];
    for (const s of settings.strides) {
      const cls = outputs[`cls_${s}`], obj = outputs[`obj_${s}`], bbox = outputs[`bbox_${s}`], kps = outputs[`kps_${s}`];
      const cols = Math.floor(padW / s);
      for (let idx = 0; idx < cls.length; idx++) {
        const score = f32(Math.sqrt(f32(clamp(cls[idx], 0, 1) * clamp(obj[idx], 0, 1))));
        if (!(score >= scoreThreshold)) continue;
        const c = idx % cols, r = Math.floor(idx / cols);
        const w = f32(f32(Math.exp(bbox[idx * 4 + 2])) * s), h = f32(f32(Math.exp(bbox[idx * 4 + 3])) * s);
        const x = f32(f32(f32(c + bbox[idx * 4]) * s) - f32(w / 2));
        const y = f32(f32(f32(r + bbox[idx * 4 + 1]) * s) - f32(h / 2));
        const row = [x, y, w, h];
        for (let n = 0; n < 5; n++) {
          row.push(f32(f32(kps[idx * 10 + 2 * n] + c) * s), f32(f32(kps[idx * 10 + 2 * n + 1] + r) * s));
        }
        row.push(score);
        rows.push(row);
      }
    }
    if (rows.length < 2) return rows;
    const keep = nmsBoxes(rows.map((r) => r.slice(0, 4).map(Math.trunc)), rows.map((r) => r[14]), scoreThreshold,
      nmsThreshold, topK);
    return keep.map((i) => rows[i]);
  }

  /** The faces of one image from the rows of each searched scale (rows in the searched copy's pixels):
   *  scaled back, merged by NMS where several scales ran, boxes rounded, too small / large ones dropped, the
   *  largest first (YuNetDetector._detect, Detections.largest_first). Returns [{box, landmarks, score}]. */
  function yunetFaces(settings, passes, minPx, maxPx = null) {
    let rows = [];
    for (const { rows: rs, scale } of passes) {
      for (const r of rs) rows.push(r.map((v, i) => (i < 14 ? v / scale : v)));
    }
    if (passes.length > 1 && rows.length > 1) {
      const keep = nmsBoxes(rows.map((r) => r.slice(0, 4)), rows.map((r) => r[14]), 0.0, settings.nmsThreshold);
      rows = keep.sort((a, b) => a - b).map((i) => rows[i]);
    }
    let faces = rows.map((r) => ({
      box: r.slice(0, 4).map(rint),
      landmarks: [0, 1, 2, 3, 4].map((k) => [f32(r[4 + 2 * k]), f32(r[5 + 2 * k])]),
      score: r[14],
    }));
    faces = faces.filter((f) => {
      const side = Math.max(f.box[2], f.box[3]);
      return side >= minPx * 0.8 && (maxPx == null || side <= maxPx * 1.25);
    });
    const order = faces.map((f, i) => i).sort((i, j) => {
      const a = faces[i].box, b = faces[j].box;
      return (b[2] * b[3] - a[2] * a[3]) || (a[1] - b[1]) || (a[0] - b[0]) || (i - j);
    });
    return order.map((i) => faces[i]);
  }

  /** Boxes cut to the image, at least 1 px a side (recognizer.clip_boxes). */
  function clipBox(box, width, height) {
    const x0 = clamp(box[0], 0, width - 1), y0 = clamp(box[1], 0, height - 1);
    const x1 = clamp(box[0] + box[2], x0 + 1, width), y1 = clamp(box[1] + box[3], y0 + 1, height);
    return [x0, y0, x1 - x0, y1 - y0];
  }

  // ---------------------------------------------------------------- ONNX shapes (detectors/onnx_shape.py)
  // YuNet's file declares a 1x3x640x640 input; its graph works at any multiple of 32. freeDims makes chosen
  // dimensions of the graph's inputs and outputs symbolic in the serialised model (and drops the inner
  // tensors' recorded shapes), editing the protocol-buffer bytes, so that ONNX Runtime accepts other sizes.
  const PB = { GRAPH: 7, INPUT: 11, OUTPUT: 12, TYPE: 2, TENSOR_TYPE: 1, SHAPE: 2, DIM: 1, DIM_PARAM: 2, VALUE_INFO: 13 };

  function readVarint(buf, i) {
    let value = 0, mul = 1;
    for (;;) {
      if (i >= buf.length) throw new Error("truncated varint");
      const b = buf[i++];
      value += (b & 0x7f) * mul;
      if (b < 0x80) return [value, i];
      mul *= 128;
    }
  }
  function varint(value) {
    const out = [];
    do {
      let b = value % 128;
      value = Math.floor(value / 128);
      if (value) b |= 0x80;
      out.push(b);
    } while (value);
    return out;
  }
  function* pbFields(buf) {
    let i = 0;
    while (i < buf.length) {
      const start = i;
      let key, value, end;
      [key, i] = readVarint(buf, i);
      const field = Math.floor(key / 8), wire = key & 7;
      if (wire === 0) { [, end] = readVarint(buf, i); value = i; }
      else if (wire === 1) { value = i; end = i + 8; }
      else if (wire === 2) { let n; [n, value] = readVarint(buf, i); end = value + n; }
      else if (wire === 5) { value = i; end = i + 4; }
      else throw new Error(`unsupported wire type ${wire}`);
      if (end > buf.length) throw new Error("truncated field");
      yield [field, wire, start, value, end];
      i = end;
    }
  }
  function concat(parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }
  const lenField = (field, payload) => concat([Uint8Array.from(varint(field * 8 + 2)), Uint8Array.from(varint(payload.length)), payload]);
  function pbEdit(buf, path, leaf) {
    const parts = [];
    for (const [field, wire, start, value, end] of pbFields(buf)) {
      if (field === path[0] && wire === 2) {
        const inner = buf.subarray(value, end);
        parts.push(lenField(field, path.length === 1 ? leaf(inner) : pbEdit(inner, path.slice(1), leaf)));
      } else parts.push(buf.subarray(start, end));
    }
    return concat(parts);
  }
  function freeDims(model, inputs = [], outputs = []) {
    let buf = model instanceof Uint8Array ? model : new Uint8Array(model);
    const without = (n) => (msg) => concat([...pbFields(msg)].filter(([f]) => f !== n).map(([, , s, , e]) => msg.subarray(s, e)));
    const free = (which) => (shape) => {
      const parts = [];
      let k = 0;
      for (const [field, wire, start, , end] of pbFields(shape)) {
        if (field === PB.DIM && wire === 2) {
          parts.push(which.includes(k) ? lenField(PB.DIM, lenField(PB.DIM_PARAM, new TextEncoder().encode(`dim${k}`)))
            : shape.subarray(start, end));
          k++;
        } else parts.push(shape.subarray(start, end));
      }
      return concat(parts);
    };
    try {
      buf = pbEdit(buf, [PB.GRAPH], without(PB.VALUE_INFO));
      for (const [which, field] of [[inputs, PB.INPUT], [outputs, PB.OUTPUT]]) {
        if (which.length) buf = pbEdit(buf, [PB.GRAPH, field, PB.TYPE, PB.TENSOR_TYPE, PB.SHAPE], free(which));
      }
    } catch (e) {
      throw new Error(`not an ONNX model (${e.message})`);
    }
    return buf;
  }

  // ---------------------------------------------------------------- tracking (emorec.tracking)
  /** Greedy one-to-one pairs [i, j] of boxes with IoU >= threshold, highest IoU first (tracking.match). */
  function match(a, b, threshold) {
    const pairs = [];
    a.forEach((ba, i) => b.forEach((bb, j) => pairs.push([iou(ba, bb), i, j])));
    pairs.sort((p, q) => q[0] - p[0] || q[1] - p[1] || q[2] - p[2]);
    const ua = new Set(), ub = new Set(), out = [];
    for (const [v, i, j] of pairs) {
      if (v < threshold) break;
      if (!ua.has(i) && !ub.has(j)) { ua.add(i); ub.add(j); out.push([i, j]); }
    }
    return out;
  }

  /** Faces of a region's detection moved back into the image (Detections.transformed(1, dx, dy)). */
  function shifted(faces, dx, dy) {
    return faces.map((f) => ({ box: [rint(f.box[0] + dx), rint(f.box[1] + dy), f.box[2], f.box[3]],
      landmarks: f.landmarks && f.landmarks.map(([x, y]) => [f32(x + dx), f32(y + dy)]), score: f.score }));
  }

  /** Following faces across webcam frames, as emorec.tracking.FaceTracker does: every ``detectEvery``
   *  frames the detector searches the whole frame and its faces are matched to the tracks by overlap (IoU,
   *  greedy); in between, each track is looked for only around its last box, at sizes close to its own (a
   *  search of a few hundred pixels instead of the whole frame). Each track's probabilities are an exponential
   *  moving average (``smooth`` = weight of the past), so labels do not flicker; a track not found keeps its
   *  last box for ``hold`` frames and ends after ``maxMissed``. Every setting must be given:
   *  trackerSettings(manifest.tracking), the Python FaceTracker's defaults, with any of them changed. */
  class FaceTracker {
    constructor({ detectEvery, smooth, iouThreshold, maxMissed, search, hold } = {}) {
      const settings = { detectEvery, smooth, iouThreshold, maxMissed, search, hold };
      for (const [name, value] of Object.entries(settings)) needNumber(value, name);
      if (!(detectEvery >= 1)) throw new RangeError(`detectEvery must be >= 1, got ${detectEvery}`);
      Object.assign(this, settings);
      this.tracks = [];
      this.frameIndex = -1;
      this.nextId = 1;
      this.fullDetections = 0;
    }

    async local(detect, track) {
      const [x, y, w, h] = track.box, s = Math.max(w, h);
      const roi = [Math.trunc(x - this.search * s), Math.trunc(y - this.search * s),
        Math.trunc(w + 2 * this.search * s), Math.trunc(h + 2 * this.search * s)];
      const found = await detect(roi, [s / 1.3, s * 1.3]);
      if (!found.length) return null;
      let k = 0;
      for (let i = 1; i < found.length; i++) if (iou(found[i].box, track.box) > iou(found[k].box, track.box)) k = i;
      return iou(found[k].box, track.box) <= 0 ? null : found[k];
    }

    /** The next frame. ``detect(roi | null, sizes | null)``: its faces [{box, landmarks, score}] (in a
     *  region, at sizes [min, max] px); ``classify(faces)``: their probability rows. Returns the faces to show,
     *  [{id, box, probs, score}], by id. */
    async update(detect, classify) {
      const t = ++this.frameIndex;
      const full = !this.tracks.length || t % this.detectEvery === 0;
      const seen = new Set();
      const move = (tr, f) => { tr.box = f.box.slice(); tr.landmarks = f.landmarks; tr.score = f.score; };
      if (full) {
        this.fullDetections++;
        const found = await detect(null, null);
        const pairs = match(this.tracks.map((tr) => tr.box), found.map((f) => f.box), this.iouThreshold);
        for (const [i, j] of pairs) { move(this.tracks[i], found[j]); seen.add(this.tracks[i].id); }
        const matched = new Set(pairs.map(([, j]) => j));
        found.forEach((f, j) => {
          if (matched.has(j)) return;
          const tr = { id: this.nextId++, box: f.box.slice(), landmarks: f.landmarks, score: f.score, probs: null, missed: 0 };
          this.tracks.push(tr);
          seen.add(tr.id);
        });
        for (const tr of this.tracks) {  // a track the full search missed may still be found near its box
          if (seen.has(tr.id)) continue;
          const hit = await this.local(detect, tr);
          if (hit && this.tracks.every((o) => !seen.has(o.id) || iou(hit.box, o.box) < this.iouThreshold)) {
            move(tr, hit);
            seen.add(tr.id);
          }
        }
      } else {
        for (const tr of this.tracks) {
          const hit = await this.local(detect, tr);
          if (hit) { move(tr, hit); seen.add(tr.id); }
        }
      }
      for (const tr of this.tracks) tr.missed = seen.has(tr.id) ? 0 : tr.missed + 1;
      this.tracks = this.tracks.filter((tr) => tr.missed <= this.maxMissed);
      const keep = [];  // two tracks on one face (after drift): keep the older one
      for (const tr of [...this.tracks].sort((a, b) => a.id - b.id)) {
        if (keep.every((k) => iou(tr.box, k.box) < 0.5)) keep.push(tr);
      }
      this.tracks = keep;
      const live = this.tracks.filter((tr) => tr.missed === 0);
      if (live.length) {
        const probs = await classify(live.map((tr) => ({ box: tr.box.map(rint), landmarks: tr.landmarks })));
        live.forEach((tr, i) => {
          tr.probs = tr.probs === null ? Array.from(probs[i])
            : tr.probs.map((p, k) => this.smooth * p + (1 - this.smooth) * probs[i][k]);
        });
      }
      return this.tracks.filter((tr) => tr.probs !== null && tr.missed <= this.hold).sort((a, b) => a.id - b.id)
        .map((tr) => ({ id: tr.id, box: tr.box.map(rint), probs: tr.probs.map(f32), score: tr.score }));
    }
  }

  return {
    rint, yunetSettings, trackerSettings, greyFromRGBA, resizeArea, resizeLinear, toFace, squareBox, cropFace,
    eyeAngle, rotationMatrix, invertAffine, warpAffine, alignedCrop, faceCrops, toInput, withTemperature, calibrated,
    faceRecord, yunetOutputs, yunetScales, yunetSize, yunetBlob, iou, nmsBoxes, yunetDecode, yunetFaces,
    clipBox, freeDims, match, shifted, FaceTracker,
  };
}));
