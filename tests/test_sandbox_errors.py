"""Teaching errors: the line of their code, the shapes there, and a hint with this failure's numbers.

These run the broken code in the test process (no worker needed): ``explain_error`` reads a live
exception the same way the worker does.
"""

from __future__ import annotations

import linecache

import pytest
import torch

from explorer.sandbox import STUDENT_FILE, TEMPLATES, explain_error
from explorer.sandbox.facts import Facts

CNN = TEMPLATES["image_classifier"].source
MLP = TEMPLATES["simple_nn"].source


def _explain(source: str, x: torch.Tensor, **forward_kwargs):
    """Build and run ``source``'s last class; the explanation of what it raised."""
    linecache.cache[STUDENT_FILE] = (len(source), None, source.splitlines(True), STUDENT_FILE)
    model = None
    phase = "compile"
    try:
        code = compile(source, STUDENT_FILE, "exec")
        phase = "define"
        ns: dict = {"__name__": "__student__"}
        exec(code, ns)
        cls = [
            v
            for v in ns.values()
            if isinstance(v, type)
            and issubclass(v, torch.nn.Module)
            and v.__module__ == "__student__"
        ][-1]
        phase = "build"
        model = cls()
        phase = "forward"
        model.eval()(x, **forward_kwargs)
    except Exception as exc:
        return explain_error(exc, model=model, phase=phase)
    raise AssertionError("the code ran without an error")


def _line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


def test_a_linear_layer_of_the_wrong_size_names_the_layer_and_both_numbers() -> None:
    src = CNN.replace("nn.Linear(64 * 7 * 7, 128)", "nn.Linear(784, 128)")
    err = _explain(src, torch.randn(1, 1, 28, 28))
    assert err.kind == "shape" and err.phase == "forward"
    assert err.line == _line_of(src, "F.relu(self.fc1(x))")
    assert err.code.strip() == "x = F.relu(self.fc1(x))"
    assert err.function == "ImageClassifier.forward"
    assert "(1x3136 and 784x128)" in err.message
    assert "fc1 gets 3136 features per example, but it was built for 784" in err.hint
    assert "nn.Linear(3136, 128)" in err.hint
    assert err.layer is not None and err.layer.path == "fc1" and err.layer.type == "Linear"
    assert err.layer.input_shapes == [[1, 3136]]
    assert ("x", (1, 3136)) in err.shapes
    # the caret sits under the call that failed
    text = err.describe()
    assert "    x = F.relu(self.fc1(x))\n" in text
    assert "               ^^^^^^^^^^^\n" in text
    assert "Hint: fc1 gets 3136" in text and "Tensors at that moment: x (1, 3136)" in text


def test_a_conv_with_the_wrong_input_channels() -> None:
    src = CNN.replace("nn.Conv2d(32, 64,", "nn.Conv2d(16, 64,")
    err = _explain(src, torch.randn(2, 1, 28, 28))
    assert err.kind == "shape" and err.layer.path == "conv2"
    assert err.line == _line_of(src, "self.conv2(x)")
    assert "conv2 = nn.Conv2d(16, 64, ...) takes 16 input channels" in err.hint
    assert "has 32" in err.hint and "nn.Conv2d(32, 64, ...)" in err.hint
    assert err.layer.input_shapes == [[2, 32, 14, 14]]


def test_a_flat_input_to_a_conv() -> None:
    err = _explain(CNN, torch.randn(1, 784))
    assert err.kind == "shape" and err.layer.path == "conv1"
    assert "(N, C, H, W)" in err.hint and "(1, 784)" in err.hint


def test_a_view_to_a_size_that_does_not_divide() -> None:
    src = CNN.replace("x.view(-1, 64 * 7 * 7)", "x.view(-1, 1000)")
    err = _explain(src, torch.randn(1, 1, 28, 28))
    assert err.kind == "shape" and err.layer is None
    assert "3136 values" in err.hint and "not a multiple of 1000" in err.hint
    assert "x is (1, 64, 7, 7): 64 x 7 x 7 = 3136 values per example" in err.hint
    assert "x.view(-1, 3136)" in err.hint


