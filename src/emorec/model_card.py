"""Model cards: the JSON beside each ``.onnx`` that says what the model expects and how it scored."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import ModelError
from .labels import FER2013_CLASSES, FERPLUS_CLASSES
from .preprocess import SCALING

MODELS_DIR = Path(__file__).parent / "models"
BUILTIN = ("fer2013", "ferplus", "fer2013-ensemble")


def ensemble_members(model) -> list:
    """The models of an ensemble ``"a+b"`` (built-in names or ``.onnx`` paths), or ``[model]`` for one model."""
    if not (isinstance(model, str) and "+" in model) or Path(model).exists():
        return [model]
    parts = [p.strip() for p in model.split("+")]
    if not all(parts):
        raise ModelError(f"model {model!r}: an ensemble names its models joined by '+', e.g. fer2013+ferplus")
    return parts


def resolve(model) -> Path:
    """A built-in name (``fer2013``, ``ferplus``) or a path to an ``.onnx`` file. For an ensemble ``"a+b"``
    every member is checked and the first one's path is returned: its card describes the ensemble's input
    and classes."""
    members = ensemble_members(model)
    if len(members) > 1:
        return [resolve(m) for m in members][0]
    if isinstance(model, str) and model in BUILTIN:
        path = MODELS_DIR / f"{model}.onnx"
        if not path.exists():
            raise ModelError(f"built-in model {model!r} is missing from the installation ({path})")
        return path
    path = Path(model)
    if not path.exists():
        raise ModelError(f"model {str(model)!r} not found: give one of {', '.join(BUILTIN)} or a path to an .onnx file")
    if path.suffix.lower() != ".onnx":
        raise ModelError(f"{path}: expected an .onnx file (export a checkpoint with 'emorec export')")
    return path


def read_card(onnx_path: Path, num_outputs: int | None = None, input_size: int | None = None) -> dict:
    """The card beside a model; without one, a minimal card inferred from the graph's shapes."""
    card_path = Path(onnx_path).with_suffix(".json")
    if card_path.exists():
        try:
            card = json.loads(card_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ModelError(f"{card_path}: unreadable model card: {e}") from e
        for key in ("classes", "input_size"):
            if key not in card:
                raise ModelError(f"{card_path}: model card lacks {key!r}")
        return card
    classes = {7: FER2013_CLASSES, 8: FERPLUS_CLASSES}.get(num_outputs) or [f"class_{i}" for i in range(num_outputs or 0)]
    return {"name": Path(onnx_path).stem, "classes": list(classes), "input_size": input_size or 48,
            "scaling": SCALING}


def list_models() -> list[dict]:
    """Cards of the built-in models."""
    return [json.loads((MODELS_DIR / f"{m}.json").read_text()) for m in BUILTIN if (MODELS_DIR / f"{m}.json").exists()]


def preprocess_contract(input_size: int = 48) -> dict:
    """The ``preprocess`` section of a model card: everything between a detected face and the network's
    input, so a model is fed at run time exactly as in training. :class:`emorec.EmotionRecognizer` reads
    the crop geometry per detector from here (the detectors' own defaults apply where a card has none)."""
    from .crop import MARGIN
    from .detectors import haar, yunet

    return {
        "input_size": int(input_size),
        "channels": 1,
        "color": "grey: cv2.cvtColor BGR2GRAY (BGRA2GRAY for 4 channels); 16-bit images >> 8",
        "scaling": SCALING,
        "interpolation": "cv2.INTER_AREA when shrinking a crop, cv2.INTER_LINEAR when enlarging it",
        "crop": {
            "shape": "square centred on the box, side max(w, h) * (1 + 2 * margin); pixels outside the image "
                     "repeat its border; align: turned about the box centre so the eyes lie level",
            "haar": {"margin": MARGIN, "align": haar.ALIGN},
            "yunet": {"margin": MARGIN, "align": yunet.ALIGN},
        },
    }


def public_card(card: dict) -> dict:
    """What ``GET /v1/models`` and the page's static site (:mod:`emorec.web`) show of a model card: public facts only (architecture, classes, input,
    accuracy figures, licence, training recipe without its local paths), never a path of the machine
    that made it."""
    keys = ("name", "format", "arch", "arch_kwargs", "parameters", "labels", "classes", "input_size", "input",
            "scaling", "output", "epochs_trained", "sha256", "exported", "license", "licence", "description",
            "citation", "selection", "preprocess", "calibration")
    out = {k: card[k] for k in keys if k in card}
    recipe = card.get("recipe") or {}
    hyper = ("arch", "image_size", "epochs", "batch_size", "lr", "weight_decay", "label_smoothing", "schedule",
             "warmup_epochs", "train_split", "val_split", "val_fraction", "val_seed", "seed", "bf16", "precision",
             "augment", "train_rows", "val_rows")
    if recipe:
        out["training"] = {k: recipe[k] for k in hyper if k in recipe}
    if card.get("members"):  # an ensemble: each member's public facts, its recipe without paths
        out["members"] = [{**{k: m[k] for k in ("name", "arch", "parameters", "sha256", "selection") if k in m},
                           "training": {k: (m.get("recipe") or {})[k] for k in hyper + ("distill_weight",)
                                        if k in (m.get("recipe") or {})}} for m in card["members"]]
    figures = ("rows", "accuracy", "accuracy_flip_tta", "macro_f1", "per_class", "confusion_matrix", "labels")
    evaluation = card.get("evaluation") or {}
    if isinstance(evaluation, dict) and evaluation:
        out["evaluation"] = {split: {k: v[k] for k in figures if k in v}
                             for split, v in evaluation.items() if isinstance(v, dict)}
    return out
