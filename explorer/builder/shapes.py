"""Live shape inference: each layer's output shape and parameter count, or what is wrong there.

Shapes are worked out with arithmetic (the conv/pool size formula), never by running torch, so
the page can recheck a spec on every keystroke. ``tests/test_builder_shapes.py`` checks every
inferred shape against the built module actually running.

Shapes leave out the batch dimension: ``(1, 28, 28)`` for a digit, ``(128,)`` for a vector.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from explorer.builder.palette import (
    MAX_ACTIVATIONS,
    MAX_MULTIPLY_ADDS,
    MAX_PARAMETERS,
)
from explorer.builder.spec import LayerPath, LayerSpec, NetworkSpec, layer_call, layer_names

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerReport:
    """What the page shows beside one layer."""

    path: LayerPath  # (2,) the third layer; (2, 0) the first inside it
    name: str  # the module's name in the built network: "conv1", "block1.conv2"
    kind: str
    input_shape: Shape | None  # None when an earlier layer has an error
    output_shape: Shape | None  # None at and after the first error
    parameters: int  # this layer's own count (a block's includes its layers); always known
    error: str | None = None  # what mismatched, and the fix
    fix: dict[str, int] | None = None  # a parameter change that fixes it, when one does
    children: tuple[LayerReport, ...] = ()  # a Residual block's layers


@dataclass(frozen=True)
class NetworkReport:
    """The whole network: every layer's report and the totals."""

    input_shape: Shape
    layers: tuple[LayerReport, ...]
    output_shape: Shape | None  # None if any layer has an error
    parameters: int  # total, as ``sum(p.numel() for p in model.parameters())``
    activations: int  # values the layers' outputs hold for one example (up to an error)
    multiply_adds: int  # per example (up to an error)
    error: LayerReport | None = None  # the first layer with an error

    @property
    def ok(self) -> bool:
        return self.error is None

    def all_layers(self) -> Iterator[LayerReport]:
        """Every report, depth first (a block, then its layers)."""
        yield from _flat(self.layers)


def infer_shapes(spec: NetworkSpec) -> list[LayerReport]:
    """One report per top-level layer (blocks hold their layers' reports)."""
    return list(analyse(spec).layers)


def analyse(spec: NetworkSpec) -> NetworkReport:
    """Shapes, counts and the first error of a whole network."""
    walker = _Walker()
    start = "the 1×28×28 input image" if spec.input_kind == "image" else "the input vector"
    reports, out = walker.run(spec.layers, spec.input_shape, _INPUT, (), "", start)
    first = next((r for r in _flat(reports) if r.error), None)
    return NetworkReport(
        spec.input_shape,
        tuple(reports),
        None if first else out,
        sum(parameter_count(layer) for layer in spec.layers),
        walker.activations,
        walker.multiply_adds,
        first,
    )


def parameter_count(layer: LayerSpec) -> int:
    """Weights and biases of a layer (and of everything inside a block)."""
    p = layer.params
    if layer.kind == "Linear":
        return p["in_features"] * p["out_features"] + (p["out_features"] if p["bias"] else 0)
    if layer.kind == "Conv2d":
        weights = p["out_channels"] * p["in_channels"] * p["kernel_size"] ** 2
        return weights + (p["out_channels"] if p["bias"] else 0)
    if layer.kind in ("BatchNorm1d", "BatchNorm2d"):
        return 2 * p["num_features"]  # weight and bias; running statistics are buffers
    return sum(parameter_count(c) for c in layer.children)


def shape_text(shape: Shape | None) -> str:
    """For display: "32×14×14", "128", or "?" when unknown."""
    return "?" if shape is None else "×".join(str(d) for d in shape)


def describe_shape(shape: Shape) -> str:
    """For sentences: "32×14×14" or "a vector of 128 features"."""
    return shape_text(shape) if len(shape) == 3 else f"a vector of {shape[0]} features"


# --- the walk --------------------------------------------------------------------------------

_INPUT = "the network's input"  # where a vector came from, for the in_features message


