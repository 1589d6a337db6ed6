"""No traceback reaches a browser: every page and every widget callback fails into a message.

A page runs inside ``page_guard()``; a widget callback is passed as ``guarded(fn)``. Either way
an exception becomes one ``st.error`` the student can read, and the traceback goes to the
server's log under a short reference, so a teacher can find it there.

* ``ValueError`` is this project's "bad input" error: the library writes its message for a
  student ("This model takes 3 numbers per row; the table has 2."), so the message is shown.
* Anything else is a fault of the server, not of the student: its text may name files of the
  server, so only what was being done and the reference are shown.

Streamlit's own control flow (``st.rerun``, ``st.stop``) derives from ``BaseException`` and
passes through untouched. A callback's message is kept in session state and shown on the run
the callback starts: callbacks run before the script draws anything.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec

import streamlit as st

log = logging.getLogger("forward_pass_explorer")

_PENDING = "errors_pending"  # callbacks' messages, waiting for the run they started
P = ParamSpec("P")


def message_for(err: Exception, doing: str) -> str:
    """What a student reads about ``err``; the traceback is logged with a reference."""
    if isinstance(err, ValueError) and str(err):
        log.info("refused while %s: %s", doing, err)
        return str(err)
    ref = secrets.token_hex(3)
    log.error("error %s while %s", ref, doing, exc_info=err)
    return (
        f"Something went wrong on the server while {doing}; nothing you had was lost. "
        f"Try again, or tell your teacher (reference {ref}: the details are in the "
        "server's log)."
    )


@contextmanager
def page_guard(doing: str = "showing this page") -> Iterator[None]:
    """Run a block; an exception in it becomes a message under what was already drawn."""
    show_pending()
    try:
        yield
    except Exception as err:  # noqa: BLE001 - the point: nothing reaches the browser raw
        st.error(message_for(err, doing), icon=":material/error:")


def guarded(fn: Callable[P, Any], doing: str | None = None) -> Callable[P, None]:
    """``fn`` as a widget callback whose exceptions become a message on the next run."""
    what = doing or _doing(fn)

    @functools.wraps(fn)
    def callback(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001
            st.session_state.setdefault(_PENDING, []).append(message_for(err, what))

    return callback


def show_pending() -> None:
    """The messages of callbacks that failed before this run, shown once."""
    for text in st.session_state.pop(_PENDING, []):
        st.error(text, icon=":material/error:")


def _doing(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__name__", "that").strip("_").replace("_", " ")
    return f"doing “{name}”"
