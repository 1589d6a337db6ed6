"""Shape inference against torch: every inferred shape and count is what the built module does,
every error message says what mismatched and how to fix it."""

from __future__ import annotations

import random

import pytest
import torch

from explorer.builder import (
    MAX_ACTIVATIONS,
    MAX_MULTIPLY_ADDS,
    MAX_PARAMETERS,
    PALETTE,
    LayerSpec,
    NetworkSpec,
    analyse,
    build,
    convertible_presets,
    default_layer,
    from_preset,
    infer_shapes,
    shape_text,
    update_params,
)
from explorer.builder.build import Network, assemble

L = LayerSpec


def conv(i: int, o: int, k: int = 3, **kw) -> LayerSpec:
    return L("Conv2d", {"in_channels": i, "out_channels": o, "kernel_size": k, **kw})


def fc(i: int, o: int) -> LayerSpec:
    return L("Linear", {"in_features": i, "out_features": o})


def pool(k: int = 2, **kw) -> LayerSpec:
    return L("MaxPool2d", {"kernel_size": k, **kw})


RELU, FLAT = L("ReLU"), L("Flatten")


def image(*layers: LayerSpec) -> NetworkSpec:
    return NetworkSpec("test", "image", None, layers)


def vector(n: int, *layers: LayerSpec) -> NetworkSpec:
    return NetworkSpec("test", "vector", n, layers)


# --- torch as the reference ------------------------------------------------------------------


