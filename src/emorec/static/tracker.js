// emorec's in-browser engine (engine.js): following faces across webcam frames (src/emorec/tracking.py's
// FaceTracker, match, and Detections.transformed for a region's faces). Its settings come from the manifest
// (settings.js's trackerSettings). No DOM: it runs in the page and in Node.
"use strict";

(function (root, factory) {
  const deps = ["numeric", "settings"];
  if (typeof module === "object" && module.exports) module.exports = factory(...deps.map((d) => require(`./${d}.js`)));
  else {
    const parts = root.EmorecEngineParts = root.EmorecEngineParts || {}, absent = deps.filter((d) => !parts[d]);
    if (absent.length) throw new Error(`tracker.js needs ${absent.map((d) => `${d}.js`).join(", ")} loaded before it`);
    parts.tracker = factory(...deps.map((d) => parts[d]));
  }
}(typeof self !== "undefined" ? self : this, function ({ rint, iou }, { needNumber }) {
  const f32 = Math.fround;

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
    match, shifted, FaceTracker,
  };
}));
