"""What the app sends a worker: the source, which class to build, the input, and the budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from explorer.gradients import LOSSES
from explorer.sandbox.facts import student_filename
from explorer.sandbox.limits import Limits
from explorer.sandbox.wire import Fields, Packer, Unpacker, WireError, is_int

MODES = ("forward", "backward")
MAX_SOURCE_CHARS = 100_000
MAX_REQUEST_BYTES = 64 * 1024**2
_PLAIN = (bool, int, float, str, type(None))


@dataclass
class Request:
    """One run of a student's code."""

    source: str
    x: torch.Tensor
    mode: str = "forward"  # "forward": trace it; "backward": trace, loss and gradients
    class_name: str | None = None  # None: the last nn.Module class the source defines
    train: bool = False
    seed: int | None = 0  # seeds the pass (dropout), as in explorer.trace
    init_seed: int = 0  # seeds the model's construction: the same weights on every run
    forward_kwargs: dict[str, Any] = field(default_factory=dict)  # plain values only
    target: Any = None  # for backward: a class index, a tensor, a number, or None
    loss: str | None = None  # for backward: "cross_entropy", "mse" or None (guess)
    weights: dict[str, torch.Tensor] | None = None  # loaded into the model where they fit
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        """Check what the app asks for before any process starts (ValueError/TypeError)."""
        if not isinstance(self.source, str):
            raise TypeError(f"the source must be a string, not {type(self.source).__name__}")
        if len(self.source) > MAX_SOURCE_CHARS:
            raise ValueError(f"the code is longer than {MAX_SOURCE_CHARS} characters")
        if not isinstance(self.x, torch.Tensor):
            raise TypeError(f"the input must be a torch.Tensor, not {type(self.x).__name__}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.class_name is not None and not self.class_name.isidentifier():
            raise ValueError(f"{self.class_name!r} is not a class name")
        if not (self.seed is None or is_int(self.seed)) or not is_int(self.init_seed):
            raise TypeError("seed and init_seed must be integers")
        for k, v in self.forward_kwargs.items():
            if not (isinstance(k, str) and k.isidentifier() and isinstance(v, _PLAIN)):
                raise TypeError(f"forward_kwargs take names and plain values, not {k!r}={v!r}")
        if self.loss is not None and self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if not (self.target is None or isinstance(self.target, (torch.Tensor, int, float))):
            raise TypeError("the target must be a tensor, a number or None")
        if self.weights is not None and not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in self.weights.items()
        ):
            raise TypeError("weights must map names to tensors")

    @property
    def filename(self) -> str:
        return student_filename(self.source)

    def to_frame(self) -> bytes:
        p = Packer()
        doc = {
            "source": self.source,
            "x": p.tensor(self.x),
            "mode": self.mode,
            "class_name": self.class_name,
            "train": bool(self.train),
            "seed": self.seed,
            "init_seed": self.init_seed,
            "forward_kwargs": p.value(self.forward_kwargs),
            "target": p.value(self.target),
            "loss": self.loss,
            "weights": None
            if self.weights is None
            else {n: p.tensor(t) for n, t in self.weights.items()},
            "limits": self.limits.to_plain(),
        }
        return p.frame(doc)

    @classmethod
    def from_frame(cls, data: bytes) -> Request:
        u = Unpacker(data, max_bytes=MAX_REQUEST_BYTES)
        f = Fields(
            u.doc,
            "the request",
            {
                "source",
                "x",
                "mode",
                "class_name",
                "train",
                "seed",
                "init_seed",
                "forward_kwargs",
                "target",
                "loss",
                "weights",
                "limits",
            },
        )
        weights = u.doc.get("weights")
        limits = f.get("limits", lambda v: isinstance(v, dict), "a dict")
        kwargs = u.value(u.doc.get("forward_kwargs", {"$": "dict", "v": []}))
        if not isinstance(kwargs, dict):
            raise WireError("forward_kwargs must be a dict")
        return cls(
            source=f.text("source", MAX_SOURCE_CHARS),
            x=u.tensor(u.doc.get("x")),
            mode=f.text("mode", 20),
            class_name=f.opt_text("class_name", 200),
            train=f.flag("train"),
            seed=u.doc.get("seed"),
            init_seed=f.integer("init_seed"),
            forward_kwargs=kwargs,
            target=u.value(u.doc.get("target")),
            loss=f.opt_text("loss", 50),
            weights=None if weights is None else {n: u.tensor(t) for n, t in weights.items()},
            limits=Limits.from_plain(limits),
        )
