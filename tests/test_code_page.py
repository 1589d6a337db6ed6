"""/code under AppTest: off by default (nothing runs), and on: trace, errors, backward."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from explorer.sandbox import TEMPLATES

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


def test_switched_off_the_page_explains_and_runs_nothing(monkeypatch, tmp_path) -> None:
    at = _code_page(monkeypatch, allowed=False)
    assert any("FPE_ALLOW_CODE=1" in i.value for i in at.info)
    assert not at.text_area and not [b for b in at.button if b.key == "code_run"]


def test_a_students_skip_connection_is_traced_at_their_lines(monkeypatch) -> None:
    at = _code_page(monkeypatch, allowed=True)
    source = TEMPLATES["simple_nn"].source.replace(
        "x = self.fc2(x)", "x = self.fc2(x + torch.ones_like(x))  # a change of mine")
    at.text_area(key="code_source_simple_nn").set_value(source).run()
    next(b for b in at.button if b.key == "code_run").click().run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    assert "ones_like" in text and "add" in text  # the new ops are steps


def test_a_shape_mistake_is_shown_at_its_line_with_a_hint(monkeypatch) -> None:
    at = _code_page(monkeypatch, allowed=True)
    source = TEMPLATES["simple_nn"].source.replace("nn.Linear(4, 1)", "nn.Linear(5, 1)")
    at.text_area(key="code_source_simple_nn").set_value(source).run()
    next(b for b in at.button if b.key == "code_run").click().run()
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert "line" in message and "shapes cannot be multiplied" in message
    assert at.info  # the hint
