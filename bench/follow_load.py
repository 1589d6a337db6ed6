"""Follow the teacher under load: 30 students mirror a teacher who steps every 2 s, then 30
students open the class link within a few seconds.

    python -m bench.follow_load [--followers 30] [--minutes 10] [--every 2]
    python -m bench.follow_load --quick          # 10 followers for 1 minute: a smoke run

One `streamlit run app.py` (SQLite class store) on a free loopback port. Every client speaks
Streamlit's own websocket protocol (/_stcore/stream), as bench.classroom_load's protocol
students do: it sends what the browser sends and reads the deltas -- including the follower
page's polling fragment, which the browser reruns on the server's auto_rerun message every
0.5 s and so does the client here.

1. Following. The teacher opens /teach?key=..., starts a class, goes to /forward, and clicks
   Next (Prev at the end) every --every s; the followers opened /forward?follow=1&class=CODE.
   Latency: from sending the teacher's click to a follower receiving the page that shows that
   step in bold (the overview), per follower per step. A step a follower never shows within
   5 s is an error, as is an exception delta or a lost connection. The server's RSS every
   10 s: flat means the last minute ends where the first did.
2. The class link. --followers new students open the class link, spread over 3 s (--bursts
   times, fresh students each time: one burst's p95 is a handful of students); each is
   timed from its request to the step's figure (the plotly chart delta) and to the end of the
   run. The floor: the same burst on bench/plot_floor.py (a bare page with one plotly chart),
   in the same run, on the same machine.

Targets from the issue: following p50 <= 0.5 s, p95 <= 1 s, 0 errors, memory flat over 10
minutes; opening <= 1.5x the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import tempfile
import time
from dataclasses import dataclass, field

from bench._server import (
    Server,
    cpu_seconds,
    load_average,
    percentile,
    rss_mb,
    terminate_on_sigterm,
)

KEY = "bench-teacher-key"
BOLD_STEP = re.compile(r"\*\*:blue\[(\d+)·")  # the overview's markdown for the current step
CODE = re.compile(r'data-testid="class-code">([A-Z0-9]{4})<')
SEEN_WITHIN_S = 5.0


@dataclass
class Client:
    """One Streamlit session over the websocket protocol."""

    url: str
    query: str = ""
    ws: object = None
    page_hashes: dict[str, str] = field(default_factory=dict)
    page: str = ""
    widgets: dict[str, str] = field(default_factory=dict)  # label -> id
    markdown: list[str] = field(default_factory=list)
    step: int | None = None
    last_step: int = 0
    exceptions: int = 0
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    on_step: object = None  # callback(step, now)
    on_chart: object = None  # callback(now)
    timers: dict[str, asyncio.Task] = field(default_factory=dict)
    reader: asyncio.Task | None = None
    closed: bool = False
    lost: bool = False

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(
            self.url.replace("http://", "ws://") + "/_stcore/stream",
            subprotocols=["streamlit"],
            origin=self.url,
            max_size=None,
            ping_interval=None,
        )
        self.reader = asyncio.create_task(self._read())

    def state(self, *, widgets=(), fragment: str = ""):
        from streamlit.proto.ClientState_pb2 import ClientState

        cs = ClientState(
            query_string=self.query,
            page_name=self.page,
            fragment_id=fragment,
            page_script_hash=self.page_hashes.get(self.page, ""),
        )
        cs.widget_states.widgets.extend(widgets)
        ci = cs.context_info
        ci.timezone, ci.timezone_offset, ci.locale = "UTC", 0, "en-US"
        ci.url, ci.is_embedded, ci.color_scheme = f"{self.url}/{self.page}", False, "light"
        return cs

    async def run(self, *, widgets=(), fragment: str = "", wait: bool = True) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        if not fragment:
            self.finished.clear()
            self.markdown.clear()
        await self.ws.send(
            BackMsg(rerun_script=self.state(widgets=widgets, fragment=fragment)).SerializeToString()
        )
        if wait:
            await asyncio.wait_for(self.finished.wait(), 60)

    async def click(self, label: str) -> None:
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        await self.run(widgets=[WidgetState(id=self.widgets[label], trigger_value=True)])

    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        try:
            async for raw in self.ws:
                self._handle(ForwardMsg.FromString(raw), time.perf_counter())
        except Exception:  # noqa: BLE001 - a lost connection is counted below
            pass
        if not self.closed:
            self.lost = True

    def _handle(self, msg, now: float) -> None:
        kind = msg.WhichOneof("type")
        if kind == "navigation":
            for p in msg.navigation.app_pages:
                self.page_hashes[p.url_pathname] = p.page_script_hash
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "auto_rerun":  # the browser reruns this fragment on a timer; so do we
            fid, every = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            if fid not in self.timers:
                self.timers[fid] = asyncio.create_task(self._auto(fid, every))
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            which = el.WhichOneof("type")
            if which == "exception":
                self.exceptions += 1
            elif which in ("button", "slider"):
                widget = getattr(el, which)
                self.widgets[widget.label] = widget.id
                if which == "slider" and widget.label == "Step":
                    self.last_step = int(widget.max)
            elif which == "markdown":
                self.markdown.append(el.markdown.body)
                m = BOLD_STEP.search(el.markdown.body)
                if m:
                    self.step = int(m.group(1))
                    if self.on_step:
                        self.on_step(self.step, now)
            elif which == "plotly_chart" and self.on_chart:
                self.on_chart(now)
        elif kind == "script_finished" and msg.script_finished != msg.FINISHED_EARLY_FOR_RERUN:
            self.finished.set()

    async def _auto(self, fragment: str, every: float) -> None:
        while not self.closed:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await self.run(fragment=fragment, wait=False)

    async def close(self) -> None:
        self.closed = True
        for t in self.timers.values():
            t.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self.reader:
            self.reader.cancel()


@dataclass
class Follow:
    """Teacher steps and what each follower saw of them."""

    steps: list[tuple[int, float]] = field(default_factory=list)  # (target step, t0)
    latency: list[float] = field(default_factory=list)  # s
    missed: int = 0

    def watcher(self):
        seen: set[int] = set()  # indices into steps this follower has shown

        def on_step(step: int, now: float) -> None:
            for i, (target, t0) in enumerate(self.steps):
                if i not in seen and target == step and now >= t0:
                    seen.add(i)
                    self.latency.append(now - t0)

        on_step.seen = seen  # type: ignore[attr-defined]
        return on_step


async def teacher_session(url: str) -> tuple[Client, str]:
    t = Client(url, query=f"key={KEY}")
    await t.connect()
    t.page = "teach"
    await t.run()
    await t.click("Start a class")
    code = next(m.group(1) for body in t.markdown if (m := CODE.search(body)))
    t.page = "forward"
    await t.run()
    return t, code


async def open_burst(
    url: str, page: str, query: str, n: int, spread: float, rng: random.Random
) -> tuple[list[float], list[float], int]:
    """n clients opening ``page`` over ``spread`` s: time to the first chart, to the run's end."""
    charts: list[float] = []
    done: list[float] = []
    errors = 0

    async def one(delay: float) -> Client | None:
        nonlocal errors
        await asyncio.sleep(delay)
        c = Client(url, query=query)
        c.page = page
        t0 = time.perf_counter()
        first: list[float] = []
        c.on_chart = lambda now: first.append(now) if not first else None
        try:
            await c.connect()
            await c.run()
        except Exception:  # noqa: BLE001
            errors += 1
            return c
        done.append(time.perf_counter() - t0)
        if first and not c.exceptions:
            charts.append(first[0] - t0)
        else:
            errors += 1
        return c

    clients = await asyncio.gather(*(one(rng.uniform(0, spread)) for _ in range(n)))
    for c in clients:
        if c is not None:
            await c.close()
    return charts, done, errors