@dataclass
class _Walker:
    """Running totals while the layers are visited in order; stops shaping at the first error."""

    parameters: int = 0
    activations: int = 0
    multiply_adds: int = 0
    failed: bool = False

    def run(
        self,
        layers: Sequence[LayerSpec],
        shape: Shape | None,
        origin: str,
        path: LayerPath,
        prefix: str,
        start: str,
    ) -> tuple[list[LayerReport], Shape | None]:
        reports = []
        previous = None
        for i, (name, layer) in enumerate(zip(layer_names(layers), layers, strict=True)):
            after = f"{layer.kind} after {previous}" if previous else f"{layer.kind} on {start}"
            report, shape, origin = self.layer(
                layer, (*path, i), prefix + name, shape, origin, after
            )
            reports.append(report)
            previous = layer.kind
        return reports, shape

    def layer(
        self,
        layer: LayerSpec,
        path: LayerPath,
        name: str,
        shape: Shape | None,
        origin: str,
        after: str,
    ) -> tuple[LayerReport, Shape | None, str]:
        count = parameter_count(layer)
        if layer.kind == "Residual":
            return self.block(layer, path, name, shape, origin)
        if self.failed or shape is None:
            self.parameters += count
            return LayerReport(path, name, layer.kind, None, None, count), None, origin
        result = _infer(layer, shape, origin, after, name)
        self.parameters += count
        error = result.error or self._over_limits(result)
        if error:
            self.failed = True
            return (
                LayerReport(path, name, layer.kind, shape, None, count, error, result.fix),
                None,
                origin,
            )
        return (
            LayerReport(path, name, layer.kind, shape, result.shape, count),
            result.shape,
            result.origin,
        )

    def block(
        self, layer: LayerSpec, path: LayerPath, name: str, shape: Shape | None, origin: str
    ) -> tuple[LayerReport, Shape | None, str]:
        count = parameter_count(layer)
        live = shape if not self.failed else None
        children, out = self.run(
            layer.children, live, origin, path, name + ".", "the block's input"
        )
        if self.failed or live is None:
            report = LayerReport(
                path, name, layer.kind, live, None, count, children=tuple(children)
            )
            return report, None, origin
        error = None
        if not layer.children:
            error = (
                "the residual block is empty: add layers inside it (it returns x + f(x), "
                "and its layers are f)"
            )
        elif out != live:
            error = (
                f"the residual block's output is {shape_text(out)} but its input is "
                f"{shape_text(live)}: the block must keep the shape to add x + f(x); "
                f"{_keep_hint(live, out)}"
            )
        else:
            error = self._over_limits(_Result(live, origin, activations=math.prod(live)))
        if error:
            self.failed = True
            return (
                LayerReport(
                    path, name, layer.kind, live, None, count, error, children=tuple(children)
                ),
                None,
                origin,
            )
        return (
            LayerReport(path, name, layer.kind, live, live, count, children=tuple(children)),
            live,
            f"the output of {name}",
        )

    def _over_limits(self, result: _Result) -> str | None:
        """Charge this layer's cost; a message if it takes the network over a class limit."""
        if self.parameters > MAX_PARAMETERS:
            return (
                f"this layer brings the network to {self.parameters:,} parameters, over the "
                f"class limit of {MAX_PARAMETERS:,}: use fewer features or channels"
            )
        self.activations += result.activations
        if self.activations > MAX_ACTIVATIONS:
            return (
                f"this layer's output brings the values kept for one example to "
                f"{self.activations:,}, over the limit of {MAX_ACTIVATIONS:,}: use fewer "
                f"channels, or pool earlier"
            )
        self.multiply_adds += result.multiply_adds
        if self.multiply_adds > MAX_MULTIPLY_ADDS:
            return (
                f"this layer brings the work for one example to {self.multiply_adds:,} "
                f"multiply-adds, over the limit of {MAX_MULTIPLY_ADDS:,}: use fewer channels, "
                f"a smaller kernel, or pool earlier"
            )
        return None


@dataclass
class _Result:
    shape: Shape
    origin: str  # where a vector's features came from, for later messages
    error: str | None = None
    fix: dict[str, int] | None = None
    activations: int = 0
    multiply_adds: int = 0


def _infer(layer: LayerSpec, shape: Shape, origin: str, after: str, name: str) -> _Result:
    """One layer's output shape from its input shape, or the error and its fix."""
    kind, p = layer.kind, layer.params
    if kind == "Linear":
        return _linear(p, shape, origin, after, name)
    if kind == "Conv2d":
        return _conv(p, shape, origin)
    if kind in ("MaxPool2d", "AvgPool2d"):
        return _pool(layer, shape, origin)
    if kind == "BatchNorm1d":
        if len(shape) != 1:
            return _fail(
                f"BatchNorm1d needs a vector input, but the input here is "
                f"{describe_shape(shape)}: use BatchNorm2d after convolutions"
            )
        if p["num_features"] != shape[0]:
            return _fail(
                f"BatchNorm1d expects {shape[0]} features here ({origin}) but "
                f"num_features is {p['num_features']}: set num_features to "
                f"{shape[0]}",
                {"num_features": shape[0]},
            )
        return _ok(shape, origin)
    if kind == "BatchNorm2d":
        if len(shape) != 3:
            return _fail(_needs_image(kind, shape, origin, "use BatchNorm1d for vectors"))
        if p["num_features"] != shape[0]:
            return _fail(
                f"BatchNorm2d expects {shape[0]} channels here (the input is "
                f"{shape_text(shape)}) but num_features is {p['num_features']}: set "
                f"num_features to {shape[0]}",
                {"num_features": shape[0]},
            )
        return _ok(shape, origin)
    if kind == "Flatten":
        flat = (math.prod(shape),)
        return _ok(flat, f"{shape_text(shape)} after Flatten" if len(shape) == 3 else origin)
    return _ok(shape, origin)  # activations and dropout keep the shape


