"""A student's model traced in a worker equals the same code run here, step for step.

Each test starts a worker process (about a second each, most of it importing torch, which a
spare worker does ahead of time).
"""

from __future__ import annotations

import linecache

import pytest
import torch

from explorer import backward, load_model, sgd_step, source_of, trace
from explorer.sandbox import (
    ENV_VAR,
    TEMPLATES,
    CodeRun,
    Limits,
    apply_sgd,
    run_user_backward,
    run_user_code,
    student_filename,
)

pytestmark = pytest.mark.slow  # worker processes or training: not in the fast lane

SIMPLE = TEMPLATES["simple_nn"]
CNN = TEMPLATES["image_classifier"]


@pytest.fixture(autouse=True, scope="module")
def allow_code():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_VAR, "1")
        yield


def _direct(source: str, class_name: str, init_seed: int = 0) -> torch.nn.Module:
    """The student's class built here, the way the worker builds it."""
    filename = student_filename(source)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    ns: dict = {"__name__": "__student__"}
    exec(compile(source, filename, "exec"), ns)
    torch.manual_seed(init_seed)
    return ns[class_name]()


def _assert_same_trace(run: CodeRun, model: torch.nn.Module, x: torch.Tensor, **kw) -> None:
    """Bit-identical outputs and the same ops, modules and lines as tracing it here."""
    here = trace(model, x, **kw)
    got = run.trace
    assert got is not None, run.error and run.error.describe()
    assert torch.equal(got.output, here.output)
    assert [(s.op, s.module, s.line, s.code, s.function, s.parents) for s in got] == [
        (s.op, s.module, s.line, s.code, s.function, s.parents) for s in here
    ]
    for a, b in zip(got, here, strict=True):
        assert torch.equal(a.output, b.output)
        assert all(torch.equal(p, b.params[n]) for n, p in a.params.items())


def _line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


def test_the_simple_nn_template_equals_running_it_here() -> None:
    x = SIMPLE.default_input()
    run = run_user_code(SIMPLE.source, x)
    model = _direct(SIMPLE.source, "SimpleNN").eval()
    with torch.no_grad():
        assert torch.equal(run.trace.output, model(x))
    _assert_same_trace(run, model, x)
    assert run.ok and run.class_name == "SimpleNN" and run.printed == ""
    assert run.state_dict.keys() == model.state_dict().keys()
    assert all(torch.equal(t, model.state_dict()[n]) for n, t in run.state_dict.items())
    # the same weights as the preset: the template is the tutorial's model
    assert torch.equal(run.trace.output, load_model("simple_nn", pretrained=False)(x))
    assert 0 < run.seconds < 60


def test_steps_point_at_lines_of_the_students_code() -> None:
    x = CNN.default_input(batch=2)
    run = run_user_code(CNN.source, x)
    steps = run.trace.steps
    assert [s.op for s in steps] == [
        "conv2d",
        "relu",
        "max_pool2d",
        "conv2d",
        "relu",
        "max_pool2d",
        "view",
        "linear",
        "relu",
        "dropout",
        "linear",
    ]
    assert {s.file for s in steps} == {run.filename} == {student_filename(CNN.source)}
    view = steps[6]
    assert view.line == _line_of(CNN.source, "x.view(-1, 64 * 7 * 7)")
    src = source_of(view)  # read in this process, from the app's own copy of the code
    assert src.lines[0].strip() == "def forward(self, x):"
    assert src.lines[view.line - src.start].strip().startswith("x = x.view(-1, 64 * 7 * 7)")
    _assert_same_trace(run, _direct(CNN.source, "ImageClassifier").eval(), x)


def test_train_mode_with_a_seed_gives_the_same_dropout_mask() -> None:
    x = CNN.default_input(batch=2, seed=4)
    run = run_user_code(CNN.source, x, train=True, seed=11)
    model = _direct(CNN.source, "ImageClassifier")
    _assert_same_trace(run, model, x, train=True, seed=11)
    drop = next(s for s in run.trace if s.op == "dropout")
    assert run.trace.training and drop.extras["training"] is True
    assert torch.equal(
        drop.extras["mask"],
        next(s for s in trace(model, x, train=True, seed=11) if s.op == "dropout").extras["mask"],
    )


