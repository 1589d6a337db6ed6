"""What a classifier's output says about one input: a pick, or "not sure" between two.

A network always has a most probable class, even for a scribble; shown alone as "the
prediction" it looks confident whatever its probability. Below ``UNSURE_BELOW`` the honest
reading is the top two classes and how close they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

UNSURE_BELOW = 0.6  # a top probability under this is "not sure"


@dataclass(frozen=True)
class Verdict:
    """The two most probable classes of one example and whether the first is a clear pick."""

    best: int
    probability: float  # softmax probability of ``best``
    runner_up: int
    runner_up_probability: float

    @property
    def sure(self) -> bool:
        return self.probability >= UNSURE_BELOW


def verdict(logits: torch.Tensor, *, sample: int = 0) -> Verdict:
    """The verdict on example ``sample`` of (N, C) class scores (C >= 2)."""
    probs = torch.softmax(logits.detach().double()[sample].reshape(-1), dim=0)
    top = torch.topk(probs, 2)
    return Verdict(
        int(top.indices[0]), float(top.values[0]), int(top.indices[1]), float(top.values[1])
    )
