"""The op catalogue covers what a student meets: every layer of the builder's palette, every
preset and the common functional ops each get their own words, unit maths and routing note.

Every unit computation is checked against the value torch produced.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer import PRESETS, example_input, load_model, ops, trace
from explorer.builder import PALETTE, LayerSpec, NetworkSpec, build
from explorer.explain import explain, generic
from explorer.steps import Step, Trace
from explorer.units import unit_computation

REL, ABS = 1e-5, 1e-6  # float32 against float64; ABS for sums that cancel to about 0
FLOAT32_EPS = 2.0**-24


def _matches(u) -> bool:
    """Is the unit maths' float64 total torch's float32 value, within what float32 can hold?

    A normalisation is computed by torch as x·(γ/σ) + (β − mean·γ/σ): two terms of size about
    (|x| + |mean|)·|γ|/σ that cancel when a channel's spread σ is tiny, so torch's own rounding
    is a few float32 epsilons of that size, not of the result.
    """
    o = u.operands
    slack = ABS
    if {"x", "mean", "var", "eps"} <= o.keys():
        size = (abs(o["x"]) + abs(o["mean"])) * abs(o.get("gamma", 1.0))
        size = size / math.sqrt(o["var"] + o["eps"]) + abs(o.get("beta", 0.0))
        slack = max(ABS, 8 * FLOAT32_EPS * size)
    return u.total == pytest.approx(u.value, rel=REL, abs=slack)


UNITS_PER_STEP = 12


def _palette_spec() -> NetworkSpec:
    """One image network using every layer kind of the palette."""
    conv = lambda i, o: LayerSpec("Conv2d", {"in_channels": i, "out_channels": o, "padding": 1})  # noqa: E731
    layers = (
        conv(1, 4),
        LayerSpec("BatchNorm2d", {"num_features": 4}),
        LayerSpec("ReLU"),
        LayerSpec("MaxPool2d"),  # (4, 14, 14)
        LayerSpec(
            "Residual", children=(conv(4, 4), LayerSpec("LeakyReLU", {"negative_slope": 0.2}))
        ),
        LayerSpec("AvgPool2d"),
        LayerSpec("Tanh"),
        LayerSpec("Dropout", {"p": 0.3}),  # (4, 7, 7)
        LayerSpec("Flatten"),
        LayerSpec("Linear", {"in_features": 196, "out_features": 16}),
        LayerSpec("BatchNorm1d", {"num_features": 16}),
        LayerSpec("Sigmoid"),
        LayerSpec("Linear", {"in_features": 16, "out_features": 10}),
    )
    return NetworkSpec(layers=layers)


class _Functional(nn.Module):
    """Common ops written the functional way, plus the layers the palette does not offer."""

    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(12)
        self.drop2d = nn.Dropout2d(0.5)
        self.gelu, self.silu, self.elu = nn.GELU(), nn.SiLU(), nn.ELU(0.7)
        self.pool = nn.AdaptiveAvgPool2d((2, 3))
        self.w = nn.Parameter(torch.randn(12, 5))
        # the activations torch.nn offers beyond the palette's, as layers (their settings kept
        # from the layer) and below as functions (settings passed by position or keyword)
        self.layers = nn.ModuleList(
            [
                nn.SELU(),
                nn.CELU(0.5),
                nn.Mish(),
                nn.Hardtanh(-0.5, 0.7),
                nn.ReLU6(),
                nn.Hardswish(),
                nn.Hardsigmoid(),
                nn.Softplus(2, 1),
                nn.Softsign(),
                nn.LogSigmoid(),
                nn.PReLU(12),
                nn.Threshold(0.1, -2.0),
                nn.Tanhshrink(),
                nn.Softshrink(0.3),
                nn.Hardshrink(0.3),
                nn.Softmin(1),
            ]
        )
        self.slope = nn.Parameter(torch.tensor([0.3]))

    def forward(self, x):  # (N, 3, 4, 6)
        x = self.drop2d(x) + 0.5  # a constant add
        m = F.avg_pool2d(x, 2) * 2  # (N, 3, 2, 3)
        p = self.pool(x) - 1
        c = torch.cat([m, 1 - p], dim=1)  # (N, 6, 2, 3)
        v = c.flatten(1)[:, :12]  # (N, 12)
        s = torch.stack([v, v / 4], dim=1).sum(1)
        h = self.ln(F.gelu(s)) + F.silu(v) - self.elu(v) + F.elu(v, 0.3)
        h = F.leaky_relu(self.gelu(h), 0.1) + self.silu(h) + F.layer_norm(h, (12,))
        z = torch.matmul(h, self.w) + (h @ h.transpose(0, 1)) @ h[:, :5] + h.t().t()[:, :5]
        z = z.permute(1, 0).reshape(5, -1).T.contiguous().unsqueeze(1).squeeze(1)
        probs = F.softmax(z, dim=1) + F.log_softmax(z, dim=1).exp()
        out = probs.mean(dim=1) + torch.tanh(z).sum(1) * torch.sigmoid(z).mean() + (z > 0).sum()
        return out + self._activations(3 * h).mean(1) + h[0].sum() + h[:, 1] + h[h > 0].mean()

    def _activations(self, h):  # (N, 12)
        a = sum(layer(h) for layer in self.layers)
        a = a + F.selu(h) + F.celu(h, alpha=0.3) + F.mish(h) + F.hardtanh(h, -2.0, 1.5)
        a = a + F.relu6(h) + F.hardswish(h) + F.hardsigmoid(h) + F.softplus(h, 1, 2)
        a = a + F.softsign(h) + F.logsigmoid(h) + F.prelu(h, self.slope) + F.rrelu(h)
        a = a + F.threshold(h, 0.2, 5.0) + F.tanhshrink(h) + F.softshrink(h, 0.5)
        return a + F.hardshrink(h) + F.softmin(h, dim=1) + h[..., 1:3].sum(-1, keepdim=True)


def _walk(t: Trace) -> list[Step]:
    return list(t.steps)


def _palette_trace() -> Trace:
    return trace(build(_palette_spec()), torch.randn(2, 1, 28, 28), train=True, seed=4)


def _preset_traces() -> list[tuple[str, Trace]]:
    out = []
    for name in PRESETS:
        model = load_model(name, pretrained=False)
        out.append((name, trace(model, example_input(name, batch=2, seed=1), train=True, seed=2)))
        out.append((name, trace(model, example_input(name, batch=2, seed=1))))
    return out


def _functional_trace() -> Trace:
    torch.manual_seed(0)
    return trace(_Functional(), torch.randn(2, 3, 4, 6), train=True, seed=5)


def _cases() -> list[tuple[str, Step, Trace]]:
    cases = [("palette", s, t) for t in [_palette_trace()] for s in _walk(t)]
    cases += [(name, s, t) for name, t in _preset_traces() for s in _walk(t)]
    cases += [("functional", s, t) for t in [_functional_trace()] for s in _walk(t)]
    return cases


CASES = _cases()


def test_the_walk_covers_the_palette_and_the_common_ops() -> None:
    kinds = {type(m).__name__ for m in build(_palette_spec()).modules()}
    assert set(PALETTE) - {"Residual"} <= kinds
    palette_ops = {s.op for where, s, _ in CASES if where == "palette"}
    assert {
        "conv2d",
        "batch_norm",
        "relu",
        "max_pool2d",
        "leaky_relu",
        "add",
        "avg_pool2d",
        "tanh",
        "dropout",
        "flatten",
        "linear",
        "sigmoid",
    } <= palette_ops
    functional = {s.op for where, s, _ in CASES if where == "functional"}
    assert {
        "dropout2d",
        "add",
        "avg_pool2d",
        "adaptive_avg_pool2d",
        "mul",
        "sub",
        "rsub",
        "cat",
        "stack",
        "div",
        "sum",
        "mean",
        "gelu",
        "silu",
        "elu",
        "leaky_relu",
        "layer_norm",
        "matmul",
        "transpose",
        "t",
        "T",
        "permute",
        "reshape",
        "contiguous",
        "unsqueeze",
        "squeeze",
        "softmax",
        "log_softmax",
        "exp",
        "tanh",
        "sigmoid",
        "gt",
        "getitem",
        "selu",
        "celu",
        "mish",
        "hardtanh",
        "relu6",
        "hardswish",
        "hardsigmoid",
        "softplus",
        "softsign",
        "log_sigmoid",
        "prelu",
        "threshold",
        "_threshold",
        "rrelu",
        "tanhshrink",
        "softshrink",
        "hardshrink",
        "softmin",
    } <= functional
    assert len({name for name, _, _ in CASES} - {"palette", "functional"}) == len(PRESETS)


@pytest.mark.parametrize("where,step,t", CASES, ids=[f"{w}-{s.index}-{s.op}" for w, s, _ in CASES])
def test_every_op_has_words_units_and_routing(where: str, step: Step, t: Trace) -> None:
    info = ops.lookup(step.op)
    assert info is not None, f"{step.op} is not in the catalogue"
    words = explain(step, t)
    assert words.strip() and words != generic(step)
    assert "*" not in words.replace("**", ""), words  # a lone * is Markdown emphasis
    note = ops.routing(step)
    assert note, f"{step.op} has no routing note"
    assert info.unit is not None, f"{step.op} has no unit maths"
    rng = random.Random(step.index)
    shape = step.output_shape
    batch = shape[0] if shape else 1
    for _ in range(UNITS_PER_STEP):
        sample = rng.randrange(batch) if shape else 0
        unit = tuple(rng.randrange(d) for d in shape[1:])
        u = unit_computation(step, unit, sample=sample)
        assert u.total is not None, u.explanation
        assert _matches(u), u.formula


# --- the catalogue's look-ups and the drift it fixed -------------------------------------------


def test_lookup_handles_aliases_in_place_forms_layers_and_operators() -> None:
    assert ops.lookup("relu_") is ops.lookup("relu") is not None
    assert ops.lookup("concat") is ops.lookup("concatenate") is ops.lookup("cat")
    assert ops.lookup("max_pool2d_with_indices") is ops.lookup("max_pool2d")
    assert ops.lookup("no_such_op") is None and ops.lookup("__add__") is None
    assert ops.module_op("BatchNorm1d") == ops.module_op("BatchNorm2d") == "batch_norm"
    assert ops.module_op("Linear") is None  # recorded under its snake_case name
    assert [ops.operator_op(d) for d in ("radd", "iadd", "rmul", "truediv", "rsub", "matmul")] == [
        "add",
        "add_",
        "mul",
        "div",
        "rsub",
        "matmul",
    ]


def test_every_reshape_gets_the_same_words_unit_figure_and_routing() -> None:
    # explain, units and figures each kept a set of reshapes, and the three disagreed
    reshapes = (
        "view",
        "reshape",
        "flatten",
        "unflatten",
        "squeeze",
        "unsqueeze",
        "view_as",
        "reshape_as",
        "ravel",
    )
    info = ops.lookup("view")
    assert all(ops.lookup(op) is info and ops.is_reshape(op) for op in reshapes)
    assert info.figure == "reshape" and info.unit and info.explain and info.routing
    assert not ops.is_reshape("permute") and not ops.is_reshape("clone")


def test_in_place_relu_gets_relu_words_figure_and_routing() -> None:
    class InPlace(nn.Module):
        def forward(self, x):
            return torch.relu_(x * 1)

    step = trace(InPlace(), torch.tensor([[-1.0, 2.0, -3.0, 4.0]])).steps[-1]
    assert step.op == "relu_"
    assert "zeroed 50.0% of the values (2 of 4)" in explain(step)
    assert "positive at 50.0% of the units" in ops.routing(step)
    from explorer.figures import step_figure

    assert "zeroed" in " ".join(a.text for a in step_figure(step).layout.annotations)


def test_avg_pool_is_drawn_as_input_and_output() -> None:
    from explorer.figures import step_figure

    step = trace(nn.AvgPool2d(2), torch.randn(1, 3, 8, 8)).steps[0]
    fig = step_figure(step)
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    titles = [a.text for a in fig.layout.annotations]
    assert len(heatmaps) == 2 and not [t for t in fig.data if t.type == "scatter"]
    assert titles[0].startswith("input (1, 3, 8, 8)") and titles[1].startswith(
        "output (1, 3, 4, 4)"
    )


class _Pools(nn.Module):
    def __init__(self):
        super().__init__()
        self.exclude = nn.AvgPool2d(3, 2, 1, count_include_pad=False)

    def forward(self, x):  # (N, 2, 7, 9)
        return (
            self.exclude(x),
            F.avg_pool2d(x, 3, 2, 1, True, True),
            F.avg_pool2d(x, 2, divisor_override=3),
            F.adaptive_avg_pool2d(x, (3, 4)),
        )


def test_avg_pool_units_follow_torchs_padding_ceil_and_divisor_rules() -> None:
    t = trace(_Pools(), torch.randn(2, 2, 7, 9))
    assert [s.op for s in t.steps] == ["avg_pool2d"] * 3 + ["adaptive_avg_pool2d"]
    for step in t.steps:
        for sample in range(2):
            for unit in _all_units(step.output_shape):
                u = unit_computation(step, unit, sample=sample)
                assert _matches(u), u.formula
    corner = unit_computation(t.steps[0], (0, 0, 0))
    assert corner.operands["divisor"] == 4  # the padding is not counted
    assert unit_computation(t.steps[1], (0, 0, 0)).operands["divisor"] == 9
    assert unit_computation(t.steps[2], (0, 0, 0)).operands["divisor"] == 3
    assert "mean of its 3×3 region" in unit_computation(t.steps[3], (0, 0, 0)).explanation


def test_layer_norm_over_two_dims_with_gamma_and_beta() -> None:
    ln = nn.LayerNorm((3, 4))
    with torch.no_grad():
        ln.weight.copy_(torch.randn(3, 4))
        ln.bias.copy_(torch.randn(3, 4))
    x = torch.randn(2, 5, 3, 4)
    step = trace(ln, x).steps[0]
    for unit in [(0, 0, 0), (4, 2, 3), (2, 1, 0)]:
        u = unit_computation(step, unit, sample=1)
        assert _matches(u)
        assert u.operands["gamma"] == float(ln.weight.detach()[unit[1:]])
    assert "each group of 3×4 values" in explain(step)


def test_constants_on_either_side_and_a_parameter_on_the_left_of_matmul() -> None:
    class Sides(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 3))

        def forward(self, x):  # (3, 5)
            return self.w @ x, 2 / (x.abs() + 1), 1 - x, x @ x[0], x / 4

    t = trace(Sides(), torch.randn(3, 5))
    matmuls = [s for s in t.steps if s.op == "matmul"]
    assert "(4, 3) @ (3, 5) → (4, 5)" in explain(matmuls[0])
    assert "(3, 5) @ (5,) → (3,)" in explain(matmuls[1])
    by_op = {s.op: s for s in t.steps}
    assert "Computes `2` / x for every number x" in explain(by_op["rdiv"])
    assert "Computes `1` - x for every number x" in explain(by_op["rsub"])
    assert "Divides every number by `4`" in explain(by_op["div"])
    for step in t.steps:
        shape = step.output_shape
        for sample in range(shape[0] if shape else 1):
            for unit in _all_units(shape):
                u = unit_computation(step, unit, sample=sample)
                assert _matches(u), (step.op, u.formula)


def _all_units(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(d) for d in shape[1:])))


class _Indexing(nn.Module):
    def forward(self, x):  # (2, 3, 4)
        return x[:, 1], x[1, :, 2:], x[..., None, 0], x[:, torch.tensor([2, 0])]


def test_indexing_names_its_index_and_each_unit_its_source() -> None:
    x = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(2))
    steps = [s for s in trace(_Indexing(), x).steps if s.op == "getitem"]
    assert [explain(s).split(" picks")[0] for s in steps] == [
        "Indexing with `x[:, 1]`",
        "Indexing with `x[1, :, 2:]`",
        "Indexing with `x[..., None, 0]`",
        "Indexing with an index",  # a tensor among other indices is not kept whole
    ]
    assert "6 of the 24 are kept" in explain(steps[1])
    u = unit_computation(steps[0], (3,), sample=1)
    assert u.total == float(x[1, 1, 3]) and (u.source_sample, u.source) == (1, (1, 3))
    u = unit_computation(steps[1], (1,), sample=1)  # x[1] has no batch: row 1, column 1 + 2
    assert u.total == float(x[1, 1, 3]) and u.formula.startswith("y[1] = x[1,1,3]")
    assert "the 18 of 24 input numbers not picked get 0" in ops.routing(steps[1])
    mixed = unit_computation(steps[3], (0, 1), sample=0)
    assert mixed.total is None and "not kept whole" in mixed.explanation


def test_rrelu_recomputes_in_eval_mode_and_says_why_not_in_train_mode() -> None:
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(3))
    assert ops.module_op("RReLU") == "rrelu" and ops.module_op("PReLU") == "prelu"
    evals = trace(nn.RReLU(0.1, 0.3).eval(), x).steps[0]
    u = unit_computation(evals, (int((x[0] < 0).nonzero()[0]),), sample=0)
    assert _matches(u) and "0.2·x" in u.formula  # the middle of the range
    train = trace(nn.RReLU(0.1, 0.3), x, train=True, seed=1).steps[0]
    u = unit_computation(train, (0,), sample=0)
    assert u.total is None and "drew a random slope" in u.explanation
    assert "drawn at random" in explain(train) and "the slope drawn for it" in ops.routing(train)


def test_explain_and_unit_computation_are_public_at_the_top_level() -> None:
    import explorer

    t = trace(load_model("cnn", pretrained=False), example_input("cnn"))
    conv = t.steps[0]
    assert explorer.explain(conv, t) == explain(conv, t) and "convolution" in explorer.explain(conv)
    u = explorer.unit_computation(conv, (3, 5, 5))
    assert isinstance(u, explorer.UnitComputation) and u.agrees
    assert {"explain", "unit_computation"} <= set(explorer.__all__)


def test_the_catalogue_never_imports_streamlit() -> None:
    import subprocess
    import sys

    code = "import sys, explorer.ops; sys.exit('streamlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
