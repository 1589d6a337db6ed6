"""Classroom load: many students on one server, each acting every ~2 s, for a few minutes.

    python -m bench.classroom_load [--sessions 30] [--browsers 5] [--minutes 5] [--threads 1]
    python -m bench.classroom_load --quick        # 10 sessions for 1 minute: a smoke run

One `streamlit run app.py` on a free loopback port. Each student is a Streamlit session of its
own; 1-3 s (uniform: ~2 s on average) after it saw the result of its last action, it acts, by
role:

- drawer (2 in 5), on /draw: a stroke of a digit; after four strokes, Clear;
- stepper (2 in 5), on /forward: Next, Prev, or a key on the step slider;
- flipper (1 in 5), on /forward: the sidebar's train/eval switch, or Next/Prev.

Two kinds of student, because this machine has 2 cores and a browser showing the app costs
about twice the server's CPU per action (plotly drawing in software): 30 browsers on the same
cores would measure the browsers. So --browsers of them (default 5: two drawers, two
steppers, a flipper) are real headless Chromium contexts in one browser, timed end to end; the
others speak Streamlit's own websocket protocol (/_stcore/stream, BackMsg/ForwardMsg from
streamlit.proto), sending what the browser sends -- the trigger or value of the widget used,
the canvas's PNG, the fragment id -- and reading the deltas, so the server does the same work
for them. Two differences, small either way: they send only the
widget they used (the server keeps the others' last values, as it does for the browser's
unchanged ones) and claim no cached messages (so the server sends every delta in full, which
costs it a little more). --browsers 30 runs every student in Chromium.

Timing. A browser action is timed in the page's own clock from the input event (the
pointerup ending a stroke or click, the keydown) until the page reflects it -- the new
prediction (the metric's new run, see bench/_server.py: the probe), the step's label in bold
in the overview, the caption saying "train mode"/"eval mode", the metric gone after Clear --
and until that script run is over ("done"). A protocol action is timed from sending the
BackMsg until the ForwardMsg carrying the same change arrives, and until script_finished: the
server's part, without the canvas's 200 ms debounce or any drawing on the student's machine.

Errors: an exception shown (stException / an exception delta), an action not reflected
within --timeout (the browser page is then reloaded, the protocol session reconnected), a
lost connection, a failed browser step.

Memory: the server's RSS (its process tree, /proc VmRSS) every 5 s: idle; through the first
wave; after it closes (--settle s); through a second, shorter wave; after it closes. Flat
means the second wave ends where the first did. Streamlit keeps a closed session's state for
server.disconnectedSessionTTL (120 s by default), so a settle shorter than that shows memory
held, not leaked.

Targets from the issue: p95 <= 1 s, 0 errors, RSS <= 1.5 GB and flat.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import os
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from bench._server import (
    Server,
    cpu_seconds,
    launch_chromium,
    load_average,
    machine_busy_seconds,
    percentile,
    probe_js,
    rss_mb,
    terminate_on_sigterm,
)
from bench.stroke_latency import CANVAS, DIGITS, FRESH_CANVAS, HOVER_MS, Stroke

METRIC = "[data-testid=stMetricValue]"
STEP_LABEL = "strong .stMarkdownColoredText"  # the overview's current step, "k·op (shape)"
CAPTION = "[data-testid=stCaptionContainer]"
ROLES = ("drawer", "drawer", "stepper", "stepper", "flipper")
# Is the canvas's mouse layer the topmost element at (x, y)? (through the component's shadow)
ON_CANVAS = """([x, y]) => {
  let el = document.elementFromPoint(x, y);
  while (el && el.shadowRoot) {
    const inner = el.shadowRoot.elementFromPoint(x, y);
    if (!inner || inner === el) break;
    el = inner;
  }
  return !!el && el.classList.contains("upper-canvas");
}"""
BOLD_STEP = re.compile(r"\*\*:blue\[(\d+)·")  # the overview's markdown for the current step


@dataclass
class Action:
    kind: str
    client: str  # "browser" or "protocol"
    session: int
    wave: int
    at: float  # seconds since the run began
    shown: float | None  # ms from the input until the page (or the protocol) reflected it
    done: float | None  # ms until that script run was over
    error: str | None = None


@dataclass
class Run:
    """Everything measured, shared by the students' coroutines."""

    t0: float = field(default_factory=time.monotonic)
    actions: list[Action] = field(default_factory=list)
    rss: list[tuple[float, str, float]] = field(default_factory=list)  # t, phase, MB
    exceptions: Counter = field(default_factory=Counter)
    closed_unasked: int = 0  # websockets the server or the network closed
    phase: str = "idle"
    client_rss_peak: float = 0.0  # the students' browsers and this script, MB
    loop_lag: list[float] = field(default_factory=list)  # ms this script's event loop was late

    def now(self) -> float:
        return time.monotonic() - self.t0


