"""backward() against torch itself and finite differences; the shared model left as found."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from explorer import PRESETS, example_input, load_model, trace
from explorer.gradients import Backward, backward, sgd_step
from explorer.zoo import ForwardPassDemo, SimpleNN


def _batch(name: str) -> int:
    return 1 if PRESETS[name].input_kind == "vector" else 3  # BatchNorm train needs a batch


def _target(name: str, x: torch.Tensor):
    """A target of the kind the preset's task calls for."""
    task = PRESETS[name].task
    if task == "classify":
        return torch.arange(x.shape[0]) % 10
    if task == "reconstruct":
        return None
    return torch.full((x.shape[0], 1), 0.25)


def _reference(name: str, x: torch.Tensor, target, train: bool, seed: int):
    """Loss and autograd.grad for params and input, on a fresh copy, the plain torch way."""
    model = load_model(name, pretrained=False).train(train)
    xr = x.clone().requires_grad_()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out = model(xr)
    loss = (
        F.cross_entropy(out, target)
        if PRESETS[name].task == "classify"
        else F.mse_loss(out, xr.detach() if target is None else target)
    )
    names, params = zip(*model.named_parameters(), strict=True)
    grads = torch.autograd.grad(loss, [*params, xr], allow_unused=True, materialize_grads=True)
    return loss.item(), dict(zip(names, grads[:-1], strict=True)), grads[-1]


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("train", [False, True])
def test_grads_equal_autograd_on_a_fresh_copy(name: str, train: bool) -> None:
    model = load_model(name, pretrained=False)
    x = example_input(name, batch=_batch(name), seed=4)
    target = _target(name, x)
    b = backward(model, x, target, seed=11, train=train)
    loss, param_grads, input_grad = _reference(name, x, target, train, seed=11)
    assert b.loss == pytest.approx(loss, abs=1e-6)
    assert b.loss_name == ("cross_entropy" if PRESETS[name].task == "classify" else "mse")
    assert b.param_grads.keys() == param_grads.keys()
    for n, g in param_grads.items():
        assert torch.allclose(b.param_grads[n], g, atol=1e-6, rtol=0), n
    assert b.input_grad.shape == x.shape
    assert torch.allclose(b.input_grad, input_grad, atol=1e-6, rtol=0)
    for n, g in b.param_grads.items():
        assert b.grad_norms[n] == pytest.approx(g.norm().item())


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("train", [False, True])
def test_the_trace_is_the_one_trace_gives(name: str, train: bool) -> None:
    model = load_model(name, pretrained=False)
    x = example_input(name, batch=_batch(name), seed=2)
    b = backward(model, x, _target(name, x), seed=5, train=train)
    t = trace(model, x, seed=5, train=train)
    assert [(s.index, s.op, s.kind, s.module, s.parents, s.line) for s in b.trace] == [
        (s.index, s.op, s.kind, s.module, s.parents, s.line) for s in t
    ]
    for mine, ref in zip(b.trace, t, strict=True):
        assert torch.equal(mine.output, ref.output)
        assert all(torch.equal(a, c) for a, c in zip(mine.inputs, ref.inputs, strict=True))
        assert not mine.output.requires_grad and not any(i.requires_grad for i in mine.inputs)
        if "mask" in ref.extras:
            assert torch.equal(mine.extras["mask"], ref.extras["mask"])
    assert torch.equal(b.trace.output, t.output) and not b.trace.output.requires_grad
    assert b.trace.training == t.training == train


def _cnn_reference_activations(x: torch.Tensor, target: torch.Tensor) -> list[torch.Tensor]:
    """The cnn's forward written out by hand (eval), each activation's .grad retained."""
    m = load_model("cnn", pretrained=False)
    acts: list[torch.Tensor] = []

    def keep(t: torch.Tensor) -> torch.Tensor:
        t.retain_grad()
        acts.append(t)
        return t

    h = keep(m.conv1(x))
    h = keep(m.pool(keep(F.relu(h))))
    h = keep(m.conv2(h))
    h = keep(m.pool(keep(F.relu(h))))
    h = keep(h.view(-1, 64 * 7 * 7))
    h = keep(F.relu(keep(m.fc1(h))))
    h = keep(m.dropout(h))  # eval: the same tensor as the relu's
    h = keep(m.fc2(h))
    F.cross_entropy(h, target).backward()
    return acts


