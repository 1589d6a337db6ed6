"""explorer.training: loss goes down, runs are reproducible, callbacks and stop work."""

from __future__ import annotations

import torch
import torch.nn as nn

from explorer.augment import AugmentConfig, augment, random_elastic
from explorer.mnist import MnistSplit, load_split, unnormalise
from explorer.training import TrainConfig, evaluate, train


def _small_split(n: int = 512) -> MnistSplit:
    s = load_split()
    return MnistSplit(
        s.train_images[:n], s.train_labels[:n], s.test_images[:200], s.test_labels[:200]
    )


def _tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))


def test_training_reduces_the_loss_and_reports_every_epoch() -> None:
    data = _small_split()
    model = _tiny().eval()
    before = evaluate(model, data.test_images, data.test_labels)
    epochs, batches = [], []
    result = train(
        model,
        data,
        TrainConfig(epochs=2, augment=False, lr=1e-2),
        on_epoch_end=epochs.append,
        on_batch_end=batches.append,
    )
    assert [e.epoch for e in epochs] == [0, 1]
    assert len(batches) == 2 * (512 // 64)
    assert result.test_loss < before.loss * 0.7
    assert result.test_accuracy > before.accuracy + 0.3
    assert not model.training  # the mode it had before training


def test_training_is_reproducible_with_a_seed() -> None:
    data = _small_split(256)
    a, b = _tiny(), _tiny()
    train(a, data, TrainConfig(epochs=1, seed=3))
    train(b, data, TrainConfig(epochs=1, seed=3))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_should_stop_ends_the_run_early() -> None:
    calls = []
    result = train(
        _tiny(),
        _small_split(),
        TrainConfig(epochs=5),
        should_stop=lambda: calls.append(1) or len(calls) >= 3,
    )
    assert result.stopped_early and len(result.history) == 1 and len(calls) == 3


def test_augmentation_keeps_shapes_and_scale() -> None:
    x = load_split().train_images[:16]
    y = augment(x, TrainConfig().augmentation, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.equal(x, y)
    assert y.min() >= x.min() - 1e-5 and y.max() <= x.max() + 1e-5


def test_elastic_bending_moves_ink_a_little_and_keeps_it() -> None:
    assert AugmentConfig().elastic_px == 0  # off unless a recipe asks for it
    ink = unnormalise(load_split().train_images[:16]).clamp(0, 1)  # (16, 1, 28, 28)
    bent = random_elastic(ink, AugmentConfig(elastic_px=2.5), torch.Generator().manual_seed(0))
    assert bent.shape == ink.shape and (bent - ink).abs().max() > 0.5
    # no pixel moves more than 2.5 px, so the ink's centre row moves less than that
    rows = torch.arange(28.0).view(1, 1, 28, 1)

    def centre(im: torch.Tensor) -> torch.Tensor:
        return (im * rows).sum((1, 2, 3)) / im.sum((1, 2, 3))

    assert (centre(bent) - centre(ink)).abs().max() < 2.5
    assert (
        bent.sum((1, 2, 3)) / ink.sum((1, 2, 3)) - 1
    ).abs().max() < 0.25  # stretched or squeezed ink
