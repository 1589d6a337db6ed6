"""The "not sure" reading of a classifier's output."""

from __future__ import annotations

import torch

from explorer.verdict import UNSURE_BELOW, verdict


def test_a_clear_pick_is_sure() -> None:
    v = verdict(torch.tensor([[0.0, 5.0, 1.0]]))
    assert (v.best, v.runner_up, v.sure) == (1, 2, True)
    probs = torch.softmax(torch.tensor([0.0, 5.0, 1.0], dtype=torch.float64), 0)
    assert v.probability == probs[1].item() and v.runner_up_probability == probs[2].item()


def test_two_close_classes_are_not_sure() -> None:
    v = verdict(torch.tensor([[0.0, 2.0, 0.0, 1.9]]))
    assert (v.best, v.runner_up) == (1, 3) and not v.sure
    assert v.probability < UNSURE_BELOW


def test_the_threshold_itself_counts_as_sure_and_samples_are_chosen() -> None:
    p = UNSURE_BELOW
    logits = torch.log(torch.tensor([[0.5, 0.5], [p, 1 - p]], dtype=torch.float64))
    assert not verdict(logits, sample=0).sure
    assert verdict(logits, sample=1).sure
