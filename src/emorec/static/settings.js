// emorec's in-browser engine (engine.js): its settings. The crop margin, YuNet's thresholds and search sizes
// and the webcam tracker's settings are not written in the page's files: they come from the site's
// models/index.json (emorec.web.manifest, made from the Python constants) through yunetSettings and
// trackerSettings, and the engine's functions take them as arguments; a setting missing is an error
// (needNumber), never a default.
"use strict";

(function (root, factory) {
  const deps = [];
  if (typeof module === "object" && module.exports) module.exports = factory(...deps.map((d) => require(`./${d}.js`)));
  else {
    const parts = root.EmorecEngineParts = root.EmorecEngineParts || {}, absent = deps.filter((d) => !parts[d]);
    if (absent.length) throw new Error(`settings.js needs ${absent.map((d) => `${d}.js`).join(", ")} loaded before it`);
    parts.settings = factory(...deps.map((d) => parts[d]));
  }
}(typeof self !== "undefined" ? self : this, function () {
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
    "small_image", "upscale", "largest", "next_pass", "min_pass", "strides"];
  const TRACKER_KEYS = ["detect_every", "smooth", "iou_threshold", "max_missed", "search", "hold"];

  /** YuNet's settings from the manifest's ``detector`` entry (detectors/yunet.py's constants), camelCased:
   *  scoreThreshold, nmsThreshold, topK, minSize, workSize, minInput, minPx, smallImage, upscale, largest,
   *  nextPass, minPass, strides. */
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

  return {
    yunetSettings, trackerSettings, needNumber,
  };
}));
