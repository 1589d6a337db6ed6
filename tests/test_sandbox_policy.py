"""The opt-in switch: off unless the operator asked, and when off nothing the user typed runs."""

from __future__ import annotations

import pytest

from explorer.sandbox import CLI_FLAG, ENV_VAR, HOW_TO_ENABLE, code_allowed


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_the_environment_variable_switches_it_on(value: str) -> None:
    assert code_allowed(argv=["app.py"], environ={ENV_VAR: value})


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off", "2", "allow", "1 please"])
def test_anything_else_in_the_variable_leaves_it_off(value: str) -> None:
    assert not code_allowed(argv=["app.py"], environ={ENV_VAR: value})


def test_the_script_argument_switches_it_on() -> None:
    # `streamlit run app.py -- --allow-code` hands the script ["app.py", "--allow-code"]
    assert code_allowed(argv=["app.py", CLI_FLAG], environ={})
    assert not code_allowed(argv=["app.py", "--allow-cod"], environ={})
    assert not code_allowed(argv=["app.py"], environ={})


def test_off_by_default_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr("sys.argv", ["app.py"])
    assert not code_allowed()


def test_the_message_says_how_to_enable_it() -> None:
    assert f"{ENV_VAR}=1 streamlit run app.py" in HOW_TO_ENABLE
    assert f"streamlit run app.py -- {CLI_FLAG}" in HOW_TO_ENABLE
