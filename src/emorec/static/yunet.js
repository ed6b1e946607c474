// emorec's in-browser engine (engine.js): the YuNet face detector's work around its network
// (src/emorec/detectors/yunet.py): the scales an image is searched at, the network's input at each, its
// outputs decoded into faces with their five landmarks, non-maximum suppression as cv2.dnn.NMSBoxes does it,
// the scales' faces merged, too small or large ones dropped, the largest first. The network itself runs in
// browser.js (ONNX Runtime Web); its settings come from the manifest (settings.js's yunetSettings). No DOM:
// it runs in the page and in Node.
"use strict";

(function (root, factory) {
  const deps = ["numeric"];
  if (typeof module === "object" && module.exports) module.exports = factory(...deps.map((d) => require(`./${d}.js`)));
  else {
    const parts = root.EmorecEngineParts = root.EmorecEngineParts || {}, absent = deps.filter((d) => !parts[d]);
    if (absent.length) throw new Error(`yunet.js needs ${absent.map((d) => `${d}.js`).join(", ")} loaded before it`);
    parts.yunet = factory(...deps.map((d) => parts[d]));
  }
}(typeof self !== "undefined" ? self : this, function ({ rint, clamp, iou }) {
  const f32 = Math.fround;

  // ---------------------------------------------------------------- YuNet (detectors/yunet.py)
  // ``settings``: yunetSettings(manifest.detector)

  /** YuNet's output names (detectors/yunet.py's OUTPUTS) for the network's strides. */
  function yunetOutputs(settings) {
    return ["cls", "obj", "bbox", "kps"].flatMap((k) => settings.strides.map((s) => `${k}_${s}`));
  }

  /** The scales YuNet searches an image at (detectors/yunet.py's search_scales and pass_scales). */
  function yunetScales(settings, width, height, minPx = null, maxPx = null) {
    const Y = settings;
    const mp = Math.max(Y.minPx, minPx || Y.minSize);
    const short = Math.min(width, height);
    let scale = Y.workSize ? Math.min(1.0, Y.workSize / mp) : 1.0;
    scale = Math.max(scale, Math.min(1.0, Y.minInput / short));
    if (maxPx == null && short < Y.smallImage) scale = Math.max(scale, Math.min(Y.upscale, Y.smallImage / short));
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
    const w = scale === 1 ? width : Math.max(1, rint(width * scale));
    const h = scale === 1 ? height : Math.max(1, rint(height * scale));
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

  return {
    yunetOutputs, yunetScales, yunetSize, yunetBlob, nmsBoxes, yunetDecode, yunetFaces,
  };
}));
