"""trace() against torch itself: same outputs, every op seen, the model left as found."""

from __future__ import annotations

import inspect
import threading

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer import PRESETS, example_input, load_model
from explorer.trace import INPUT, source_of, trace


def _rng_equal_call(model: nn.Module, x: torch.Tensor):
    """model(x) and trace(model, x) from the same RNG state."""
    state = torch.get_rng_state()
    with torch.no_grad():
        ref = model(x)
    torch.set_rng_state(state)
    return ref, trace(model, x)


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_trace_output_is_bit_identical_to_forward(name: str, mode: str) -> None:
    model = load_model(name, pretrained=False)
    model.train(mode == "train")
    batch = 1 if PRESETS[name].input_kind == "vector" else 3  # BatchNorm train needs a batch
    x = example_input(name, batch=batch, seed=7)
    ref, t = _rng_equal_call(model, x)
    assert torch.equal(t.output, ref)
    assert t.training == (mode == "train")
    assert torch.equal(t.steps[-1].output, ref) or PRESETS[name].task == "reconstruct"
    assert [s.index for s in t.steps] == list(range(len(t.steps)))


@pytest.mark.parametrize("name", list(PRESETS))
def test_seeded_train_trace_matches_seeded_forward(name: str) -> None:
    model = load_model(name, pretrained=False)
    x = example_input(name, batch=2 if PRESETS[name].input_kind == "image" else 1)
    before = torch.get_rng_state()
    t = trace(model, x, seed=123, train=True)
    assert torch.equal(torch.get_rng_state(), before), "a seeded trace must not move the RNG"
    assert not model.training, "train=True must not switch the model itself"
    reference = load_model(name, pretrained=False).train()
    torch.manual_seed(123)
    with torch.no_grad():
        assert torch.equal(t.output, reference(x))


