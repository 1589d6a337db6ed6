"""A network as plain data: ``NetworkSpec`` and ``LayerSpec``, validated strictly.

Specs are immutable and always valid: constructing one checks every field (kinds, parameter
types and ranges, nesting, counts, the name) and raises ``ValueError`` with a message a student
can act on. Whether the layers *fit together* is a separate question, answered per layer by
``shapes.analyse``; JSON text in and out is ``spec_json``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from explorer.builder.palette import (
    IMAGE_SHAPE,
    MAX_DEPTH,
    MAX_FEATURES,
    MAX_LAYERS,
    MAX_NAME_CHARS,
    PALETTE,
    ParamInfo,
)

FORMAT = "forward-pass-explorer/network"
VERSION = 1
INPUT_KINDS = ("image", "vector")

# ASCII only, on purpose. SQLite's NOCASE (the store's "names ignore upper/lower case")
# folds only A-Z, so "Réseau" and "RÉSEAU" would be two networks; Unicode has look-alikes
# (Cyrillic "а" for Latin "a") and two spellings of "é", so two names that look the same on a
# shared server could open different networks; and names become download file names.
_NAME = re.compile(r"[A-Za-z0-9 _-]+")
NAME_RULE = (
    f"the letters A–Z and a–z (no accents), digits, spaces, - and _, up to "
    f"{MAX_NAME_CHARS} characters"
)

LayerPath = tuple[int, ...]  # where a layer sits: (2,) the third layer, (2, 0) the first inside it


def clean_name(name: Any) -> str:
    """A network name with spaces tidied; ValueError unless it keeps to ``NAME_RULE``."""
    if not isinstance(name, str):
        raise ValueError(f"the name must be text, not {json_type(name)}")
    tidy = " ".join(name.split())
    if not tidy:
        raise ValueError("the name is empty: give the network a name")
    if len(tidy) > MAX_NAME_CHARS:
        raise ValueError(f"the name is {len(tidy)} characters long; use at most {MAX_NAME_CHARS}")
    if not _NAME.fullmatch(tidy):
        bad = sorted({c for c in tidy if not _NAME.fullmatch(c)})
        raise ValueError(
            f"a name may use only {NAME_RULE}; {brief(tidy)} has "
            f"{', '.join(repr(c) for c in bad[:5])}"
        )
    return tidy


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its palette kind, its settings, and (for ``Residual``) the layers it wraps.

    ``params`` is completed with the palette's defaults, so two specs of the same layer compare
    equal however they were written.
    """

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    children: tuple[LayerSpec, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in PALETTE:
            raise ValueError(
                f"unknown layer kind {brief(self.kind)}; choose one of {', '.join(PALETTE)}"
            )
        object.__setattr__(self, "params", _check_params(self.kind, self.params))
        if not isinstance(self.children, (tuple, list)):
            raise ValueError(f"children must be a list of layers, not {json_type(self.children)}")
        children = tuple(self.children)
        if children and self.kind != "Residual":
            raise ValueError(f"only a Residual block holds layers; {self.kind} cannot")
        for child in children:
            if not isinstance(child, LayerSpec):
                raise ValueError(
                    f"a layer inside a block must be a LayerSpec, not {json_type(child)}"
                )
        object.__setattr__(self, "children", children)
        if self.depth > MAX_DEPTH:
            raise ValueError(
                f"residual blocks are nested {self.depth} deep; "
                f"at most {MAX_DEPTH} levels are allowed"
            )
        if self.size > MAX_LAYERS:
            raise ValueError(
                f"a network may have at most {MAX_LAYERS} layers, "
                f"counting those inside blocks; this has {self.size}"
            )

    @property
    def depth(self) -> int:
        """How many residual blocks nest here, this one included."""
        if self.kind != "Residual":
            return 0
        return 1 + max((c.depth for c in self.children), default=0)

    @property
    def size(self) -> int:
        """This layer plus every layer inside it."""
        return 1 + sum(c.size for c in self.children)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "params": dict(self.params)}
        if self.kind == "Residual":
            out["children"] = [c.to_dict() for c in self.children]
        return out


