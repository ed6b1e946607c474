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
// yunetSettings and trackerSettings, and the functions take them as arguments.
//
// This file is the engine's one entry: its work lies in the files of PARTS (each one concept), which it
// gathers into one object, EmorecEngine, with the same names whichever way it is loaded:
//   numeric.js     rounding as numpy / OpenCV do, IoU, boxes cut to the image
//   settings.js    the manifest's YuNet and tracker settings (yunetSettings, trackerSettings)
//   preprocess.js  grey, resizes, crops and their alignment: the card's preprocessing
//   classifier.js  the classifier's input (x / 255 * 2 - 1) and output (temperature, a face's JSON)
//   yunet.js       YuNet's search scales, input, decoding and NMS
//   onnxshape.js   YuNet's ONNX file made to accept any input size
//   tracker.js     FaceTracker: faces followed across webcam frames
// In Node, require("engine.js") requires them (module.exports); in a page, <script> tags load them before
// this one, in PARTS' order (index.html; each adds itself to self.EmorecEngineParts), and this file sets
// self.EmorecEngine.
"use strict";

(function (root, factory) {
  const PARTS = ["numeric", "settings", "preprocess", "classifier", "yunet", "onnxshape", "tracker"];
  if (typeof module === "object" && module.exports) {
    module.exports = factory(PARTS.map((p) => require(`./${p}.js`)));
  } else {
    const parts = root.EmorecEngineParts || {}, absent = PARTS.filter((p) => !parts[p]);
    if (absent.length) {
      throw new Error(`engine.js needs ${absent.map((p) => `${p}.js`).join(", ")} loaded before it ` +
        `(in this order: ${PARTS.map((p) => `${p}.js`).join(", ")})`);
    }
    root.EmorecEngine = factory(PARTS.map((p) => parts[p]));
  }
}(typeof self !== "undefined" ? self : this, function (parts) {
  const all = Object.assign({}, ...parts);
  const PUBLIC = [
    "rint", "yunetSettings", "trackerSettings", "greyFromRGBA", "resizeArea", "resizeLinear", "toFace", "squareBox",
    "cropFace", "eyeAngle", "rotationMatrix", "invertAffine", "warpAffine", "alignedCrop", "faceCrops", "toInput",
    "withTemperature", "calibrated", "faceRecord", "yunetOutputs", "yunetScales", "yunetSize", "yunetBlob", "iou",
    "nmsBoxes", "yunetDecode", "yunetFaces", "clipBox", "freeDims", "match", "shifted", "FaceTracker",
  ];
  const engine = {};
  for (const name of PUBLIC) {
    if (typeof all[name] !== "function") throw new Error(`the engine's files define no ${name}`);
    engine[name] = all[name];
  }
  return engine;
}));
