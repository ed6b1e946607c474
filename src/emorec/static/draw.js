// emorec page: drawing a result, the faces' boxes, labels and probability bars over the image (a canvas on
// top of it) and the list of faces under it, in each emotion's colour (the manifest's palette).
// It is one of the page's classic scripts, which share one global scope (no modules, no build step):
// index.html loads draw.js, analyze.js, camera.js, then app.js, which declares what they share (el, state,
// the URL's options, showError, options(), show()) and starts the page; the functions here run only after it.
"use strict";

// the colour of an emotion: the manifest's (emorec.drawing.EMOTION_COLORS as CSS), by its common name (the
// manifest's synonyms: FER+'s 'happiness' is 'happy'); other names get its fallback colour. Without a manifest
// (a server that serves none) every face gets the page's accent colour.
const colorOf = (emotion) => {
  const site = state.site || {}, colors = site.colors || {}, synonyms = site.synonyms || {};
  const key = String(emotion).trim().toLowerCase();
  return colors[synonyms[key] || key] || site.fallback_color ||
    getComputedStyle(document.documentElement).getPropertyValue("--accent").trim();
};
// black or white, whichever reads better on a "#rrggbb" colour (WCAG contrast)
const inkOn = (hex) => {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return "#fff";
  const lin = (c) => { const v = parseInt(c, 16) / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = 0.2126 * lin(m[1]) + 0.7152 * lin(m[2]) + 0.0722 * lin(m[3]);
  return (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) ? "#000" : "#fff";
};
const pct = (p) => `${Math.round(p * 100)}%`;
// a face's label: its emotion, or "unsure" where the server withheld it (emotion null: below min_confidence)
const labelOf = (face) => face.emotion ?? "unsure";
const topOf = (face) => Math.max(...Object.values(face.scores));

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
    ctx.fillStyle = inkOn(color);
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
