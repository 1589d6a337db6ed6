"""Trace your own forward(): a student's model code, run in a separate worker process.

Off unless the server's operator opts in (``FPE_ALLOW_CODE=1``, or ``streamlit run app.py --
--allow-code``); see ``policy``. Data flow:
``templates -> run_user_code (runner) -> worker process (worker, execute) -> CodeRun``
with a ``Trace`` like ``explorer.trace``'s, or a ``CodeError`` explaining the mistake.

    >>> from explorer.sandbox import TEMPLATES, code_allowed, run_user_code
    >>> t = TEMPLATES["image_classifier"]
    >>> run = run_user_code(t.source, t.default_input())   # CodeExecutionDisabled if off
    >>> run.trace.steps[0].file == run.filename             # steps point into their code
"""

from __future__ import annotations

from explorer.sandbox.errors import CodeError, CodeExecutionDisabled, SandboxError, explain_error
from explorer.sandbox.facts import STUDENT_FILE, Facts, Layer, student_filename
from explorer.sandbox.limits import Limits
from explorer.sandbox.policy import CLI_FLAG, ENV_VAR, HOW_TO_ENABLE, code_allowed
from explorer.sandbox.runner import CodeRun, apply_sgd, run_user_backward, run_user_code
from explorer.sandbox.templates import TEMPLATES, Template

__all__ = [
    "CLI_FLAG",
    "ENV_VAR",
    "HOW_TO_ENABLE",
    "STUDENT_FILE",
    "TEMPLATES",
    "CodeError",
    "CodeExecutionDisabled",
    "CodeRun",
    "Facts",
    "Layer",
    "Limits",
    "SandboxError",
    "Template",
    "apply_sgd",
    "code_allowed",
    "explain_error",
    "run_user_backward",
    "run_user_code",
    "student_filename",
]
