"""Editing a spec the way the page does: add, remove, move up/down, change parameters.

Specs are immutable: every edit returns a new, validated ``NetworkSpec`` (or raises ValueError
with the reason, e.g. the layer limit). A layer is addressed by its ``LayerPath``: ``(2,)`` is the
third layer, ``(2, 0)`` the first layer inside the block at ``(2,)``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from explorer.builder.palette import MAX_CHANNELS, MAX_FEATURES, PALETTE
from explorer.builder.shapes import Shape
from explorer.builder.spec import LayerPath, LayerSpec, NetworkSpec, describe_path


def get_layer(spec: NetworkSpec, path: LayerPath) -> LayerSpec:
    """The layer at ``path``; ValueError if there is none."""
    layers = spec.layers
    layer = None
    for depth, i in enumerate(path):
        if not 0 <= i < len(layers):
            raise ValueError(f"there is no {describe_path(path[: depth + 1])}")
        layer = layers[i]
        layers = layer.children
    if layer is None:
        raise ValueError("a layer path needs at least one index")
    return layer


def insert_layer(spec: NetworkSpec, path: LayerPath, layer: LayerSpec) -> NetworkSpec:
    """Insert ``layer`` so that it ends up at ``path`` (the last index may be the list's length).

    To add inside a block, use the block's path plus the position: ``(2, 0)`` puts it first.
    """
    *parent, i = _nonempty(path)
    siblings = _children_of(spec, tuple(parent))
    if not 0 <= i <= len(siblings):
        raise ValueError(
            f"cannot insert at {describe_path(path)}: that list has {len(siblings)} layers"
        )
    return _with_children(spec, tuple(parent), (*siblings[:i], layer, *siblings[i:]))


def append_layer(spec: NetworkSpec, layer: LayerSpec) -> NetworkSpec:
    """Add ``layer`` at the end of the network."""
    return insert_layer(spec, (len(spec.layers),), layer)


def remove_layer(spec: NetworkSpec, path: LayerPath) -> NetworkSpec:
    """Remove the layer at ``path`` (a block goes with the layers inside it)."""
    get_layer(spec, path)
    *parent, i = path
    siblings = _children_of(spec, tuple(parent))
    return _with_children(spec, tuple(parent), (*siblings[:i], *siblings[i + 1 :]))


def move_layer(spec: NetworkSpec, path: LayerPath, offset: int) -> NetworkSpec:
    """Move a layer up (-1) or down (+1) among its siblings; at either end it stays put."""
    get_layer(spec, path)
    *parent, i = path
    siblings = list(_children_of(spec, tuple(parent)))
    j = min(max(i + offset, 0), len(siblings) - 1)
    siblings.insert(j, siblings.pop(i))
    return _with_children(spec, tuple(parent), tuple(siblings))


def replace_layer(spec: NetworkSpec, path: LayerPath, layer: LayerSpec) -> NetworkSpec:
    """Put ``layer`` where the layer at ``path`` was."""
    get_layer(spec, path)
    *parent, i = path
    siblings = _children_of(spec, tuple(parent))
    return _with_children(spec, tuple(parent), (*siblings[:i], layer, *siblings[i + 1 :]))


def update_params(spec: NetworkSpec, path: LayerPath, **changes: Any) -> NetworkSpec:
    """Change some parameters of the layer at ``path``, e.g. to apply ``LayerReport.fix``."""
    old = get_layer(spec, path)
    return replace_layer(spec, path, LayerSpec(old.kind, {**old.params, **changes}, old.children))


LINEAR_WIDTH = 128  # a new Linear's outputs at most: the hidden width of the tutorials' MLPs


def default_layer(kind: str, input_shape: Shape | None = None) -> LayerSpec:
    """A new layer of ``kind`` whose sizes fit ``input_shape`` (the shape arriving there).

    Linear keeps a narrow width and narrows a wide one to ``LINEAR_WIDTH`` (after Flatten of
    64×7×7 it proposes 3136 → 128, not a 3136 × 3136 matrix), Conv2d makes 16 channels and keeps
    the size, BatchNorm matches, a Residual block gets two layers that keep the shape. Without a
    shape, small guesses.
    """
    if kind not in PALETTE:
        raise ValueError(f"unknown layer kind {kind!r}; choose one of {', '.join(PALETTE)}")
    shape = input_shape or ()
    channels = min(shape[0], MAX_CHANNELS) if len(shape) == 3 else 1
    features = min(math.prod(shape), MAX_FEATURES) if shape else 10
    if kind == "Linear":
        return LayerSpec(
            kind, {"in_features": features, "out_features": min(features, LINEAR_WIDTH)}
        )
    if kind == "Conv2d":
        return LayerSpec(
            kind, {"in_channels": channels, "out_channels": 16, "kernel_size": 3, "padding": 1}
        )
    if kind == "BatchNorm1d":
        return LayerSpec(kind, {"num_features": features})
    if kind == "BatchNorm2d":
        return LayerSpec(kind, {"num_features": channels})
    if kind == "Residual":
        if len(shape) == 3:
            conv = {
                "in_channels": channels,
                "out_channels": channels,
                "kernel_size": 3,
                "padding": 1,
            }
            body = (LayerSpec("Conv2d", conv), LayerSpec("ReLU"), LayerSpec("Conv2d", conv))
        else:
            fc = {"in_features": features, "out_features": features}
            body = (LayerSpec("Linear", fc), LayerSpec("ReLU"), LayerSpec("Linear", fc))
        return LayerSpec(kind, {}, body)
    return LayerSpec(kind)


# --- helpers ---------------------------------------------------------------------------------


def _nonempty(path: LayerPath) -> LayerPath:
    if not path:
        raise ValueError("a layer path needs at least one index")
    return path


def _children_of(spec: NetworkSpec, parent: LayerPath) -> tuple[LayerSpec, ...]:
    if not parent:
        return spec.layers
    block = get_layer(spec, parent)
    if block.kind != "Residual":
        raise ValueError(
            f"{describe_path(parent)} is a {block.kind}; only a Residual block holds layers"
        )
    return block.children


def _with_children(
    spec: NetworkSpec, parent: LayerPath, children: tuple[LayerSpec, ...]
) -> NetworkSpec:
    """``spec`` with the list at ``parent`` replaced; every level is rebuilt (and revalidated)."""
    if not parent:
        return dataclasses.replace(spec, layers=children)
    block = get_layer(spec, parent)
    new_block = LayerSpec(block.kind, block.params, children)
    *grand, i = parent
    siblings = _children_of(spec, tuple(grand))
    return _with_children(spec, tuple(grand), (*siblings[:i], new_block, *siblings[i + 1 :]))
