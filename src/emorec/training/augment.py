"""Batched random augmentation on tensors: rotation, shift, zoom and horizontal flip.

One affine matrix per image, applied with ``affine_grid``/``grid_sample`` for the whole batch
(edge pixels repeated at the border, as Keras' ``fill_mode='nearest'``). Runs on the batch's device;
the random numbers come from ``generator``, which must live on that device too.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(x: torch.Tensor, *, rotation: float = 10.0, shift: float = 0.1, zoom: float = 0.1,
                  flip: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment a batch ``(N, C, H, W)``: rotation in ±``rotation`` degrees, shift in ±``shift`` of the
    size, zoom in 1±``zoom``, a horizontal flip with probability 1/2."""
    n, dev = x.shape[0], x.device
    u = lambda: torch.rand(n, generator=generator, device=dev) * 2 - 1  # noqa: E731  uniform in [-1, 1]
    angle = u() * math.radians(rotation)
    scale = 1 + u() * zoom  # >1 samples a wider area: zoom out
    tx, ty = u() * shift * 2, u() * shift * 2  # grid coordinates span [-1, 1]: 2 units = full size
    sign = (torch.where(torch.rand(n, generator=generator, device=dev) < 0.5, -1.0, 1.0) if flip
            else torch.ones(n, device=dev))
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos * sign, -sin, tx], 1), torch.stack([sin * sign, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
