"""A network as plain data: ``NetworkSpec`` and ``LayerSpec``, validated strictly, to and from JSON.

Specs are immutable and always valid: constructing one checks every field (kinds, parameter
types and ranges, nesting, counts, the name) and raises ``ValueError`` with a message a student
can act on. Whether the layers *fit together* is a separate question, answered per layer by
``shapes.infer_shapes``.
"""

from __future__ import annotations

import json
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
MAX_JSON_CHARS = 200_000  # a 50-layer spec is ~10 kB; anything far bigger is not ours
INPUT_KINDS = ("image", "vector")

_NAME = re.compile(r"[A-Za-z0-9 _-]+")

Path = tuple[int, ...]  # where a layer sits: (2,) the third layer, (2, 0) the first inside it


def clean_name(name: Any) -> str:
    """A network name with spaces tidied; ValueError unless it is 1-40 letters/digits/ -_."""
    if not isinstance(name, str):
        raise ValueError(f"the name must be text, not {_type(name)}")
    tidy = " ".join(name.split())
    if not tidy:
        raise ValueError("the name is empty: give the network a name")
    if len(tidy) > MAX_NAME_CHARS:
        raise ValueError(f"the name is {len(tidy)} characters long; "
                         f"use at most {MAX_NAME_CHARS}")
    if not _NAME.fullmatch(tidy):
        bad = sorted({c for c in tidy if not _NAME.fullmatch(c)})
        raise ValueError(f"the name may use letters, digits, spaces, '-' and '_' only, "
                         f"not {' '.join(repr(c) for c in bad[:5])}")
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
            raise ValueError(f"unknown layer kind {_short(self.kind)}; "
                             f"choose one of {', '.join(PALETTE)}")
        object.__setattr__(self, "params", _check_params(self.kind, self.params))
        if not isinstance(self.children, (tuple, list)):
            raise ValueError(f"children must be a list of layers, not {_type(self.children)}")
        children = tuple(self.children)
        if children and self.kind != "Residual":
            raise ValueError(f"only a Residual block holds layers; {self.kind} cannot")
        for child in children:
            if not isinstance(child, LayerSpec):
                raise ValueError(f"a layer inside a block must be a LayerSpec, not {_type(child)}")
        object.__setattr__(self, "children", children)
        if self.depth > MAX_DEPTH:
            raise ValueError(f"residual blocks are nested {self.depth} deep; "
                             f"at most {MAX_DEPTH} levels are allowed")
        if self.size > MAX_LAYERS:
            raise ValueError(f"a network may have at most {MAX_LAYERS} layers, "
                             f"counting those inside blocks; this has {self.size}")

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
            raise ValueError(f"input_kind must be 'image' or 'vector', not {_short(self.input_kind)}")
        if self.input_kind == "image":
            if self.input_features is not None:
                raise ValueError("an image input is always 1x28x28: leave input_features empty")
        else:
            _check_int("input_features", self.input_features, 1, MAX_FEATURES)
        if not isinstance(self.layers, (tuple, list)):
            raise ValueError(f"layers must be a list, not {_type(self.layers)}")
        layers = tuple(self.layers)
        for layer in layers:
            if not isinstance(layer, LayerSpec):
                raise ValueError(f"every layer must be a LayerSpec, not {_type(layer)}")
        object.__setattr__(self, "layers", layers)
        count = sum(layer.size for layer in layers)
        if count > MAX_LAYERS:
            raise ValueError(f"a network may have at most {MAX_LAYERS} layers, "
                             f"counting those inside blocks; this has {count}")

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

    @classmethod
    def from_dict(cls, data: Any) -> NetworkSpec:
        """Validate JSON-like data (as ``json.loads`` gives it); ValueError names the bad part."""
        if not isinstance(data, dict):
            raise ValueError(f"a network must be a JSON object, not {_type(data)}")
        _check_keys("the network", data,
                    {"name", "input_kind", "input_features", "layers"}, {"format", "version"})
        if "format" in data and data["format"] != FORMAT:
            raise ValueError(f"this is not a network file from the builder (format should be "
                             f"{FORMAT!r}, not {_short(data['format'])})")
        if "version" in data and (type(data["version"]) is not int or data["version"] != VERSION):
            raise ValueError(f"this network file has version {_short(data['version'])}; "
                             f"this builder reads version {VERSION}")
        layers = _layers_from(data["layers"], (), depth=0)
        return cls(data["name"], data["input_kind"], data["input_features"], layers)


def export_spec_json(spec: NetworkSpec) -> str:
    """The spec as readable JSON text (for download)."""
    return json.dumps(spec.to_dict(), indent=2) + "\n"


