"""Augmenting MNIST-shaped digits for training, so that digits drawn with a mouse classify as
well as MNIST's pen scans: strokes get thicker or thinner, each digit is rotated, scaled, sheared
and shifted, and optionally bent, all batched in torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from explorer.mnist import normalise, unnormalise


@dataclass
class AugmentConfig:
    """Ranges of the random changes; each digit draws its own values uniformly from them."""

    rotation_deg: float = 15.0  # rotate by up to this many degrees either way
    scale: tuple[float, float] = (0.8, 1.15)  # zoom factor
    shear_deg: float = 10.0  # horizontal shear, either way
    translate_px: float = 3.0  # shift in x and y, either way
    thicken: float = 1.0  # blend up to this much of a 3x3 dilation (mouse strokes are bold)
    thin: float = 0.5  # blend up to this much of a 3x3 erosion (a full one erases thin digits)
    elastic_px: float = 0.0  # bend strokes locally by up to this many pixels (0: off)
    elastic_sigma_px: float = 4.0  # how smooth the bending is: the width of its Gaussian


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator) * (high - low) + low


def change_strokes(ink: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Thicken (amount > 0) or thin (amount < 0) strokes of [0, 1] images by part of a 3x3 step.

    Args:
        ink: (N, 1, H, W) images, ink bright, background 0.
        amount: (N,) values in [-1, 1]; 1 is a full dilation, -1 a full erosion.
    """
    dilated = F.max_pool2d(ink, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-ink, 3, stride=1, padding=1)
    a = amount.view(-1, 1, 1, 1)
    target = torch.where(a > 0, dilated, eroded)
    return ink + a.abs() * (target - ink)


def random_affine(
    ink: torch.Tensor, config: AugmentConfig, generator: torch.Generator
) -> torch.Tensor:
    """Rotate, scale, shear and shift each [0, 1] image by its own random amounts."""
    n, _, h, w = ink.shape
    angle = torch.deg2rad(_uniform(n, -config.rotation_deg, config.rotation_deg, generator))
    shear = torch.tan(torch.deg2rad(_uniform(n, -config.shear_deg, config.shear_deg, generator)))
    scale = _uniform(n, *config.scale, generator)
    # affine_grid's coordinates run from -1 to 1 across the image, so one pixel is 2 / size
    shift = torch.stack(
        [
            _uniform(n, -config.translate_px, config.translate_px, generator) * 2 / w,
            _uniform(n, -config.translate_px, config.translate_px, generator) * 2 / h,
        ],
        dim=1,
    )  # (N, 2)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotate = torch.stack([cos, -sin, sin, cos], dim=1).view(n, 2, 2)
    shear_m = torch.stack([torch.ones(n), shear, torch.zeros(n), torch.ones(n)], 1).view(n, 2, 2)
    forward = rotate @ shear_m * scale.view(n, 1, 1)  # where each input point lands
    # the grid asks, for every output pixel, where to read from: the inverse map
    inverse = torch.linalg.inv(forward)  # (N, 2, 2)
    theta = torch.cat([inverse, -(inverse @ shift.unsqueeze(2))], dim=2)  # (N, 2, 3)
    grid = F.affine_grid(theta, list(ink.shape), align_corners=False)
    return F.grid_sample(ink, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_elastic(
    ink: torch.Tensor, config: AugmentConfig, generator: torch.Generator
) -> torch.Tensor:
    """Bend each [0, 1] image by a smooth random displacement field (Simard et al., 2003).

    Pen strokes wobble where an affine map cannot: a loop drawn rounder, a stem that curves.
    """
    n, _, h, w = ink.shape
    noise = torch.rand(n, 2, h, w, generator=generator) * 2 - 1  # (N, 2, H, W): dx, dy
    sigma = config.elastic_sigma_px
    radius = math.ceil(2 * sigma)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).to(ink.dtype)
    field = F.conv2d(
        noise, taps.view(1, 1, 1, -1).expand(2, 1, 1, -1), padding=(0, radius), groups=2
    )
    field = F.conv2d(
        field, taps.view(1, 1, -1, 1).expand(2, 1, -1, 1), padding=(radius, 0), groups=2
    )
    # the largest shift of each image becomes elastic_px pixels (2 / size per pixel on the grid)
    peak = field.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
    field = field / peak * config.elastic_px * torch.tensor([2 / w, 2 / h]).view(1, 2, 1, 1)
    identity = torch.eye(2, 3).expand(n, 2, 3)
    grid = F.affine_grid(identity, list(ink.shape), align_corners=False)  # (N, H, W, 2)
    grid = grid + field.permute(0, 2, 3, 1)
    return F.grid_sample(ink, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment(
    images: torch.Tensor, config: AugmentConfig, generator: torch.Generator
) -> torch.Tensor:
    """Random stroke width and affine changes of normalised digits; returns normalised digits."""
    # work on ink in [0, 1] so that dilation, erosion and zero padding mean what they say
    ink = unnormalise(images).clamp(0, 1)  # (N, 1, 28, 28)
    amount = _uniform(ink.shape[0], -config.thin, config.thicken, generator)
    ink = change_strokes(ink, amount)
    ink = random_affine(ink, config, generator)
    if config.elastic_px > 0:
        ink = random_elastic(ink, config, generator)
    return normalise(ink.clamp(0, 1))
