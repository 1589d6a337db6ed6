"""No traceback reaches a browser: every known error path ends in a message, never an exception."""

from __future__ import annotations

import logging
import sqlite3
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.builder import NetworkStore, from_preset, preset_weights
from explorer.builder.store import StoreError
from ui import errors, step_view
from ui import state as ui_state

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
SECRET = "/home/teacher/secret/path.py"  # a server detail no student may read


@pytest.fixture
def build_page(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("FPE_DATA_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("views/build.py").run()
    assert not at.exception
    return at


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_streamlit_shows_no_error_details() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"


def test_saving_an_empty_network_says_why(build_page, tmp_path) -> None:
    at = build_page
    at.selectbox(key="build_start").set_value("empty_image").run()
    next(b for b in at.button if b.key == "build_open").click().run()
    at.button(key="build_save").click().run()
    assert not at.exception
    assert any("no layers yet" in e for e in _errors(at)), _errors(at)
    assert NetworkStore(tmp_path).list() == []


def test_loading_a_damaged_saved_network_says_so(build_page, tmp_path) -> None:
    store = NetworkStore(tmp_path)
    store.save("Class CNN", from_preset("cnn"), preset_weights("cnn"))
    with sqlite3.connect(tmp_path / "networks.sqlite3") as con:
        con.execute("UPDATE networks SET weights = x'00'")
    at = build_page
    at.run()
    at.selectbox(key="build_pick").set_value("Class CNN").run()
    at.button(key="build_load").click().run()
    assert not at.exception
    assert any("damaged" in e for e in _errors(at)), _errors(at)


def test_a_store_that_cannot_be_created_names_no_server_path(tmp_path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(StoreError) as caught:
        NetworkStore(blocker / "data")
    assert str(tmp_path) not in str(caught.value)
    assert "FPE_DATA_DIR" in str(caught.value)


def test_a_failing_callback_becomes_a_message(monkeypatch, caplog) -> None:
    def broken(*_args) -> None:
        raise RuntimeError(f"boom in {SECRET}")

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("views/forward.py").run()
    monkeypatch.setattr(ui_state, "move_step", broken)
    at.run()  # the button's callback is the one of the run that drew it
    with caplog.at_level(logging.ERROR, logger="forward_pass_explorer"):
        at.button(key="next_step").click().run()
    assert not at.exception
    shown = _errors(at)
    assert len(shown) == 1 and "Something went wrong" in shown[0] and "reference" in shown[0]
    assert SECRET not in shown[0] and "RuntimeError" not in shown[0]
    ref = shown[0].split("reference ")[1][:6]
    assert any(ref in r.getMessage() for r in caplog.records)  # the teacher finds it in the log
    assert at.slider(key="step").value == 0  # nothing changed, the page still works
    monkeypatch.undo()
    at.run()
    at.button(key="next_step").click().run()
    assert at.slider(key="step").value == 1 and not _errors(at)


def test_a_failing_page_keeps_the_sidebar_and_says_what_happened(monkeypatch) -> None:
    def broken(*_args, **_kwargs) -> None:
        raise KeyError(SECRET)

    monkeypatch.setattr(step_view, "facts", broken)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("views/forward.py").run()
    assert not at.exception
    shown = _errors(at)
    assert len(shown) == 1 and "showing this page" in shown[0] and SECRET not in shown[0]
    assert at.sidebar.selectbox  # the sidebar was drawn: the student can choose again
    assert at.title[0].value == "The forward pass, step by step"


def test_a_bad_input_message_is_shown_as_written() -> None:
    assert errors.message_for(ValueError("Type at least one row of numbers."), "x") == (
        "Type at least one row of numbers."
    )
    hidden = errors.message_for(OSError(2, "No such file", SECRET), "loading")
    assert SECRET not in hidden and "while loading" in hidden
