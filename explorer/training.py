"""Train a network on MNIST-shaped tensors: a classifier or an autoencoder.

Works for any ``nn.Module`` mapping ``(N, 1, 28, 28)`` normalised digits either to 10 class scores
(``task="classify"``, cross-entropy) or back to ``(N, 1, 28, 28)`` (``task="reconstruct"``, mean
squared error to its own input). The loop never prints: progress goes to callbacks, and
``should_stop`` lets a caller (a Stop button) end a run between batches.

Each batch may be augmented first (``explorer.augment``), so that digits drawn with a mouse
classify as well as MNIST's pen scans.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.augment import AugmentConfig, augment
from explorer.mnist import MnistSplit

Forward = Callable[[nn.Module, torch.Tensor], torch.Tensor]  # (model, inputs) -> outputs


@dataclass
class TrainConfig:
    """How to train; the defaults suit a small CNN on 4,500 digits."""

    task: str = "classify"  # "classify" (cross-entropy on labels) or "reconstruct" (MSE to input)
    epochs: int = 10
    batch_size: int = 64  # the last, smaller batch of an epoch is dropped (BatchNorm needs > 1)
    lr: float = 1e-3  # peak AdamW learning rate
    weight_decay: float = 0.0  # AdamW's decoupled weight decay
    schedule: str = "cosine"  # "cosine": linear warm-up then cosine decay to 0; or "constant"
    warmup: float = 0.05  # fraction of all steps spent warming up (cosine only)
    label_smoothing: float = 0.0
    augment: bool = True
    augmentation: AugmentConfig = field(default_factory=AugmentConfig)
    distill_temperature: float = 4.0  # softens teacher and student logits (only with a teacher)
    distill_weight: float = 0.5  # share of the distillation loss; the rest is the label loss
    seed: int = 0  # seeds shuffling, augmentation, dropout and anything `forward` draws


@dataclass
class BatchStats:
    """Reported after every optimiser step."""

    epoch: int  # 0-based
    batch: int  # 0-based, within the epoch
    batches: int  # batches per epoch
    loss: float
    lr: float


@dataclass
class EpochStats:
    """Reported after every epoch (and after a stopped, partial one)."""

    epoch: int  # 0-based
    train_loss: float  # mean over the epoch's (augmented) batches
    train_accuracy: float | None  # on augmented batches in train mode; None when reconstructing
    test_loss: float  # on the held-out digits, in eval mode
    test_accuracy: float | None  # None when reconstructing
    seconds: float


@dataclass
class Evaluation:
    """A model's loss (and accuracy) on a set of digits."""

    loss: float  # mean cross-entropy, or mean squared error when reconstructing
    accuracy: float | None  # None when reconstructing
    predictions: torch.Tensor | None  # (N,) int64 predicted digits; None when reconstructing


@dataclass
class TrainResult:
    """What a run did; the model itself is trained in place."""

    history: list[EpochStats]
    test_loss: float  # held-out, after the last (possibly partial) epoch
    test_accuracy: float | None
    stopped_early: bool  # should_stop() ended the run
    seconds: float


def _call(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x)


# --- training and evaluation -----------------------------------------------------------------


