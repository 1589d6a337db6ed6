"""The /code editor: Ace, as shipped (built, offline) in the ``streamlit-ace`` package.

``streamlit_ace.st_ace`` does not pass Ace's style, so underscores of DejaVu Sans Mono (the
monospace font most Linux browsers fall back to) were cut off at the line's bottom: this thin
wrapper declares the same built frontend and adds a taller line. Nothing is fetched at run time:
the frontend, Ace's Python mode and its theme are files in that package.
"""

from __future__ import annotations

from pathlib import Path

import streamlit.components.v1 as components
import streamlit_ace

_FRONTEND = Path(streamlit_ace.__file__).resolve().parent / "frontend" / "build"
_component = components.declare_component("fpe_code_editor", path=str(_FRONTEND))


def code_editor(
    source: str, *, key: str, height: int = 420, error_line: int | None = None, error_text: str = ""
) -> str | None:
    """A Python editor starting from ``source`` (line numbers, colours, Tab indents four
    spaces, ``error_line`` marked red with ``error_text`` in its gutter); the text after each
    pause in typing (200 ms), or None before the first render."""
    marks: dict[str, list] = {"annotations": [], "markers": []}
    if error_line is not None:
        row = error_line - 1
        marks = {
            "annotations": [{"row": row, "column": 0, "type": "error", "text": error_text}],
            "markers": [
                {
                    "startRow": row,
                    "startCol": 0,
                    "endRow": row,
                    "endCol": 1,
                    "className": "ace_error-marker",
                    "type": "fullLine",
                }
            ],
        }
    return _component(
        defaultValue=source,
        mode="python",
        theme="chrome",
        keyboardHandler="vscode",
        fontSize=14,
        tabSize=4,
        showGutter=True,
        showPrintMargin=False,
        wrapEnabled=False,
        readOnly=False,
        minLines=18,
        maxLines=None,
        height=height,
        placeholder="",
        autoUpdate=True,
        style={"lineHeight": 1.45},
        key=key,
        default=source,
        **marks,
    )
