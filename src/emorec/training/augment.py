"""Batched random augmentation on tensors in [-1, 1]: geometry, photometry and erasing.

* :func:`random_affine`: rotation, shift, zoom and horizontal flip; one affine matrix per image, applied with
  ``affine_grid``/``grid_sample`` for the whole batch (edge pixels repeated at the border, as Keras'
  ``fill_mode='nearest'``).
* :func:`random_photometric`: blur or sharpen (``x + a * (x - gaussian(x))``, ``a`` in ±``sharpness``:
  negative blurs, positive sharpens), then contrast around each image's mean and a brightness offset.
* :func:`random_erasing`: with probability ``p``, one rectangle of 2-20% of the image filled with noise
  (Zhong et al. 2020).

:func:`augment` runs them in that order with the parameters of a preset from
:data:`emorec.training.config.AUGMENTATIONS`. Everything runs on the batch's device; the random numbers
come from ``generator``, which must live on that device too.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _uniform(n: int, lo: float, hi: float, x: torch.Tensor, generator) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=x.device) * (hi - lo) + lo


def random_affine(x: torch.Tensor, *, rotation: float = 10.0, shift: float = 0.1, zoom: float = 0.1,
                  flip: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment a batch ``(N, C, H, W)``: rotation in ±``rotation`` degrees, shift in ±``shift`` of the
    size, zoom in 1±``zoom``, a horizontal flip with probability 1/2."""
    n, dev = x.shape[0], x.device
    u = lambda: _uniform(n, -1, 1, x, generator)  # noqa: E731
    angle = u() * math.radians(rotation)
    scale = 1 + u() * zoom  # >1 samples a wider area: zoom out
    tx, ty = u() * shift * 2, u() * shift * 2  # grid coordinates span [-1, 1]: 2 units = full size
    sign = (torch.where(torch.rand(n, generator=generator, device=dev) < 0.5, -1.0, 1.0) if flip
            else torch.ones(n, device=dev))
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos * sign, -sin, tx], 1), torch.stack([sin * sign, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _gaussian_blur(x: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    r = max(1, math.ceil(2 * sigma))
    k = torch.exp(-torch.arange(-r, r + 1, device=x.device, dtype=x.dtype) ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def random_photometric(x: torch.Tensor, *, sharpness: float = 0.0, contrast: float = 0.0, brightness: float = 0.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Blur/sharpen by a random amount in ±``sharpness``, contrast x(1±``contrast``) around each image's mean,
    brightness ±``brightness`` (in the [-1, 1] scale); clipped to [-1, 1]."""
    if not (sharpness or contrast or brightness):
        return x
    n = x.shape[0]
    view = (n, 1, 1, 1)
    if sharpness:
        a = _uniform(n, -sharpness, sharpness, x, generator).view(view)
        x = x + a * (x - _gaussian_blur(x))
    if contrast or brightness:
        c = _uniform(n, 1 - contrast, 1 + contrast, x, generator).view(view)
        b = _uniform(n, -brightness, brightness, x, generator).view(view)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * c + mean + b
    return x.clamp(-1.0, 1.0)


def random_erasing(x: torch.Tensor, *, p: float = 0.5, area: tuple[float, float] = (0.02, 0.2),
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """With probability ``p`` per image, replace one rectangle (``area`` of the image, aspect 0.3-3.3) by
    uniform noise in [-1, 1]."""
    if not p:
        return x
    n, _, h, w = x.shape
    s = _uniform(n, *area, x, generator) * h * w
    aspect = torch.exp(_uniform(n, math.log(0.3), math.log(1 / 0.3), x, generator))
    eh = torch.sqrt(s * aspect).round().clamp(1, h)
    ew = torch.sqrt(s / aspect).round().clamp(1, w)
    y0 = (_uniform(n, 0, 1, x, generator) * (h - eh + 1)).floor()
    x0 = (_uniform(n, 0, 1, x, generator) * (w - ew + 1)).floor()
    on = torch.rand(n, generator=generator, device=x.device) < p
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    v = lambda t: t.view(n, 1, 1)  # noqa: E731
    mask = (rows >= v(y0)) & (rows < v(y0 + eh)) & (cols >= v(x0)) & (cols < v(x0 + ew)) & v(on)
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1
    return torch.where(mask.unsqueeze(1), noise, x)


def augment(x: torch.Tensor, params: dict, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply a preset (see ``AUGMENTATIONS``): affine, then photometric, then erasing."""
    x = random_affine(x, rotation=params.get("rotation", 0.0), shift=params.get("shift", 0.0),
                      zoom=params.get("zoom", 0.0), flip=params.get("flip", False), generator=generator)
    x = random_photometric(x, sharpness=params.get("sharpness", 0.0), contrast=params.get("contrast", 0.0),
                           brightness=params.get("brightness", 0.0), generator=generator)
    return random_erasing(x, p=params.get("erase", 0.0), generator=generator)