def _lr_factor(config: TrainConfig, total_steps: int) -> Callable[[int], float]:
    warmup_steps = max(1, round(config.warmup * total_steps))

    def factor(step: int) -> float:
        if config.schedule == "constant":
            return 1.0
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _loss(
    config: TrainConfig,
    outputs: torch.Tensor,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor | None,
) -> torch.Tensor:
    if config.task == "reconstruct":
        return F.mse_loss(outputs, inputs)
    loss = F.cross_entropy(outputs, labels, label_smoothing=config.label_smoothing)
    if teacher_logits is None:
        return loss
    t = config.distill_temperature
    # T^2 keeps the soft-target gradients on the same scale as the hard ones (Hinton et al.)
    soft = (
        F.kl_div(
            F.log_softmax(outputs / t, dim=1),
            F.log_softmax(teacher_logits / t, dim=1),
            reduction="batchmean",
            log_target=True,
        )
        * t
        * t
    )
    return (1 - config.distill_weight) * loss + config.distill_weight * soft


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    task: str = "classify",
    forward: Forward | None = None,
    batch_size: int = 500,
) -> Evaluation:
    """Loss and accuracy in eval mode; the model's mode is restored afterwards.

    Args:
        model: the network.
        images: (N, 1, 28, 28) normalised digits.
        labels: (N,) int64 digits; required when ``task="classify"``.
        task: "classify" or "reconstruct".
        forward: how to call the model, ``forward(model, x)``; defaults to ``model(x)``.
        batch_size: digits per forward call. Matters for models whose output for one digit
            depends on the rest of the batch (``ConditionalNet`` with ``deep=None``): use 1.

    Returns:
        An ``Evaluation``.
    """
    forward = forward or _call
    was_training = model.training
    model.eval()
    try:
        outputs = torch.cat(
            [forward(model, images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        )
    finally:
        model.train(was_training)
    if task == "reconstruct":
        return Evaluation(F.mse_loss(outputs, images).item(), None, None)
    if labels is None:
        raise ValueError("labels are needed to evaluate a classifier")
    predictions = outputs.argmax(dim=1)
    return Evaluation(
        F.cross_entropy(outputs, labels).item(),
        (predictions == labels).float().mean().item(),
        predictions,
    )


def train(
    model: nn.Module,
    data: MnistSplit,
    config: TrainConfig | None = None,
    *,
    teacher: nn.Module | None = None,
    forward: Forward | None = None,
    on_batch_end: Callable[[BatchStats], None] | None = None,
    on_epoch_end: Callable[[EpochStats], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train ``model`` in place with AdamW; deterministic for a given ``config.seed``.

    The global torch RNG is seeded inside a forked state, so dropout and anything ``forward``
    draws are reproducible and the caller's RNG is left as it was; so is the model's train/eval
    mode.

    Args:
        model: maps (N, 1, 28, 28) to (N, 10) logits, or to (N, 1, 28, 28) when reconstructing.
        data: training digits to learn from and held-out digits to report on (an ``MnistSplit``;
            build one from your own tensors to train on something else).
        config: a ``TrainConfig``; the defaults if None.
        teacher: a trained classifier whose softened outputs on the same augmented batch are
            distilled into ``model`` (knowledge distillation); it is run in eval mode.
        forward: how to call the model, ``forward(model, x)``; defaults to ``model(x)``. Also used
            for the held-out evaluation after each epoch (then in eval mode).
        on_batch_end: called with a ``BatchStats`` after each optimiser step.
        on_epoch_end: called with an ``EpochStats`` after each epoch.
        should_stop: polled after each batch; returning True ends the run after a final
            held-out evaluation.

    Returns:
        A ``TrainResult`` with the per-epoch history and the final held-out loss and accuracy.
    """
    config = config or TrainConfig()
    if config.task not in ("classify", "reconstruct"):
        raise ValueError(f"unknown task {config.task!r}; use 'classify' or 'reconstruct'")
    forward = forward or _call
    n = len(data.train_images)
    batches = n // config.batch_size
    if batches == 0:
        raise ValueError(f"batch_size {config.batch_size} is larger than the {n} training digits")
    classify = config.task == "classify"

    started = time.perf_counter()
    history: list[EpochStats] = []
    stopped = False
    was_training = model.training
    teacher_was_training = teacher.training if teacher is not None else False
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        optimiser = torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimiser, _lr_factor(config, config.epochs * batches)
        )
        if teacher is not None:
            teacher.eval()
        try:
            for epoch in range(config.epochs):
                epoch_started = time.perf_counter()
                model.train()
                order = torch.randperm(n, generator=generator)
                loss_sum, correct, seen = 0.0, 0, 0
                for b in range(batches):
                    rows = order[b * config.batch_size : (b + 1) * config.batch_size]
                    x, y = data.train_images[rows], data.train_labels[rows]
                    if config.augment:
                        x = augment(x, config.augmentation, generator)
                    teacher_logits = None
                    if teacher is not None:
                        with torch.no_grad():
                            teacher_logits = teacher(x)
                    outputs = forward(model, x)
                    loss = _loss(config, outputs, x, y, teacher_logits)
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                    lr = optimiser.param_groups[0]["lr"]
                    scheduler.step()

                    loss_sum += loss.item() * len(rows)
                    seen += len(rows)
                    if classify:
                        correct += int((outputs.argmax(dim=1) == y).sum().item())
                    if on_batch_end is not None:
                        on_batch_end(BatchStats(epoch, b, batches, loss.item(), lr))
                    if should_stop is not None and should_stop():
                        stopped = True
                        break
                held_out = evaluate(
                    model, data.test_images, data.test_labels, task=config.task, forward=forward
                )
                stats = EpochStats(
                    epoch,
                    loss_sum / seen,
                    correct / seen if classify else None,
                    held_out.loss,
                    held_out.accuracy,
                    time.perf_counter() - epoch_started,
                )
                history.append(stats)
                if on_epoch_end is not None:
                    on_epoch_end(stats)
                if stopped:
                    break
        finally:
            model.train(was_training)
            if teacher is not None:
                teacher.train(teacher_was_training)
    if not history:  # epochs=0: still report where the model stands
        held_out = evaluate(
            model, data.test_images, data.test_labels, task=config.task, forward=forward
        )
    return TrainResult(
        history,
        held_out.loss,
        held_out.accuracy,
        stopped,
        time.perf_counter() - started,
    )
