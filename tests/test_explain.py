"""explain(), op_title() and kind_label() fill in each step's real numbers, computed here from torch."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer import example_input, load_model, trace
from explorer.explain import explain, kind_label, op_title, overflow_note
from explorer.trace import Step, Trace


def _step(t: Trace, op: str, module: str | None = None, nth: int = 0) -> Step:
    return [s for s in t.steps if s.op == op and (module is None or s.module == module)][nth]


@pytest.fixture(scope="module")
def cnn_eval() -> Trace:
    return trace(load_model("cnn", pretrained=False), example_input("cnn", batch=2, seed=3))


@pytest.fixture(scope="module")
def cnn_train() -> Trace:
    return trace(
        load_model("cnn", pretrained=False),
        example_input("cnn", batch=2, seed=3),
        train=True,
        seed=11,
    )


def test_linear_names_its_sizes(cnn_eval: Trace) -> None:
    text = explain(_step(cnn_eval, "linear", "fc1"))
    assert "y = xWᵀ + b" in text
    assert "each of the 128 outputs is a weighted sum of the 3136 inputs plus a bias" in text
    assert f"{128 * 3136:,} weights" in text
    assert "10 outputs" in explain(_step(cnn_eval, "linear", "fc2"))


def test_conv2d_names_kernel_channels_padding_and_shape(cnn_eval: Trace) -> None:
    text = explain(_step(cnn_eval, "conv2d", "conv2"))
    for part in (
        "64 output channels",
        "32 input channels",
        "3×3 kernel",
        "plus a bias",
        "padding 1",
        "stride 1",
        "64×14×14 per example",
    ):
        assert part in text, part
    assert "the 1 input channel of" in explain(_step(cnn_eval, "conv2d", "conv1"))


def test_conv2d_functional_settings_come_from_its_arguments() -> None:
    class Strided(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(8, 2, 5, 5))

        def forward(self, x):
            return F.conv2d(x, self.w, None, 2, 2)

    step = trace(Strided(), torch.randn(1, 2, 12, 12)).steps[0]
    text = explain(step)
    assert "8 output channels" in text and "5×5 kernel" in text and "plus a bias" not in text
    assert "padding 2 and stride 2" in text and "12×12 into 6×6" in text


def test_relu_reports_the_fraction_it_zeroed(cnn_eval: Trace) -> None:
    for nth in range(3):
        step = _step(cnn_eval, "relu", nth=nth)
        zeroed = int((step.output == 0).sum())
        pct = f"{100 * zeroed / step.output.numel():.1f}%"
        text = explain(step)
        assert f"zeroed {pct} of the values ({zeroed:,} of {step.output.numel():,})" in text


def test_max_pool_window_stride_and_shapes(cnn_eval: Trace) -> None:
    text = explain(_step(cnn_eval, "max_pool2d", nth=0))
    assert "2×2 window with stride 2" in text
    assert "32×28×28 → 32×14×14" in text and "maximum" in text


def test_dropout_in_training_reports_p_the_drop_rate_and_the_scale(cnn_train: Trace) -> None:
    step = _step(cnn_train, "dropout")
    mask = step.extras["mask"]
    dropped = int((~mask).sum())
    text = explain(step)
    assert "p = 0.25" in text
    assert f"{100 * dropped / mask.numel():.1f}% ({dropped:,} of {mask.numel():,})" in text
    assert "1/(1 - 0.25) = 1.333" in text


def test_dropout_in_eval_is_the_identity(cnn_eval: Trace) -> None:
    step = _step(cnn_eval, "dropout")
    assert torch.equal(step.output, step.inputs[0])
    text = explain(step)
    assert "evaluation mode" in text and "exactly the input" in text
    assert "dropped" not in text


def test_view_and_flatten_only_change_the_shape(cnn_eval: Trace) -> None:
    text = explain(_step(cnn_eval, "view"))
    # 64*7*7 would be Markdown emphasis ("64<em>7</em>7"): the words write ×
    assert "(2, 64, 7, 7) → (2, 3136)" in text and "64×7×7 = 3136" in text and "*7" not in text
    skip = trace(load_model("skip", pretrained=False), example_input("skip"))
    text = explain(_step(skip, "flatten"))
    assert "(1, 16, 7, 7) → (1, 784)" in text and "16×7×7 = 784" in text


@pytest.mark.parametrize("train", [True, False])
def test_batch_norm_says_which_statistics(train: bool) -> None:
    model = load_model("bn_cnn", pretrained=False)
    model.bn1.running_mean.fill_(0.375)
    t = trace(model, example_input("bn_cnn", batch=3), train=train)
    step = _step(t, "batch_norm", "bn1")
    text = explain(step)
    if train:
        mean = float(step.inputs[0][:, 0].mean())
        assert "batch statistics" in text and "running" not in text
        assert f"mean {mean:.4g}" in text
        assert f"({3 * 28 * 28:,} values per channel)" in text
    else:
        assert "running statistics" in text and "batch statistics" not in text
        assert "mean 0.375" in text


def test_skip_connection_is_named_x_plus_fx() -> None:
    t = trace(load_model("skip", pretrained=False), example_input("skip"))
    add = _step(t, "add")
    text = explain(add, t)
    assert "skip connection" in text and "x + f(x)" in text
    x_step, fx_step = sorted(add.parents)
    assert f"x is step {x_step} ({op_title(t[x_step])})" in text
    assert f"f(x) is step {fx_step} (conv2d · block.conv2 (Conv2d))" in text
    assert "skip connection" in explain(add)  # without the trace: two step outputs added


def test_adding_unrelated_branches_is_not_called_a_skip_connection() -> None:
    class TwoBranches(nn.Module):
        def forward(self, x):
            return torch.sin(x) + torch.cos(x)

    t = trace(TwoBranches(), torch.randn(2, 3))
    text = explain(t[-1], t)
    assert "skip" not in text and "(2, 3) + (2, 3) → (2, 3)" in text


class _Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.act = nn.GELU()

    def forward(self, x):
        a = torch.cat([x, x * 2], dim=1)  # (N, 8)
        b = torch.sigmoid(a) + torch.tanh(a)
        p = F.softmax(b, dim=1)
        q = F.log_softmax(b, dim=1)
        s = (p + q).sum(dim=1)
        m = s.mean()
        flag = m > 0.5
        return self.act(x.permute(1, 0)), F.leaky_relu(b), flag


def test_other_ops_fill_in_their_numbers() -> None:
    x = torch.randn(3, 4)
    t = trace(_Heads(), x)
    assert "joins 2 tensors along dim 1: (3, 4) and (3, 4) → (3, 8)" in explain(_step(t, "cat"))
    sig = _step(t, "sigmoid")
    assert "range 0 to 1" in explain(sig)
    assert f"from {float(sig.output.min()):.4g} to {float(sig.output.max()):.4g}" in explain(sig)
    assert "range -1 to 1" in explain(_step(t, "tanh"))
    sm = _step(t, "softmax")
    best = int(sm.output[0].argmax())
    assert "along dim 1" in explain(sm) and "adding up to 1" in explain(sm)
    assert f"position {best} (probability {float(sm.output[0, best]):.3f})" in explain(sm)
    assert "log-probabilities" in explain(_step(t, "log_softmax"))
    assert "(3, 8) → (3,), 8 values into each result" in explain(_step(t, "sum"))
    mean = _step(t, "mean")
    assert f"all 3 values of its input into one number: {float(mean.output):.4g}" in explain(mean)
    gt = explain(_step(t, "gt"))
    assert f"is {float(mean.output):.4g} > 0.5?" in gt
    assert f"**{bool(mean.output > 0.5)}**" in gt and "`if`" in gt


def test_the_conditional_forward_explains_its_if() -> None:
    model = load_model("conditional", pretrained=False)
    t = trace(model, example_input("conditional", batch=2))
    mean = _step(t, "mean")
    text = explain(_step(t, "gt"))
    assert f"is {float(mean.output):.4g} > {float(model.threshold):.4g}?" in text
    assert f"**{bool(mean.output > model.threshold)}**" in text


class _Uncatalogued(nn.Module):
    """Ops the catalogue has no words for, one of each kind."""

    def __init__(self):
        super().__init__()
        self.act = nn.GLU()

    def forward(self, x):
        return self.act(x.flip(1)), F.normalize(x)


def test_generic_fallback_names_the_kind() -> None:
    t = trace(_Uncatalogued(), torch.randn(3, 4))
    assert explain(_step(t, "flip")) == (
        "`flip` is a tensor method (`x.flip(...)`). It took (3, 4) and returned (3, 4)."
    )
    assert "a function from torch.nn.functional" in explain(_step(t, "normalize"))
    assert "the module act (GLU)" in explain(_step(t, "glu"))


def test_permute_leaky_relu_and_gelu_have_their_own_words() -> None:
    x = torch.randn(3, 4)
    t = trace(_Heads(), x)
    permute = explain(_step(t, "permute"))
    assert "(3, 4) → (4, 3)" in permute and "dim 0 ← dim 1, dim 1 ← dim 0" in permute
    b = _step(t, "leaky_relu").inputs[0]
    negative = int((b < 0).sum())
    leaky = explain(_step(t, "leaky_relu"))
    assert "multiplies negative ones by 0.01" in leaky
    assert f"({negative:,} of {b.numel():,}) were negative" in leaky
    gelu = _step(t, "gelu")
    words = explain(gelu)
    assert "`act` (GELU)" in words and "Φ(x)" in words
    assert f"from {float(gelu.output.min()):.4g} to {float(gelu.output.max()):.4g}" in words


def test_kind_labels_and_titles(cnn_eval: Trace) -> None:
    conv, relu, view = (
        _step(cnn_eval, "conv2d", "conv1"),
        _step(cnn_eval, "relu"),
        _step(cnn_eval, "view"),
    )
    assert [kind_label(s) for s in (conv, relu, view)] == [
        "module call",
        "functional call",
        "tensor method",
    ]
    assert op_title(conv) == "conv2d · conv1 (Conv2d)"
    assert op_title(relu) == "relu · F.relu()"
    assert op_title(view) == "view · Tensor.view()"
    skip = trace(load_model("skip", pretrained=False), example_input("skip"))
    assert op_title(_step(skip, "flatten")) == "flatten · torch.flatten()"
    assert op_title(_step(skip, "relu", "block")) == "relu · F.relu() in block"


def test_an_overflow_inside_the_network_is_named_at_its_first_step() -> None:
    """An input float32 holds (1e30) can still overflow inside: 1e30 * 1e30 is inf."""
    model = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    with torch.no_grad():
        model[0].weight.fill_(1e30)
    assert overflow_note(trace(model, torch.tensor([[1.0]]))) is None
    note = overflow_note(trace(model, torch.tensor([[1e30]])))
    assert note is not None and note.startswith(
        "From step 0 (linear) on, some values are infinite or NaN"
    )