class Student:
    """What a student does next; the subclasses do it in a browser or over the protocol."""

    client = "?"

    def __init__(
        self, run: Run, url: str, index: int, wave: int, timeout_s: float, seed: int
    ) -> None:
        self.run, self.url, self.index, self.wave = run, url, index, wave
        self.role = ROLES[index % len(ROLES)]
        self.path = "/draw" if self.role == "drawer" else "/forward"
        self.timeout_s = timeout_s
        self.rng = random.Random(seed * 1000 + index)
        self.strokes: list[Stroke] = []  # on the canvas now
        self.drawn = False  # this session has drawn: its first stroke reruns the whole app
        self.closing = False

    async def live(self, until: float) -> None:
        """Act every 1-3 s until ``until`` (monotonic seconds)."""
        while True:
            await asyncio.sleep(self.rng.uniform(1.0, 3.0))
            if time.monotonic() >= until or self.closing:
                return
            await self.act()

    async def act(self) -> None:
        raise NotImplementedError

    def next_stroke(self) -> tuple[str, Stroke | None]:
        """("clear", None) after four strokes, else a stroke of some digit, shifted a little."""
        if len(self.strokes) >= 4:
            self.strokes = []
            return "clear", None
        _, strokes = self.rng.choice(DIGITS)
        dx, dy = self.rng.uniform(-15, 15), self.rng.uniform(-15, 15)
        points = [(x + dx, y + dy) for x, y in self.rng.choice(strokes)]
        self.strokes.append(points)
        kind = "stroke" if self.drawn else "first stroke"
        self.drawn = True
        return kind, points

    def next_step_move(self, current: int, last: int) -> tuple[str, int]:
        """("next" | "prev" | "slider", the step it leads to)."""
        roll = self.rng.random()
        if roll < 0.2:
            target = current + self.rng.choice([-1, 1])
            if not 0 <= target <= last:
                target = current - 1 if target > last else current + 1
            return "slider", target
        forward = (roll < 0.65 or current == 0) and current < last
        return ("next", current + 1) if forward else ("prev", current - 1)

    def wants_flip(self) -> bool:
        return self.role == "flipper" and self.rng.random() < 0.5

    def record(
        self, kind: str, shown: float | None, done: float | None, error: str | None = None
    ) -> None:
        self.run.actions.append(
            Action(kind, self.client, self.index, self.wave, self.run.now(), shown, done, error)
        )


# --- a student in Chromium --------------------------------------------------------------------


