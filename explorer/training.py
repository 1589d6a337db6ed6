"""Train a network on MNIST-shaped tensors: a classifier or an autoencoder.

Works for any ``nn.Module`` mapping ``(N, 1, 28, 28)`` normalised digits either to 10 class scores
(``task="classify"``, cross-entropy) or back to ``(N, 1, 28, 28)`` (``task="reconstruct"``, mean
squared error to its own input). The loop never prints: progress goes to callbacks, and
``should_stop`` lets a caller (a Stop button) end a run between batches.

Augmentation is meant to make digits drawn with a mouse classify as well as MNIST's pen scans:
strokes get thicker or thinner, and each digit is rotated, scaled, sheared and shifted, all batched
in torch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.mnist import MnistSplit, normalise, unnormalise

Forward = Callable[[nn.Module, torch.Tensor], torch.Tensor]  # (model, inputs) -> outputs


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


# --- augmentation ----------------------------------------------------------------------------


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
