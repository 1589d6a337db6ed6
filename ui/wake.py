"""Waking a class's followers on this server the moment the teacher's view changes.

Followers find a new view by polling the class store every ``classroom.POLL_S``: that works
across replicas, but a step waits up to a poll for each follower's timer. On the teacher's own
server it need not: ``publish`` calls ``wake(code)``, which asks every session here following
that class to rerun now, and the rerun applies the new view (``classroom.start_of_run``). Other
replicas' followers still find it by their poll.

Streamlit has no public call for "rerun that other session". This asks the session the way
Streamlit's own run-on-save does (``AppSession.request_rerun`` with the session's last client
state: its page and query, no widget values), on the server's event loop. Where that is not
available (AppTest, a changed Streamlit), ``wake`` does nothing and the poll carries on alone.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

from streamlit.runtime.scriptrunner import get_script_run_ctx

_LOG = logging.getLogger("forward_pass_explorer")
_lock = threading.Lock()
_followers: dict[str, set[str]] = {}  # class code -> ids of this server's following sessions
_dropped: set[str] = set()  # sessions whose last page Streamlit dropped unsent (see below)


def listen(code: str) -> None:
    """This session follows class ``code``: wake it when the view changes."""
    session = _session_id()
    if session is None:
        return
    with _lock:
        for sessions in _followers.values():
            sessions.discard(session)  # one class at a time
        _followers.setdefault(code, set()).add(session)


def stop_listening() -> None:
    """This session no longer follows (stepped away, switched off, its class ended)."""
    session = _session_id()
    with _lock:
        for sessions in _followers.values():
            sessions.discard(session or "")
        _dropped.discard(session or "")


def wake(code: str) -> int:
    """Rerun every session on this server that follows ``code``; how many were asked."""
    manager = _session_manager()
    if manager is None:
        return 0
    with _lock:
        sessions = list(_followers.get(code, ()))
    woken = 0
    for session_id in sessions:
        info = manager.get_active_session_info(session_id)
        if info is None:  # gone (closed tab): forget it
            with _lock:
                _followers.get(code, set()).discard(session_id)
                _dropped.discard(session_id)
            continue
        try:
            session = info.session
            session._event_loop.call_soon_threadsafe(session.request_rerun, session._client_state)
            woken += 1
        except Exception:  # noqa: BLE001 - never let a wake-up break the teacher's page
            _LOG.warning("could not wake a follower; it finds the step by its poll")
    return woken


# Woken followers take turns: thirty reruns sharing one interpreter at once would all finish
# together at the end; one at a time, each draws in ~30 ms and the median follower waits for half
# the class, not all of it (bench/follow_load, 30 followers: p50 0.55 s with two, 0.42-0.48 s
# with one).
_TURNS = threading.BoundedSemaphore(1)


@contextlib.contextmanager
def turn(applying: bool) -> Iterator[None]:
    """Around the rest of a run that applies the teacher's view: one at a time."""
    if not applying:
        yield
        return
    with _TURNS:  # waits without holding the interpreter
        yield


# --- was this run's page delivered? ---------------------------------------------------------
#
# A run's elements reach the browser through the session's event loop, which under load runs
# behind the script threads. If a new script runner takes over the session before the loop has
# handled the finished run's elements -- the follower's poll timer asking for a fragment run just
# after the run ended (Streamlit then starts a new runner, the old one having stopped) -- Streamlit
# drops those elements as coming from a runner that is no longer current: the page stays on the
# previous step although the run drew the new one (bench/follow_load, 4 minutes: 2-3 of 3,330
# step views, each shown only when the teacher came back to that step, 5-40 s later).
# ``check_delivered`` notices: it queues a check behind the run's own elements, which finds
# whether the run was still the session's current one when they were handled; the follower's
# next poll then draws the page again (16 such pages in a 4-minute run, every step view within
# 0.93 s).


def check_delivered() -> None:
    """At the end of a run that drew the page: if Streamlit drops what it drew, ``dropped()``
    says so to the session's next run."""
    session_id = _session_id()
    manager = _session_manager()
    if session_id is None or manager is None:
        return
    with _lock:
        _dropped.discard(session_id)
    try:
        session = manager.get_active_session_info(session_id).session
        runner = session._scriptrunner
        here = threading.current_thread()
        if runner is None or runner._script_thread is not here:
            _mark_dropped(session_id)  # replaced already: its elements are being dropped
            return

        def check() -> None:  # on the event loop, after this run's elements
            if session._scriptrunner is not runner:
                _mark_dropped(session_id)

        session._event_loop.call_soon_threadsafe(check)
    except Exception:  # noqa: BLE001 - another Streamlit: the next step view redraws it
        return


def dropped() -> bool:
    """Did Streamlit drop this session's last drawn page? (Asking forgets it.)"""
    session_id = _session_id()
    with _lock:
        if session_id in _dropped:
            _dropped.discard(session_id)
            return True
    return False


def _mark_dropped(session_id: str) -> None:
    _LOG.info("a follower's page was dropped before it was sent: its poll draws it again")
    with _lock:
        _dropped.add(session_id)


def _session_id() -> str | None:
    ctx = get_script_run_ctx()
    return None if ctx is None else ctx.session_id


def _session_manager() -> Any:
    try:
        from streamlit.runtime import Runtime

        if not Runtime.exists():
            return None
        return Runtime.instance()._session_mgr
    except Exception:  # noqa: BLE001 - another Streamlit: the followers' polls still work
        return None
