"""Waking a class's followers on the teacher's server (ui/wake.py), taking turns, and knowing
which view a follower's page has drawn (ui.classroom.drawing_view)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from ui import wake


class _Loop:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def call_soon_threadsafe(self, fn, *args) -> None:
        self.calls.append((fn, args))


class _Manager:
    """Stands in for Streamlit's session manager: sessions by id, some of them gone."""

    def __init__(self, ids: list[str]) -> None:
        self.sessions = {
            i: SimpleNamespace(
                _event_loop=_Loop(), _client_state=f"state of {i}", request_rerun=object()
            )
            for i in ids
        }

    def get_active_session_info(self, session_id: str):
        session = self.sessions.get(session_id)
        return None if session is None else SimpleNamespace(session=session)


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(wake, "_followers", {})
    me = {"id": None}
    monkeypatch.setattr(wake, "_session_id", lambda: me["id"])
    return me


def _listen(me: dict, session: str, code: str) -> None:
    me["id"] = session
    wake.listen(code)


def test_wake_reruns_this_servers_followers_of_that_class_only(registry, monkeypatch) -> None:
    manager = _Manager(["a1", "a2", "b1"])
    monkeypatch.setattr(wake, "_session_manager", lambda: manager)
    _listen(registry, "a1", "ABCD")
    _listen(registry, "a2", "ABCD")
    _listen(registry, "b1", "WXYZ")
    _listen(registry, "gone", "ABCD")  # a tab closed since: not among the sessions
    assert wake.wake("ABCD") == 2
    for sid in ("a1", "a2"):
        session = manager.sessions[sid]
        # rerun with the session's own last page and query, on the server's event loop
        assert session._event_loop.calls == [(session.request_rerun, (f"state of {sid}",))]
    assert manager.sessions["b1"]._event_loop.calls == []
    assert "gone" not in wake._followers["ABCD"]  # forgotten


def test_a_follower_listens_to_one_class_and_stops_when_it_steps_away(
    registry, monkeypatch
) -> None:
    manager = _Manager(["s"])
    monkeypatch.setattr(wake, "_session_manager", lambda: manager)
    _listen(registry, "s", "ABCD")
    _listen(registry, "s", "WXYZ")  # joined another class
    assert wake.wake("ABCD") == 0 and wake.wake("WXYZ") == 1
    wake.stop_listening()
    assert wake.wake("WXYZ") == 0


def test_without_streamlits_runtime_nobody_is_woken_and_nothing_breaks(registry) -> None:
    _listen(registry, "s", "ABCD")
    assert wake._session_manager() is None  # no server here, as under AppTest
    assert wake.wake("ABCD") == 0


def test_woken_followers_take_turns_one_at_a_time() -> None:
    inside, most, lock = [0], [0], threading.Lock()

    def follower() -> None:
        with wake.turn(True):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.02)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=follower) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1
    with wake.turn(False), wake.turn(False), wake.turn(False):
        pass  # a run that applies nothing never waits


def _drawing_app(outcome: str) -> None:
    import streamlit as st

    from explorer.selection import Keys
    from ui import classroom

    st.session_state[Keys.follow_applied] = 7
    if outcome == "rerun":  # as a run stopped for this one left it: marked, though not drawn
        st.session_state.setdefault(Keys.follow_drawn, 7)
    if st.session_state.get("again") and "after_cut" not in st.session_state:
        st.session_state["after_cut"] = st.session_state.get(Keys.follow_drawn)
    try:
        with classroom.drawing_view():
            if outcome == "rerun" and not st.session_state.get("again"):
                st.session_state["again"] = True
                st.rerun()
            if outcome == "stop":
                st.stop()
            if outcome == "error":
                raise ValueError("a page that failed")
    except ValueError:
        pass


@pytest.mark.parametrize("outcome", ["end", "stop", "error", "rerun"])
def test_a_view_counts_as_drawn_unless_its_run_was_cut_short_for_another(outcome) -> None:
    from explorer.selection import Keys

    at = AppTest.from_function(_drawing_app, args=(outcome,)).run()
    assert not at.exception
    assert at.session_state[Keys.follow_drawn] == 7
    if outcome == "rerun":  # the cut run had not drawn it; the run after it did
        assert at.session_state["after_cut"] is None


