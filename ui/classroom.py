"""The class on every page: who this browser is, the teacher's view published, a follower's
page mirroring it (the question put to the class is ``ui.class_question``).

Following polls the class database from the follower's page: a fragment reruns every
``POLL_S`` and, when the teacher's view has a new version, reruns the app, which applies the
view before any widget is drawn (``start_of_run``). The reads go through a per-process cache
(``CACHE_S``), so a replica serving thirty followers asks the database a few times a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import secrets
import time
from collections.abc import Iterator

import numpy as np
import streamlit as st
from PIL import Image
from streamlit.runtime.scriptrunner_utils.exceptions import RerunException

from explorer import links
from explorer.builder.store import Owner
from explorer.classroom.classes import ClassInfo, token_hash
from explorer.classroom.db import StoreError
from explorer.classroom.teacher import exchange_key
from explorer.sources import Source
from ui import class_question, wake
from ui import state as ui_state
from ui.errors import guarded
from ui.pages import PAGES
from ui.state import Keys

COOKIE_BROWSER, COOKIE_TEACHER = "fpe_browser", "fpe_teacher"
COOKIE_DAYS = 30
POLL_S = 0.5  # a follower looks for a new view this often
CACHE_S = 0.3  # ... and a replica asks the database at most this often per class
HEARTBEAT_S = 3.0  # a follower tells the store it still follows this often
MIRRORED_PAGES = ("", "draw", "forward", "backward")  # followers go where the teacher goes
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_ENDED = "class_ended"  # the followed class ended: stop following before the switch is drawn
_STATUS = "class_status"  # a message for this session about the class, shown once
_SHOWN_PAGE = "class_shown_page"  # the last page the leading teacher showed the class

_COOKIE_JS = """
export default function ({ data }) {
  const secure = location.protocol === "https:" ? "; Secure" : "";
  for (const [name, value] of Object.entries(data.set)) {
    document.cookie = `${name}=${value}; Path=/; Max-Age=${data.maxAge}; SameSite=Strict${secure}`;
  }
}
"""
_cookies = st.components.v2.component("fpe_cookies", js=_COOKIE_JS)


# --- who this browser is -----------------------------------------------------------------


def _identity() -> None:
    """A random token per browser (the owner of its saves) and, once the key was given, the
    teacher's token; both kept in cookies, so a reload keeps them. Never the key itself."""
    s = st.session_state
    due = s.setdefault(Keys.cookies_due, {})
    if Keys.browser not in s:
        cookie = _cookie(COOKIE_BROWSER)
        s[Keys.browser] = cookie if _TOKEN.fullmatch(cookie) else secrets.token_urlsafe(18)
        if s[Keys.browser] != cookie:
            due[COOKIE_BROWSER] = s[Keys.browser]
    if Keys.teacher not in s:
        cookie = _cookie(COOKIE_TEACHER)
        try:
            known = _TOKEN.fullmatch(cookie) and ui_state.classes().is_teacher_token(cookie)
        except StoreError:
            known = False
        s[Keys.teacher] = cookie if known else None


def _cookie(name: str) -> str:
    """A cookie the browser sent when this session began ("" if none)."""
    try:
        value = st.context.cookies.get(name, "")
    except Exception:  # noqa: BLE001 - no browser behind this session (AppTest)
        return ""
    return value if isinstance(value, str) else ""


def _client() -> str:
    """The client's address, for the wrong-key limit per address."""
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001 - no browser behind this session (AppTest)
        ip = None
    return ip if isinstance(ip, str) and ip else "unknown"


def is_teacher() -> bool:
    return bool(st.session_state.get(Keys.teacher))


def leader_id() -> str:
    return token_hash(st.session_state[Keys.teacher])


def owner() -> Owner:
    """Who saves on /build: the teacher, or this browser."""
    return Owner.teacher() if is_teacher() else Owner.browser(st.session_state[Keys.browser])