def _linear(p: dict, shape: Shape, origin: str, after: str, name: str) -> _Result:
    if len(shape) == 3:
        c, h, w = shape
        return _fail(
            f"{after} needs a Flatten first: the input here is {shape_text(shape)}. "
            f"Add a Flatten before it; then in_features should be {c}*{h}*{w} = "
            f"{c * h * w}"
        )
    features = shape[0]
    if p["in_features"] != features:
        return _fail(
            f"Linear expects {features} input features here ({origin}) but "
            f"in_features is {p['in_features']}: set in_features to {features}",
            {"in_features": features},
        )
    out = p["out_features"]
    return _ok((out,), f"out_features of {name}", multiply_adds=features * out)


def _conv(p: dict, shape: Shape, origin: str) -> _Result:
    if len(shape) != 3:
        return _fail(
            _needs_image(
                "Conv2d", shape, origin, "convolutions must come before Flatten and Linear"
            )
        )
    c, h, w = shape
    k, s, pad = p["kernel_size"], p["stride"], p["padding"]
    if p["in_channels"] != c:
        return _fail(
            f"Conv2d expects {c} input channels here (the input is {shape_text(shape)}) "
            f"but in_channels is {p['in_channels']}: set in_channels to {c}",
            {"in_channels": c},
        )
    if k > min(h, w) + 2 * pad:
        return _fail(_kernel_too_big(k, h, w, pad), {"kernel_size": min(h, w) + 2 * pad})
    oh, ow = _out_size(h, k, s, pad), _out_size(w, k, s, pad)
    out = (p["out_channels"], oh, ow)
    return _ok(out, origin, multiply_adds=p["out_channels"] * c * k * k * oh * ow)


def _pool(layer: LayerSpec, shape: Shape, origin: str) -> _Result:
    kind, p = layer.kind, layer.params
    if len(shape) != 3:
        return _fail(
            _needs_image(kind, shape, origin, "pooling must come before Flatten and Linear")
        )
    c, h, w = shape
    k, pad = p["kernel_size"], p["padding"]
    s = p["stride"] or k
    if pad > k // 2:
        return _fail(
            f"padding {pad} is more than half of kernel_size {k}: {kind} allows at most {k // 2}",
            {"padding": k // 2},
        )
    oh, ow = _out_size(h, k, s, pad), _out_size(w, k, s, pad)
    if oh < 1 or ow < 1:
        return _fail(
            f"{layer_call(layer)} would shrink {h}×{w} to {max(oh, 0)}×{max(ow, 0)}: "
            f"remove it, or use kernel_size {min(h, w) + 2 * pad} or less"
        )
    return _ok((c, oh, ow), origin)


def _out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    # PyTorch's formula (dilation 1, floor mode); floor division keeps negatives negative
    return (size + 2 * padding - kernel) // stride + 1


def _kernel_too_big(k: int, h: int, w: int, pad: int) -> str:
    side = min(h, w)
    need = math.ceil((k - side) / 2)
    if pad:
        return (
            f"kernel {k} is bigger than the {h}×{w} input even with padding {pad} "
            f"({h + 2 * pad}×{w + 2 * pad}): use kernel_size {side + 2 * pad} or less, "
            f"or padding {need} or more"
        )
    return (
        f"kernel {k} is bigger than the {h}×{w} input: use kernel_size {side} or less, "
        f"or padding {need} or more"
    )


def _needs_image(kind: str, shape: Shape, origin: str, advice: str) -> str:
    if origin == _INPUT:
        return (
            f"{kind} needs an image-shaped input (channels×height×width), but this "
            f"network's input is {describe_shape(shape)}: choose the image input, or "
            f"remove it"
        )
    return (
        f"{kind} needs an image-shaped input (channels×height×width), but the input here "
        f"is {describe_shape(shape)}: {advice}"
    )


def _keep_hint(before: Shape, after: Shape | None) -> str:
    if after is None or len(after) != len(before):
        return "keep Flatten out of the block"
    if len(before) == 1:
        return f"make the last Linear inside it output {before[0]} features"
    if after[1:] != before[1:]:
        return (
            "keep the size inside it: stride 1 with padding = kernel_size // 2, "
            "and pool outside the block"
        )
    return f"make its layers end with {before[0]} channels"


def _ok(shape: Shape, origin: str, multiply_adds: int = 0) -> _Result:
    return _Result(shape, origin, activations=math.prod(shape), multiply_adds=multiply_adds)


def _fail(error: str, fix: dict[str, int] | None = None) -> _Result:
    return _Result((), "", error, fix)


def _flat(reports: Sequence[LayerReport]) -> Iterator[LayerReport]:
    for r in reports:
        yield r
        yield from _flat(r.children)
