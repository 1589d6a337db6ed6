"""Shareable links: what a student is looking at <-> a URL's query parameters.

A teacher pastes ``/forward?model=cnn&sample=7&step=4&mode=train&seed=2`` and every student
opens the same view. Only values that differ from the defaults are written, and every value read
from a link is checked: a bad one is ignored (and reported), never trusted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from explorer.builder.spec import clean_name
from explorer.zoo import PRESETS

SOURCES = {"draw": "Draw", "sample": "Sample", "upload": "Upload", "typed": "Typed numbers",
           "random": "Random"}
PATHS = {"data": "Let the data decide", "deep": "Deep path", "shallow": "Shallow path"}
MAX_SEED = 2**31 - 1
SAVED_PREFIX = "yours:"  # a network built on /build, as the model picker names it
MAX_TYPED = 64  # numbers in a link's x=...

# The state a link carries, with its defaults (the values a new session starts with).
DEFAULTS: dict[str, Any] = {
    "model": "cnn", "source": "Sample", "sample": 0, "random_seed": 0, "train": False,
    "dropout_seed": 0, "path": "Let the data decide", "step": 0, "typed": None,
}


def to_params(state: Mapping[str, Any]) -> dict[str, str]:
    """The query parameters for ``state`` (keys of ``DEFAULTS``); defaults are left out."""
    params: dict[str, str] = {}
    if state.get("model", DEFAULTS["model"]) != DEFAULTS["model"]:
        params["model"] = str(state["model"])
    source = state.get("source", DEFAULTS["source"])
    if source != DEFAULTS["source"]:
        params["input"] = _key_of(SOURCES, source)
    for key, name in (("sample", "sample"), ("random_seed", "rseed"),
                      ("dropout_seed", "seed"), ("step", "step")):
        value = state.get(key, DEFAULTS[key])
        if value is not None and int(value) != DEFAULTS[key]:
            params[name] = str(int(value))
    if state.get("train"):
        params["mode"] = "train"
    path = state.get("path", DEFAULTS["path"])
    if path != DEFAULTS["path"] and state.get("model") == "conditional":
        params["path"] = _key_of(PATHS, path)
    typed = state.get("typed")
    if typed is not None and source == "Typed numbers":
        params["x"] = ";".join(",".join(_number(v) for v in row) for row in typed)
    return params


def from_params(params: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The state a link asks for, and the names of the parameters that were ignored as invalid."""
    state: dict[str, Any] = {}
    ignored: list[str] = []

    def take(name: str, key: str, parse) -> None:
        if name not in params:
            return
        try:
            state[key] = parse(params[name])
        except (ValueError, KeyError):
            ignored.append(name)

    take("model", "model", _model)
    take("input", "source", lambda v: SOURCES[v.lower()])
    take("sample", "sample", _int(0, 10_000))
    take("rseed", "random_seed", _int(0, MAX_SEED))
    take("seed", "dropout_seed", _int(0, MAX_SEED))
    take("step", "step", _int(0, 10_000))
    take("mode", "train", lambda v: {"train": True, "eval": False}[v.lower()])
    take("path", "path", lambda v: PATHS[v.lower()])
    take("x", "typed", _typed)
    return state, ignored


def share_url(base: str, page: str, state: Mapping[str, Any]) -> str:
    """The full link: ``base`` (scheme and host), the page's path, the state's parameters."""
    query = urlencode(to_params(state))
    path = f"{base.rstrip('/')}/{page.strip('/')}"
    return f"{path}?{query}" if query else path


def _key_of(table: Mapping[str, str], value: str) -> str:
    return next(k for k, v in table.items() if v == value)


def _model(v: str) -> str:
    """A preset, or a network saved for the class, named as the model picker names it
    (``yours:<name>``); whether it is saved is for the caller to check."""
    if v in PRESETS:
        return v
    if v.startswith(SAVED_PREFIX):
        return SAVED_PREFIX + clean_name(v.removeprefix(SAVED_PREFIX))
    raise ValueError(v)


def _choice(options):
    def parse(v: str) -> str:
        if v not in options:
            raise ValueError(v)
        return v
    return parse


def _int(lo: int, hi: int):
    def parse(v: str) -> int:
        n = int(v)
        if not lo <= n <= hi:
            raise ValueError(v)
        return n
    return parse


def _typed(v: str) -> tuple[tuple[float, ...], ...]:
    rows = tuple(tuple(float(x) for x in row.split(",")) for row in v.split(";"))
    count = sum(len(r) for r in rows)
    if not rows or count > MAX_TYPED or len({len(r) for r in rows}) != 1:
        raise ValueError(v)
    if not all(math.isfinite(x) for r in rows for x in r):
        raise ValueError(v)
    return rows


def _number(v: float) -> str:
    return repr(float(v)).removesuffix(".0") if float(v).is_integer() else repr(float(v))