def _run_with_torch(spec: NetworkSpec):
    """Run the layers unchecked on one example: shapes and counts by module, and where it failed.

    Returns ``(shapes, params, completed, failing)``: output shapes (no batch) and parameter
    counts by module name, the modules that finished, and the innermost module that raised.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = assemble(Network(), spec.layers).eval()
    names = {m: n for n, m in model.named_modules()}
    shapes, inputs, completed, stack = {}, {}, set(), []

    def pre(module, args):
        stack.append(names[module])
        inputs[names[module]] = tuple(args[0].shape[1:])

    def post(module, args, out):
        shapes[names[module]] = tuple(out.shape[1:])
        completed.add(stack.pop())

    for module in names:
        if module is not model:
            module.register_forward_pre_hook(pre)
            module.register_forward_hook(post)
    params = {n: sum(p.numel() for p in m.parameters()) for m, n in names.items()}
    failing = None
    try:
        with torch.no_grad():
            model(torch.randn(1, *spec.input_shape))
    except (RuntimeError, ValueError, IndexError):
        failing = stack[-1] if stack else ""
    return shapes, inputs, params, completed, failing


_SOFT = ("needs a Flatten first", "residual block", "limit")  # torch itself may not refuse


def _assert_agrees_with_torch(spec: NetworkSpec) -> bool:
    report = analyse(spec)
    shapes, inputs, params, completed, failing = _run_with_torch(spec)
    layers = list(report.all_layers())
    assert report.parameters == params[""]
    for r in layers:
        assert r.parameters == params[r.name], r.name
    if report.ok:
        assert failing is None, f"torch failed at {failing} but no error was inferred"
        for r in layers:
            assert r.output_shape == shapes[r.name], r.name
            assert r.input_shape == inputs[r.name], r.name
        if spec.layers:
            assert (
                report.output_shape
                == shapes[layers[0].name if len(spec.layers) == 1 else report.layers[-1].name]
            )
        return True
    error = report.error
    assert error is not None
    if failing is not None:
        # our first error is no later than torch's: at a layer torch ran, or where it failed
        ancestors = {failing.rsplit(".", k)[0] for k in range(failing.count(".") + 1)}
        assert error.name in completed | ancestors, (error.name, failing)
    if not any(s in error.error for s in _SOFT):
        assert failing == error.name, f"{error.name}: {error.error!r} but torch ran it"
    # layers after the first error have no shapes; before it, torch's shapes
    seen_error = False
    for r in layers:
        if r is error:
            seen_error = True
            assert r.output_shape is None
        elif r.name.startswith(error.name + "."):  # inside the failing block: they ran
            assert r.output_shape is None or r.output_shape == shapes[r.name], r.name
        elif seen_error and not error.name.startswith(r.name + "."):
            assert r.output_shape is None and r.error is None, r.name
        elif r.output_shape is not None:
            assert r.output_shape == shapes[r.name], r.name
    return False


@pytest.mark.parametrize("name", convertible_presets())
def test_presets_shapes_match_torch(name: str) -> None:
    assert _assert_agrees_with_torch(from_preset(name))


def _random_spec(rng: random.Random) -> NetworkSpec:
    spec = image() if rng.random() < 0.7 else vector(rng.choice([2, 3, 4, 17]))
    for _ in range(rng.randint(1, 8)):
        spec = NetworkSpec(
            "test",
            spec.input_kind,
            spec.input_features,
            (*spec.layers, _random_layer(rng, spec, depth=0)),
        )
    return spec


_KINDS = [k for k in PALETTE if k != "Residual"]
_ANY_SHAPE = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Dropout", "Flatten"]
_FOR_IMAGES = ["Conv2d", "Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm2d", *_ANY_SHAPE]
_FOR_VECTORS = ["Linear", "Linear", "BatchNorm1d", *_ANY_SHAPE]


def _random_layer(rng: random.Random, spec: NetworkSpec, depth: int) -> LayerSpec:
    report = analyse(spec)
    shape = report.output_shape if report.ok else None
    if depth < 2 and rng.random() < 0.12:
        inner = NetworkSpec("test", "vector", 1, ()) if shape is None else spec
        children: tuple[LayerSpec, ...] = ()
        for _ in range(rng.randint(0 if rng.random() < 0.05 else 1, 3)):
            probe = NetworkSpec(
                "test", inner.input_kind, inner.input_features, (*inner.layers, *children)
            )
            children += (_random_layer(rng, probe, depth + 1),)
        return L("Residual", {}, children)
    if shape is None or rng.random() < 0.15:
        kind = rng.choice(_KINDS)
    else:  # mostly layers that suit the shape, so stacks get deep and fail in subtler ways
        kind = rng.choice(_FOR_IMAGES if len(shape) == 3 else _FOR_VECTORS)
    layer = default_layer(kind, shape)
    params = dict(layer.params)
    for info in PALETTE[kind].params:  # sometimes a wrong or unusual value
        if rng.random() < 0.15 and info.type in ("int", "int?"):
            params[info.name] = rng.choice([1, 2, 3, 5, 7, 16, 28, 30])
            if info.name in ("padding",):
                params[info.name] = rng.choice([0, 1, 2, 3])
        elif info.name in ("kernel_size",) and rng.random() < 0.5:
            params[info.name] = rng.choice([1, 2, 3, 5, 9])
        elif info.name == "stride" and rng.random() < 0.3:
            params[info.name] = rng.choice([1, 2, 3])
        elif info.type == "float" and rng.random() < 0.3:
            params[info.name] = rng.choice([0.0, 0.2, 0.9])
    return L(kind, params)


def test_random_networks_agree_with_torch() -> None:
    """Hundreds of random stacks, many broken: shapes, counts and errors all match torch."""
    rng = random.Random(1)
    outcomes = [_assert_agrees_with_torch(_random_spec(rng)) for _ in range(400)]
    assert outcomes.count(True) > 80 and outcomes.count(False) > 80


def test_fixes_fix_the_layer() -> None:
    rng = random.Random(2)
    applied = 0
    for _ in range(300):
        spec = _random_spec(rng)
        error = analyse(spec).error
        if error is None or error.fix is None:
            continue
        fixed = analyse(update_params(spec, error.path, **error.fix))
        # the layer is fine now; a problem can only remain further on in the pass
        order = _run_order(fixed.layers)
        assert fixed.error is None or order.index(fixed.error.name) > order.index(error.name)
        applied += 1
    assert applied > 20


def _run_order(reports) -> list[str]:
    """Layer names in the order the forward pass finishes them (a block after its layers)."""
    return [n for r in reports for n in (*_run_order(r.children), r.name)]


# --- every message ---------------------------------------------------------------------------


def _error(spec: NetworkSpec):
    report = analyse(spec)
    assert report.error is not None
    return report.error


def test_linear_after_conv_needs_flatten() -> None:
    e = _error(image(conv(1, 64, padding=1), RELU, pool(), pool(), fc(3136, 10)))
    assert e.name == "fc1" and e.path == (4,)
    assert e.error == (
        "Linear after MaxPool2d needs a Flatten first: the input here is 64×7×7. "
        "Add a Flatten before it; then in_features should be 64*7*7 = 3136"
    )
    e = _error(image(conv(1, 8), fc(8, 10)))
    assert e.error.startswith(
        "Linear after Conv2d needs a Flatten first: the input here is 8×26×26."
    )
    e = _error(image(fc(784, 10)))
    assert e.error.startswith("Linear on the 1×28×28 input image needs a Flatten first")
    assert e.error.endswith("in_features should be 1*28*28 = 784")


def test_wrong_in_features_names_the_source_and_the_fix() -> None:
    e = _error(image(conv(1, 64, padding=1), pool(), pool(), FLAT, fc(128, 10)))
    assert e.error == (
        "Linear expects 3136 input features here (64×7×7 after Flatten) but "
        "in_features is 128: set in_features to 3136"
    )
    assert e.fix == {"in_features": 3136}
    e = _error(vector(4, fc(3, 2)))
    assert e.error == (
        "Linear expects 4 input features here (the network's input) but "
        "in_features is 3: set in_features to 4"
    )
    e = _error(vector(4, fc(4, 8), RELU, fc(6, 2)))
    assert e.error == (
        "Linear expects 8 input features here (out_features of fc1) but "
        "in_features is 6: set in_features to 8"
    )


def test_conv_messages() -> None:
    e = _error(image(pool(), pool(), pool(), conv(1, 4, 5)))
    assert e.error == (
        "kernel 5 is bigger than the 3×3 input: use kernel_size 3 or less, or padding 1 or more"
    )
    e = _error(image(pool(), pool(), pool(), conv(1, 4, 7, padding=1)))
    assert e.error == (
        "kernel 7 is bigger than the 3×3 input even with padding 1 (5×5): use "
        "kernel_size 5 or less, or padding 2 or more"
    )
    assert e.fix == {"kernel_size": 5}
    e = _error(image(conv(1, 32, padding=1), conv(16, 8)))
    assert e.error == (
        "Conv2d expects 32 input channels here (the input is 32×28×28) but "
        "in_channels is 16: set in_channels to 32"
    )
    assert e.fix == {"in_channels": 32}
    e = _error(image(FLAT, conv(1, 4)))
    assert e.error == (
        "Conv2d needs an image-shaped input (channels×height×width), but the "
        "input here is a vector of 784 features: convolutions must come before "
        "Flatten and Linear"
    )
    e = _error(vector(4, conv(1, 4)))
    assert e.error == (
        "Conv2d needs an image-shaped input (channels×height×width), but this "
        "network's input is a vector of 4 features: choose the image input, or "
        "remove it"
    )


def test_pool_messages() -> None:
    e = _error(image(pool(), pool(), pool(), pool(), pool()))
    assert e.path == (4,)
    assert e.error == (
        "MaxPool2d(2) would shrink 1×1 to 0×0: remove it, or use kernel_size 1 or less"
    )
    e = _error(
        image(
            L("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}),
            L("AvgPool2d", {"kernel_size": 30}),
        )
    )
    assert e.error == (
        "AvgPool2d(30) would shrink 14×14 to 0×0: remove it, or use kernel_size 14 or less"
    )
    e = _error(image(pool(3, padding=2)))
    assert e.error == "padding 2 is more than half of kernel_size 3: MaxPool2d allows at most 1"
    assert e.fix == {"padding": 1}
    e = _error(image(FLAT, pool()))
    assert "the input here is a vector of 784 features: pooling must come before" in e.error


def test_batchnorm_messages() -> None:
    e = _error(image(conv(1, 8), L("BatchNorm1d", {"num_features": 8})))
    assert e.error == (
        "BatchNorm1d needs a vector input, but the input here is 8×26×26: use "
        "BatchNorm2d after convolutions"
    )
    e = _error(image(conv(1, 8), L("BatchNorm2d", {"num_features": 16})))
    assert e.error == (
        "BatchNorm2d expects 8 channels here (the input is 8×26×26) but "
        "num_features is 16: set num_features to 8"
    )
    e = _error(vector(4, fc(4, 8), L("BatchNorm1d", {"num_features": 4})))
    assert e.error == (
        "BatchNorm1d expects 8 features here (out_features of fc1) but "
        "num_features is 4: set num_features to 8"
    )
    e = _error(vector(4, L("BatchNorm2d", {"num_features": 4})))
    assert e.error.startswith("BatchNorm2d needs an image-shaped input")


def test_residual_messages() -> None:
    block = L("Residual", {}, (conv(16, 32, padding=1), RELU))
    e = _error(image(conv(1, 16, padding=1), pool(), block))
    assert e.name == "block1"
    assert e.error == (
        "the residual block's output is 32×14×14 but its input is 16×14×14: the "
        "block must keep the shape to add x + f(x); make its layers end with 16 "
        "channels"
    )
    e = _error(image(conv(1, 16, padding=1), L("Residual", {}, (conv(16, 16),))))
    assert e.error.endswith(
        "keep the size inside it: stride 1 with padding = kernel_size // 2, "
        "and pool outside the block"
    )
    e = _error(vector(4, L("Residual", {}, (fc(4, 8),))))
    assert e.error == (
        "the residual block's output is 8 but its input is 4: the block must keep "
        "the shape to add x + f(x); make the last Linear inside it output 4 "
        "features"
    )
    e = _error(image(L("Residual", {}, (FLAT,))))
    assert e.error.endswith("keep Flatten out of the block")
    e = _error(image(L("Residual")))
    assert e.error.startswith("the residual block is empty: add layers inside it")


def test_an_error_inside_a_block_is_reported_there() -> None:
    spec = image(conv(1, 16, padding=1), L("Residual", {}, (RELU, conv(8, 16, padding=1))), RELU)
    reports = infer_shapes(spec)
    block = reports[1]
    assert block.error is None and block.input_shape == (16, 28, 28)
    assert block.output_shape is None
    assert block.children[0].output_shape == (16, 28, 28)
    assert block.children[1].name == "block1.conv1"
    assert block.children[1].error.startswith("Conv2d expects 16 input channels")
    assert reports[2].input_shape is None and reports[2].output_shape is None
    assert analyse(spec).error == block.children[1]


def test_layers_after_the_first_error_get_no_shape_but_keep_their_counts() -> None:
    spec = image(conv(1, 8), fc(10, 10), FLAT, fc(5408, 10))
    reports = infer_shapes(spec)
    assert reports[0].output_shape == (8, 26, 26)
    assert reports[1].error is not None
    assert [r.output_shape for r in reports[1:]] == [None, None, None]
    assert [r.error for r in reports[2:]] == [None, None]
    assert reports[3].parameters == 54090
    assert analyse(spec).parameters == 80 + 110 + 54090
    assert analyse(spec).output_shape is None


def test_class_limits_are_reported_at_the_layer_that_crosses_them() -> None:
    e = _error(image(FLAT, fc(784, 16), fc(16, 6400), fc(6400, 784)))
    assert e.name == "fc3"
    assert e.error == (
        f"this layer brings the network to 5,139,744 parameters, over the class "
        f"limit of {MAX_PARAMETERS:,}: use fewer features or channels"
    )
    e = _error(image(conv(1, 1024, padding=1), RELU))
    assert e.name == "relu1"
    assert e.error.startswith(
        f"this layer's output brings the values kept for one example to "
        f"1,605,632, over the limit of {MAX_ACTIVATIONS:,}"
    )
    e = _error(image(conv(1, 64, padding=1), conv(64, 128, padding=1), conv(128, 128, padding=1)))
    assert e.name == "conv3"
    assert e.error.startswith("this layer brings the work for one example to ")
    assert f"multiply-adds, over the limit of {MAX_MULTIPLY_ADDS:,}" in e.error
    with pytest.raises(ValueError, match="layer 3 \\(conv3\\): this layer brings the work"):
        build(image(conv(1, 64, padding=1), conv(64, 128, padding=1), conv(128, 128, padding=1)))


def test_shape_text() -> None:
    assert shape_text((32, 14, 14)) == "32×14×14"
    assert shape_text((10,)) == "10"
    assert shape_text(None) == "?"
