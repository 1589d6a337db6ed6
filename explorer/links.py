"""Shareable links: what a student is looking at <-> a URL's query parameters.

A teacher pastes ``/forward?model=cnn&sample=7&step=4&mode=train&seed=2`` and every student
opens the same view. Only values that differ from the defaults are written, and every value read
from a link is checked: a bad one is ignored (and reported), never trusted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import numpy as np

from explorer.builder.spec import clean_name
from explorer.inputs import first_too_large, too_large_message
from explorer.selection import DEFAULTS as SESSION_DEFAULTS
from explorer.selection import LINK_KEYS, Keys
from explorer.sources import MAX_SEED, Source
from explorer.zoo import PRESETS, Preset

PATHS = {"data": "Let the data decide", "deep": "Deep path", "shallow": "Shallow path"}
SAVED_PREFIX = "yours:"  # a network built on /build, as the model picker names it
MAX_TYPED = 64  # numbers in a link's x=...
MAX_SGD = 20  # SGD steps a link replays (each is a backward pass on arrival)
TARGET_KINDS = {"pred": "Predicted class", "true": "True label"}

# The state a link carries, by its name here, and what a new session starts with: the sidebar's
# defaults (``explorer.selection.DEFAULTS``), plus the parts kept elsewhere than one widget.
DEFAULTS: dict[str, Any] = {
    **{name: SESSION_DEFAULTS[key] for name, key in LINK_KEYS.items()},
    "typed": None,
    # /backward: the target ("Predicted class", "True label" or a number: a class, or the value
    # a regression is compared with) and the SGD steps taken, oldest first, as (learning rate,
    # target the step used); the autoencoder's target is None
    "target": SESSION_DEFAULTS[Keys.target_kind],
    "sgd": (),
}


def to_params(state: Mapping[str, Any]) -> dict[str, str]:
    """The query parameters for ``state`` (keys of ``DEFAULTS``); defaults are left out."""
    params: dict[str, str] = {}
    if state.get("model", DEFAULTS["model"]) != DEFAULTS["model"]:
        params["model"] = str(state["model"])
    source = state.get("source", DEFAULTS["source"])
    if source != DEFAULTS["source"]:
        params["input"] = Source(source).value
    for key, name in (
        ("sample", "sample"),
        ("random_seed", "rseed"),
        ("dropout_seed", "seed"),
        ("step", "step"),
    ):
        value = state.get(key, DEFAULTS[key])
        if value is not None and int(value) != DEFAULTS[key]:
            params[name] = str(int(value))
    if state.get("train"):
        params["mode"] = "train"
    path = state.get("path", DEFAULTS["path"])
    preset = PRESETS.get(str(state.get("model")))
    if path != DEFAULTS["path"] and preset is not None and preset.branch_argument:
        params["path"] = _key_of(PATHS, path)
    typed = state.get("typed")
    if typed is not None and source == Source.TYPED:
        params["x"] = ";".join(",".join(_number(v) for v in row) for row in typed)
    target = state.get("target", DEFAULTS["target"])
    if target != DEFAULTS["target"]:
        params["target"] = (
            _key_of(TARGET_KINDS, target) if isinstance(target, str) else _number(target)
        )
    if int(state.get("grad_step") or 0):
        params["gstep"] = str(int(state["grad_step"]))
    lr = state.get("lr", DEFAULTS["lr"])
    if lr is not None and float(lr) != DEFAULTS["lr"]:
        params["lr"] = _number(lr)
    if state.get("sgd"):
        params["sgd"] = ",".join(
            f"{_number(lr)}:{'x' if t is None else _number(t)}" for lr, t in state["sgd"]
        )
    return params


@dataclass(frozen=True)
class Ignored:
    """A link's parameter that could not be used, and why, in words for whoever opened it."""

    name: str  # the parameter as the link spells it: "x", "seed", ...
    reason: str

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})"


def from_params(params: Mapping[str, str]) -> tuple[dict[str, Any], list[Ignored]]:
    """The state a link asks for, and the parameters that were ignored as invalid.

    Typed numbers (``x``) are checked on their own here; whether their count fits the model
    is for ``typed_problem``, once the caller knows what the model takes.
    """
    state: dict[str, Any] = {}
    ignored: list[Ignored] = []

    def take(name: str, key: str, parse: Callable[[str], Any]) -> None:
        if name not in params:
            return
        try:
            state[key] = parse(params[name])
        except ValueError as err:
            ignored.append(Ignored(name, str(err)))

    take("model", "model", _model)
    take("input", "source", _choice({s.value: s for s in Source}))
    take("sample", "sample", _int(0, 10_000))
    take("rseed", "random_seed", _int(0, MAX_SEED))
    take("seed", "dropout_seed", _int(0, MAX_SEED))
    take("step", "step", _int(0, 10_000))
    take("mode", "train", _choice({"train": True, "eval": False}))
    take("path", "path", _choice(PATHS))
    take("x", "typed", _typed)
    take("target", "target", _target)
    take("gstep", "grad_step", _int(0, 10_000))
    take("lr", "lr", _lr)
    take("sgd", "sgd", _sgd)
    return state, ignored


