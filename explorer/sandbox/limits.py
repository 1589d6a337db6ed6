"""How much one run of a student's code may use; shared by the parent and the worker."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Limits:
    """The budget of one run. Time and memory count only the student's part of the run."""

    cpu_seconds: float = 5.0  # CPU time to define the classes, build the model and run it
    wall_seconds: float = 10.0  # wall-clock time for the same (sleeping or waiting counts)
    # The worker's whole address space. torch alone maps about 0.65 GB, so some 1.3 GB are left
    # for the student's tensors: plenty for MNIST-sized models, and a typo like
    # torch.zeros(10**10) fails at once instead of swapping the server.
    memory_bytes: int = 2 * 1024**3
    max_result_bytes: int = 50 * 1024**2  # everything the worker sends back
    max_print_chars: int = 20_000  # print() output kept; the rest is dropped and flagged
    start_seconds: float = 60.0  # for a worker to import torch and take the request

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"Limits.{f.name} must be a positive number, not {value!r}")

    def to_plain(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> Limits:
        return cls(**{f.name: plain[f.name] for f in fields(cls) if f.name in plain})


def describe_bytes(n: int) -> str:
    """``2147483648 -> "2 GB"``: binary units, named the way students read them."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def describe_seconds(s: float) -> str:
    return f"{s:g} second" + ("" if s == 1 else "s")
