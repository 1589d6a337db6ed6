"""unit_computation() against torch: every recomputed unit must equal the value torch produced."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer import example_input, load_model, trace
from explorer.trace import Step, Trace
from explorer.units import UnitComputation, unit_computation

RTOL, ATOL = 1e-4, 1e-5


def _step(t: Trace, op: str, module: str | None = None, nth: int = 0) -> Step:
    found = [s for s in t.steps if s.op == op and (module is None or s.module == module)]
    return found[nth]


def _random_units(step: Step, n: int, seed: int) -> list[tuple[int, tuple[int, ...]]]:
    rng = random.Random(seed)
    shape = step.output_shape
    return [(rng.randrange(shape[0]), tuple(rng.randrange(d) for d in shape[1:])) for _ in range(n)]


def _assert_recomputed(u: UnitComputation) -> None:
    assert u.total is not None, u.explanation
    assert u.total == pytest.approx(u.value, rel=RTOL, abs=ATOL), u.formula
    assert u.agrees


def _assert_parts_add_up(u: UnitComputation) -> None:
    shown = sum(t.product for t in u.terms) + u.rest + (u.bias or 0.0)
    assert shown == pytest.approx(u.total, rel=1e-12, abs=1e-12)


@pytest.fixture(scope="module")
def cnn_trace() -> Trace:
    return trace(load_model("cnn", pretrained=False), example_input("cnn", batch=3, seed=5))


@pytest.fixture(scope="module")
def skip_trace() -> Trace:
    return trace(load_model("skip", pretrained=False), example_input("skip", batch=2, seed=9))


@pytest.mark.parametrize(
    "op,module", [("conv2d", "conv1"), ("conv2d", "conv2"), ("linear", "fc1"), ("linear", "fc2")]
)
def test_cnn_units_equal_torch(cnn_trace: Trace, op: str, module: str) -> None:
    step = _step(cnn_trace, op, module)
    for sample, unit in _random_units(step, 60, seed=hash(module) % 1000):
        u = unit_computation(step, unit, sample=sample)
        assert u.value == float(step.output[(sample, *unit)])
        _assert_recomputed(u)
        _assert_parts_add_up(u)


@pytest.mark.parametrize(
    "op,module",
    [
        ("conv2d", "stem"),
        ("conv2d", "block.conv1"),
        ("conv2d", "block.conv2"),
        ("add", "block"),
        ("linear", "fc"),
    ],
)
def test_skip_units_equal_torch(skip_trace: Trace, op: str, module: str) -> None:
    step = _step(skip_trace, op, module)
    for sample, unit in _random_units(step, 60, seed=7):
        _assert_recomputed(unit_computation(step, unit, sample=sample))


def test_every_output_unit_of_a_small_conv_layer(cnn_trace: Trace) -> None:
    step = _step(cnn_trace, "conv2d", "conv1")
    ref = F.conv2d(
        step.inputs[0].double(),
        step.extras["weight"].double(),
        step.extras["bias"].double(),
        padding=1,
    )
    for r in range(28):  # a whole row of channel 5 for every row: borders included
        for c in (0, 1, 13, 26, 27):
            u = unit_computation(step, (5, r, c), sample=2)
            assert u.total == pytest.approx(float(ref[2, 5, r, c]), rel=1e-12, abs=1e-12)


def test_conv_patch_kernel_and_channel_sums(cnn_trace: Trace) -> None:
    step = _step(cnn_trace, "conv2d", "conv2")
    u = unit_computation(step, (7, 0, 13), sample=1, top_k=5)
    x = F.pad(step.inputs[0][1], (1, 1, 1, 1))  # (32, 16, 16): padding as zeros
    expected_patch = x[:, 0:3, 13:16].double().numpy()
    np.testing.assert_array_equal(u.patch, expected_patch)
    np.testing.assert_array_equal(u.kernel, step.extras["weight"][7].double().numpy())
    assert u.rows == (-1, 0, 1) and u.cols == (12, 13, 14)
    assert u.channels == tuple(range(32))
    np.testing.assert_allclose(u.channel_sums, (expected_patch * u.kernel).sum(axis=(1, 2)))
    assert u.channel_sums.sum() + u.bias == pytest.approx(u.total, rel=1e-12)
    assert u.bias == float(step.extras["bias"][7])
    assert u.patch[:, 0, :].tolist() == [[0.0] * 3] * 32  # row -1 is padding
    assert len(u.terms) == 5 and u.rest_count == 32 * 9 - 5
    mags = [abs(t.product) for t in u.terms]
    assert mags == sorted(mags, reverse=True)
    others = np.sort(np.abs((expected_patch * u.kernel).ravel()))[::-1]
    assert mags == pytest.approx(list(others[:5]))
    assert "(padding)" in unit_computation(step, (7, 0, 0), top_k=288).terms[-1].label


def test_linear_terms_are_the_largest_products(cnn_trace: Trace) -> None:
    step = _step(cnn_trace, "linear", "fc1")
    u = unit_computation(step, (5,), sample=0, top_k=8)
    products = step.inputs[0][0].double() * step.extras["weight"][5].double()
    top = products.abs().topk(8).indices.tolist()
    assert [t.label for t in u.terms] == [f"x[{i}]·W[5,{i}]" for i in top]
    for t, i in zip(u.terms, top, strict=True):
        assert t.input == float(step.inputs[0][0, i])
        assert t.weight == float(step.extras["weight"][5, i])
    assert u.rest_count == 3136 - 8
    assert u.formula.startswith("y[5] = Σ x·w + b = ")
    assert u.formula.endswith(f"= {u.total:.4g}")


class _Geometry(nn.Module):
    """Convolutions with stride, padding, dilation, groups and 'same', as modules and functions."""

    def __init__(self):
        super().__init__()
        self.strided = nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2)
        self.same = nn.Conv2d(4, 3, (4, 3), padding="same", dilation=(1, 2))
        self.w = nn.Parameter(torch.randn(5, 4, 3, 2))
        self.b = nn.Parameter(torch.randn(5))

    def forward(self, x):
        a = self.strided(x)
        b = self.same(x)
        c = F.conv2d(x, self.w, self.b, 2, 1, 1)  # positional settings
        d = F.conv2d(x, self.w, None, stride=(1, 2), padding=(2, 0), dilation=(2, 1))
        e = F.conv2d(x, self.w, padding="valid")
        return a.sum() + b.sum() + c.sum() + d.sum() + e.sum()


# 'same' padding with an even kernel is one of the geometries on purpose; torch warns that it
# pads a copy of the input, which is no concern here.
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
def test_conv_geometry_stride_padding_dilation_groups() -> None:
    torch.manual_seed(0)
    t = trace(_Geometry().eval(), torch.randn(2, 4, 11, 10))
    convs = [s for s in t.steps if s.op == "conv2d"]
    assert len(convs) == 5
    for step in convs:
        shape = step.output_shape
        for sample in range(2):
            for unit in np.ndindex(*shape[1:]):
                _assert_recomputed(unit_computation(step, unit, sample=sample))
    grouped = unit_computation(convs[0], (4, 1, 2))
    assert grouped.channels == (2, 3)  # output channel 4 is in the second group
    assert grouped.rows == (0, 2, 4) and grouped.cols == (2, 4, 6)


def test_conv_without_enough_settings_says_so(cnn_trace: Trace) -> None:
    step = _step(cnn_trace, "conv2d", "conv1")
    broken = Step(**{**step.__dict__, "args": {"in_channels": 1}})
    u = unit_computation(broken, (0, 0, 0))
    assert u.total is None and u.agrees is None
    assert "not say enough" in u.explanation
    wrong = Step(**{**step.__dict__, "args": {**step.args, "stride": (2, 2)}})
    assert "will not guess" in unit_computation(wrong, (0, 0, 0)).explanation


def test_pool_winner_is_torchs_argmax(cnn_trace: Trace) -> None:
    for nth in range(2):
        step = _step(cnn_trace, "max_pool2d", nth=nth)
        _, torch_idx = F.max_pool2d(step.inputs[0], 2, return_indices=True)
        width = step.inputs[0].shape[3]
        for sample, unit in _random_units(step, 80, seed=nth):
            u = unit_computation(step, unit, sample=sample)
            row, col = u.winner
            assert row * width + col == int(torch_idx[(sample, *unit)])
            assert row * width + col == int(step.extras["indices"][(sample, *unit)])
            assert u.total == u.value == float(step.inputs[0][sample, unit[0], row, col])
            assert u.window.max() == u.value and u.window.shape == (2, 2)


def test_pool_with_padding_and_overlap() -> None:
    class Pool(nn.Module):
        def forward(self, x):
            return F.max_pool2d(x, 3, 2, 1)

    x = torch.randn(1, 2, 7, 6)
    step = trace(Pool(), x).steps[0]
    _, idx = F.max_pool2d(x, 3, 2, 1, return_indices=True)
    for unit in np.ndindex(*step.output_shape[1:]):
        u = unit_computation(step, unit)
        assert u.winner[0] * 6 + u.winner[1] == int(idx[(0, *unit)])
        assert u.total == u.value
    corner = unit_computation(step, (0, 0, 0))
    assert corner.rows == (-1, 0, 1) and np.isneginf(corner.window[0]).all()


@pytest.mark.parametrize("seed", [1, 2])
def test_dropout_is_input_times_mask_times_scale(seed: int) -> None:
    model = load_model("cnn", pretrained=False)
    t = trace(model, example_input("cnn", batch=2), train=True, seed=seed)
    step = _step(t, "dropout")
    mask, scale = step.extras["mask"], step.extras["scale"]
    assert torch.equal(step.output, step.inputs[0] * mask * scale)
    seen = set()
    for sample in range(2):
        for j in range(128):
            u = unit_computation(step, (j,), sample=sample)
            x = step.inputs[0][sample, j]
            assert u.total == u.value == float(x * mask[sample, j] * scale)
            assert u.operands["kept"] == bool(mask[sample, j])
            assert u.operands["scale"] == scale == pytest.approx(1 / 0.75)
            seen.add(u.operands["kept"])
    assert seen == {True, False}


def test_dropout_in_eval_is_identity(cnn_trace: Trace) -> None:
    step = _step(cnn_trace, "dropout")
    u = unit_computation(step, (3,), sample=1)
    assert u.total == u.value == float(step.inputs[0][1, 3])
    assert u.operands["training"] is False and u.operands["kept"] is True


@pytest.mark.parametrize("train", [True, False])
def test_batch_norm_recomputation(train: bool) -> None:
    model = load_model("bn_cnn", pretrained=False)
    gen = torch.Generator().manual_seed(3)
    for bn in (model.bn1, model.bn2):  # non-trivial running stats and affine parameters
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=gen))
        bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
        bn.weight.data.copy_(torch.randn(bn.num_features, generator=gen))
        bn.bias.data.copy_(torch.randn(bn.num_features, generator=gen))
    t = trace(model, example_input("bn_cnn", batch=3, seed=4), train=train)
    for name in ("bn1", "bn2"):
        step = _step(t, "batch_norm", name)
        bn = getattr(model, name)
        x = step.inputs[0]
        for sample, unit in _random_units(step, 50, seed=11):
            u = unit_computation(step, unit, sample=sample)
            _assert_recomputed(u)
            c = unit[0]
            assert u.operands["statistics"] == ("batch" if train else "running")
            if train:
                assert u.operands["mean"] == pytest.approx(float(x[:, c].double().mean()), rel=1e-5)
                assert u.operands["var"] == pytest.approx(
                    float(x[:, c].double().var(unbiased=False)), rel=1e-4
                )
            else:
                assert u.operands["mean"] == float(bn.running_mean[c])
                assert u.operands["var"] == float(bn.running_var[c])
            assert u.operands["gamma"] == float(bn.weight[c].detach())
            assert u.operands["beta"] == float(bn.bias[c].detach())


def test_view_and_flatten_point_back_to_the_input(cnn_trace: Trace, skip_trace: Trace) -> None:
    view = _step(cnn_trace, "view")
    u = unit_computation(view, (3135,), sample=2)
    assert u.source == (63, 6, 6) and u.source_sample == 2
    assert u.total == u.value == float(view.inputs[0][2, 63, 6, 6])
    u = unit_computation(view, (50,), sample=1)
    assert u.source == np.unravel_index(50, (64, 7, 7))
    flatten = _step(skip_trace, "flatten")
    for sample, unit in _random_units(flatten, 40, seed=3):
        u = unit_computation(flatten, unit, sample=sample)
        assert float(flatten.inputs[0][(u.source_sample, *u.source)]) == u.value


def test_relu_and_add_operands(skip_trace: Trace) -> None:
    relu = _step(skip_trace, "relu")
    for sample, unit in _random_units(relu, 30, seed=2):
        u = unit_computation(relu, unit, sample=sample)
        x = float(relu.inputs[0][(sample, *unit)])
        assert u.operands == {"x": x} and u.total == u.value == max(0.0, x)
    add = _step(skip_trace, "add")
    u = unit_computation(add, (4, 5, 6), sample=1)
    assert u.operands == {
        "a": float(add.inputs[0][1, 4, 5, 6]),
        "b": float(add.inputs[1][1, 4, 5, 6]),
    }


def test_scalar_steps_of_the_conditional_forward() -> None:
    model = load_model("conditional", pretrained=False)
    t = trace(model, example_input("conditional", batch=2))
    mean, gt = _step(t, "mean"), _step(t, "gt")
    u = unit_computation(mean, ())
    _assert_recomputed(u)
    assert len(u.terms) == 8 and u.rest_count == 128 - 8
    g = unit_computation(gt, ())
    assert g.operands == {"a": float(mean.output), "b": float(model.threshold)}
    assert g.total == g.value == float(mean.output > model.threshold)
    assert str(bool(gt.output)) in g.formula
    with pytest.raises(ValueError, match="single number"):
        unit_computation(gt, (0,))


class _Misc(nn.Module):
    def forward(self, x):
        a = F.softmax(x, dim=1)
        b = torch.log_softmax(x, 1)
        c = torch.cat([a, b * 2], dim=1)
        d = torch.sigmoid(c) - (1 - c.tanh())
        e = d.repeat(1, 2)
        f = nn.functional.gelu(e)
        return f.sum(1, keepdim=True) / 3, torch.erf(f)


def test_other_ops_recompute_or_say_why() -> None:
    t = trace(_Misc(), torch.randn(3, 5))
    checked = set()
    for step in t.steps:
        for sample, unit in _random_units(step, 10, seed=step.index):
            u = unit_computation(step, unit, sample=sample)
            if step.op in ("repeat", "erf"):
                assert u.total is None
                continue
            _assert_recomputed(u)
            checked.add(step.op)
    assert checked >= {
        "softmax",
        "log_softmax",
        "cat",
        "mul",
        "sigmoid",
        "tanh",
        "rsub",
        "sub",
        "sum",
        "div",
        "gelu",
    }
    repeat = _step(t, "repeat")
    assert "mixes or rearranges" in unit_computation(repeat, (0,)).explanation
    gelu = unit_computation(_step(t, "gelu"), (7,), sample=2)
    assert gelu.operands == {"x": float(_step(t, "gelu").inputs[0][2, 7])}
    assert "x·Φ(x)" in gelu.formula
    erf = unit_computation(_step(t, "erf"), (7,), sample=2)  # no formula: the input is shown
    assert erf.operands == {"input 0": float(_step(t, "erf").inputs[0][2, 7])}
    cat = _step(t, "cat")
    u = unit_computation(cat, (7,), sample=1)
    assert u.source_input == 1 and u.source == (2,)


def test_units_out_of_range_raise(cnn_trace: Trace) -> None:
    conv = _step(cnn_trace, "conv2d", "conv1")
    with pytest.raises(ValueError, match="out of range"):
        unit_computation(conv, (32, 0, 0))
    with pytest.raises(ValueError, match="out of range"):
        unit_computation(conv, (0, 0, -1))
    with pytest.raises(ValueError, match="3 indices needed"):
        unit_computation(conv, (0, 0))
    with pytest.raises(ValueError, match="sample 3"):
        unit_computation(conv, (0, 0, 0), sample=3)
    with pytest.raises(ValueError, match="out of range"):
        unit_computation(_step(cnn_trace, "linear", "fc2"), (10,))


def test_zero_dim_elementwise_steps() -> None:
    class Scalar(nn.Module):
        def forward(self, x):
            return torch.relu(x.sum() - 1).sigmoid()

    t = trace(Scalar(), torch.tensor([[0.5, 2.0]]))
    relu = unit_computation(_step(t, "relu"), ())
    assert relu.operands == {"x": 1.5} and relu.total == relu.value == 1.5
    assert relu.source == () and relu.source_sample is None
    _assert_recomputed(unit_computation(_step(t, "sigmoid"), ()))
