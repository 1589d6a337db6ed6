"""Pieces of /code: the student's editor, running it in the sandbox, errors as teaching moments.

Sending the model on to /backward is ``ui.code_backward``."""

from __future__ import annotations

import ast
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st
import torch

from explorer.sandbox import (
    TEMPLATES,
    CodeRun,
    SandboxError,
    run_user_code,
)
from explorer.sandbox.arguments import forward_arguments
from ui import state as ui_state
from ui.code_editor import code_editor
from ui.state import Selection

RUNS = "code_runs"  # (source, input, mode, seed) -> CodeRun, so moving a slider re-runs nothing
OWNER = "code_owner"  # this session's name in the workers' line: one run of its own at a time


@contextmanager
def in_line(doing: str) -> Iterator[dict[str, Any]]:
    """A spinner for the run, and its place in line while it waits for a free worker; yields
    the sandbox's ``owner``/``on_queue`` arguments."""
    note = st.empty()

    def on_queue(place: int) -> None:
        note.info(
            f"Waiting for a free worker: {_ordinal(place)} in line.",
            icon=":material/hourglass_top:",
        )

    try:
        with st.spinner(doing):
            yield {
                "owner": st.session_state.setdefault(OWNER, uuid.uuid4().hex),
                "on_queue": on_queue,
            }
    finally:
        note.empty()


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def editor() -> tuple[str, str]:
    """The template picker and the code editor (``ui.code_editor``: line numbers, Python
    colours, Tab indents, the last error's line marked); returns (template name, source). The source lives under ``code_source_<template>``, so it survives the page."""
    name = st.radio(
        "Start from",
        list(TEMPLATES),
        horizontal=True,
        key="code_template",
        format_func=lambda n: TEMPLATES[n].class_name,
    )
    key = f"code_source_{name}"
    source = st.session_state.setdefault(key, TEMPLATES[name].source)
    st.markdown("**Your model** (edit `__init__` and `forward()`, then run)")
    mark = st.session_state.get(f"code_error_{name}")
    line, text = (mark[1], mark[2]) if mark and mark[0] == source else (None, "")
    edited = code_editor(source, key=f"code_editor_{name}", error_line=line, error_text=text)
    if (
        isinstance(edited, str)
        and edited != source
        and edited != st.session_state.get(f"{key}_sent")
    ):
        st.session_state[key] = source = edited
        st.session_state[f"{key}_sent"] = edited
        if line is not None:
            # The run its own edit started does not reach the editor with new marks (seen in
            # Chromium with Streamlit 1.67): one more run clears the stale red line.
            st.rerun()
    st.session_state[f"{key}_sent"] = edited  # the editor's last word, to tell news from echo
    return name, source


def arguments(name: str, source: str) -> dict[str, Any]:
    """Widgets for forward()'s extra parameters (``def forward(self, x, flag=True)``); their
    values, to pass as ``forward_kwargs``."""
    found = forward_arguments(source, TEMPLATES[name].class_name)
    if not found:
        return {}
    st.markdown("**forward()'s other arguments**")
    values: dict[str, Any] = {}
    for col, arg in zip(st.columns(min(len(found), 4)) * 4, found, strict=False):
        key = f"code_arg_{name}_{arg.name}"
        if isinstance(arg.default, bool):
            values[arg.name] = col.toggle(arg.name, value=arg.default, key=key)
        elif isinstance(arg.default, int):
            values[arg.name] = int(col.number_input(arg.name, value=arg.default, step=1, key=key))
        elif isinstance(arg.default, float):
            values[arg.name] = float(
                col.number_input(arg.name, value=arg.default, key=key, format="%g")
            )
        else:  # a string, or None: typed as a Python literal
            text = col.text_input(
                arg.name,
                value=repr(arg.default),
                key=key,
                help="A Python value: 'text', None, 3, …",
            )
            values[arg.name] = _literal(text, arg.default)
    return values


def _literal(text: str, default: Any) -> Any:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text if isinstance(default, str) else default
    return value if isinstance(value, (bool, int, float, str, type(None))) else default


def input_for(name: str, sel: Selection) -> tuple[torch.Tensor, str]:
    """The sidebar's input when it fits the template, else the template's own; and a note."""
    template = TEMPLATES[name]
    default = template.default_input()
    if sel.ok and sel.x is not None and tuple(sel.x.shape[1:]) == tuple(default.shape[1:]):
        return sel.x, f"Input: the sidebar's {sel.source.label.lower()} input {tuple(sel.x.shape)}."
    return default, (
        f"Input: {tuple(default.shape)}, the tutorial's example (the sidebar's "
        f"input does not fit {template.class_name})."
    )


def run(
    name: str, source: str, x: torch.Tensor, sel: Selection, kwargs: dict[str, Any] | None = None
) -> CodeRun | None:
    """Run (or recall) the student's code in the sandbox; None until they press Run.

    The model starts from the trained weights of the template's preset wherever the student's
    layers still fit them (same name and shape), so the tutorial's ImageClassifier reads the
    digit as the MNIST CNN does; a layer they changed starts from its seeded initialisation."""
    kwargs = kwargs or {}
    key = (
        name,
        source,
        x.numpy().tobytes(),
        tuple(x.shape),
        sel.train,
        sel.seed,
        tuple(sorted(kwargs.items())),
    )
    runs: dict = st.session_state.setdefault(RUNS, {})
    if st.button("Run forward()", type="primary", icon=":material/play_arrow:", key="code_run"):
        weights = ui_state.shared_model(TEMPLATES[name].preset).state_dict()
        try:
            with in_line("Running your code in a separate worker...") as share:
                runs.clear()  # keep one result per session: they can be large
                runs[key] = run_user_code(
                    source,
                    x,
                    train=sel.train,
                    seed=sel.seed,
                    weights=weights,
                    forward_kwargs=kwargs,
                    **share,
                )
        except SandboxError as err:
            st.error(err.message, icon=":material/block:")
            return None
        err = runs[key].error
        if err is not None and err.line:  # mark it in the editor, drawn above: once more
            st.session_state[f"code_error_{name}"] = (source, err.line, err.message)
            st.rerun()
    return runs.get(key)


def show_error(result: CodeRun) -> None:
    err = result.error
    st.error(
        f"**{err.type}** at line {err.line}: {err.message}"
        if err.line
        else f"**{err.type}**: {err.message}",
        icon=":material/error:",
    )
    st.code(err.describe(), language=None)
    if err.hint:
        st.info(err.hint, icon=":material/lightbulb:")


def weights_note(name: str, result: CodeRun) -> None:
    """Which weights the run used: the preset's trained ones, and the layers that kept their
    random start because the student changed them."""
    preset = ui_state.preset_of(TEMPLATES[name].preset).title
    if not result.notes:
        st.caption(f"Weights: the trained {preset}'s.")
        return
    st.caption(
        f"Weights: the trained {preset}'s where your layers fit them; "
        + "; ".join(result.notes)
        + "."
    )


def walls_note(result: CodeRun) -> None:
    """Which of the kernel's walls held around the run (they depend on how the server runs)."""
    st.caption(
        "Walls around this run, besides its time and memory limits: "
        + (", ".join(result.isolation) or "none")
        + "."
    )


def printed(result: CodeRun) -> None:
    if result.printed:
        with st.expander("What your code printed"):
            st.code(
                result.printed + ("\n…(cut)" if result.printed_truncated else ""), language=None
            )