class BrowserStudent(Student):
    client = "browser"

    def __init__(self, browser, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.browser = browser
        self.probe = probe_js()
        self.exceptions_seen = 0
        self.disconnects_seen = 0
        self.context = None
        self.page = None

    async def open(self) -> None:
        self.context = await self.browser.new_context(viewport={"width": 1280, "height": 900})
        await self.context.add_init_script(self.probe)
        self.page = await self.context.new_page()
        self.page.set_default_timeout(self.timeout_s * 1000)
        self.page.on("websocket", self._watch_socket)
        t = time.monotonic()
        try:
            await self.page.goto(self.url + self.path)
            await self._ready()
            self.record("open page", (time.monotonic() - t) * 1e3, None)
        except Exception as err:
            self.record("open page", None, None, f"open: {type(err).__name__}")
            raise

    async def _ready(self) -> None:
        if self.role == "drawer":
            await self.page.locator(CANVAS).first.wait_for()
            await self.page.wait_for_timeout(300)  # the canvas attaches its mouse handlers
        else:
            await self.page.locator(STEP_LABEL).first.wait_for()

    def _watch_socket(self, ws) -> None:
        if "_stcore/stream" in ws.url:
            ws.on("close", lambda _ws: self._socket_closed())

    def _socket_closed(self) -> None:
        if not self.closing:
            self.run.closed_unasked += 1

    async def close(self) -> None:
        self.closing = True
        if self.context is not None:
            with contextlib.suppress(Exception):  # it may be gone already
                await self.context.close()

    async def act(self) -> None:
        kind = "?"
        try:
            if self.role == "drawer":
                kind, start, watch, do = self._draw_action()
            elif self.wants_flip():
                kind, start, watch, do = await self._flip_action()
            else:
                kind, start, watch, do = await self._step_action()
            await self.page.evaluate("([s, w]) => __fpe.arm(s, w)", [start, watch])
            await do()
            r = await self.page.evaluate("ms => __fpe.wait(ms)", self.timeout_s * 1000)
        except Exception as err:
            if self.closing:
                return
            self.record(
                kind, None, None, f"browser: {type(err).__name__}: {str(err).splitlines()[0][:120]}"
            )
            await self._recover()
            return
        await self._judge(kind, r)

    async def _judge(self, kind: str, r: dict) -> None:
        error = None
        if r["exceptions"] > self.exceptions_seen:
            self.exceptions_seen = r["exceptions"]
            error = "exception shown"
            for text in await self.page.locator("[data-testid=stException]").all_inner_texts():
                self.run.exceptions[text.strip()[:400]] += 1
        if r["disconnects"] > self.disconnects_seen:
            self.disconnects_seen = r["disconnects"]
            error = error or "disconnected"
        if r["timedOut"]:
            error = error or (
                "timeout: never shown" if r["shown"] is None else "timeout: run never over"
            )
            error += f" ({await self._diagnose(kind, r)})"

        self.record(kind, r["shown"], r["finished"], error)
        if r["timedOut"]:
            await self._recover()

    async def _diagnose(self, kind: str, r: dict) -> str:
        """What a stuck page says: did it send, did the server answer; and a screenshot."""
        facts = [
            f"messages sent {r['sent']}, received {r['received']}",
            f"script {r['scriptState']}",
            f"pressed {r['pressed']}",
        ]
        if self.role == "drawer":
            facts.append(f"stroke {len(self.strokes)} on this canvas")
        shot = f"/tmp/fpe-bench-stuck-w{self.wave}-s{self.index}-{int(self.run.now())}.png"
        with contextlib.suppress(Exception):
            await self.page.screenshot(path=shot)
            facts.append(shot)
        return ", ".join(facts)

    async def _recover(self) -> None:
        """A stuck page: reload it, as a student would."""
        try:
            await self.page.reload()
            await self._ready()
            self.strokes = []
            self.exceptions_seen = 0
            self.disconnects_seen = 0
        except Exception as err:
            if not self.closing:
                self.record("reload", None, None, f"reload: {type(err).__name__}")

    def _draw_action(self):
        page = self.page
        kind, points = self.next_stroke()
        if points is None:

            async def clear() -> None:
                # Clear remounts the canvas: mark this one, so the next stroke waits for the new
                await page.locator(CANVAS).first.evaluate("el => { el.dataset.fpeOld = '1'; }")
                await page.get_by_role("button", name="Clear").click()

            return kind, "up", {"absent": METRIC}, clear

        async def stroke() -> None:
            if len(self.strokes) == 1:  # a new canvas attaches its handlers a moment later
                await page.locator(FRESH_CANVAS).first.wait_for()
                await page.wait_for_timeout(300)
            # A student sees the canvas before drawing. On a page starved of CPU the canvas
            # that Clear remounted can vanish and come back while the page settles, and a
            # press then lands on what moved into its place: wait (up to ~5 s) until the
            # start point is on the canvas, the hover included (see stroke_latency).
            for _ in range(25):
                box = await page.locator(CANVAS).first.bounding_box()
                x0, y0 = box["x"] + points[0][0], box["y"] + points[0][1]
                await page.mouse.move(x0, y0)
                await page.wait_for_timeout(HOVER_MS)
                if await page.evaluate(ON_CANVAS, [x0, y0]):
                    break
            await page.mouse.down()
            for x, y in points[1:]:
                await page.mouse.move(box["x"] + x, box["y"] + y, steps=3)
            await page.mouse.up()

        return kind, "up", {"metric": True}, stroke

    async def _step_action(self):
        page = self.page
        slider = page.locator("[data-testid=stSlider] input[type=range]").first
        current, last = await slider.evaluate("el => [Number(el.value), Number(el.max)]")
        kind, target = self.next_step_move(current, last)
        watch = {"selector": STEP_LABEL, "pattern": f"^{target}·"}
        if kind == "slider":

            async def press() -> None:
                await slider.focus()
                await page.keyboard.press("ArrowRight" if target > current else "ArrowLeft")

            return kind, "key", watch, press
        name = "Next ▶" if kind == "next" else "◀ Prev"

        async def click() -> None:
            await page.get_by_role("button", name=name).click()

        return kind, "up", watch, click

    async def _flip_action(self):
        page = self.page
        captions = await page.locator(CAPTION).all_inner_texts()
        want = "eval" if any(" · train mode · " in c for c in captions) else "train"

        async def click() -> None:
            await page.get_by_test_id("stSidebar").get_by_text("Train mode", exact=True).click()

        return (
            f"flip to {want}",
            "up",
            {"selector": CAPTION, "pattern": f" · {want} mode · "},
            click,
        )


# --- a student over Streamlit's websocket protocol ----------------------------------------------


def canvas_png(strokes: list[Stroke], width: int = 20) -> str:
    """The canvas's PNG data URL for these strokes: white, round-capped, on black."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    draw = ImageDraw.Draw(image)
    r = width / 2
    for points in strokes:
        draw.line(points, fill=(255, 255, 255, 255), width=width, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255, 255))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class ProtocolStudent(Student):
    """A session driven over /_stcore/stream, as the browser drives it, minus the drawing.

    It keeps what the page would show -- the metric, the step in bold, train/eval, the
    widgets' ids -- from the deltas, and sends rerun_script BackMsgs with the widget states
    the browser would send for the same input.
    """

    client = "protocol"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.widgets: dict[str, tuple[str, str]] = {}  # label (or "canvas") -> (id, fragment)
        self.page_hashes: dict[str, str] = {}  # url path -> page_script_hash
        self.query = ""
        self.step, self.last_step, self.train = 0, 0, False
        self.pending: dict | None = None  # the action in flight

    async def open(self) -> None:
        t = time.monotonic()
        try:
            await self._connect()
            self.record("open page", (time.monotonic() - t) * 1e3, None)
        except Exception as err:
            self.record("open page", None, None, f"open: {type(err).__name__}")
            raise

    async def _connect(self) -> None:
        from websockets.asyncio.client import connect

        ws_url = self.url.replace("http://", "ws://") + "/_stcore/stream"
        self.ws = await connect(
            ws_url, subprotocols=["streamlit"], origin=self.url, max_size=None, ping_interval=None
        )
        self.reader = asyncio.create_task(self._read())
        self.widgets.clear()
        self.strokes = []
        await self._run_and_wait(
            "load", self._client_state(page_name=self.path.strip("/")), lambda msg: False
        )

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader

    def _client_state(self, *, page_name: str = "", widgets=(), fragment: str = ""):
        from streamlit.proto.ClientState_pb2 import ClientState

        cs = ClientState(
            query_string=self.query,
            page_name=page_name,
            fragment_id=fragment,
            page_script_hash=self.page_hashes.get(self.path.strip("/"), ""),
        )
        cs.widget_states.widgets.extend(widgets)
        ci = cs.context_info
        ci.timezone, ci.timezone_offset, ci.locale = "UTC", 0, "en-US"
        ci.url, ci.is_embedded, ci.color_scheme = self.url + self.path, False, "light"
        return cs

    async def _run_and_wait(self, kind: str, cs, shows) -> dict:
        """Send a rerun, wait until ``shows(delta)`` was seen and the run is over."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        done = asyncio.get_running_loop().create_future()
        self.pending = {
            "kind": kind,
            "shows": shows,
            "t0": time.perf_counter(),
            "shown": None,
            "done": None,
            "error": None,
            "future": done,
            "metric": False,
        }
        await self.ws.send(BackMsg(rerun_script=cs).SerializeToString())
        try:
            return await asyncio.wait_for(asyncio.shield(done), self.timeout_s)
        except TimeoutError:
            p, self.pending = self.pending, None
            p["error"] = "timeout: never shown" if p["shown"] is None else "timeout: run never over"
            return p

    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        try:
            async for raw in self.ws:
                self._handle(ForwardMsg.FromString(raw))
        except Exception:
            pass
        if not self.closing:
            self.run.closed_unasked += 1
            p, self.pending = self.pending, None
            if p is not None and not p["future"].done():
                p["error"] = "disconnected"
                p["future"].set_result(p)

    def _handle(self, msg) -> None:
        kind = msg.WhichOneof("type")
        p = self.pending
        now = time.perf_counter()
        if kind == "navigation":
            for page in msg.navigation.app_pages:
                self.page_hashes[page.url_pathname] = page.page_script_hash
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            self._remember(el, msg.delta.fragment_id)
            if el.WhichOneof("type") == "exception":
                self.run.exceptions[f"{el.exception.type}: {el.exception.message}"[:400]] += 1
                if p is not None:
                    p["error"] = "exception shown"
            if p is not None:
                p["metric"] = p["metric"] or el.WhichOneof("type") == "metric"
                if p["shown"] is None and p["shows"](el):
                    p["shown"] = (now - p["t0"]) * 1e3
        # a fragment that calls st.rerun(scope="app") ends early; the full run follows
        elif (
            kind == "script_finished"
            and p is not None
            and msg.script_finished != msg.FINISHED_EARLY_FOR_RERUN
        ):
            p["done"] = (now - p["t0"]) * 1e3
            if p["kind"] in ("clear", "load") and p["shown"] is None and not p["metric"]:
                p["shown"] = p["done"]  # the run ended with no metric: it is gone
            self.pending = None
            if not p["future"].done():
                p["future"].set_result(p)

    def _remember(self, el, fragment: str) -> None:
        """Widget ids, and what the page shows: the step in bold, train/eval."""
        which = el.WhichOneof("type")
        if which in ("button", "checkbox", "slider"):
            widget = getattr(el, which)
            self.widgets[widget.label] = (widget.id, fragment)
            if which == "slider" and widget.label == "Step":
                self.last_step = int(widget.max)
        elif which == "bidi_component":
            self.widgets["canvas"] = (el.bidi_component.id, fragment)
        elif which == "markdown":
            body = el.markdown.body
            m = BOLD_STEP.search(body)
            if m:
                self.step = int(m.group(1))
            if " · train mode · " in body:
                self.train = True
            elif " · eval mode · " in body:
                self.train = False

    async def act(self) -> None:
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        fragment = ""
        if self.role == "drawer":
            kind, points = self.next_stroke()
            if points is None:
                wid, fragment = self.widgets["Clear"]
                widgets = [WidgetState(id=wid, trigger_value=True)]

                def shows(el) -> bool:
                    return False  # the metric is gone when the run ends without one
            else:
                wid, fragment = self.widgets["canvas"]
                objects = [
                    {"type": "Path", "stroke": "#FFFFFF", "strokeWidth": 20} for _ in self.strokes
                ]
                state = {
                    "drawing": {
                        "raw": {"version": "7.4.0", "objects": objects, "background": "#000000"},
                        "data": canvas_png(self.strokes),
                    }
                }
                widgets = [WidgetState(id=wid, json_value=json.dumps(state))]

                def shows(el) -> bool:
                    return el.WhichOneof("type") == "metric"
        elif self.wants_flip():
            kind = "flip to " + ("eval" if self.train else "train")
            want = not self.train
            widgets = [WidgetState(id=self.widgets["Train mode"][0], bool_value=want)]

            def shows(el) -> bool:
                return (
                    el.WhichOneof("type") == "markdown"
                    and f" · {'train' if want else 'eval'} mode · " in el.markdown.body
                )
        else:
            kind, target = self.next_step_move(self.step, self.last_step)
            if kind == "slider":
                state = WidgetState(id=self.widgets["Step"][0])
                state.double_array_value.data.append(target)
                widgets = [state]
            else:
                label = "Next ▶" if kind == "next" else "◀ Prev"
                widgets = [WidgetState(id=self.widgets[label][0], trigger_value=True)]

            def shows(el) -> bool:
                if el.WhichOneof("type") != "markdown":
                    return False
                m = BOLD_STEP.search(el.markdown.body)
                return m is not None and int(m.group(1)) == target

        try:
            r = await self._run_and_wait(
                kind, self._client_state(widgets=widgets, fragment=fragment), shows
            )
        except Exception as err:
            if not self.closing:
                self.record(kind, None, None, f"protocol: {type(err).__name__}")
                await self._recover()
            return
        if self.closing:
            return
        self.record(kind, r["shown"], r["done"], r["error"])
        if r["error"] and r["error"].startswith(("timeout", "disconnected")):
            await self._recover()

    async def _recover(self) -> None:
        """Reconnect: a new session, as a reloaded page would get."""
        await self.close()
        self.closing = False
        try:
            await self._connect()
        except Exception as err:
            self.record("reconnect", None, None, f"reconnect: {type(err).__name__}")
            self.closing = True  # give up on this student


# --- the run ---------------------------------------------------------------------------------


async def sample_rss(run: Run, server: Server, every: float) -> None:
    me = os.getpid()
    while True:
        run.rss.append((run.now(), run.phase, server.rss_mb()))
        client = rss_mb(me) - run.rss[-1][2]  # the server is this script's child too
        run.client_rss_peak = max(run.client_rss_peak, client)
        await asyncio.sleep(every)


async def sample_loop_lag(run: Run, every: float = 0.1) -> None:
    """How late this script's event loop wakes up: it adds to every protocol timing."""
    while True:
        t = time.perf_counter()
        await asyncio.sleep(every)
        run.loop_lag.append((time.perf_counter() - t - every) * 1e3)


async def wave(run: Run, browser, server: Server, wave_no: int, seconds: float, args) -> None:
    """Open the students one every 0.3 s (a class trickling in), let them act for
    ``seconds``, close them."""
    common = (run, server.url)
    students: list[Student] = [
        BrowserStudent(browser, *common, i, wave_no, args.timeout, args.seed + wave_no)
        if i < args.browsers
        else ProtocolStudent(*common, i, wave_no, args.timeout, args.seed + wave_no)
        for i in range(args.sessions)
    ]
    run.phase = f"wave {wave_no}: opening"
    try:
        opened = []
        for s in students:
            opened.append(asyncio.create_task(s.open()))
            await asyncio.sleep(0.3)
        results = await asyncio.gather(*opened, return_exceptions=True)
        live = [s for s, r in zip(students, results, strict=True) if r is None]
        run.phase = f"wave {wave_no}: acting"
        t = time.monotonic()
        await asyncio.gather(*(s.live(t + seconds) for s in live))
    finally:
        run.phase = f"wave {wave_no}: closing"
        await asyncio.gather(*(s.close() for s in students))


async def warm_up(browser, url: str) -> None:
    """Load the model and both pages once, as the teacher does before class; not counted."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        page.set_default_timeout(120_000)
        for path, ready in (("/forward", STEP_LABEL), ("/draw", CANVAS)):
            await page.goto(url + path)
            await page.locator(ready).first.wait_for()
    finally:
        await context.close()


async def main_async(args, server: Server) -> tuple[Run, dict]:
    from playwright.async_api import async_playwright

    run = Run()
    cpu: dict = {}
    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        sampler = asyncio.create_task(sample_rss(run, server, 5.0))
        lag = None
        try:
            await warm_up(browser, server.url)
            await asyncio.sleep(5)
            lag = asyncio.create_task(sample_loop_lag(run))
            me, t = os.getpid(), time.monotonic()
            before = (
                server.cpu_seconds(),
                cpu_seconds(me, exclude=server.pid),
                machine_busy_seconds(),
            )
            await wave(run, browser, server, 1, args.minutes * 60, args)
            cpu = {
                "seconds": time.monotonic() - t,
                "server": server.cpu_seconds() - before[0],
                "client": cpu_seconds(me, exclude=server.pid) - before[1],
                "machine": machine_busy_seconds() - before[2],
            }
            lag.cancel()
            run.phase = "after wave 1"
            await asyncio.sleep(args.settle)
            await wave(run, browser, server, 2, args.wave2_minutes * 60, args)
            run.phase = "after wave 2"
            await asyncio.sleep(args.settle)
            run.rss.append((run.now(), run.phase, server.rss_mb()))
        finally:
            sampler.cancel()
            if lag is not None:
                lag.cancel()
            await browser.close()
    return run, cpu


def report(run: Run, cpu: dict, server: Server, args) -> None:
    print(
        "\nlatency, ms (shown: the page reflects the input; done: that script run is over). "
        "browser: from the input event in the page; protocol: from sending the BackMsg"
    )
    print(
        f"{'wave 1, ' + str(args.sessions) + ' sessions':<32}{'n':>5}{'p50':>7}{'p95':>7}"
        f"{'max':>7}{'done p50':>10}{'done p95':>10}{'errors':>8}"
    )

    def row(name: str, items: list[Action]) -> None:
        shown = [a.shown for a in items if a.shown is not None and a.error is None]
        done = [a.done for a in items if a.done is not None and a.error is None]
        errors = sum(a.error is not None for a in items)
        print(
            f"{name:<32}{len(items):>5}{percentile(shown, 50):>7.0f}"
            f"{percentile(shown, 95):>7.0f}{max(shown, default=float('nan')):>7.0f}"
            f"{percentile(done, 50):>10.0f}{percentile(done, 95):>10.0f}{errors:>8}"
        )

    for client in ("browser", "protocol"):
        acts = [a for a in run.actions if a.wave == 1 and a.client == client]
        if not acts:
            continue
        kinds = sorted({a.kind for a in acts}, key=lambda k: (k == "open page", k))
        for kind in kinds:
            row(f"{client}: {kind}", [a for a in acts if a.kind == kind])
        row(f"{client}: all actions", [a for a in acts if a.kind != "open page"])
    w1 = [a for a in run.actions if a.wave == 1 and a.kind != "open page"]
    row("wave 1, every action", w1)
    row("wave 2, every action", [a for a in run.actions if a.wave == 2 and a.kind != "open page"])
    if w1:
        span = max(a.at for a in w1) - min(a.at for a in w1)
        print(
            f"wave 1: {len(w1)} actions in {span:.0f} s = {len(w1) / max(span, 1):.1f}/s "
            "(a student acts 1-3 s after seeing the last result)"
        )
    if run.loop_lag:
        print(
            f"this script's event loop woke late by p50 {percentile(run.loop_lag, 50):.0f} / "
            f"p95 {percentile(run.loop_lag, 95):.0f} / max {max(run.loop_lag):.0f} ms in "
            "wave 1 (part of every protocol figure)"
        )

    errors = Counter(f"{a.client}: {a.error}" for a in run.actions if a.error)
    print(f"\nerrors: {sum(errors.values())} (websockets closed unasked: {run.closed_unasked})")
    for text, n in errors.most_common():
        print(f"  {n:>4}  {text}")
    stuck = Counter(
        (a.client, a.session) for a in run.actions if a.error and a.error.startswith("timeout")
    )
    if stuck:
        print(
            "  timed-out actions by session: "
            + ", ".join(f"{c} #{s}: {n}" for (c, s), n in sorted(stuck.items()))
        )
    for text, n in run.exceptions.most_common():
        print(f"  exception shown {n}x:\n    " + text.replace("\n", "\n    "))

    print("\nserver RSS (MB), every 5 s, by phase:")
    phases: dict[str, list[float]] = {}
    for _, phase, mb in run.rss:
        phases.setdefault(phase, []).append(mb)
    for phase, values in phases.items():
        cells = [f"{v:.0f}" for v in values]
        lines = [" ".join(cells[i : i + 16]) for i in range(0, len(cells), 16)]
        print(f"  {phase:<18} " + ("\n  " + " " * 19).join(lines))
    peak = max(mb for *_, mb in run.rss)
    print(
        f"  peak {peak:.0f} MB (target <= 1536); the students' browsers and this script "
        f"peaked at {run.client_rss_peak:.0f} MB (RSS summed over processes)"
    )

    if cpu:
        span = cpu["seconds"] * (os.cpu_count() or 1)
        others = max(0.0, cpu["machine"] - cpu["server"] - cpu["client"])
        print(
            f"\nCPU through wave 1 ({cpu['seconds']:.0f} s x {os.cpu_count()} cores = "
            f"{span:.0f} core-s): server {cpu['server']:.0f} core-s "
            f"({100 * cpu['server'] / span:.0f}%), the students (browsers, this script) "
            f"{cpu['client']:.0f} ({100 * cpu['client'] / span:.0f}%), everything else on "
            f"the machine {others:.0f} ({100 * others / span:.0f}%)"
        )
    print(f"load average at the end: {load_average()}")
    lines = [
        ln
        for ln in server.log_tail(2000).splitlines()
        if re.search(r"Error|Exception|Traceback|WARNING|Warning", ln)
    ]
    if lines:
        print(f"\nserver log lines with errors or warnings ({len(lines)}, the last 30):")
        print("\n".join("  " + ln for ln in lines[-30:]))
    print(f"(server log: {server.log_path})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30, help="students at once (<= 60)")
    parser.add_argument(
        "--browsers",
        type=int,
        default=5,
        help="how many of them are Chromium pages; the rest speak the protocol",
    )
    parser.add_argument("--minutes", type=float, default=5, help="the first wave acts this long")
    parser.add_argument(
        "--wave2-minutes", type=float, default=1, help="the second wave acts this long"
    )
    parser.add_argument(
        "--settle", type=float, default=30, help="seconds to sample RSS after each wave closes"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 10 sessions (3 browsers), 1 min, a 0.5 min second wave, 15 s settle",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="OMP_NUM_THREADS for the server (an experiment; default: torch's own choice)",
    )
    parser.add_argument(
        "--timeout", type=float, default=15, help="seconds before an action counts as not reflected"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.minutes, args.wave2_minutes, args.settle = 10, 1, 0.5, 15
        args.browsers = min(args.browsers, 3)
    args.sessions = max(1, min(args.sessions, 60))
    args.browsers = max(0, min(args.browsers, args.sessions))
    args.minutes = max(0.1, min(args.minutes, 60))
    args.wave2_minutes = max(0.1, min(args.wave2_minutes, 60))
    args.settle = max(0, min(args.settle, 600))
    terminate_on_sigterm()
    env = (
        {}
        if args.threads is None
        else {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    )
    print(
        f"classroom load: {args.sessions} sessions ({args.browsers} in Chromium), "
        f"{args.minutes:g} + {args.wave2_minutes:g} min, "
        f"OMP_NUM_THREADS={env.get('OMP_NUM_THREADS', 'unset')}, {os.cpu_count()} cores, "
        f"load average {load_average()}",
        flush=True,
    )
    server = Server("app.py", env=env, log_name="fpe-bench-classroom.log")
    # every phase is bounded; this is the backstop should something hang
    budget = 60 * (args.minutes + args.wave2_minutes) + 2 * args.settle + 600
    server.start()
    try:
        print(
            f"server pid {server.pid} at {server.url}, idle RSS {server.rss_mb():.0f} MB",
            flush=True,
        )
        run, cpu = asyncio.run(asyncio.wait_for(main_async(args, server), budget))
        report(run, cpu, server, args)
    except KeyboardInterrupt:
        print("interrupted: stopping the browser and the server", file=sys.stderr)
        raise
    finally:
        server.stop()


if __name__ == "__main__":
    main()