def typed_problem(rows: tuple[tuple[float, ...], ...], preset: Preset) -> str | None:
    """Why a link's typed numbers cannot go into ``preset``'s model, or None if they fit."""
    if preset.input_kind != "vector":
        return f"{preset.title} takes a 28x28 image, not typed numbers"
    n = preset.input_shape[0]
    if len(rows[0]) != n:
        return f"{preset.title} takes {n} numbers per row; the link has {len(rows[0])}"
    return None


def share_url(base: str, page: str, state: Mapping[str, Any]) -> str:
    """The full link: ``base`` (scheme and host), the page's path, the state's parameters."""
    query = urlencode(to_params(state))
    path = f"{base.rstrip('/')}/{page.strip('/')}"
    return f"{path}?{query}" if query else path


def _key_of(table: Mapping[str, str], value: str) -> str:
    return next(k for k, v in table.items() if v == value)


# The parsers below raise ValueError with the reason a link's value is refused. The value
# itself is not repeated: it is in the address bar, and may be long or hostile.


def _model(v: str) -> str:
    """A preset, or a network saved for the class, named as the model picker names it
    (``yours:<name>``); whether it is saved is for the caller to check."""
    if v in PRESETS:
        return v
    if v.startswith(SAVED_PREFIX):
        return SAVED_PREFIX + clean_name(v.removeprefix(SAVED_PREFIX))
    raise ValueError(
        f"no model has that name; the models are {', '.join(PRESETS)}, or "
        f"{SAVED_PREFIX}<name> for a network saved for the class"
    )


def _choice(table: Mapping[str, Any]) -> Callable[[str], Any]:
    def parse(v: str) -> Any:
        if v.lower() not in table:
            raise ValueError(f"must be {_one_of(list(table))}")
        return table[v.lower()]

    return parse


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(v: str) -> int:
        try:
            n = int(v)
        except ValueError:
            n = None
        if n is None or not lo <= n <= hi:
            raise ValueError(f"must be a whole number from {lo} to {hi:,}")
        return n

    return parse


def _typed(v: str) -> tuple[tuple[float, ...], ...]:
    if v.count(",") + v.count(";") >= MAX_TYPED:  # before parsing: a link may be long
        raise ValueError(f"a link carries at most {MAX_TYPED} numbers")
    try:
        rows = tuple(tuple(float(x) for x in row.split(",")) for row in v.split(";"))
    except ValueError:
        raise ValueError(
            "must be numbers separated by commas, rows by semicolons (like 0.5,1;2,-3)"
        ) from None
    if len({len(r) for r in rows}) != 1:
        raise ValueError("every row must have the same count of numbers")
    if not all(math.isfinite(x) for r in rows for x in r):
        raise ValueError("NaN and infinity cannot go through a network")
    too_large = first_too_large(np.array(rows, dtype=np.float64))
    if too_large is not None:  # finite here, infinity in the network's float32
        raise ValueError(too_large_message(too_large))
    return rows


def _target(v: str) -> str | float:
    if v.lower() in TARGET_KINDS:
        return TARGET_KINDS[v.lower()]
    return _finite(v, "must be pred, true or a number (a class, or the value to aim for)")


def _lr(v: str) -> float:
    lr = _finite(v, "must be a number from 0 to 10")
    if not 0 <= lr <= 10:
        raise ValueError("must be a number from 0 to 10")
    return lr


def _sgd(v: str) -> tuple[tuple[float, float | None], ...]:
    """``lr:target,lr:target``: the SGD steps to replay, oldest first (target ``x``: the input,
    for the autoencoder)."""
    parts = v.split(",")
    if len(parts) > MAX_SGD:
        raise ValueError(f"a link replays at most {MAX_SGD} SGD steps")
    why = "must be steps like 0.1:3,0.1:3 (learning rate:target, separated by commas)"
    steps = []
    for part in parts:
        lr, _, target = part.partition(":")
        if not target:
            raise ValueError(why)
        steps.append((_lr(lr), None if target == "x" else _finite(target, why)))
    return tuple(steps)


def _finite(v: str, why: str) -> float:
    try:
        x = float(v)
    except ValueError:
        raise ValueError(why) from None
    if not math.isfinite(x) or first_too_large(np.array([x])) is not None:
        raise ValueError(why)
    return x


def _one_of(options: list[str]) -> str:
    return " or ".join([", ".join(options[:-1]), options[-1]] if len(options) > 1 else options)


def _number(v: float) -> str:
    return repr(float(v)).removesuffix(".0") if float(v).is_integer() else repr(float(v))
