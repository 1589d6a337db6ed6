"""Exports round-trip: what is downloaded loads back to exactly what the trace holds."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import torch

from explorer import example_input, load_model, sgd_step, trace
from explorer.exports import model_source, step_key, trace_csv, trace_npz, weights_pt


def _cnn_trace():
    return trace(load_model("cnn", pretrained=False), example_input("cnn"), train=True, seed=1)


def test_npz_holds_every_step_output_exactly() -> None:
    t = _cnn_trace()
    with np.load(io.BytesIO(trace_npz(t))) as data:
        for step in t.steps:
            assert np.array_equal(data[step_key(step.index, step.op)], step.output.numpy())
        assert np.array_equal(data["input"], t.input.numpy())
        assert np.array_equal(data["output"], t.output.numpy())
        index = json.loads(str(data["steps"]))
    assert [s["op"] for s in index["steps"]] == [s.op for s in t.steps]
    assert index["training"] is True and index["seed"] == 1


def test_csv_has_one_row_per_value() -> None:
    t = _cnn_trace()
    frame = pd.read_csv(io.StringIO(trace_csv(t)))
    assert len(frame) == sum(s.output.numel() for s in t.steps)
    dropout = next(s for s in t.steps if s.op == "dropout")
    rows = frame[frame.step == dropout.index]
    assert np.allclose(rows.value.to_numpy(), dropout.output.reshape(-1).numpy(), rtol=1e-6)
    assert rows.position.iloc[5] == "0,5"


def test_model_source_runs_and_rebuilds_the_model() -> None:
    model = load_model("skip")
    source = model_source(model)
    assert source.index("class ResidualBlock") < source.index("class SkipNet")
    namespace: dict = {}
    exec(compile(source, "<export>", "exec"), namespace)  # noqa: S102 - our own exported code
    rebuilt = namespace["SkipNet"]()
    rebuilt.load_state_dict(torch.load(io.BytesIO(weights_pt(model)), weights_only=True))
    x = example_input("skip")
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), model(x))


def test_weights_carry_a_sessions_own_parameters() -> None:
    model = load_model("simple_nn")
    new = sgd_step(model, {"fc1.bias": torch.ones(4)}, lr=0.5)
    state = torch.load(io.BytesIO(weights_pt(model, new)), weights_only=True)
    assert torch.equal(state["fc1.bias"], model.fc1.bias.detach() - 0.5)
    assert torch.equal(state["fc2.weight"], model.fc2.weight.detach())