def test_the_presets_trained_weights_load_where_they_fit() -> None:
    x = CNN.default_input()
    trained = load_model("cnn")
    run = run_user_code(CNN.source, x, weights=trained.state_dict())
    with torch.no_grad():
        assert torch.equal(run.trace.output, trained(x))
    assert run.notes == []
    changed = CNN.source.replace("nn.Linear(128, 10)", "nn.Linear(128, 5)")
    run = run_user_code(changed, x, weights=trained.state_dict())
    assert run.trace.output.shape == (1, 5)
    assert any(
        n.startswith("fc2.weight keeps its random start: yours is (5, 128)") for n in run.notes
    )
    assert torch.equal(run.state_dict["conv1.weight"], trained.state_dict()["conv1.weight"])


SKIP = SIMPLE.source.replace(
    "        self.fc2 = nn.Linear(4, 1)\n",
    "        self.mid = nn.Linear(4, 4)\n        self.fc2 = nn.Linear(4, 1)\n",
).replace(
    "        x = self.relu(x)\n",
    "        x = self.relu(x)\n        x = x + self.mid(x)  # the skip connection\n",
)


def test_a_skip_connection() -> None:
    x = torch.tensor([[0.5, -1.0, 2.0], [0.1, 0.2, 0.3]])
    run = run_user_code(SKIP, x)
    _assert_same_trace(run, _direct(SKIP, "SimpleNN").eval(), x)
    add = next(s for s in run.trace if s.op == "add")
    assert add.line == _line_of(SKIP, "the skip connection")
    relu = next(s.index for s in run.trace if s.op == "relu")
    mid = next(s.index for s in run.trace if s.module == "mid")
    assert set(add.parents) == {relu, mid}


FLAG = (
    SIMPLE.source.replace(
        "        self.fc2 = nn.Linear(4, 1)\n",
        "        self.extra = nn.Linear(4, 4)\n        self.fc2 = nn.Linear(4, 1)\n",
    )
    .replace("def forward(self, x):", "def forward(self, x, deep=False):")
    .replace(
        "        x = self.relu(x)\n",
        "        x = self.relu(x)\n        if deep:\n            x = self.extra(x)\n",
    )
)


@pytest.mark.parametrize("deep", [True, False])
def test_an_if_on_an_input_flag(deep: bool) -> None:
    x = SIMPLE.default_input()
    run = run_user_code(FLAG, x, forward_kwargs={"deep": deep})
    _assert_same_trace(run, _direct(FLAG, "SimpleNN").eval(), x, deep=deep)
    assert ("extra" in [s.module for s in run.trace]) is deep


def test_print_output_is_captured_and_capped() -> None:
    src = SIMPLE.source.replace(
        "        x = self.relu(x)\n",
        "        print('hidden:', x.shape)\n        x = self.relu(x)\n"
        "        for i in range(10_000):\n            print('line', i)\n",
    )
    run = run_user_code(src, SIMPLE.default_input(), limits=Limits(max_print_chars=100))
    assert run.ok
    assert run.printed.startswith("hidden: torch.Size([1, 4])\nline 0\nline 1\n")
    assert len(run.printed) == 100 and run.printed_truncated


def test_backward_in_the_worker_equals_backward_here() -> None:
    x, target = SIMPLE.default_input(), torch.tensor([[1.0]])
    run = run_user_backward(SIMPLE.source, x, target)
    model = _direct(SIMPLE.source, "SimpleNN").eval()
    here = backward(model, x, target)
    b = run.backward
    assert b is not None and run.trace is None
    assert b.loss == here.loss and b.loss_name == "mse"
    assert all(torch.equal(g, here.param_grads[n]) for n, g in b.param_grads.items())
    assert torch.equal(b.input_grad, here.input_grad)
    assert b.output_grads.keys() == here.output_grads.keys()
    assert [s.op for s in b.trace] == [s.op for s in here.trace]
    step = apply_sgd(run.state_dict, b.param_grads, 0.1)
    assert all(torch.equal(step[n], w) for n, w in sgd_step(model, here.param_grads, 0.1).items())