def give_key(given: str | None = None) -> None:
    """Exchange the teacher key (typed on /teach, or from ?key=) for a token."""
    s = st.session_state
    given = s.get(Keys.teacher_key, "") if given is None else given
    s[Keys.key_error] = None
    if not given.strip():
        s[Keys.key_error] = "Type the teacher key first."
        return
    try:
        token = exchange_key(
            ui_state.classes(), ui_state.teacher_key(), given, _client(), s[Keys.browser]
        )
    except ValueError as err:
        s[Keys.key_error] = str(err)
        return
    s[Keys.teacher] = token
    s[Keys.teacher_key] = ""
    s.setdefault(Keys.cookies_due, {})[COOKIE_TEACHER] = token


# --- start of every run ------------------------------------------------------------------


def start_of_run(page_path: str) -> bool:
    """Before the sidebar: identity, the link's ?key= / ?follow=, the teacher's view applied
    (a follower) or published (the teacher). True when this run applies a new teacher's view."""
    _identity()
    params = st.query_params
    if "key" in params:  # out of the address bar at once: students may see this screen
        key = params["key"]
        del params["key"]
        give_key(key)
    # Mounted on every run, so the page keeps the same elements run after run; it writes the
    # tokens the browser did not send (a new browser token, a new teacher token).
    _cookies(
        data={"set": st.session_state[Keys.cookies_due], "maxAge": COOKIE_DAYS * 86400},
        key="fpe_cookies",
    )
    if params.get("follow") == "1" and not st.session_state.get("follow_link_taken"):
        st.session_state["follow_link_taken"] = True
        try:
            join(params.get("class"))
        except ValueError as err:
            _say("warning", str(err))
    ended = st.session_state.pop(_ENDED, None)
    if ended:
        st.session_state[Keys.follow] = False
        _say("info", f"Class {ended} has ended: you go on exploring on your own.")
    pending = st.session_state.pop(Keys.follow_pending, None)
    if following():
        wake.listen(st.session_state[Keys.follow_code])
        pending = pending or _newer_view()
        if pending is not None:
            _apply(pending, page_path)
            return True
    else:
        wake.stop_listening()
    publish(page_path)
    return False


@contextlib.contextmanager
def drawing_view() -> Iterator[None]:
    """Around the page: the view it applied counts as drawn when the page runs to its end, or
    stops or fails (another run would not help). A run cut short for another rerun request has
    not drawn it: the poll then reruns the page. Marked first, undone if cut short: after
    st.stop() Streamlit keeps no more writes to the session state. Undone to "nothing drawn",
    not to the mark before: a run that was stopped for a new one may have marked this very
    view, and the new one, cut short, must not leave it marked (at worst one extra redraw)."""
    s = st.session_state
    s[Keys.follow_drawn] = s.get(Keys.follow_applied)
    try:
        yield
    except RerunException:
        s[Keys.follow_drawn] = None
        raise
    if following():
        wake.check_delivered()


def _newer_view() -> ClassInfo | None:
    """The teacher's view, if newer than the one applied: a rerun woken by the teacher's
    publish on this server (``ui.wake``) finds it here, without waiting for the poll."""
    s = st.session_state
    try:
        info = ui_state.classes().get(s[Keys.follow_code])
    except StoreError:
        return None  # the poll says the link is lost
    if info is None or info.ended or info.version == s.get(Keys.follow_applied):
        return None
    return info


def leading() -> bool:
    return bool(st.session_state.get(Keys.leading)) and is_teacher()


def following() -> bool:
    s = st.session_state
    return bool(s.get(Keys.follow) and s.get(Keys.follow_code))


def join(code: str | None = None) -> None:
    """Follow class ``code`` (or the one running class); its view is applied on the next run."""
    s = st.session_state
    store = ui_state.classes()
    code = (code or "").strip().upper()
    if code:
        info = store.get(code)
        if info is None:
            raise ValueError(f"There is no class {code}: check the code on the projector.")
        if info.ended:
            raise ValueError(f"Class {code} has ended: you go on exploring on your own.")
    else:
        running = store.running()
        if not running:
            raise ValueError("No class is running: ask your teacher for the class code.")
        if len(running) > 1:
            raise ValueError(
                "Several classes are running: type your class's code (on the "
                "projector) under the switch."
            )
        info = running[0]
    s[Keys.follow_code] = info.code
    s[Keys.follow] = True
    s[Keys.class_lost] = False
    s[Keys.follow_pending] = info
    s[Keys.follow_seen] = 0.0


