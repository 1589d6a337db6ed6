"""Specs as JSON text, for download and upload: strict, and safe with hostile input.

Whatever arrives -- wrong types, extra or repeated keys, NaN, huge numbers, deep nesting,
megabytes of text -- ends as a ``ValueError`` naming the bad part, quickly.
"""

from __future__ import annotations

import json
from typing import Any

from explorer.builder.palette import MAX_DEPTH, MAX_LAYERS
from explorer.builder.spec import (
    FORMAT,
    VERSION,
    LayerPath,
    LayerSpec,
    NetworkSpec,
    brief,
    describe_path,
    json_type,
)

MAX_JSON_CHARS = 200_000  # a 50-layer spec is ~10 kB; anything far bigger is not ours
# Python refuses to read ints past 4,300 digits, with a message about sys; far below that,
# a long number still reaches the layer it belongs to, whose message says where it is
MAX_INT_DIGITS = 1_000


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
        raise ValueError(f"expected JSON text, not {json_type(text)}")
    if len(text) > MAX_JSON_CHARS:
        raise ValueError(_too_long(len(text)))
    try:
        data = json.loads(
            text,
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_no_constants,
            parse_int=_whole_number,
        )
    except RecursionError as e:  # "[[[[...": the decoder recurses once per level
        raise ValueError("the JSON is nested far too deeply to be a network") from e
    except json.JSONDecodeError as e:
        raise ValueError(
            f"this is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})"
        ) from e
    return spec_from_dict(data)


def spec_from_dict(data: Any) -> NetworkSpec:
    """Validate JSON-like data (as ``json.loads`` gives it); ValueError names the bad part."""
    if not isinstance(data, dict):
        raise ValueError(f"a network must be a JSON object, not {json_type(data)}")
    _check_keys(
        "the network",
        data,
        {"name", "input_kind", "input_features", "layers"},
        {"format", "version"},
    )
    if "format" in data and data["format"] != FORMAT:
        raise ValueError(
            f"this is not a network file from the builder (format should be "
            f"{FORMAT!r}, not {brief(data['format'])})"
        )
    if "version" in data and (type(data["version"]) is not int or data["version"] != VERSION):
        raise ValueError(
            f"this network file has version {brief(data['version'])}; "
            f"this builder reads version {VERSION}"
        )
    layers = _layers_from(data["layers"], (), depth=0)
    return NetworkSpec(data["name"], data["input_kind"], data["input_features"], tuple(layers))


def _layers_from(raw: Any, path: LayerPath, depth: int) -> list[LayerSpec]:
    where = f"inside {describe_path(path)}" if path else "in the network"
    if not isinstance(raw, list):
        raise ValueError(f"the layers {where} must be a list, not {json_type(raw)}")
    if len(raw) > MAX_LAYERS:  # checked before looking inside, so a huge list costs nothing
        raise ValueError(
            f"a network may have at most {MAX_LAYERS} layers; {where} there are {len(raw)}"
        )
    return [_layer_from(item, (*path, i), depth) for i, item in enumerate(raw)]


def _layer_from(raw: Any, path: LayerPath, depth: int) -> LayerSpec:
    where = describe_path(path)
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a JSON object, not {json_type(raw)}")
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
                raise ValueError(f"only a Residual block holds layers; {brief(kind)} cannot")
        params = raw.get("params", {})
        if params is None:
            params = {}
        return LayerSpec(kind, params, tuple(children))
    except ValueError as e:
        message = str(e)
        if message.startswith("layer "):  # a nested layer already said where
            raise
        raise ValueError(f"{where}: {message}") from None


def _check_keys(what: str, data: dict, required: set[str], optional: set[str]) -> None:
    for key in data:
        if key not in required and key not in optional:
            allowed = ", ".join(sorted(required | optional))
            raise ValueError(
                f"{what} has an unexpected field {brief(key)}; the fields are {allowed}"
            )
    for key in sorted(required):
        if key not in data:
            raise ValueError(f"{what} is missing the field {key!r}")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the JSON has the field {brief(key)} twice in one object")
        out[key] = value
    return out


def _no_constants(token: str) -> Any:
    raise ValueError(f"the JSON contains {token}, which is not a usable number")


def _whole_number(token: str) -> int:
    digits = len(token.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ValueError(
            f"the JSON has a whole number {digits:,} digits long, far too large "
            f"for any setting of a network"
        )
    return int(token)


def _too_long(n: int) -> str:
    return f"the file is too long ({n:,} characters); a network JSON has at most {MAX_JSON_CHARS:,}"
