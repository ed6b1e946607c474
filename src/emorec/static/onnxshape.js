// emorec's in-browser engine (engine.js): ONNX input and output shapes made free (detectors/onnx_shape.py),
// by editing the model's protocol-buffer bytes, so that ONNX Runtime Web runs YuNet at any size. No DOM: it
// runs in the page and in Node.
"use strict";

(function (root, factory) {
  const deps = [];
  if (typeof module === "object" && module.exports) module.exports = factory(...deps.map((d) => require(`./${d}.js`)));
  else {
    const parts = root.EmorecEngineParts = root.EmorecEngineParts || {}, absent = deps.filter((d) => !parts[d]);
    if (absent.length) throw new Error(`onnxshape.js needs ${absent.map((d) => `${d}.js`).join(", ")} loaded before it`);
    parts.onnxshape = factory(...deps.map((d) => parts[d]));
  }
}(typeof self !== "undefined" ? self : this, function () {
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

  return {
    freeDims,
  };
}));