def test_cnn_step_output_grads_equal_retained_grads() -> None:
    model = load_model("cnn", pretrained=False)
    x = example_input("cnn", batch=2, seed=3)
    target = torch.tensor([1, 7])
    b = backward(model, x, target)
    acts = _cnn_reference_activations(x, target)
    assert len(acts) == len(b.trace) == 11
    for i, a in enumerate(acts):
        assert torch.allclose(b.output_grads[i], a.grad, atol=1e-7, rtol=0), i
        assert b.grad_norms[i] == pytest.approx(b.output_grads[i].norm().item())


def test_skip_connection_adds_both_paths_gradients() -> None:
    model = load_model("skip", pretrained=False)
    x = example_input("skip", batch=2, seed=3)
    b = backward(model, x, 4)
    ref = load_model("skip", pretrained=False)
    with torch.no_grad():
        pooled = F.max_pool2d(F.relu(ref.stem(x)), 2)
    pooled.requires_grad_()
    inner = ref.block.conv2(F.relu(ref.block.conv1(pooled)))
    inner.retain_grad()
    out = ref.fc(torch.flatten(F.max_pool2d(F.relu(pooled + inner), 2), 1))
    F.cross_entropy(out, torch.tensor([4, 4])).backward()
    add = next(s for s in b.trace if s.op == "add")
    assert add.parents == (2, 5)
    # the pool output feeds both the block and the skip: its gradient is the sum of the two
    assert torch.allclose(b.output_grads[2], pooled.grad, atol=1e-7, rtol=0)
    assert torch.allclose(b.output_grads[5], inner.grad, atol=1e-7, rtol=0)
    assert torch.allclose(b.output_grads[add.index], b.output_grads[5], atol=0, rtol=0)


@pytest.mark.parametrize("factory", [SimpleNN, ForwardPassDemo])
def test_finite_differences_on_a_tiny_model(factory) -> None:
    torch.manual_seed(0)
    model = factory().double().eval()
    n_in = model.fc1.in_features if hasattr(model, "fc1") else model.layer1.in_features
    x = torch.randn(4, n_in, dtype=torch.float64)
    target = torch.randn(4, 1, dtype=torch.float64)
    b = backward(model, x, target)
    assert b.loss_name == "mse"
    base = {n: p.detach().clone() for n, p in model.named_parameters()}

    def loss_at(params: dict[str, torch.Tensor], inp: torch.Tensor) -> float:
        with torch.no_grad():
            return F.mse_loss(functional_call(model, params, (inp,)), target).item()

    h = 1e-6
    for name, p in base.items():
        for k in range(p.numel()):
            up, down = dict(base), dict(base)
            up[name] = (
                p.flatten()
                .clone()
                .index_add_(0, torch.tensor([k]), torch.tensor([h], dtype=p.dtype))
                .view_as(p)
            )
            down[name] = (
                p.flatten()
                .clone()
                .index_add_(0, torch.tensor([k]), torch.tensor([-h], dtype=p.dtype))
                .view_as(p)
            )
            fd = (loss_at(up, x) - loss_at(down, x)) / (2 * h)
            assert b.param_grads[name].flatten()[k].item() == pytest.approx(fd, abs=1e-7), name
    for k in range(x.numel()):
        e = torch.zeros(x.numel(), dtype=x.dtype)
        e[k] = h
        fd = (loss_at(base, x + e.view_as(x)) - loss_at(base, x - e.view_as(x))) / (2 * h)
        assert b.input_grad.flatten()[k].item() == pytest.approx(fd, abs=1e-7)