def test_a_skip_connection_between_different_shapes() -> None:
    src = CNN.replace(
        "        x = self.pool(F.relu(self.conv2(x)))  # (N, 32, 14, 14) -> (N, 64, 7, 7)",
        "        skip = x\n        x = F.relu(self.conv2(x))\n        x = x + skip",
    )
    err = _explain(src, torch.randn(1, 1, 28, 28))
    assert err.kind == "shape" and err.line == _line_of(src, "x = x + skip")
    assert "dimension 1: 64 against 32" in err.hint
    assert "x (1, 64, 14, 14)" in err.hint and "skip (1, 32, 14, 14)" in err.hint


def test_an_attribute_never_created_in_init() -> None:
    src = MLP.replace("x = self.fc2(x)", "x = self.fc3(x)")
    err = _explain(src, torch.randn(1, 3))
    assert err.kind == "exception" and err.type == "AttributeError"
    assert err.line == _line_of(src, "self.fc3(x)")
    assert "self.fc3 is used, but SimpleNN.__init__ never created it" in err.hint


def test_a_missing_super_init_is_caught_in_init() -> None:
    src = MLP.replace("        super().__init__()\n", "")
    err = _explain(src, torch.randn(1, 3))
    assert err.phase == "build" and err.function == "SimpleNN.__init__"
    assert err.line == _line_of(src, "self.fc1 = nn.Linear(3, 4)")
    assert "super().__init__()" in err.hint


def test_a_flag_forward_does_not_take() -> None:
    err = _explain(MLP, torch.randn(1, 3), deep=True)
    assert "unexpected keyword argument 'deep'" in err.message
    assert "def forward(self, x, deep=...)" in err.hint


def test_a_wrong_dtype() -> None:
    err = _explain(MLP, torch.ones(1, 3, dtype=torch.float64))
    assert "x.float()" in err.hint


def test_a_plain_exception_keeps_its_line_and_message() -> None:
    src = MLP.replace("x = self.relu(x)", "x = self.relu(x) / 0 + {}['missing']")
    err = _explain(src, torch.randn(1, 3))
    assert err.type == "KeyError" and err.message == "'missing'"
    assert err.line == _line_of(src, "{}['missing']")
    assert err.shapes == [("x", (1, 4))]


@pytest.mark.parametrize(
    "broken, needle, hint",
    [
        ("def forward(self, x):", "def forward(self, x)", "ends with a colon"),
        ("x = self.relu(x)", "x = self.relu(x", "never closed"),
        ("        x = self.relu(x)", "          x = self.relu(x)", "indent"),
        ("x = self.fc2(x)", "x = self.fc2(x) x", "Python could not read this line"),
    ],
)
def test_syntax_errors_point_at_the_line_and_column(broken: str, needle: str, hint: str) -> None:
    src = MLP.replace(broken, needle)
    err = _explain(src, torch.randn(1, 3))
    assert err.kind == "syntax" and err.phase == "compile"
    assert err.type in ("SyntaxError", "IndentationError")
    assert err.line == _line_of(src, needle.strip())
    assert err.code.strip().startswith(needle.strip())
    assert err.column is not None
    assert hint in err.hint
    assert err.describe().startswith(f"Line {err.line}:")


def test_facts_from_a_worker_are_explained_the_same_way() -> None:
    facts = Facts(
        "exception",
        "forward",
        "RuntimeError",
        "mat1 and mat2 shapes cannot be multiplied (4x12 and 10x2)",
        line=7,
        code="        return self.out(h)",
        function="Net.forward",
    )
    err = explain_error(facts)
    assert err.kind == "shape" and err.line == 7
    assert "the left side is 4x12, the right side 10x2, and 12 != 10" in err.hint