def import_spec_json(text: str | bytes) -> NetworkSpec:
    """Parse and validate a spec from JSON text; any problem is a ValueError saying what."""
    if isinstance(text, bytes):
        if len(text) > MAX_JSON_CHARS:
            raise ValueError(_too_long(len(text)))
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError("the file is not UTF-8 text, so it is not a network JSON") from e
    if not isinstance(text, str):
        raise ValueError(f"expected JSON text, not {_type(text)}")
    if len(text) > MAX_JSON_CHARS:
        raise ValueError(_too_long(len(text)))
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys,
                          parse_constant=_no_constants)
    except RecursionError as e:  # "[[[[...": the decoder recurses once per level
        raise ValueError("the JSON is nested far too deeply to be a network") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"this is not valid JSON: {e.msg} (line {e.lineno}, "
                         f"column {e.colno})") from e
    return NetworkSpec.from_dict(data)


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


def walk(layers: Sequence[LayerSpec], path: Path = (),
         prefix: str = "") -> Iterator[tuple[Path, str, LayerSpec]]:
    """Every layer, depth first: its path, its dotted module name ("block1.conv2"), the spec."""
    for i, (name, layer) in enumerate(zip(layer_names(layers), layers, strict=True)):
        dotted = f"{prefix}{name}"
        yield (*path, i), dotted, layer
        yield from walk(layer.children, (*path, i), dotted + ".")


def describe_path(path: Path) -> str:
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


def _layers_from(raw: Any, path: Path, depth: int) -> list[LayerSpec]:
    where = f"inside {describe_path(path)}" if path else "in the network"
    if not isinstance(raw, list):
        raise ValueError(f"the layers {where} must be a list, not {_type(raw)}")
    if len(raw) > MAX_LAYERS:  # checked before looking inside, so a huge list costs nothing
        raise ValueError(f"a network may have at most {MAX_LAYERS} layers; "
                         f"{where} there are {len(raw)}")
    return [_layer_from(item, (*path, i), depth) for i, item in enumerate(raw)]


def _layer_from(raw: Any, path: Path, depth: int) -> LayerSpec:
    where = describe_path(path)
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a JSON object, not {_type(raw)}")
    try:
        _check_keys("a layer", raw, {"kind"}, {"params", "children"})
        kind = raw["kind"]
        children: list[LayerSpec] = []
        if "children" in raw:
            if kind == "Residual" and depth + 1 > MAX_DEPTH:
                raise ValueError(f"residual blocks nest more than {MAX_DEPTH} levels deep")
            if kind == "Residual":
                children = _layers_from(raw["children"], path, depth + 1)
            elif raw["children"] not in ([], None):
                raise ValueError(f"only a Residual block holds layers; {_short(kind)} cannot")
        params = raw.get("params", {})
        if params is None:
            params = {}
        return LayerSpec(kind, params, tuple(children))
    except ValueError as e:
        message = str(e)
        if message.startswith("layer "):  # a nested layer already said where
            raise
        raise ValueError(f"{where}: {message}") from None


def _check_params(kind: str, params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise ValueError(f"{kind} parameters must be a JSON object, not {_type(params)}")
    infos = PALETTE[kind].params
    known = {p.name for p in infos}
    for key in params:
        if key not in known:
            listed = ", ".join(p.name for p in infos) or "none"
            raise ValueError(f"{kind} has no parameter {_short(key)}; its parameters are {listed}")
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
            raise ValueError(f"{label} must be true or false, not {_short(value)}")
        return value
    if info.type == "int?" and value is None:
        return None
    if info.type in ("int", "int?"):
        _check_int(label, value, int(info.low or 0), int(info.high or 0))
        return value
    # float: ints are fine (0 means 0.0); bools, strings, inf and nan are not
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{label} must be a number, not {_short(value)}")
    value = float(value)
    low, high = info.low or 0.0, info.high or 0.0
    if not math.isfinite(value) or value < low or value > high or (info.high_open and value == high):
        upper = f"less than {high:g}" if info.high_open else f"at most {high:g}"
        raise ValueError(f"{label} must be at least {low:g} and {upper}, not {_short(value)}")
    return value


def _check_int(label: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{label} must be a whole number, not {_short(value)}")
    if not low <= value <= high:
        raise ValueError(f"{label} must be from {low:,} to {high:,}, not {_short(value)}")


def _check_keys(what: str, data: dict, required: set[str], optional: set[str]) -> None:
    for key in data:
        if key not in required and key not in optional:
            allowed = ", ".join(sorted(required | optional))
            raise ValueError(f"{what} has an unexpected field {_short(key)}; "
                             f"the fields are {allowed}")
    for key in sorted(required):
        if key not in data:
            raise ValueError(f"{what} is missing the field {key!r}")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the JSON has the field {_short(key)} twice in one object")
        out[key] = value
    return out


def _no_constants(token: str) -> Any:
    raise ValueError(f"the JSON contains {token}, which is not a usable number")


def _too_long(n: int) -> str:
    return (f"the file is too long ({n:,} characters); a network JSON has at most "
            f"{MAX_JSON_CHARS:,}")


def _short(value: Any) -> str:
    """repr() cut short, so hostile input cannot flood a message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false",
             int: "a number", float: "a number", type(None): "null", tuple: "a list"}
    return names.get(type(value), type(value).__name__)