def test_relu_routes_gradient_only_where_its_input_was_positive() -> None:
    model = load_model("cnn", pretrained=False)
    b = backward(model, example_input("cnn", batch=2, seed=1), torch.tensor([0, 9]))
    relus = [s for s in b.trace if s.op == "relu"]
    assert len(relus) == 3
    for step in relus:
        (parent,) = step.parents
        below = step.inputs[0] <= 0
        assert below.any() and (~below).any()
        into = b.output_grads[parent]  # the relu's input gradient: its parent feeds only it
        assert torch.all(into[below] == 0)
        assert torch.equal(into[~below], b.output_grads[step.index][~below])


@pytest.mark.parametrize("name", ["cnn", "skip"])
def test_max_pool_routes_gradient_only_to_each_windows_winner(name: str) -> None:
    b = backward(load_model(name, pretrained=False), example_input(name, batch=2, seed=6), 3)
    pools = [s for s in b.trace if s.op == "max_pool2d"]
    assert len(pools) == 2
    for step in pools:
        (parent,) = step.parents
        idx = step.extras["indices"].flatten(2)  # (N, C, windows) -> flat index of the winner
        into = b.output_grads[parent].flatten(2)  # (N, C, H*W)
        winner = torch.zeros_like(into, dtype=torch.bool).scatter_(2, idx, True)
        assert torch.all(into[~winner] == 0)
        # 2x2 windows with stride 2 do not overlap: each winner gets its window's gradient
        assert torch.equal(into.gather(2, idx), b.output_grads[step.index].flatten(2))


def test_train_mode_dropout_scales_gradient_by_mask_over_keep() -> None:
    model = load_model("cnn", pretrained=False)
    b = backward(
        model, example_input("cnn", batch=4), torch.tensor([0, 1, 2, 3]), seed=0, train=True
    )
    drop = next(s for s in b.trace if s.op == "dropout")
    mask, scale = drop.extras["mask"], drop.extras["scale"]
    assert scale == pytest.approx(1 / 0.75) and not mask.all()
    into, out = b.output_grads[drop.parents[0]], b.output_grads[drop.index]
    assert torch.all(into[~mask] == 0)
    assert torch.allclose(into, out * mask * scale, atol=0, rtol=1e-6)
    assert b.grad_fns[drop.index] == "MulBackward0"


@pytest.mark.parametrize(
    ("name", "op"), [("cnn", "view"), ("skip", "flatten"), ("autoencoder", "view")]
)
def test_view_and_flatten_only_reshape_the_gradient(name: str, op: str) -> None:
    x = example_input(name, batch=2)
    b = backward(load_model(name, pretrained=False), x, _target(name, x))
    for step in (s for s in b.trace if s.op == op and s.parents[0] >= 0):
        into = b.output_grads[step.parents[0]]
        assert torch.equal(into, b.output_grads[step.index].reshape(into.shape))


def test_cnn_grad_fn_names() -> None:
    b = backward(load_model("cnn", pretrained=False), example_input("cnn"), 5)
    assert [b.grad_fns[s.index] for s in b.trace] == [
        "ConvolutionBackward0",
        "ReluBackward0",
        "MaxPool2DWithIndicesBackward0",
        "ConvolutionBackward0",
        "ReluBackward0",
        "MaxPool2DWithIndicesBackward0",
        "ViewBackward0",
        "AddmmBackward0",
        "ReluBackward0",
        "ReluBackward0",  # eval dropout hands back its input tensor itself
        "AddmmBackward0",
    ]


def test_steps_off_the_path_to_the_loss_have_no_gradient() -> None:
    model = load_model("conditional", pretrained=False)
    b = backward(model, example_input("conditional"), 2)
    by_op = {s.op: s.index for s in b.trace}
    assert by_op["mean"] not in b.output_grads  # only chose the branch
    assert by_op["gt"] not in b.output_grads and by_op["gt"] not in b.grad_fns  # bool
    assert by_op["relu"] in b.output_grads
    if "extra" not in {s.module for s in b.trace}:  # the shallow path: extra never ran
        assert not b.param_grads["extra.weight"].any()


