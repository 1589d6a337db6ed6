"""Training on a thread of its own, so a page can poll it and nothing but Stop ends it.

A Streamlit script is cut short by any widget the student touches; training inside it would
end (and lose its epochs) on every click. A ``TrainingJob`` runs ``train_network`` on a worker
thread instead: the page reads ``progress()`` and ``history`` while it runs, ``stop()`` asks
it to end after the current batch, and the weights of every finished step are kept.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from explorer.builder.fit import train_network
from explorer.builder.spec import NetworkSpec
from explorer.training import BatchStats, EpochStats, TrainConfig, TrainResult


@dataclass(frozen=True)
class Progress:
    """Where a running job is: for a progress bar with the time left."""

    epoch: int  # 0-based
    epochs: int
    batch: int  # batches done in this epoch
    batches: int
    loss: float | None  # the last batch's
    fraction: float  # of the whole run, 0..1
    seconds_left: float | None  # None until a batch has been timed


@dataclass
class TrainingJob:
    """One training run of ``spec`` for ``epochs`` epochs, on a worker thread."""

    spec: NetworkSpec
    epochs: int
    first_epoch: int = 1  # the number the curve gives this run's first epoch (runs continue it)
    history: list[EpochStats] = field(default_factory=list)
    result: TrainResult | None = None
    error: Exception | None = None
    state: dict[str, torch.Tensor] | None = None  # the weights when it ended
    _batch: BatchStats | None = None
    _started: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def start(
        cls, spec: NetworkSpec, model: nn.Module, config: TrainConfig, first_epoch: int = 1
    ) -> TrainingJob:
        """Start training ``model`` (built from ``spec``) in place; returns at once."""
        job = cls(spec, config.epochs, first_epoch)
        job._started = time.perf_counter()
        job._thread = threading.Thread(
            target=job._run, args=(model, config), daemon=True, name="fpe-training"
        )
        job._thread.start()
        return job

    def _run(self, model: nn.Module, config: TrainConfig) -> None:
        try:
            self.result = train_network(
                self.spec,
                model,
                config,
                on_batch_end=self._on_batch,
                on_epoch_end=self.history.append,
                should_stop=self._stop.is_set,
            )
        except Exception as err:  # noqa: BLE001 - reported by the page that polls the job
            self.error = err
        finally:
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def _on_batch(self, stats: BatchStats) -> None:
        self._batch = stats

    def stop(self) -> None:
        """Ask the run to end after the batch it is on (the held-out test still runs)."""
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended (True) or ``timeout`` seconds passed (False)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def progress(self) -> Progress:
        b = self._batch
        if b is None:
            return Progress(0, self.epochs, 0, 0, None, 0.0, None)
        done = (b.epoch * b.batches + b.batch + 1) / (self.epochs * b.batches)
        elapsed = time.perf_counter() - self._started
        return Progress(
            b.epoch,
            self.epochs,
            b.batch + 1,
            b.batches,
            b.loss,
            min(done, 1.0),
            elapsed * (1 - done) / done if done > 0 else None,
        )
