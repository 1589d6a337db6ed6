"""The opt-in switch: off unless the operator asked, and when off nothing the user typed runs."""

from __future__ import annotations

import builtins
import subprocess

import pytest
import torch

from explorer.sandbox import (
    CLI_FLAG,
    ENV_VAR,
    HOW_TO_ENABLE,
    TEMPLATES,
    CodeExecutionDisabled,
    SandboxError,
    code_allowed,
    run_user_backward,
    run_user_code,
)


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


@pytest.fixture
def switched_off(monkeypatch: pytest.MonkeyPatch, tmp_path) -> list[str]:
    """Code execution off, and every way of running code watched: compile, exec, processes."""
    monkeypatch.setenv(ENV_VAR, "0")
    monkeypatch.setattr("sys.argv", ["app.py"])
    calls: list[str] = []
    real_compile, real_exec = builtins.compile, builtins.exec

    def watched(name, real):
        def call(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(builtins, "compile", watched("compile", real_compile))
    monkeypatch.setattr(builtins, "exec", watched("exec", real_exec))
    monkeypatch.setattr(subprocess, "Popen", watched("Popen", subprocess.Popen))
    return calls


def test_when_off_nothing_the_user_typed_is_executed(switched_off: list[str], tmp_path) -> None:
    marker = tmp_path / "ran.txt"
    source = (
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "import builtins\nbuiltins.FPE_RAN = True\n" + TEMPLATES["simple_nn"].source
    )
    x = TEMPLATES["simple_nn"].default_input()
    with pytest.raises(CodeExecutionDisabled) as err:
        run_user_code(source, x)
    with pytest.raises(CodeExecutionDisabled):
        run_user_backward(source, x, torch.zeros(1, 1))
    with pytest.raises(CodeExecutionDisabled):
        run_user_code("this is not even Python (", x)  # refused before any parsing
    assert isinstance(err.value, SandboxError) and err.value.kind == "disabled"
    assert err.value.message == HOW_TO_ENABLE
    assert not marker.exists()
    assert not hasattr(builtins, "FPE_RAN")
    assert switched_off == []  # no compile, no exec, no worker process
