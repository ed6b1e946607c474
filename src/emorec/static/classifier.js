// emorec's in-browser engine (engine.js): the emotion classifier's input and output. The 48x48 grey faces
// scaled to x / 255 * 2 - 1 (preprocess.scaled), the network's probabilities recalibrated with the card's
// temperature (calibration.with_temperature), and each face's JSON as Face.to_dict writes it ("unsure",
// emotion null, below min_confidence). No DOM: it runs in the page and in Node.
"use strict";

(function (root, factory) {
  const deps = ["numeric"];
  if (typeof module === "object" && module.exports) module.exports = factory(...deps.map((d) => require(`./${d}.js`)));
  else {
    const parts = root.EmorecEngineParts = root.EmorecEngineParts || {}, absent = deps.filter((d) => !parts[d]);
    if (absent.length) throw new Error(`classifier.js needs ${absent.map((d) => `${d}.js`).join(", ")} loaded before it`);
    parts.classifier = factory(...deps.map((d) => parts[d]));
  }
}(typeof self !== "undefined" ? self : this, function ({ clamp }) {
  const f32 = Math.fround;

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

  return {
    toInput, withTemperature, calibrated, faceRecord,
  };
}));
