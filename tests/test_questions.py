"""Predict, then reveal: every question's answer is torch's truth, grading tells right from
wrong, feedback names the step's numbers, and the page hides a step until it is answered."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

import explorer
from explorer.questions import NO, YES, gradient_questions, questions
from explorer.zoo import PRESETS
from ui.state import Keys

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _wrong(q):
    """An answer that must be graded wrong."""
    if q.kind == "shape":
        return (*q.answer, 1)
    if q.kind == "zeros":
        return q.answer - 0.3 if q.answer > 0.5 else q.answer + 0.3
    if q.kind == "value":
        return q.answer + max(1.0, abs(q.answer))
    if q.options:
        return next(o for o in q.options if o != q.answer)
    raise AssertionError(q.kind)


def _passes():
    for name in PRESETS:
        for train in (False, True):
            yield name, train


@pytest.mark.parametrize(("name", "train"), list(_passes()))
def test_every_answer_is_torchs_and_grades_right_and_wrong(name, train) -> None:
    model = explorer.load_model(name)
    x = explorer.example_input(name)
    t = explorer.trace(model, x, train=train, seed=0)
    kinds = set()
    for step in t.steps:
        for q in questions(t, step.index, task=PRESETS[name].task):
            kinds.add(q.kind)
            right, wrong = q.grade(q.answer), q.grade(_wrong(q))
            assert right.correct and not wrong.correct, (step.index, q.kind)
            assert right.feedback.startswith("**Right.**")
            assert "torch gave" in wrong.feedback
            _check_truth(q, step, model, x, t)
    assert "shape" in kinds and (PRESETS[name].task != "classify" or "prediction" in kinds)


def _check_truth(q, step, model, x, t) -> None:
    """Each kind's answer recomputed with torch, apart from the trace's own record."""
    if q.kind == "shape":
        assert q.answer == tuple(step.output.shape)
        if step.index == len(t) - 1:
            assert q.answer == tuple(t.output.shape)
    elif q.kind == "zeros":
        truth = float((F.relu(step.inputs[0]) == 0).float().mean())
        assert q.answer == pytest.approx(truth) and f"{truth:.1%}" in q.why
    elif q.kind == "prediction":
        with torch.no_grad():
            pick = int(model(x).argmax(1)[0]) if not t.training else int(t.output.argmax(1)[0])
        assert q.answer == pick and f"class {pick}'s" in q.why
    elif q.kind == "winner":
        _, idx = F.max_pool2d(step.inputs[0], 2, 2, return_indices=True)
        c, (i, j) = q.context["channel"], q.context["output"]
        r, col = divmod(int(idx[0, c, i, j]), step.inputs[0].shape[-1])
        assert q.answer == (r - 2 * i, col - 2 * j)
        window = torch.tensor(q.context["window"])
        assert float(window.max()) == pytest.approx(float(step.output[0, c, i, j]))
        assert f"{float(window.max()):.4f}" in q.why
    elif q.kind == "mode":
        assert q.answer == (YES if step.op in ("dropout", "batch_norm") else NO)
    elif q.kind == "branch":
        assert q.answer in (YES, NO) and f"line {step.line}" in q.why


def test_the_conditional_nets_branch_is_the_one_that_ran() -> None:
    model = explorer.load_model("conditional")
    x = explorer.example_input("conditional")
    for deep in (True, False):
        t = explorer.trace(model, x, deep=deep)
        branch = [q for s in t.steps for q in questions(t, s.index) if q.kind == "branch"]
        ran_extra = any(s.module == "extra" for s in t.steps)
        assert [q.answer for q in branch if "if deep:" in q.prompt] == [YES if ran_extra else NO]
        assert ran_extra == deep


def test_a_neurons_value_is_checked_within_the_stated_tolerance() -> None:
    model = explorer.load_model("forward_demo")
    x = torch.tensor([[1.0, 2.0]])
    t = explorer.trace(model, x)
    (q,) = [q for q in questions(t, 0) if q.kind == "value"]
    hidden = model.layer1(x)[0].detach()
    unit = int(hidden.abs().argmax())
    assert q.answer == pytest.approx(float(hidden[unit]))
    assert q.grade(f"{q.answer:.4f}").correct and q.grade(f"{q.answer * 1.009:.4f}").correct
    assert not q.grade(f"{q.answer * 1.05:.4f}").correct
    assert f"{float(hidden[unit]):.4f} = " in q.why  # the sum written out


@pytest.mark.parametrize(
    ("kind", "bad", "message"),
    [
        ("shape", "big", "whole numbers separated by commas"),
        ("zeros", "most", "a percentage like `40%`"),
        ("zeros", "140%", "between 0 and 1"),
        ("prediction", "eleven", "Pick a class from 0 to 9"),
        ("winner", "(5, 5)", "Pick a cell of the window"),
        ("mode", "maybe", "yes or no"),
    ],
)
def test_an_answer_that_cannot_be_read_says_what_to_give(kind, bad, message) -> None:
    t = explorer.trace(explorer.load_model("cnn"), explorer.example_input("cnn"), train=True)
    q = next(q for s in t.steps for q in questions(t, s.index, task="classify") if q.kind == kind)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        q.grade(bad)


def test_shape_answers_are_read_as_students_write_them() -> None:
    t = explorer.trace(explorer.load_model("cnn"), explorer.example_input("cnn"))
    q = next(q for q in questions(t, 0) if q.kind == "shape")
    for typed in ("1, 32, 28, 28", "(1,32,28,28)", "1x32x28x28", "torch.Size([1, 32, 28, 28])"):
        assert q.grade(typed).correct, typed
    assert "(28 + 2·1 − 3) / 1 + 1 = 28" in q.why  # the conv arithmetic behind the answer


def _step_charts(at: AppTest) -> list:
    """Charts of the step itself: every chart but the thumbnails of the whole pass."""
    return [c for c in at.get("plotly_chart") if not c.proto.id.endswith("-overview_strip")]


def test_predict_first_hides_the_step_until_it_is_answered() -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("views/forward.py").run()
    at.toggle(key=Keys.predict).set_value(True).run()
    assert not at.exception
    assert not _step_charts(at) and not at.dataframe  # nothing of step 0 shows yet
    assert "`?`" in at.markdown[0].value or any("`?`" in m.value for m in at.markdown)
    at.segmented_control(key="predict_kind_0").set_value("shape").run()
    at.text_input(key="predict_shape_0").set_value("a big one").run()
    at.button(key="predict_shape_0_check").click().run()
    assert any("whole numbers" in e.value for e in at.error)  # told, and asked again
    assert not _step_charts(at)
    at.text_input(key="predict_shape_0").set_value("1, 32, 26, 26").run()
    at.button(key="predict_shape_0_check").click().run()
    assert not at.exception
    assert any("torch gave `(1, 32, 28, 28)`" in w.value for w in at.warning)
    assert _step_charts(at)  # revealed
    assert any("Score: 0 of 1" in m.value for m in at.markdown)
    at.button(key="next_step").click().run()
    assert not _step_charts(at)  # the next step waits for its own answer
    at.button(key="predict_skip_1").click().run()
    assert _step_charts(at) and any("Skipped." in i.value for i in at.info)
    assert any("Score: 0 of 1" in m.value for m in at.markdown)  # a skip is not scored


def test_gradient_questions_are_autograds_truth() -> None:
    model = explorer.load_model("simple_nn")
    x, y = torch.tensor([[0.5, 0.3, 0.2]]), torch.tensor([[1.0]])
    b = explorer.backward(model, x, y)
    sign, size = gradient_questions(b)
    grads = dict(
        zip(
            [n for n, _ in model.named_parameters()],
            torch.autograd.grad(F.mse_loss(model(x), y), list(model.parameters())),
            strict=True,
        )
    )
    assert size.answer == max(("fc1.weight", "fc2.weight"), key=lambda n: float(grads[n].norm()))
    name, index = sign.prompt.split("`")[3].split("[")
    j, i = (int(v) for v in index.rstrip("]").split(","))
    truth = float(grads[name][j, i])
    assert sign.answer == ("positive" if truth > 0 else "negative" if truth < 0 else "zero")
    assert sign.grade(sign.answer).correct and f"{truth:.6g}" in sign.why
    assert not sign.grade("zero" if sign.answer != "zero" else "positive").correct


def test_predict_first_on_backward_hides_the_gradients_until_answered() -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[Keys.predict] = True
    at.run()
    at.switch_page("views/backward.py").run()
    assert not at.exception and not _step_charts(at)
    (pills,) = at.get("pills")  # the sign question comes first
    assert pills.key.startswith("predict_gradient_sign_backward")
    pills.set_value("zero").run()
    at.button(key=f"{pills.key}_check").click().run()
    assert not at.exception and _step_charts(at)  # revealed
    assert any("torch gave" in w.value for w in at.warning)  # the largest |grad| is not 0
