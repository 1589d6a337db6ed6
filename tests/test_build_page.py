"""/build under AppTest: shapes and errors at their layer, code, training, using, saving."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer import trace
from ui.state import Keys

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


def _train(at: AppTest, epochs: int, *, wait: bool = True) -> None:
    """Press Train; with ``wait``, until the run's thread has ended and the page shows it."""
    at.number_input(key="build_epochs").set_value(epochs).run()
    next(b for b in at.button if b.key == "build_train").click().run()
    assert not at.exception
    if wait:
        assert at.session_state["build_job"].wait(120)
        at.run()


def test_a_preset_opens_with_every_shape_and_its_code(at) -> None:
    assert "421,642 parameters · output 10" in _total(at)
    code = next(c.value for c in at.code if "class MyNetwork" in c.value)
    assert "self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)" in code
    namespace: dict = {}
    exec(
        compile(code.replace('if __name__ == "__main__":', "if False:"), "<gen>", "exec"), namespace
    )  # noqa: S102 - the page's own generated code
    assert sum(p.numel() for p in namespace["MyNetwork"]().parameters()) == 421_642


def test_an_impossible_layer_is_named_with_its_fix(at) -> None:
    key = next(n.key for n in at.number_input if n.key and n.key.endswith("in_features"))
    at.number_input(key=key).set_value(100).run()
    assert [e.value for e in at.error] == [
        "Linear expects 3136 input features here (64×7×7 after Flatten) but in_features is "
        "100: set in_features to 3136"
    ]
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
    _train(at, 1)
    accuracy = float(next(m.value for m in at.metric if m.label == "Held-out accuracy")[:-1])
    assert accuracy > 50  # one epoch of a linear classifier; chance is 10
    next(b for b in at.button if b.key == "build_use").click().run()
    assert at.session_state[Keys.model] == "yours:MyNetwork"
    # The picker itself is checked in a real browser (tests/test_browser.py): AppTest replays a
    # selectbox's old value once a callback has changed its options and value.
    mine = at.session_state[Keys.networks]["yours:MyNetwork"]
    t = trace(mine.model, torch.zeros(1, 1, 28, 28))
    assert [s.op for s in t.steps] == ["flatten", "linear"]
    assert (
        t.steps[1].function == "MyNetwork.forward"
        and t.steps[1].code == "x = self.fc1(x)  # (N, 10)"
    )


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


def _add(at: AppTest, kind: str) -> None:
    at.selectbox(key="build_add_kind").set_value(kind).run()
    next(b for b in at.button if b.key == "build_add").click().run()


def test_a_new_layer_fits_the_shape_before_it(at) -> None:
    _open(at, "empty_image")
    _add(at, "Flatten")
    _add(at, "Linear")  # 784 in: proposes 128 out, not a 784 x 784 matrix
    assert "100,480 parameters · output 128" in _total(at)
    assert not at.error
    _add(at, "ReLU")
    _add(at, "Linear")  # 128 in: keeps the width
    assert "116,992 parameters · output 128" in _total(at)


def _mlp(at: AppTest) -> None:
    _open(at, "empty_image")
    for kind in ("Flatten", "Linear", "ReLU", "Linear"):
        _add(at, kind)
    out = [n.key for n in at.number_input if n.key and n.key.endswith("out_features")][-1]
    at.number_input(key=out).set_value(10).run()


def _wait_for_epochs(job, n: int, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while len(job.history) < n and job.running and time.monotonic() < deadline:
        time.sleep(0.05)


def test_only_stop_stops_training_and_the_epochs_done_are_kept(at) -> None:
    _mlp(at)
    _train(at, 20, wait=False)
    job = at.session_state["build_job"]
    _wait_for_epochs(job, 2)
    # another click reruns the page, and the run goes on
    next(b for b in at.button if b.label == "Resample").click().run()
    at.switch_page("views/forward.py").run()
    at.switch_page("views/build.py").run()
    assert job.running and at.session_state["build_job"] is job
    next(b for b in at.button if b.key == "build_stop").click().run()
    assert job.wait(60)
    at.run()
    done = len(job.history)
    assert 2 <= done < 20
    assert any(f"Stopped in epoch {done} of 20" in s.value for s in at.success)
    kept = at.session_state["build_state"]
    assert all(torch.equal(kept[k], v) for k, v in job.state.items())  # the trained weights
    accuracy = float(next(m.value for m in at.metric if m.label == "Held-out accuracy")[:-1])
    assert accuracy == pytest.approx(100 * job.result.test_accuracy, abs=0.05)
    assert "build_stop" not in [b.key for b in at.button]  # the Stop button has gone
    assert len([c for c in at.get("plotly_chart")]) == 1  # one curve

    _train(at, 1)  # Train more: the curve goes on from there
    history = at.session_state["build_history"]
    assert [r["epoch"] for r in history] == list(range(1, done + 2))


def test_start_from_names_what_is_on_the_canvas(at) -> None:
    assert at.selectbox(key="build_start").value == "cnn"  # the canvas opens on the CNN
    _open(at, "mlp")
    assert at.selectbox(key="build_start").value == "mlp"


def test_save_names_files_and_shows_the_students_link_and_import_says_what_it_loaded(at) -> None:
    from explorer.builder import export_spec_json, from_preset

    at.text_input(key="build_name").set_value("Class CNN").run()
    next(b for b in at.button if b.key == "build_save").click().run()
    link = next(c.value for c in at.code if "yours" in c.value)
    assert link.endswith("/forward?model=yours%3AClass+CNN")
    assert at.session_state["build_spec"].name == "Class CNN"  # the files' names too

    older = export_spec_json(from_preset("mlp")).encode()
    newer = export_spec_json(from_preset("simple_nn")).encode()
    at.file_uploader(key="build_import_0").set_value(
        [("old.json", older, "application/json"), ("new.json", newer, "application/json")]
    ).run()
    next(b for b in at.button if b.key == "build_import_go").click().run()
    assert not at.exception
    assert any("Imported “simple_nn” from new.json: 3 layers" in s.value for s in at.success)
    assert at.session_state["build_spec"].name == "simple_nn"  # the file just dropped
    assert at.selectbox(key="build_start").value is None  # no longer "MNIST CNN"
    assert at.file_uploader(key="build_import_1").value in (None, [])  # empty for the next