class _OpZoo(nn.Module):
    """Uses module, functional, tensor-method and operator calls, a Sequential and a sub-block."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.seq = nn.Sequential(nn.Linear(8, 4), nn.ReLU())
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x):
        a = F.relu(self.conv(x))  # (N, 2, 2, 2)
        b = a.view(a.shape[0], -1)  # (N, 8)
        c = torch.cat([b, b * self.scale], dim=1)  # (N, 16)
        d = c[:, :8] + c[:, 8:]
        e = torch.flatten(self.seq(d), 1)
        e.mul_(0.5)  # in place: must not rewrite what earlier steps recorded
        return e.sigmoid()


def test_op_coverage_kinds_and_parents() -> None:
    model = _OpZoo().eval()
    x = torch.randn(2, 1, 2, 2)
    ref, t = _rng_equal_call(model, x)
    assert torch.equal(t.output, ref)
    ops = [(s.op, s.kind) for s in t.steps]
    assert ops == [
        ("conv2d", "module"),
        ("relu", "function"),
        ("view", "method"),
        ("mul", "method"),
        ("cat", "function"),
        ("getitem", "method"),
        ("getitem", "method"),
        ("add", "method"),
        ("linear", "module"),
        ("relu", "module"),
        ("flatten", "function"),
        ("mul_", "method"),
        ("sigmoid", "method"),
    ]
    by_op = {s.op: s for s in t.steps}
    assert t.steps[0].parents == (INPUT,)
    assert by_op["cat"].parents == (2, 3)  # b (view) and b * scale (mul)
    assert by_op["add"].parents == (5, 6)
    assert "scale" in by_op["mul"].params  # the parameter is named, not a parent
    assert t.steps[8].module == "seq.0" and t.steps[8].nesting == ("", "seq")
    assert t.steps[8].params.keys() == {"seq.0.weight", "seq.0.bias"}
    assert t.steps[8].param_count == 8 * 4 + 4
    # the in-place mul_ changed flatten's output tensor, but flatten's record kept its values
    flat = t.steps[10]
    assert torch.equal(t.steps[11].output, flat.output * 0.5)
    assert torch.equal(flat.output, torch.flatten(model.seq(_add_halves(model, x)), 1))


def _add_halves(model: _OpZoo, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        b = F.relu(model.conv(x)).flatten(1)
        c = torch.cat([b, b * model.scale], 1)
        return c[:, :8] + c[:, 8:]


def test_recorded_inputs_and_outputs_are_the_real_tensors() -> None:
    model = load_model("cnn", pretrained=False)
    x = example_input("cnn")
    t = trace(model, x)
    with torch.no_grad():
        conv1 = model.conv1(x)
        relu1 = F.relu(conv1)
        pool1 = model.pool(relu1)
    assert torch.equal(t.steps[0].inputs[0], x)
    assert torch.equal(t.steps[0].output, conv1)
    assert torch.equal(t.steps[1].output, relu1)
    assert torch.equal(t.steps[2].output, pool1)
    assert torch.equal(t.steps[2].inputs[0], t.steps[1].output)
    assert t.steps[0].input_shapes == [(1, 1, 28, 28)] and t.steps[0].output_shape == (
        1,
        32,
        28,
        28,
    )
    assert t.steps[0].param_count == 32 * 9 + 32
    assert t.steps[0].args["kernel_size"] == (3, 3)


@pytest.mark.parametrize("name", list(PRESETS))
def test_source_lines_point_into_the_models_forward(name: str) -> None:
    model = load_model(name, pretrained=False)
    t = trace(model, example_input(name))
    forwards = {}
    for m in model.modules():
        if type(m).__module__.startswith("explorer"):
            lines, start = inspect.getsourcelines(type(m).forward)
            forwards[type(m).__qualname__ + ".forward"] = (
                inspect.getsourcefile(type(m)),
                start,
                start + len(lines) - 1,
                lines,
            )
    for step in t.steps:
        file, first, last, lines = forwards[step.function]
        assert step.file == file
        assert first < step.line <= last
        assert step.code == lines[step.line - first].strip()
        src = source_of(step)
        assert src.start == first and src.lines[step.line - src.start].strip() == step.code


def test_source_of_covers_the_whole_forward() -> None:
    t = trace(load_model("cnn", pretrained=False), example_input("cnn"))
    src = source_of(t.steps[0])
    assert src.lines[0].strip() == "def forward(self, x):"
    assert src.lines[-1].strip() == "return x"


def _state(model: nn.Module):
    return {
        "modes": [m.training for m in model.modules()],
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()],
        "grads": [p.grad for p in model.parameters()],
        "tensors": {k: v.clone() for k, v in model.state_dict().items()},
        "global": (
            len(nn.modules.module._global_forward_hooks),
            len(nn.modules.module._global_forward_pre_hooks),
        ),
    }


@pytest.mark.parametrize("name", ["cnn", "bn_cnn", "skip", "simple_nn"])
@pytest.mark.parametrize("train", [None, True, False])
def test_model_is_left_exactly_as_found(name: str, train: bool | None) -> None:
    model = load_model(name, pretrained=False)
    before = _state(model)
    x = example_input(name, batch=2 if PRESETS[name].input_kind == "image" else 1)
    trace(model, x, train=train, seed=3)
    trace(model, x, train=train)
    after = _state(model)
    assert after["modes"] == before["modes"]
    assert after["hooks"] == before["hooks"]
    assert after["global"] == before["global"]
    assert all(g is None for g in after["grads"])
    for k, v in before["tensors"].items():
        assert torch.equal(after["tensors"][k], v), k


def test_dropout_mask_agrees_with_the_output() -> None:
    model = load_model("cnn", pretrained=False)
    t = trace(model, example_input("cnn", batch=4), train=True, seed=0)
    step = next(s for s in t.steps if s.op == "dropout")
    mask, scale, x = step.extras["mask"], step.extras["scale"], step.inputs[0]
    assert step.extras["p"] == 0.25 and step.extras["training"] is True
    assert scale == pytest.approx(1 / 0.75)
    assert mask.dtype == torch.bool and mask.shape == x.shape
    assert torch.equal(step.output, x * mask * scale)
    assert torch.all(step.output[~mask] == 0)
    assert 0.15 < 1 - mask.float().mean().item() < 0.35
    # where the input was already zero (after ReLU) the mask is still known
    assert ((x == 0) & mask).any() and ((x == 0) & ~mask).any()


def test_dropout_in_eval_is_identity_and_seed_changes_the_mask() -> None:
    model = load_model("cnn", pretrained=False)
    x = example_input("cnn")
    ev = next(s for s in trace(model, x).steps if s.op == "dropout")
    assert ev.extras["training"] is False and ev.extras["mask"].all() and ev.extras["scale"] == 1
    assert torch.equal(ev.output, ev.inputs[0])
    masks = [
        next(s for s in trace(model, x, train=True, seed=k).steps if s.op == "dropout").extras[
            "mask"
        ]
        for k in (1, 1, 2)
    ]
    assert torch.equal(masks[0], masks[1]) and not torch.equal(masks[0], masks[2])


def test_functional_dropout_records_its_mask() -> None:
    class FDrop(nn.Module):
        def forward(self, x):
            return F.dropout(F.relu(x), p=0.5, training=True)

    x = torch.randn(64)
    ref, t = _rng_equal_call(FDrop(), x)
    step = t.steps[-1]
    assert torch.equal(t.output, ref)
    assert torch.equal(step.output, step.inputs[0] * step.extras["mask"] * 2.0)


@pytest.mark.parametrize("name", ["cnn", "skip"])
def test_max_pool_records_each_windows_winner(name: str) -> None:
    t = trace(load_model(name, pretrained=False), example_input(name, batch=2))
    pools = [s for s in t.steps if s.op == "max_pool2d"]
    assert len(pools) == 2
    for step in pools:
        x = step.inputs[0]
        out, idx = F.max_pool2d(x, 2, return_indices=True)
        assert torch.equal(step.extras["indices"], idx)
        winners = x.flatten(2).gather(2, idx.flatten(2)).view_as(out)
        assert torch.equal(winners, step.output)


def test_batch_norm_records_batch_or_running_statistics() -> None:
    model = load_model("bn_cnn", pretrained=False)
    x = example_input("bn_cnn", batch=4)
    for train, expected in [(True, "batch"), (False, "running")]:
        step = next(s for s in trace(model, x, train=train).steps if s.op == "batch_norm")
        assert step.extras["statistics"] == expected
        assert torch.equal(step.extras["running_mean"], model.bn1.running_mean)
        assert torch.allclose(step.extras["batch_mean"], step.inputs[0].mean((0, 2, 3)))


def test_call_flow_lists_the_hooks_that_ran() -> None:
    model = load_model("simple_nn", pretrained=False)
    seen = []

    def announce(module, args, output):
        seen.append(type(module).__name__)

    handle = model.fc1.register_forward_hook(announce)
    try:
        t = trace(model, example_input("simple_nn"))
    finally:
        handle.remove()
    flow = t.steps[0].call_flow
    assert seen == ["Linear"]
    assert flow.hooks == (announce.__qualname__,) and flow.pre_hooks == ()
    assert flow.forward == "Linear.forward"
    assert flow.describe()[0] == "__call__"
    assert t.steps[1].call_flow.hooks == ()


def test_conditional_branch_changes_the_steps() -> None:
    model = load_model("conditional", pretrained=False)
    x = example_input("conditional")
    deep = trace(model, x, deep=True)
    shallow = trace(model, x, deep=False)
    assert [s.module for s in deep.steps if s.kind == "module"] == ["fc1", "extra", "fc2"]
    assert [s.module for s in shallow.steps if s.kind == "module"] == ["fc1", "fc2"]
    with torch.no_grad():
        assert torch.equal(deep.output, model(x, deep=True))


def test_concurrent_traces_see_only_their_own_pass() -> None:
    models = {n: load_model(n, pretrained=False) for n in ("cnn", "skip", "mlp", "simple_nn")}
    expected = {n: [s.op for s in trace(m, example_input(n)).steps] for n, m in models.items()}
    errors: list[str] = []

    def work(name: str) -> None:
        for i in range(15):
            t = trace(models[name], example_input(name), train=bool(i % 2), seed=i)
            if [s.op for s in t.steps] != expected[name]:
                errors.append(f"{name}: {[s.op for s in t.steps]}")

    threads = [threading.Thread(target=work, args=(n,)) for n in models for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert not nn.modules.module._global_forward_hooks


def test_a_failing_forward_leaves_no_hooks_behind() -> None:
    model = load_model("cnn", pretrained=False)
    with pytest.raises(RuntimeError):
        trace(model, torch.randn(1, 3, 28, 28))  # wrong channel count
    assert not nn.modules.module._global_forward_hooks
    assert not nn.modules.module._global_forward_pre_hooks
    assert len(trace(model, example_input("cnn")).steps) == 11


def test_trace_rejects_non_tensor_input() -> None:
    with pytest.raises(TypeError, match="torch.Tensor"):
        trace(load_model("simple_nn"), [[0.5, 0.3, 0.2]])


def test_each_step_knows_which_call_on_its_line_it_is() -> None:
    """Three steps on `x = self.pool(F.relu(self.conv1(x)))` each mark their own call."""
    import linecache

    from ui.step_view import _marked

    t = trace(load_model("cnn"), example_input("cnn"))
    calls = [linecache.getline(s.file, s.line)[slice(*s.columns)] for s in t.steps[:3]]
    assert calls == ["self.conv1(x)", "F.relu(self.conv1(x))", "self.pool(F.relu(self.conv1(x)))"]
    skip = trace(load_model("skip"), example_input("skip"))
    add = next(s for s in skip.steps if s.op == "add")
    assert linecache.getline(add.file, add.line)[slice(*add.columns)] == "x + out"
    line = linecache.getline(t.steps[0].file, t.steps[0].line).rstrip("\n")
    assert '<span class="call">self.conv1(x)</span>' in _marked(line, t.steps[0].columns)
    assert _marked("a < b", None) == "a &lt; b"