@dataclass(frozen=True)
class NetworkSpec:
    """A whole network: its name, what goes in, and the layers in order."""

    name: str = "MyNetwork"
    input_kind: str = "image"  # "image": a 1x28x28 digit; "vector": input_features numbers
    input_features: int | None = None  # only for vectors
    layers: tuple[LayerSpec, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", clean_name(self.name))
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(
                f"input_kind must be 'image' or 'vector', not {brief(self.input_kind)}"
            )
        if self.input_kind == "image":
            if self.input_features is not None:
                raise ValueError("an image input is always 1x28x28: leave input_features empty")
        else:
            _check_int("input_features", self.input_features, 1, MAX_FEATURES)
        if not isinstance(self.layers, (tuple, list)):
            raise ValueError(f"layers must be a list, not {json_type(self.layers)}")
        layers = tuple(self.layers)
        for layer in layers:
            if not isinstance(layer, LayerSpec):
                raise ValueError(f"every layer must be a LayerSpec, not {json_type(layer)}")
        object.__setattr__(self, "layers", layers)
        count = sum(layer.size for layer in layers)
        if count > MAX_LAYERS:
            raise ValueError(
                f"a network may have at most {MAX_LAYERS} layers, "
                f"counting those inside blocks; this has {count}"
            )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's shape, without the batch dimension."""
        return IMAGE_SHAPE if self.input_kind == "image" else (self.input_features or 0,)

    @property
    def layer_count(self) -> int:
        return sum(layer.size for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "input_kind": self.input_kind,
            "input_features": self.input_features,
            "layers": [layer.to_dict() for layer in self.layers],
        }


# --- names and paths -------------------------------------------------------------------------


def layer_names(layers: Sequence[LayerSpec]) -> list[str]:
    """Attribute names in one list of layers: conv1, relu1, conv2, ... (numbered per prefix)."""
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        prefix = PALETTE[layer.kind].prefix
        counts[prefix] = counts.get(prefix, 0) + 1
        names.append(f"{prefix}{counts[prefix]}")
    return names


def walk(
    layers: Sequence[LayerSpec], path: LayerPath = (), prefix: str = ""
) -> Iterator[tuple[LayerPath, str, LayerSpec]]:
    """Every layer, depth first: its path, its dotted module name ("block1.conv2"), the spec."""
    for i, (name, layer) in enumerate(zip(layer_names(layers), layers, strict=True)):
        dotted = f"{prefix}{name}"
        yield (*path, i), dotted, layer
        yield from walk(layer.children, (*path, i), dotted + ".")


def describe_path(path: LayerPath) -> str:
    """How the page numbers a layer: "layer 3", or "layer 3.2" for the 2nd inside layer 3."""
    return "layer " + ".".join(str(i + 1) for i in path)


def layer_call(layer: LayerSpec) -> str:
    """The constructor as code, defaults left out: "Conv2d(1, 32, kernel_size=3, padding=1)"."""
    p = layer.params
    kind = layer.kind
    if kind == "Linear":
        args = [str(p["in_features"]), str(p["out_features"])]
    elif kind == "Conv2d":
        args = [str(p["in_channels"]), str(p["out_channels"]), f"kernel_size={p['kernel_size']}"]
    elif kind in ("MaxPool2d", "AvgPool2d"):
        args = [str(p["kernel_size"])]
    elif kind in ("BatchNorm1d", "BatchNorm2d"):
        args = [str(p["num_features"])]
    elif kind in ("LeakyReLU", "Dropout"):
        value = next(iter(p.values()))
        default = PALETTE[kind].params[0].default
        args = [] if value == default else [repr(value)]
    else:
        args = []
    for key in ("stride", "padding"):
        if key in p and p[key] != PALETTE[kind].param(key).default:
            args.append(f"{key}={p[key]}")
    if "bias" in p and not p["bias"]:
        args.append("bias=False")
    return f"{kind}({', '.join(args)})"


# --- validation helpers ----------------------------------------------------------------------


def _check_params(kind: str, params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise ValueError(f"{kind} parameters must be a JSON object, not {json_type(params)}")
    infos = PALETTE[kind].params
    known = {p.name for p in infos}
    for key in params:
        if key not in known:
            listed = ", ".join(p.name for p in infos) or "none"
            raise ValueError(f"{kind} has no parameter {brief(key)}; its parameters are {listed}")
    out = {}
    for info in infos:
        if info.name in params:
            out[info.name] = _check_value(kind, info, params[info.name])
        elif info.name in PALETTE[kind].required:
            raise ValueError(f"{kind} needs {info.name} ({info.help})")
        else:
            out[info.name] = info.default
    return out


def _check_value(kind: str, info: ParamInfo, value: Any) -> Any:
    label = f"{kind} {info.name}"
    if info.type == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{label} must be true or false, not {brief(value)}")
        return value
    if info.type == "int?" and value is None:
        return None
    if info.type in ("int", "int?"):
        _check_int(label, value, int(info.low or 0), int(info.high or 0))
        return value
    # float: ints are fine (0 means 0.0); bools, strings, inf and nan are not
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{label} must be a number, not {brief(value)}")
    low, high = info.low or 0.0, info.high or 0.0
    try:
        number = float(value)
    except OverflowError:  # an int past float's range: out of range, with the int shown
        number = math.inf
    else:
        value = number
    too_high = number >= high if info.high_open else number > high
    if not math.isfinite(number) or number < low or too_high:
        upper = f"less than {high:g}" if info.high_open else f"at most {high:g}"
        raise ValueError(f"{label} must be at least {low:g} and {upper}, not {brief(value)}")
    return number


def _check_int(label: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{label} must be a whole number, not {brief(value)}")
    if not low <= value <= high:
        raise ValueError(f"{label} must be from {low:,} to {high:,}, not {brief(value)}")


def brief(value: Any) -> str:
    """repr() cut short, so hostile input cannot flood a message."""
    if isinstance(value, int) and value.bit_length() > 128:
        # repr() of a huge int is slow, and past 4,300 digits Python refuses to make it
        return f"a whole number about {value.bit_length() * math.log10(2):,.0f} digits long"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def json_type(value: Any) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
        type(None): "null",
        tuple: "a list",
    }
    return names.get(type(value), type(value).__name__)
