// emorec's in-browser engine (engine.js): the model card's preprocessing contract, from an image's RGBA
// pixels to the 48x48 grey faces the classifier sees (src/emorec/crop.py, preprocess.py; the card's
// "preprocess"). Square crop centred on the box with side max(w, h) * (1 + 2 * margin), border pixels
// repeated, turned about the box centre so the eyes lie level (YuNet's landmarks); grey with cv2's BGR2GRAY
// weights; 48x48 by area interpolation when shrinking, linear when enlarging. The integer arithmetic of
// OpenCV's 8-bit paths (BGR2GRAY, warpAffine INTER_LINEAR, resize INTER_AREA and INTER_LINEAR) is reproduced,
// so that a crop made here has the pixels Python's has. No DOM: it runs in the page and in Node.
"use strict";

(function (root, factory) {
  const deps = ["numeric", "settings"];
  if (typeof module === "object" && module.exports) module.exports = factory(...deps.map((d) => require(`./${d}.js`)));
  else {
    const parts = root.EmorecEngineParts = root.EmorecEngineParts || {}, absent = deps.filter((d) => !parts[d]);
    if (absent.length) throw new Error(`preprocess.js needs ${absent.map((d) => `${d}.js`).join(", ")} loaded before it`);
    parts.preprocess = factory(...deps.map((d) => parts[d]));
  }
}(typeof self !== "undefined" ? self : this, function ({ rint, clamp }, { needNumber }) {
  const f32 = Math.fround;

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

  /** Enlarge a uint8 image (``cn`` channels interleaved) with bilinear interpolation as cv2.INTER_LINEAR does
   *  on 8 bits: 11-bit weights, rows filtered horizontally then vertically (the vertical step in OpenCV's SIMD
   *  form for every value of a row, its tail too: equal to cv2.resize on 1 and 3 channels, rows of 3-774 values).
   *  ``outChannels``: keep only the first ones (RGBA in, RGB out), as resizeArea. */
  function resizeLinear(src, sw, sh, dw, dh, cn = 1, outChannels = 0) {
    const n = dw * cn, ocn = outChannels || cn, dst = new Uint8Array(dw * dh * ocn);
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
        const sx = xo[x], s = (base + sx) * cn;
        for (let c = 0; c < cn; c++) {
          out[x * cn + c] = sx >= sw - 1 ? src[s + c] * 2048 : src[s + c] * xw[2 * x] + src[s + cn + c] * xw[2 * x + 1];
        }
      }
    };
    const r0 = new Int32Array(n), r1 = new Int32Array(n);
    for (let y = 0; y < dh; y++) {
      hrow(yo[y], r0); hrow(yo[y] + 1, r1);
      const b0 = yw[2 * y], b1 = yw[2 * y + 1];
      for (let x = 0; x < dw; x++) {
        for (let c = 0; c < ocn; c++) {  // every value alike: dropping a channel leaves the others as they were
          const t0 = clamp(r0[x * cn + c] >> 4, -32768, 32767), t1 = clamp(r1[x * cn + c] >> 4, -32768, 32767);
          dst[(y * dw + x) * ocn + c] = clamp((((t0 * b0) >> 16) + ((t1 * b1) >> 16) + 2) >> 2, 0, 255);
        }
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

  return {
    greyFromRGBA, resizeArea, resizeLinear, toFace, squareBox, cropFace, eyeAngle, rotationMatrix, invertAffine,
    warpAffine, alignedCrop, faceCrops,
  };
}));