def test_an_exception_gives_its_line_and_the_steps_before_it() -> None:
    src = SIMPLE.source.replace(
        "        x = self.fc2(x)",
        "        if x.sum() >= 0:\n            raise ValueError('my own check failed')\n"
        "        x = self.fc2(x)",
    )
    run = run_user_code(src, SIMPLE.default_input())
    err = run.error
    assert not run.ok and run.trace is None
    assert err.kind == "exception" and err.type == "ValueError"
    assert err.message == "my own check failed"
    assert err.line == _line_of(src, "raise ValueError") and err.function == "SimpleNN.forward"
    assert [s.op for s in err.steps] == ["linear", "relu", "sum", "ge"]
    assert err.steps[0].file == run.filename
    assert ("x", (1, 4)) in err.shapes


def test_a_syntax_error_gives_line_and_column() -> None:
    src = SIMPLE.source.replace("self.fc2 = nn.Linear(4, 1)", "self.fc2 = nn.Linear(4, 1))")
    run = run_user_code(src, SIMPLE.default_input())
    err = run.error
    assert err.kind == "syntax" and err.line == _line_of(src, "nn.Linear(4, 1))")
    assert err.column == err.code.index("))") + 1
    assert "unmatched ')'" in err.message and "closing bracket" in err.hint


def test_a_shape_mismatch_gives_the_flatten_size() -> None:
    src = CNN.source.replace("nn.Linear(64 * 7 * 7, 128)", "nn.Linear(784, 128)")
    run = run_user_code(src, CNN.default_input())
    err = run.error
    assert err.kind == "shape" and err.line == _line_of(src, "F.relu(self.fc1(x))")
    assert "fc1 gets 3136 features per example, but it was built for 784" in err.hint
    view_line = _line_of(src, "x.view(-1, 64 * 7 * 7)")
    assert (
        f"The view on line {view_line} turned (1, 64, 7, 7) into (1, 3136): "
        "64 x 7 x 7 = 3136 values per example."
    ) in err.hint
    assert [s.op for s in err.steps][-2:] == ["max_pool2d", "view"]
    assert err.layer.path == "fc1" and err.layer.input_shapes == [[1, 3136]]


@pytest.mark.parametrize(
    "returned, described",
    [
        ("'hello'", "a str ('hello')"),
        ("[x, x]", "a list of 2 (Tensor)"),
    ],
)
def test_forward_returning_something_else_than_a_tensor(returned: str, described: str) -> None:
    src = SIMPLE.source.replace("        return x\n", f"        return {returned}\n")
    run = run_user_code(src, SIMPLE.default_input())
    err = run.error
    assert err.kind == "output" and err.type == "TypeError"
    assert err.message == f"forward() returned {described}, not a tensor"
    assert err.line == _line_of(src, f"return {returned}")
    assert "must return one tensor" in err.hint
    assert [s.op for s in err.steps] == ["linear", "relu", "linear"]


def test_a_class_that_is_not_there() -> None:
    run = run_user_code(SIMPLE.source, SIMPLE.default_input(), class_name="Net")
    assert run.error.kind == "class"
    assert "no model class named Net (your nn.Module classes: SimpleNN)" in run.error.message


def test_a_forward_with_more_ops_than_a_page_can_show() -> None:
    src = SIMPLE.source.replace(
        "        x = self.relu(x)\n",
        "        x = self.relu(x)\n        for _ in range(6000):\n            x = x + 0\n",
    )
    err = run_user_code(src, SIMPLE.default_input()).error
    assert err.kind == "steps" and err.message.startswith("forward() ran 6003 ops")
    assert "whole tensors" in err.hint and len(err.steps) == 200
