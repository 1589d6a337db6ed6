"""Summary numbers of a tensor, as plain Python values for captions and tables."""

from __future__ import annotations

from typing import Any

import torch


def tensor_stats(t: torch.Tensor) -> dict[str, Any]:
    """min, max, mean, std, frac_zero (fraction exactly 0) as floats, and shape as a tuple."""
    shape = tuple(t.shape)
    if t.numel() == 0:
        nan = float("nan")
        return {"min": nan, "max": nan, "mean": nan, "std": nan, "frac_zero": nan, "shape": shape}
    x = t.detach().to(torch.float64)
    return {
        "min": float(x.min()),
        "max": float(x.max()),
        "mean": float(x.mean()),
        # population std: a single number has spread 0, not NaN
        "std": float(x.std(unbiased=False)),
        "frac_zero": float((x == 0).sum()) / x.numel(),
        "shape": shape,
    }