def _state(model: nn.Module) -> dict:
    return {
        "modes": [m.training for m in model.modules()],
        "hooks": [
            (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
            for m in model.modules()
        ],
        "grads": [p.grad for p in model.parameters()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "tensors": {k: v.clone() for k, v in model.state_dict().items()},
        "global": (
            len(nn.modules.module._global_forward_hooks),
            len(nn.modules.module._global_forward_pre_hooks),
        ),
    }


@pytest.mark.parametrize("name", ["cnn", "bn_cnn", "conditional"])
@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("train", [None, True, False])
def test_the_shared_model_is_left_exactly_as_found(
    name: str, requires_grad: bool, train: bool | None
) -> None:
    model = load_model(name, pretrained=False).requires_grad_(requires_grad)
    before = _state(model)
    x = example_input(name, batch=2)
    b = backward(model, x, torch.tensor([1, 2]), train=train, seed=1)
    new = sgd_step(model, b.param_grads, lr=0.1)
    backward(model, x, torch.tensor([1, 2]), train=train, params=new)
    trace(model, x, train=train, params=new)
    after = _state(model)
    assert after["grads"] == [None] * len(before["grads"])
    for key in ("modes", "hooks", "requires_grad", "global"):
        assert after[key] == before[key], key
    for k, v in before["tensors"].items():
        assert torch.equal(after["tensors"][k], v), k
    assert all(not g.requires_grad for g in b.param_grads.values())
    assert not b.input_grad.requires_grad


def test_concurrent_calls_each_get_their_own_results() -> None:
    # One intra-op thread, as app.py runs every pass: with two, concurrent passes share
    # OpenMP's pool and a conv's input gradient may be summed in another order (bits differ
    # under load), which is not the cross-talk this test looks for.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _concurrent_calls_each_get_their_own_results()
    finally:
        torch.set_num_threads(before)


def _concurrent_calls_each_get_their_own_results() -> None:
    model = load_model("cnn", pretrained=False).requires_grad_(False)
    jobs = [(example_input("cnn", seed=k), k % 10, k, bool(k % 2)) for k in range(6)]
    expected = [backward(model, x, c, seed=s, train=tr) for x, c, s, tr in jobs]
    errors: list[str] = []

    def work(k: int) -> None:
        torch.set_num_threads(1)  # OpenMP keeps the count per thread
        x, c, s, tr = jobs[k]
        for _ in range(4):
            got = backward(model, x, c, seed=s, train=tr)
            if got.loss != expected[k].loss or not all(
                torch.equal(g, expected[k].param_grads[n]) for n, g in got.param_grads.items()
            ):
                errors.append(f"job {k}: loss {got.loss} != {expected[k].loss}")
            if not torch.equal(got.input_grad, expected[k].input_grad):
                errors.append(f"job {k}: input grad differs")
            # a seeded eval pass must not reseed the generator under a train pass's dropout
            if not torch.equal(trace(model, x, seed=s, train=tr).output, expected[k].trace.output):
                errors.append(f"job {k}: trace output differs")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(jobs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert all(p.grad is None for p in model.parameters())
    assert not nn.modules.module._global_forward_hooks


def test_loss_is_chosen_from_output_and_target() -> None:
    cnn, ae, simple = (load_model(n, pretrained=False) for n in ("cnn", "autoencoder", "simple_nn"))
    x = example_input("cnn")
    b = backward(cnn, x, 3)
    assert b.loss_name == "cross_entropy" and torch.equal(b.target, torch.tensor([3]))
    assert backward(cnn, x, torch.tensor([3])).loss == b.loss
    auto = backward(ae, x, None)
    assert auto.loss_name == "mse" and torch.equal(auto.target, x)
    v = example_input("simple_nn")
    assert backward(simple, v, torch.tensor([[0.5]])).loss_name == "mse"
    assert backward(simple, v, 0.5).loss == backward(simple, v, torch.tensor([0.5])).loss
    # a full (N, 10) float target is a regression of the scores, asked for explicitly
    assert backward(cnn, x, torch.zeros(1, 10)).loss_name == "mse"


@pytest.mark.parametrize(
    ("name", "target", "kwargs", "message"),
    [
        ("cnn", 10, {}, "class index 10 is out of range"),
        ("cnn", -1, {}, "out of range"),
        ("cnn", torch.tensor([1, 2]), {}, "one class index per example"),
        ("cnn", 3.0, {}, "class index"),
        ("cnn", torch.tensor([0.2]), {}, "class index"),
        ("cnn", torch.tensor([[0.1] * 10]), {"loss": "cross_entropy"}, "class index"),
        ("cnn", None, {}, "a target is needed"),
        ("cnn", 3, {"loss": "hinge"}, "unknown loss"),
        ("simple_nn", torch.zeros(1, 2), {}, "same shape"),
        ("simple_nn", torch.tensor([[float("nan")]]), {}, "NaN"),
        ("autoencoder", torch.zeros(1, 784), {}, "same shape"),
        ("cnn", 3, {"params": {"nope.weight": torch.zeros(1)}}, "no parameter named 'nope.weight'"),
        ("cnn", 3, {"params": {"fc2.bias": torch.zeros(3)}}, "shape"),
    ],
)
def test_wrong_targets_are_refused_clearly(name, target, kwargs, message) -> None:
    model = load_model(name, pretrained=False)
    with pytest.raises(ValueError, match=message):
        backward(model, example_input(name), target, **kwargs)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_input_is_refused(bad: float) -> None:
    x = example_input("cnn")
    x[0, 0, 3, 3] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        backward(load_model("cnn", pretrained=False), x, 1)


def test_a_model_without_parameters_is_refused() -> None:
    with pytest.raises(ValueError, match="this model has no parameters to learn"):
        backward(nn.Sequential(nn.ReLU()), torch.randn(1, 3), torch.zeros(1, 3))


def test_sgd_step_lowers_the_loss_and_leaves_the_model_alone() -> None:
    model = load_model("forward_demo", pretrained=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, target = example_input("forward_demo"), torch.tensor([[2.0]])
    first = backward(model, x, target)
    lr = 0.05
    new = sgd_step(model, first.param_grads, lr)
    assert new.keys() == first.param_grads.keys()
    for n, p in model.named_parameters():
        assert torch.equal(new[n], p.detach() - lr * first.param_grads[n])
        assert not new[n].requires_grad
    second = backward(model, x, target, params=new)
    assert second.loss < first.loss
    # a second step starts from the session's weights, not the model's
    newer = sgd_step(model, second.param_grads, lr, params=new)
    assert backward(model, x, target, params=newer).loss < second.loss
    for k, v in before.items():
        assert torch.equal(model.state_dict()[k], v), k
    assert all(p.grad is None for p in model.parameters())


def test_trace_runs_on_overridden_params() -> None:
    model = load_model("cnn", pretrained=False)
    x = example_input("cnn")
    new = {n: p.detach() * 0.5 for n, p in model.named_parameters()}
    t = trace(model, x, params=new)
    with torch.no_grad():
        assert torch.equal(t.output, functional_call(model, new, (x,)))
    assert torch.equal(t.steps[0].params["conv1.weight"], new["conv1.weight"])
    assert torch.equal(trace(model, x).output, model(x).detach())  # the model kept its own
    b = backward(model, x, 2, params=new)
    assert torch.equal(b.trace.output, t.output)


def test_backward_record_fields() -> None:
    b = backward(load_model("mlp", pretrained=False), example_input("mlp"), 0)
    assert isinstance(b, Backward)
    assert set(b.grad_norms) == set(b.output_grads) | set(b.param_grads)
    assert all(g.shape == b.trace[i].output.shape for i, g in b.output_grads.items())
    assert isinstance(b.loss, float) and b.loss > 0
