"""/build under AppTest: shapes and errors at their layer, code, training, using, saving."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer import trace
from explorer.ui_state import Keys

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def at(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("FPE_DATA_DIR", str(tmp_path))
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page("views/build.py").run()
    assert not app.exception
    return app


def _total(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**Total"))


def _open(at: AppTest, start: str) -> None:
    at.selectbox(key="build_start").set_value(start).run()
    next(b for b in at.button if b.key == "build_open").click().run()


def test_a_preset_opens_with_every_shape_and_its_code(at) -> None:
    assert "421,642 parameters · output 10" in _total(at)
    code = next(c.value for c in at.code if "class MyNetwork" in c.value)
    assert "self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)" in code
    namespace: dict = {}
    exec(compile(code.replace('if __name__ == "__main__":', "if False:"), "<gen>", "exec"),
         namespace)  # noqa: S102 - the page's own generated code
    assert sum(p.numel() for p in namespace["MyNetwork"]().parameters()) == 421_642


def test_an_impossible_layer_is_named_with_its_fix(at) -> None:
    key = next(n.key for n in at.number_input if n.key and n.key.endswith("in_features"))
    at.number_input(key=key).set_value(100).run()
    assert [e.value for e in at.error] == [
        "Linear expects 3136 input features here (64×7×7 after Flatten) but in_features is "
        "100: set in_features to 3136"]
    assert any("Fix the layer marked in red" in i.value for i in at.info)
    next(b for b in at.button if (b.label or "").startswith("Apply the fix")).click().run()
    assert not at.error and "421,642" in _total(at)


def test_build_train_and_use_a_small_network(at) -> None:
    _open(at, "empty_image")
    assert "0 parameters" in _total(at)
    for kind in ("Flatten", "Linear"):
        at.selectbox(key="build_add_kind").set_value(kind).run()
        next(b for b in at.button if b.key == "build_add").click().run()
    out = next(n.key for n in at.number_input if n.key and n.key.endswith("out_features"))
    at.number_input(key=out).set_value(10).run()
    assert "7,850 parameters · output 10" in _total(at)
    at.number_input(key="build_epochs").set_value(1).run()
    next(b for b in at.button if b.key == "build_train").click().run()
    assert not at.exception
    accuracy = float(next(m.value for m in at.metric if m.label == "Held-out accuracy")[:-1])
    assert accuracy > 50  # one epoch of a linear classifier; chance is 10
    next(b for b in at.button if b.key == "build_use").click().run()
    assert at.session_state[Keys.model] == "yours:MyNetwork"
    # The picker itself is checked in a real browser (tests/test_browser.py): AppTest replays a
    # selectbox's old value once a callback has changed its options and value.
    mine = at.session_state[Keys.networks]["yours:MyNetwork"]
    t = trace(mine.model, torch.zeros(1, 1, 28, 28))
    assert [s.op for s in t.steps] == ["flatten", "linear"]
    assert t.steps[1].function == "MyNetwork.forward" and t.steps[1].code == "x = self.fc1(x)  # (N, 10)"


def test_save_for_the_class_and_refuse_a_duplicate(at) -> None:
    at.text_input(key="build_name").set_value("Class CNN").run()
    next(b for b in at.button if b.key == "build_save").click().run()
    assert any("Saved “Class CNN”" in s.value for s in at.success)
    next(b for b in at.button if b.key == "build_save").click().run()
    assert any("already saved" in e.value for e in at.error)
    assert at.dataframe[0].value["name"].tolist() == ["Class CNN"]


def test_training_a_network_without_ten_outputs_is_refused_clearly(at) -> None:
    _open(at, "empty_image")
    for kind in ("Flatten", "Linear"):
        at.selectbox(key="build_add_kind").set_value(kind).run()
        next(b for b in at.button if b.key == "build_add").click().run()
    assert any("needs 10 outputs" in i.value for i in at.info)


def test_a_vector_network_sets_its_input_size_and_names_its_toy_data(at) -> None:
    _open(at, "empty_vector")
    key = next(n.key for n in at.number_input if n.key and n.key.startswith("build_features"))
    at.number_input(key=key).set_value(2).run()
    at.selectbox(key="build_add_kind").set_value("Linear").run()
    next(b for b in at.button if b.key == "build_add").click().run()
    out = next(n.key for n in at.number_input if n.key and n.key.endswith("out_features"))
    at.number_input(key=out).set_value(2).run()
    assert "6 parameters · output 2" in _total(at)
    assert any("moons" in c.value for c in at.caption)  # says which toy data set it trains on
