"""The numbers a student can check by hand: neurons, print() output, sums, the chain rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest
from torch import nn

import explorer
from explorer.chain_rule import chain_rule
from explorer.figures.neurons import neuron_figure
from explorer.neurons import neuron_net, neuron_sum
from explorer.printing import printout, value_table
from explorer.sources import Source
from ui import state as ui_state
from ui.state import Keys

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TUTORIAL = {"forward_demo": [[1.0, 2.0]], "simple_nn": [[0.5, 0.3, 0.2]]}


def _iris_mlp() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 3)
    ).eval()


def _tutorial(name: str):
    model = explorer.load_model(name)
    return model, torch.tensor(TUTORIAL[name])


@pytest.mark.parametrize("name", list(TUTORIAL))
def test_the_columns_hold_torchs_values_before_and_after_relu(name) -> None:
    model, x = _tutorial(name)
    first, second = list(model.children())[0], list(model.children())[-1]
    z = first(x)
    net = neuron_net(explorer.trace(model, x))
    assert [layer.title.split(" ")[0] for layer in net.layers] == [
        "input",
        *[n for n, m in model.named_children() if isinstance(m, nn.Linear)],
    ]
    assert torch.equal(torch.from_numpy(net.layers[0].values), x[0])
    assert torch.equal(torch.from_numpy(net.layers[1].pre), z[0])
    assert torch.equal(torch.from_numpy(net.layers[1].values), torch.relu(z)[0])
    assert torch.equal(torch.from_numpy(net.layers[2].values), second(torch.relu(z))[0])
    assert list(net.layers[1].off) == [bool(v < 0) for v in z[0]]
    values, off = net.layers[1].at(net.layers[1].steps[0])  # right after the Linear
    assert torch.equal(torch.from_numpy(values), z[0]) and not off.any()


@pytest.mark.parametrize("name", ["mlp", "cnn", "skip", "autoencoder"])
def test_large_or_branching_networks_get_no_neuron_diagram(name) -> None:
    model = explorer.load_model(name)
    assert neuron_net(explorer.trace(model, explorer.example_input(name))) is None


def test_every_neurons_sum_is_the_value_torch_computed() -> None:
    cases = [_tutorial(n) for n in TUTORIAL] + [(_iris_mlp(), torch.tensor([[5.1, 3.5, 1.4, 0.2]]))]
    for model, x in cases:
        net = neuron_net(explorer.trace(model, x))
        for col in range(1, len(net.layers)):
            for unit in range(net.layers[col].size):
                s = neuron_sum(net, col, unit)
                assert s.total == pytest.approx(s.pre, rel=1e-5, abs=1e-6)
                assert s.value == float(net.layers[col].values[unit])
                assert s.written_out().startswith(f"{s.total:.4f} = ")
                assert s.written_out().count("×") == net.layers[col - 1].size


def test_the_neuron_diagram_lights_the_step_and_marks_switched_off_neurons() -> None:
    model, x = _tutorial("simple_nn")
    net = neuron_net(explorer.trace(model, x))
    fig = neuron_figure(net, step=1, chosen=(1, 3))
    nodes = [t for t in fig.data if t.mode == "markers+text"]
    assert [len(t.x) for t in nodes] == [3, 4, 1]
    assert fig.layout.shapes[0].x0 == pytest.approx(1 - 0.35)  # the column of step 1 (ReLU)
    symbols = list(nodes[1].marker.symbol)
    assert symbols == ["circle-open" if o else "circle" for o in net.layers[1].off]
    assert list(nodes[1].text) == [f"{v:.4f}" for v in net.layers[1].values]
    assert nodes[1].marker.line.width[3] == 3  # the chosen neuron is ringed
    assert [list(c) for c in nodes[2].customdata] == [[2, 0]]


def test_printout_is_what_print_shows() -> None:
    model, x = _tutorial("forward_demo")
    t = explorer.trace(model, x)
    hidden = model.layer1(x)
    assert printout(t.steps[0]).text() == (
        f">>> print(x.shape)\n{hidden.shape}\n>>> print(x)\n{hidden.detach()}"
    )
    assert printout(t.steps[2]).values == str(model(x).detach())
    assert "tensor([[" in printout(t.steps[2]).values
    cnn = explorer.trace(explorer.load_model("cnn"), explorer.example_input("cnn"))
    big = printout(cnn.steps[0])
    assert big.values is None and big.shape == "torch.Size([1, 32, 28, 28])"
    rows, columns, values = value_table(cnn.steps[0].output)
    assert len(rows) == 32 * 28 and len(columns) == 28
    assert values[5][3] == pytest.approx(float(cnn.steps[0].output[0, 0, 5, 3]))


@pytest.mark.parametrize("case", ["simple_nn", "forward_demo", "iris"])
def test_the_chain_rule_gives_autograds_gradient_for_every_weight(case) -> None:
    if case == "iris":
        model, x = _iris_mlp(), torch.tensor([[5.1, 3.5, 1.4, 0.2]])
        b = explorer.backward(model, x, 2)  # cross-entropy over 3 classes
        grads = torch.autograd.grad(
            F.cross_entropy(model(x), torch.tensor([2])), list(model.parameters())
        )
    else:
        model, x = _tutorial(case)
        b = explorer.backward(model, x, torch.tensor([[1.0]]))
        grads = torch.autograd.grad(
            F.mse_loss(model(x), torch.tensor([[1.0]])), list(model.parameters())
        )
    reference = dict(zip([n for n, _ in model.named_parameters()], grads, strict=True))
    net = neuron_net(b.trace)
    for col in range(1, len(net.layers)):
        name = f"{net.layers[col].name}.weight"
        for j in range(net.layers[col].size):
            for i in range(net.layers[col - 1].size):
                chain = chain_rule(b, net, col, j, i)
                truth = float(reference[name][j, i])
                assert chain.autograd == pytest.approx(truth, rel=1e-6, abs=1e-9)
                assert chain.value == pytest.approx(truth, rel=1e-5, abs=1e-7)
                for line in chain.lines:  # each link agrees with what autograd kept
                    if line.autograd is not None:
                        assert line.value == pytest.approx(line.autograd, rel=1e-5, abs=1e-7)


def _app(page: str, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_forward_page_reads_like_the_tutorials_printout() -> None:
    model, x = _tutorial("forward_demo")
    at = _app("views/forward.py", **{Keys.model: "forward_demo"})
    codes = [c.value for c in at.code]
    assert f">>> print(x)\n{model.layer1(x).detach()}" in codes[0]
    at.slider(key=Keys.step).set_value(2).run()
    assert [m.value for m in at.metric] == [f"{float(model(x).detach()):.4f}"]
    sums = [c for c in at.code if c.value.startswith(f"{float(model(x).detach()):.4f} = ")]
    assert len(sums) == 1  # the output neuron's sum, written out


def test_a_classifiers_last_step_names_its_pick_like_draw() -> None:
    at = _app("views/forward.py", **{Keys.source: Source.SAMPLE, Keys.sample: 4})
    last = at.slider(key=Keys.step).max
    at.slider(key=Keys.step).set_value(last).run()
    sel_x = ui_state.samples()[0][4]
    x = ui_state.image_to_tensor(sel_x)
    with torch.no_grad():
        probs = torch.softmax(explorer.load_model("cnn")(x).double(), 1)[0]
    best = int(probs.argmax())
    heads = [m.value for m in at.markdown if "The network picks" in m.value]
    assert heads == [f"#### The network picks **{best}** (probability {float(probs[best]):.1%})"]


def test_backward_page_works_a_gradient_out_for_simple_nn() -> None:
    model, x = _tutorial("simple_nn")
    at = _app("views/backward.py", **{Keys.model: "simple_nn"})
    at.number_input(key=Keys.target_value).set_value(1.0).run()
    y = model(x)
    loss = F.mse_loss(y, torch.tensor([[1.0]]))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Output ŷ"] == f"{float(y.detach()):.4f}"
    assert metrics["Loss (ŷ − y)²"] == f"{float(loss.detach()):.4f}"
    verdict = [s.value for s in at.success if "autograd" in s.value]
    assert len(verdict) == 1 and "the same" in verdict[0]
    at.selectbox(key="chain_weight").set_value("fc2.weight[0, 3]").run()
    grad = torch.autograd.grad(loss, model.fc2.weight)[0][0, 3]
    assert f"**{float(grad):.6f}**" in [s.value for s in at.success][0]


def test_the_branch_not_taken_is_greyed_in_the_source() -> None:
    from explorer.trace import source_of
    from ui.step_view import _skipped

    model, x = explorer.load_model("conditional"), explorer.example_input("conditional")
    for deep in (True, False):
        t = explorer.trace(model, x, deep=deep)
        src = source_of(t.steps[-1])
        greyed = {src.lines[n - src.start].strip() for n in _skipped(src, t, t.steps[-1])}
        extra = "h = F.relu(self.extra(h))  # runs only on the deep path"
        assert (extra in greyed) is not deep  # the deep path's layer: grey when it did not run
        assert any(line.startswith("deep = bool(") for line in greyed)  # `if deep is None:`


def test_batchnorm_shows_batch_and_running_statistics_side_by_side() -> None:
    for train in (False, True):
        at = _app(
            "views/forward.py",
            **{Keys.model: "bn_cnn", Keys.step: 1, Keys.train: train, Keys.source: Source.SAMPLE},
        )
        table = next(d.value for d in at.dataframe if "running mean" in d.value.columns)
        bn = explorer.load_model("bn_cnn").bn1
        assert np.allclose(table["running mean"].to_numpy(), bn.running_mean.numpy())
        used = "batch" if train else "running"
        assert any(f"used the **{used}** ones" in m.value for m in at.markdown)


def test_the_autoencoders_last_step_is_two_pictures() -> None:
    at = _app("views/forward.py", **{Keys.model: "autoencoder", Keys.source: Source.SAMPLE})
    at.slider(key=Keys.step).set_value(at.slider(key=Keys.step).max).run()
    x = ui_state.image_to_tensor(ui_state.samples()[0][0])
    error = float(
        F.mse_loss(explorer.load_model("autoencoder")(x).detach().reshape(-1), x.reshape(-1))
    )
    assert any(
        f"Mean squared difference from the input: **{error:.4f}**" in m.value for m in at.markdown
    )


def test_a_conv_unit_shows_its_patch_and_kernel_and_starts_at_the_strongest() -> None:
    at = _app("views/forward.py", **{Keys.source: Source.SAMPLE, Keys.units_open: True})
    charts = [c for c in at.get("plotly_chart") if c.proto.id.endswith("-patch_0")]
    assert len(charts) == 1
    import base64
    import json

    def array(z) -> np.ndarray:  # plotly's typed array, or a list
        if isinstance(z, dict):
            return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(3, 3)
        return np.asarray(z, dtype=np.float32)

    patch, kernel, _ = (array(d["z"]) for d in json.loads(charts[0].proto.spec)["data"])
    x = ui_state.image_to_tensor(ui_state.samples()[0][0])
    conv = explorer.load_model("cnn").conv1
    out = conv(x).detach()[0, 0]
    r, c = divmod(int(out.argmax()), out.shape[1])  # the strongest unit of channel 0
    padded = F.pad(x, (1, 1, 1, 1))[0, 0]
    assert np.allclose(np.asarray(kernel, dtype=np.float32), conv.weight[0, 0].detach().numpy())
    assert np.allclose(np.asarray(patch, dtype=np.float32), padded[r : r + 3, c : c + 3].numpy())
    assert any(f"= {float(out[r, c]):.4f} (torch" in cap.value for cap in at.caption)
    assert not any("more" in c.value for c in at.code if "Σ x·w" in c.value)  # all 9 terms


def test_train_vs_eval_compares_batchnorm_too() -> None:
    at = _app(
        "views/forward.py",
        **{Keys.model: "bn_cnn", Keys.source: Source.SAMPLE, Keys.compare_open: True},
    )
    charts = {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")}
    assert {"compare_batch_norm", "compare_output"} <= charts
    assert any("running ones learned in training" in c.value for c in at.caption)
