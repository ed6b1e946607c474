"""Reading the checkpoints ``emorec train`` writes (``best.pt``, ``last.pt``): one reader for training's
``--resume`` and for ``emorec export``."""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path

import torch

from ..errors import ModelError

_WHAT = "not an emorec checkpoint (a .pt written by 'emorec train')"


def read_checkpoint(path) -> dict:
    """The dict of a checkpoint, loaded with ``weights_only=True`` (tensors and plain types only). Any other
    file (text, an image, a pickle of something else, a truncated download, a folder) is a
    :class:`ModelError` naming it: PyTorch writes checkpoints as zip archives, so a file that is not one
    is refused before PyTorch's legacy unpickler reads it (which fails with errors like ``KeyError: 101``)."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: checkpoint not found")
    if path.is_dir():
        raise ModelError(f"{path}: is a folder; give a checkpoint such as {path / 'best.pt'}")
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError as e:
        raise ModelError(f"{path}: cannot read: {e.strerror or e}") from e
    if not is_zip:
        raise ModelError(f"{path}: {_WHAT}: not a PyTorch zip archive")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyTorch's notes on pickle protocols would bury the message
            ck = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ModelError(f"{path}: {_WHAT}: not a PyTorch file of tensors and plain values (it was read with "
                         "weights_only=True)") from e
    except Exception as e:  # noqa: BLE001 -- PyTorch raises many types for a damaged file
        why = "truncated or damaged" if "zip" in str(e).lower() or isinstance(e, EOFError) else \
            (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ModelError(f"{path}: {_WHAT}: {why}") from e
    if not isinstance(ck, dict) or "model" not in ck:
        raise ModelError(f"{path}: {_WHAT}: holds a {type(ck).__name__}"
                         + (" without a 'model' entry" if isinstance(ck, dict) else ", not a dict"))
    return ck
