// emorec's in-browser engine (engine.js): the arithmetic its other files share. Rounding as numpy and OpenCV
// round (half to even), clamping, and the two box operations of emorec's Python code that several steps use:
// the overlap of two boxes (tracking.iou, OpenCV's Rect overlap in NMS) and a box cut to the image
// (recognizer.clip_boxes). No DOM: it runs in the page and in Node.
"use strict";

(function (root, factory) {
  const deps = [];
  if (typeof module === "object" && module.exports) module.exports = factory(...deps.map((d) => require(`./${d}.js`)));
  else {
    const parts = root.EmorecEngineParts = root.EmorecEngineParts || {}, absent = deps.filter((d) => !parts[d]);
    if (absent.length) throw new Error(`numeric.js needs ${absent.map((d) => `${d}.js`).join(", ")} loaded before it`);
    parts.numeric = factory(...deps.map((d) => parts[d]));
  }
}(typeof self !== "undefined" ? self : this, function () {
  // ---------------------------------------------------------------- rounding as numpy / OpenCV do
  /** Round half to even (numpy's rint, Python's round, cvRound). */
  function rint(x) {
    const r = Math.floor(x + 0.5);
    return (r - x === 0.5 && (r % 2) !== 0) ? r - 1 : r;
  }
  const clamp = (v, lo, hi) => (v < lo ? lo : v > hi ? hi : v);

  // ---------------------------------------------------------------- boxes [x, y, w, h]
  /** Intersection over union of two [x, y, w, h] boxes (OpenCV's Rect overlap for NMS, tracking.iou). */
  function iou(a, b) {
    const iw = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
    const ih = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
    const inter = iw * ih, union = a[2] * a[3] + b[2] * b[3] - inter;
    return union > 0 ? inter / union : 0;
  }

  /** Boxes cut to the image, at least 1 px a side (recognizer.clip_boxes). */
  function clipBox(box, width, height) {
    const x0 = clamp(box[0], 0, width - 1), y0 = clamp(box[1], 0, height - 1);
    const x1 = clamp(box[0] + box[2], x0 + 1, width), y1 = clamp(box[1] + box[3], y0 + 1, height);
    return [x0, y0, x1 - x0, y1 - y0];
  }

  return {
    rint, clamp, iou, clipBox,
  };
}));