class _Session:
    """A session whose current script runner is the one running on ``thread``."""

    def __init__(self, thread: threading.Thread | None) -> None:
        self._event_loop = _Loop()
        self._scriptrunner = None if thread is None else SimpleNamespace(_script_thread=thread)


def _delivery(monkeypatch, registry, session: _Session) -> None:
    manager = SimpleNamespace(get_active_session_info=lambda sid: SimpleNamespace(session=session))
    monkeypatch.setattr(wake, "_session_manager", lambda: manager)
    monkeypatch.setattr(wake, "_dropped", set())
    registry["id"] = "s1"


def test_a_page_delivered_in_order_is_not_redrawn(registry, monkeypatch) -> None:
    session = _Session(threading.current_thread())
    _delivery(monkeypatch, registry, session)
    wake.check_delivered()
    [(check, ())] = session._event_loop.calls  # queued behind the run's own elements
    check()  # the loop reaches it: the run is still the session's current one
    assert not wake.dropped()


def test_a_page_dropped_for_a_newer_runner_is_redrawn_once(registry, monkeypatch) -> None:
    """The poll's fragment run took the session over before the loop sent the finished run's
    elements: Streamlit drops them, and the next run is told, once."""
    session = _Session(threading.current_thread())
    _delivery(monkeypatch, registry, session)
    wake.check_delivered()
    session._scriptrunner = SimpleNamespace(_script_thread=threading.Thread())  # replaced
    [(check, ())] = session._event_loop.calls
    check()
    assert wake.dropped()
    assert not wake.dropped()  # asking forgets it
    # A run that ends after it was replaced is dropped at once, with no check to wait for.
    session = _Session(threading.Thread())
    _delivery(monkeypatch, registry, session)
    wake.check_delivered()
    assert session._event_loop.calls == [] and wake.dropped()


def test_a_new_drawn_page_forgets_an_older_drop(registry, monkeypatch) -> None:
    session = _Session(threading.current_thread())
    _delivery(monkeypatch, registry, session)
    wake._dropped.add("s1")  # an earlier run's page was dropped ...
    wake.check_delivered()  # ... and this one drew the page again
    assert not wake.dropped()


def test_without_streamlits_runtime_delivery_is_not_checked(registry, monkeypatch) -> None:
    monkeypatch.setattr(wake, "_dropped", set())
    registry["id"] = "s1"
    wake.check_delivered()  # AppTest and other Streamlits: nothing to check, nothing breaks
    assert not wake.dropped()


def test_a_session_that_stops_following_or_is_gone_forgets_its_drop(registry, monkeypatch) -> None:
    session = _Session(threading.Thread())  # its run was replaced: dropped
    _delivery(monkeypatch, registry, session)
    wake.check_delivered()
    wake.stop_listening()  # stepped away: no poll will ask
    assert not wake.dropped()
    wake.check_delivered()
    _listen(registry, "s1", "ABCD")
    monkeypatch.setattr(wake, "_session_manager", lambda: _Manager([]))  # the tab closed
    wake.wake("ABCD")
    assert "s1" not in wake._dropped


def test_the_streamlit_internals_wake_reaches_for_are_there() -> None:
    """ui/wake.py does nothing (the polls carry on) where these are missing: a Streamlit upgrade
    that moves them would slow following down without a failure anywhere else, so say it here."""
    import inspect

    from streamlit.runtime import Runtime
    from streamlit.runtime.app_session import AppSession
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner
    from streamlit.runtime.session_manager import SessionManager

    session_init = inspect.getsource(AppSession.__init__)
    for name in ("self._scriptrunner", "self._event_loop", "self._client_state"):
        assert name in session_init, name
    assert callable(AppSession.request_rerun)
    assert "self._script_thread" in inspect.getsource(ScriptRunner.__init__)
    assert "self._session_mgr" in inspect.getsource(Runtime.__init__)
    assert hasattr(SessionManager, "get_active_session_info")
