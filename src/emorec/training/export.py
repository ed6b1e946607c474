"""Export a training checkpoint to ONNX (dynamic batch axis, softmax inside) with its model card."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelError
from ..model_card import sha256
from ..preprocess import SCALING
from .net import ARCHITECTURES, WithSoftmax, build_model


def load_checkpoint(path) -> tuple[torch.nn.Module, dict]:
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: checkpoint not found")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        model = build_model(ck["arch"], len(ck["classes"]))
        model.load_state_dict(ck["model"])
    except (KeyError, RuntimeError, EOFError, OSError) as e:
        raise ModelError(f"{path}: not an emorec checkpoint: {e}") from e
    return model.eval(), ck


def export_onnx(checkpoint, out, *, name: str | None = None, opset: int = 17) -> Path:
    """Write ``out`` (.onnx) and a first card (``.json``); :func:`write_card` adds the evaluation."""
    model, ck = load_checkpoint(checkpoint)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    size = int(ck["image_size"])
    dummy = torch.zeros(2, 1, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(WithSoftmax(model), (dummy,), str(out), input_names=["faces"], output_names=["probs"],
                          dynamic_axes={"faces": {0: "batch"}, "probs": {0: "batch"}}, opset_version=opset,
                          dynamo=False)
    run_dir = Path(checkpoint).parent
    config = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").exists() else ck.get("config", {})
    card = {
        "name": name or out.stem,
        "format": "onnx",
        "arch": ck["arch"],
        "arch_kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in ARCHITECTURES[ck["arch"]].items()},
        "parameters": sum(p.numel() for p in model.parameters()),
        "labels": ck.get("labels", "fer2013"),
        "classes": list(ck["classes"]),
        "input_size": size,
        "input": f"float32 (N, 1, {size}, {size}), grey face crop",
        "scaling": SCALING,
        "output": "float32 (N, classes) softmax probabilities",
        "epochs_trained": int(ck["epoch"]) + 1,
        "checkpoint_val_acc": float(ck.get("val_acc", float("nan"))),
        "recipe": config,
        "sha256": sha256(out),
        "exported": time.strftime("%Y-%m-%d"),
    }
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return out


def max_abs_difference(checkpoint, onnx_path, faces: np.ndarray) -> float:
    """PyTorch against ONNX Runtime on the same preprocessed faces."""
    import onnxruntime as ort

    from ..preprocess import preprocess

    model, ck = load_checkpoint(checkpoint)
    x = preprocess(faces, int(ck["image_size"]))
    with torch.no_grad():
        ref = torch.softmax(model(torch.from_numpy(x)), 1).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    return float(np.abs(ref - got).max())