def _follow_changed() -> None:
    s = st.session_state
    if s.get(Keys.follow):
        try:
            join(s.get(Keys.follow_code))
        except ValueError:
            s[Keys.follow] = False
            raise
    else:
        step_away()


def step_away() -> None:
    s = st.session_state
    s[Keys.follow] = False
    code = s.get(Keys.follow_code)
    if code:
        with contextlib.suppress(StoreError):
            ui_state.classes().leave(code, s[Keys.browser])


def follow_switch() -> None:
    """The sidebar's switch (and a class code while not following)."""
    st.toggle(
        "Follow the teacher",
        key=Keys.follow,
        on_change=guarded(_follow_changed),
        help="Your model, input, mode and step follow the teacher's; switch off to "
        "explore on your own.",
    )
    if not following():
        st.text_input(
            "Class code",
            key=Keys.follow_code,
            max_chars=8,
            placeholder="on the projector",
            label_visibility="collapsed",
        )


def _apply(info: ClassInfo, page_path: str) -> None:
    """The teacher's view into this session's state, before any widget is drawn."""
    s = st.session_state
    s[Keys.follow_applied] = info.version
    s["follow_info"] = info
    view = dict(info.view)
    if not view:
        return
    model = view.get("model", links.DEFAULTS["model"])
    if model not in ui_state.model_names():
        name = str(model).removeprefix(links.SAVED_PREFIX)
        try:
            model = ui_state.add_session_network(*ui_state.class_store().load(name))
        except ValueError:
            _say(
                "warning",
                f"The teacher's network “{name}” is not saved for the class, so "
                "you see the rest of the teacher's view on your own network.",
            )
            model = s.get(Keys.model, links.DEFAULTS["model"])
    view["model"] = model
    typed = view.pop("typed", None)
    if typed is not None:
        s[Keys.typed_start(model)] = [tuple(r) for r in typed]
        s[Keys.typed(model)] = np.array(typed, dtype=np.float64)
        s.pop(f"editor_{model}", None)
    for k, key in ui_state.LINK_KEYS.items():
        if k in view:
            s[key] = view[k]
    if info.drawing:
        s[Keys.drawing] = np.array(Image.open(io.BytesIO(info.drawing)).convert("RGBA"))
    page = view.get("page")
    if page in MIRRORED_PAGES and page != page_path:
        st.switch_page(f"views/{page or 'home'}.py")


# --- the teacher's side --------------------------------------------------------------------


def publish(page_path: str) -> None:
    """The leading teacher's view into the store, when it changed."""
    s = st.session_state
    code = s.get(Keys.leading)
    if not code or not is_teacher():
        return
    # On a page followers do not mirror (Teach, Build, Your code) the class stays on the last one
    # the teacher showed, and a student who joins meanwhile is taken there: asking the class
    # from Teach is about the step the class is looking at.
    if page_path in MIRRORED_PAGES:
        s[_SHOWN_PAGE] = page_path
    view = {**ui_state.link_state(with_step=True), "page": s.get(_SHOWN_PAGE, "forward")}
    drawing = s.get(Keys.drawing) if view["source"] == Source.DRAW else None
    digest = hashlib.blake2b(
        json.dumps(view, sort_keys=True, default=str).encode()
        + (drawing.tobytes() if drawing is not None else b""),
        digest_size=12,
    ).hexdigest()
    if s.get(Keys.published) == (code, digest):
        return
    png = None
    if drawing is not None:
        buf = io.BytesIO()
        Image.fromarray(drawing).save(buf, format="PNG", optimize=False)
        png = buf.getvalue()
    try:
        ui_state.classes().publish(code, leader_id(), view, png)
    except StoreError as err:
        _say(
            "warning",
            f"The class link is lost: {err}. Your students go on alone; nothing saved is lost.",
        )
        return
    except ValueError as err:  # ended, or another teacher took over
        s[Keys.leading] = None
        _say("warning", f"You no longer lead the class: {err}.")
        return
    s[Keys.published] = (code, digest)
    wake.wake(code)