async def main_async(args) -> None:
    rng = random.Random(0)
    env = {"FPE_DATA_DIR": tempfile.mkdtemp(prefix="fpe-follow-"), "FPE_TEACHER_KEY": KEY}
    with Server("app.py", env=env, log_name="fpe-bench-follow.log") as server:
        teacher, code = await teacher_session(server.url)
        follow = Follow()
        followers = []
        for _ in range(args.followers):
            c = Client(server.url, query=f"follow=1&class={code}")
            c.page = "forward"
            c.on_step = follow.watcher()
            await c.connect()
            await c.run()
            followers.append(c)
        print(f"class {code}: {len(followers)} followers on /forward; load {load_average()}")

        rss: list[tuple[float, float]] = []
        cpu0 = cpu_seconds(server.pid)
        t_start = time.monotonic()
        until = t_start + args.minutes * 60
        direction = 1
        while time.monotonic() < until:
            if not 0 <= teacher.step + direction <= teacher.last_step:
                direction = -direction
            target = teacher.step + direction
            follow.steps.append((target, time.perf_counter()))
            await teacher.click("Next ▶" if direction > 0 else "◀ Prev")
            if not rss or time.monotonic() - rss[-1][0] - t_start >= 10:
                rss.append((time.monotonic() - t_start, rss_mb(server.pid)))
            await asyncio.sleep(max(0.0, args.every - 0.05))
        cpu = (cpu_seconds(server.pid) - cpu0) / (time.monotonic() - t_start)
        await asyncio.sleep(SEEN_WITHIN_S)
        expected = len(follow.steps) * len(followers)
        follow.missed = expected - len(follow.latency)
        for c in followers:
            await c.close()

        lat = sorted(follow.latency)
        late = sum(x > SEEN_WITHIN_S for x in lat)
        errors = (
            follow.missed
            + late
            + sum(c.exceptions for c in followers)
            + sum(c.lost for c in followers)
        )
        print(
            f"\nFollowing: {len(follow.steps)} teacher steps x {len(followers)} followers "
            f"over {args.minutes:g} min (a step every {args.every:g} s)"
        )
        print(
            f"  click -> follower shows the step: p50 {percentile(lat, 50) * 1e3:.0f} ms, "
            f"p95 {percentile(lat, 95) * 1e3:.0f} ms, max {max(lat, default=0) * 1e3:.0f} ms"
        )
        print(
            f"  errors: {errors} (steps never shown {follow.missed}, later than "
            f"{SEEN_WITHIN_S:g} s {late}, exceptions {sum(c.exceptions for c in followers)}, "
            f"lost connections {sum(c.lost for c in followers)})"
        )
        print(f"  server CPU: {cpu:.2f} cores on average (of 2)")
        minute = max(1, len(rss) // max(1, int(args.minutes)))
        first = sum(m for _, m in rss[:minute]) / len(rss[:minute])
        last = sum(m for _, m in rss[-minute:]) / len(rss[-minute:])
        half = rss[len(rss) // 2 - minute // 2 :][:minute]  # the minute around half time
        middle = sum(m for _, m in half) / len(half)
        print(
            f"  server RSS: first minute {first:.0f} MB, around half time {middle:.0f} MB, "
            f"last minute {last:.0f} MB, peak {max(m for _, m in rss):.0f} MB"
        )

        bursts = []
        for _ in range(args.bursts):
            bursts.append(
                await open_burst(
                    server.url, "forward", f"follow=1&class={code}", args.followers, 3.0, rng
                )
            )
            await asyncio.sleep(2.0)
        await teacher.close()
    floors = []
    with Server("bench/plot_floor.py", log_name="fpe-bench-plot-floor.log") as floor:
        await open_burst(floor.url, "", "", 3, 0.5, rng)  # warm: the first run imports plotly
        for _ in range(args.bursts):
            floors.append(await open_burst(floor.url, "", "", args.followers, 3.0, rng))
            await asyncio.sleep(2.0)
    print(
        f"\nThe class link: {args.followers} students opening it over 3 s, "
        f"{args.bursts} times (the floor likewise)"
    )
    for i, name in ((0, "to the step's figure"), (1, "to the end of the run")):
        xs = [x for b in bursts for x in b[i]]
        floor_xs = [x for b in floors for x in b[i]]
        p50, p95 = percentile(xs, 50), percentile(xs, 95)
        f50, f95 = percentile(floor_xs, 50), percentile(floor_xs, 95)
        each = [
            percentile(b[i], 95) / percentile(f[i], 95) for b, f in zip(bursts, floors, strict=True)
        ]
        print(
            f"  {name}: p50 {p50 * 1e3:.0f} ms, p95 {p95 * 1e3:.0f} ms; floor (one plotly "
            f"chart) p50 {f50 * 1e3:.0f} ms, p95 {f95 * 1e3:.0f} ms: {p50 / f50:.2f}x / "
            f"{p95 / f95:.2f}x (p95 burst by burst: " + ", ".join(f"{r:.2f}x" for r in each) + ")"
        )
    errs, f_errs = sum(b[2] for b in bursts), sum(f[2] for f in floors)
    print(f"  errors: {errs} (floor {f_errs}); load {load_average()}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--followers", type=int, default=30)
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--every", type=float, default=2.0, help="seconds between teacher steps")
    p.add_argument("--bursts", type=int, default=5, help="times the class link is opened")
    p.add_argument("--quick", action="store_true", help="10 followers for 1 minute")
    args = p.parse_args()
    if args.quick:
        args.followers, args.minutes, args.bursts = 10, 1, 1
    terminate_on_sigterm()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
