"""/code under AppTest: off by default (nothing runs), and on: trace, errors, backward."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from explorer import load_model
from explorer.sandbox import TEMPLATES
from ui import state as ui_state
from ui.state import Keys

pytestmark = pytest.mark.slow  # worker processes or training: not in the fast lane

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _code_page(monkeypatch, allowed: bool) -> AppTest:
    if allowed:
        monkeypatch.setenv("FPE_ALLOW_CODE", "1")
    else:
        monkeypatch.delenv("FPE_ALLOW_CODE", raising=False)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("views/code.py").run()
    assert not at.exception
    return at


def _edit(at: AppTest, source: str) -> None:
    """What the editor sends after typing: the page keeps it under code_source_<template>."""
    at.session_state["code_source_simple_nn"] = source
    at.run()


def test_switched_off_the_page_explains_and_runs_nothing(monkeypatch, tmp_path) -> None:
    at = _code_page(monkeypatch, allowed=False)
    assert any("FPE_ALLOW_CODE=1" in i.value for i in at.info)
    assert not at.text_area and not [b for b in at.button if b.key == "code_run"]


def test_a_students_skip_connection_is_traced_at_their_lines(monkeypatch) -> None:
    at = _code_page(monkeypatch, allowed=True)
    source = TEMPLATES["simple_nn"].source.replace(
        "x = self.fc2(x)", "x = self.fc2(x + torch.ones_like(x))  # a change of mine"
    )
    _edit(at, source)
    next(b for b in at.button if b.key == "code_run").click().run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    assert "ones_like" in text and "add" in text  # the new ops are steps
    walls = next(c.value for c in at.caption if c.value.startswith("Walls around this run"))
    assert "network" in walls or walls.endswith("none.")  # as the kernel granted them


def test_a_shape_mistake_is_shown_at_its_line_with_a_hint(monkeypatch) -> None:
    at = _code_page(monkeypatch, allowed=True)
    source = TEMPLATES["simple_nn"].source.replace("nn.Linear(4, 1)", "nn.Linear(5, 1)")
    _edit(at, source)
    next(b for b in at.button if b.key == "code_run").click().run()
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert "line" in message and "shapes cannot be multiplied" in message
    assert at.info  # the hint


def test_a_students_model_is_sent_to_the_backward_page(monkeypatch) -> None:
    at = _code_page(monkeypatch, allowed=True)
    next(b for b in at.button if b.key == "code_run").click().run()
    next(b for b in at.button if b.key == "code_send").click().run()
    assert not at.exception and not at.error
    assert any("Your `SimpleNN`" in i.value for i in at.info)
    x = TEMPLATES["simple_nn"].default_input()
    with torch.no_grad():  # the template builds the untrained preset's weights
        reference = float(F.mse_loss(load_model("simple_nn")(x), torch.ones(1, 1)))

    def loss() -> float:
        return float(next(m.value for m in at.metric if m.label == "Loss"))

    assert loss() == pytest.approx(reference, abs=1e-4)
    assert "F.mse_loss" in next(c.value for c in at.code if "loss" in c.value)
    assert at.get("graphviz_chart")  # the same gradient view as a preset's
    at.switch_page("views/backward.py")  # AppTest reruns the page it was told, not switched to
    next(b for b in at.button if b.key == "code_sgd").click().run()
    assert not at.exception
    assert loss() < reference
    assert any("after 1 SGD step" in i.value for i in at.info)
    assert at.number_input(key=Keys.lr).value == 0.1  # the presets' learning rate
    assert any(
        "SimpleNN" in i.value and "Backward pass" in i.value for i in at.sidebar.info
    )  # the sidebar names what /backward shows
    stepped = loss()
    next(b for b in at.button if b.key == "code_sgd").click().run()
    assert loss() < stepped
    next(b for b in at.button if b.key == "code_undo").click().run()
    assert loss() == pytest.approx(stepped)
    next(b for b in at.button if b.key == "code_reset").click().run()
    assert loss() == pytest.approx(reference, abs=1e-4)
    next(b for b in at.button if b.key == "code_unsend").click().run()
    assert not at.exception
    assert "ConvolutionBackward0" in " ".join(m.value for m in at.markdown)  # the sidebar's cnn


def test_the_tutorials_classifier_starts_from_the_trained_weights(monkeypatch) -> None:
    at = _code_page(monkeypatch, allowed=True)
    at.radio(key="code_template").set_value("image_classifier").run()
    next(b for b in at.button if b.key == "code_run").click().run()
    assert not at.exception and not at.error
    captions = " ".join(c.value for c in at.caption)
    assert "Weights: the trained MNIST CNN's." in captions
    # the sidebar's sample #0 is a 0, and the trained weights read it so
    at.slider(key="code_step").set_value(10).run()
    stats = at.dataframe[0].value
    images, _ = ui_state.samples()
    with torch.no_grad():
        reference = load_model("cnn")(ui_state.image_to_tensor(images[0]))
    assert int(reference.argmax()) == 0
    assert stats.loc["output", "max"] == pytest.approx(float(reference.max()), abs=1e-4)


def test_a_changed_layer_keeps_its_random_start_and_says_so(monkeypatch) -> None:
    at = _code_page(monkeypatch, allowed=True)
    source = (
        TEMPLATES["simple_nn"]
        .source.replace("nn.Linear(3, 4)", "nn.Linear(3, 5)")
        .replace("nn.Linear(4, 1)", "nn.Linear(5, 1)")
    )
    _edit(at, source)
    next(b for b in at.button if b.key == "code_run").click().run()
    assert not at.exception and not at.error
    captions = " ".join(c.value for c in at.caption)
    assert "fc1.weight keeps its random start" in captions


def test_forward_arguments_get_controls_and_reach_the_run(monkeypatch) -> None:
    at = _code_page(monkeypatch, allowed=True)
    source = (
        TEMPLATES["simple_nn"]
        .source.replace("def forward(self, x):", "def forward(self, x, flag=True, scale=2.0):")
        .replace("x = self.fc2(x)", "x = self.fc2(x) * scale if flag else self.fc2(x)")
    )
    assert source != TEMPLATES["simple_nn"].source
    _edit(at, source)
    assert at.toggle(key="code_arg_simple_nn_flag").value is True
    assert at.number_input(key="code_arg_simple_nn_scale").value == 2.0
    next(b for b in at.button if b.key == "code_run").click().run()
    assert not at.exception and not at.error
    x = TEMPLATES["simple_nn"].default_input()
    with torch.no_grad():
        plain = load_model("simple_nn")(x)
    at.slider(key="code_step").set_value(at.slider(key="code_step").max).run()
    scaled = at.dataframe[0].value.loc["output", "max"]
    assert scaled == pytest.approx(2 * float(plain.max()), abs=1e-4)
    at.toggle(key="code_arg_simple_nn_flag").set_value(False).run()
    next(b for b in at.button if b.key == "code_run").click().run()
    at.slider(key="code_step").set_value(at.slider(key="code_step").max).run()
    assert at.dataframe[0].value.loc["output", "max"] == pytest.approx(float(plain.max()), abs=1e-4)


def test_an_error_line_is_marked_in_the_editor(monkeypatch) -> None:
    at = _code_page(monkeypatch, allowed=True)
    source = TEMPLATES["simple_nn"].source.replace("nn.Linear(4, 1)", "nn.Linear(5, 1)")
    _edit(at, source)
    next(b for b in at.button if b.key == "code_run").click().run()
    assert not at.exception
    _, line, _ = at.session_state["code_error_simple_nn"]
    assert "fc2" in source.splitlines()[line - 1]  # the line the error names