def lead(code: str) -> None:
    st.session_state[Keys.leading] = code
    st.session_state[Keys.published] = None


def my_class() -> ClassInfo | None:
    """The running class this teacher leads (after a reload too: the token says who)."""
    s = st.session_state
    if not is_teacher():
        return None
    store = ui_state.classes()
    code = s.get(Keys.leading)
    info = store.get(code) if code else None
    if info is None or info.ended or info.leader != leader_id():
        info = next((c for c in store.running() if c.leader == leader_id()), None)
        lead(info.code) if info else s.update({Keys.leading: None})
    return info


# --- on every page ---------------------------------------------------------------------------


def class_bar(page_path: str) -> None:
    """Above every page: the class's status for this session, and the open question."""
    s = st.session_state
    for kind, text in s.pop(_STATUS, []):
        getattr(st, kind)(text, icon=":material/groups:")
    if leading():
        if page_path in MIRRORED_PAGES:
            st.caption(
                f"Leading class **{s[Keys.leading]}**: your students follow this view "
                "(Teach page for questions)."
            )
        else:
            shown = next(
                (p.title for p in PAGES if (p.url_path or "") == s.get(_SHOWN_PAGE, "forward")),
                "Forward pass",
            )
            st.caption(
                f"Leading class **{s[Keys.leading]}**: your students stay on **{shown}**, "
                "the page you showed last; this page is yours alone."
            )
        return
    if following():
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.caption(f"Following the teacher · class **{s[Keys.follow_code]}**")
        c2.button(
            "Step away",
            key="step_away",
            on_click=guarded(step_away),
            icon=":material/explore:",
            help="Explore on your own; rejoin with one click.",
        )
        _poll()
        class_question.card(st.session_state.get("follow_info"))
    elif s.get(Keys.follow_code) and s.get(Keys.follow_applied) is not None:
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.caption(f"You stepped away from class {s[Keys.follow_code]}: explore freely.")
        c2.button(
            "Rejoin the class", key="rejoin", on_click=guarded(_rejoin), icon=":material/group_add:"
        )


def _rejoin() -> None:
    join(st.session_state.get(Keys.follow_code))


@st.fragment(run_every=POLL_S)
def _poll() -> None:
    """Every POLL_S: has the teacher's view changed? Then rerun the app to show it."""
    s = st.session_state
    code = s[Keys.follow_code]
    lost = bool(s.get(Keys.class_lost))
    try:
        store = ui_state.classes()
        info = store.get(code, max_age=CACHE_S)
        if time.monotonic() - s.get(Keys.follow_seen, 0.0) > HEARTBEAT_S:
            store.heartbeat(code, s[Keys.browser])
            s[Keys.follow_seen] = time.monotonic()
    except StoreError:
        if not lost:
            s[Keys.class_lost] = True
            st.rerun(scope="app")
        st.warning(
            "The class link is lost (the class database does not answer): you go on "
            "alone, and nothing saved is lost. Following resumes when it is back.",
            icon=":material/link_off:",
        )
        return
    if lost:
        s[Keys.class_lost] = False
    if info is None or info.ended:  # the switch is drawn already: off on the next run
        s[_ENDED] = code
        st.rerun(scope="app")
    # Drawn, not applied: a run that applied the view may have been cut short by another
    # request before it drew the step, or Streamlit dropped what the run drew before sending it
    # (``wake.dropped``); then this poll reruns the page to draw it. Only on the
    # poll's own timer: inside a run of the whole page, that run is drawing the view now.
    timer = ui_state.timer_run()
    redraw = timer and (info.version != s.get(Keys.follow_drawn) or wake.dropped())
    if redraw or lost:
        s[Keys.follow_pending] = info
        st.rerun(scope="app")


def _say(kind: str, text: str) -> None:
    st.session_state.setdefault(_STATUS, []).append((kind, text))
