"""Shared by the browser benchmarks: a Streamlit server on a free loopback port, its memory,
and Chromium launched the way the browser tests launch it.

The server runs in its own process group, so a Ctrl-C in the terminal reaches only the
benchmark, which then stops the server itself (``stop`` in a ``finally``), group and all.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlit_command(script: str, port: int) -> list[str]:
    """`streamlit run SCRIPT` on 127.0.0.1:PORT, headless, no usage statistics, no file watcher:
    how the tests and the benchmarks start the app."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        script,
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]


class Server:
    """`streamlit run SCRIPT` on 127.0.0.1; use as a context manager or call start/stop."""

    def __init__(
        self, script: str, *, env: dict[str, str] | None = None, log_name: str | None = None
    ) -> None:
        self.script = script
        self.env = {**os.environ, **(env or {})}
        name = log_name or f"fpe-bench-{Path(script).stem}.log"
        self.log_path = Path(tempfile.gettempdir()) / name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> Server:
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                streamlit_command(self.script, self.port),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Streamlit server did not start; see {self.log_path}")
            time.sleep(0.3)

    def stop(self) -> None:
        """Stop the server's process group: SIGTERM, then SIGKILL after 10 s."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the server is not running"
        return self.proc.pid

    def rss_mb(self) -> float:
        """Resident memory of the server and every process below it, in MB."""
        return rss_mb(self.pid)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server and its children have used so far."""
        return cpu_seconds(self.pid)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command name (field 2) may hold spaces: the parent pid follows its ')'
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def rss_mb(pid: int) -> float:
    """VmRSS summed over ``pid`` and its descendants, in MB (psutil is not required)."""
    total_kb = 0
    for p in descendants(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
                    break
        except OSError:
            continue
    return total_kb / 1024


def cpu_seconds(pid: int, exclude: int | None = None) -> float:
    """CPU time of ``pid``'s tree, children that already exited included, in seconds.

    Each live process counts its own time and its reaped children's (cutime, cstime), so a
    closed browser tab's renderer still counts. ``exclude``: a subtree to leave out.
    """
    skip = set(descendants(exclude)) if exclude is not None else set()
    ticks = 0
    for p in descendants(pid):
        if p in skip:
            continue
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime: proc(5) 14-17
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    """The machine's 1/5/15-minute load averages: other work on it skews every figure."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def launch_chromium(pw):
    """Debian's Chromium, headless, with the flags the browser tests use."""
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is not installed (apt-get install chromium)")
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def terminate_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so every ``finally`` stops its server and browser."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


# Installed in every page the benchmarks drive (``page.add_init_script(probe_js())``). It
# times one action in the page's own clock (performance.now), so how fast Python polls or how
# busy its event loop is never enters a figure.
#
#   __fpe.arm(start, watch)  before the action. start "up": the clock starts at the next
#       pointerup/mouseup (the end of a stroke, or the click itself), caught in the capture
#       phase before the page's own handlers; "key": at the next keydown; "now": at once.
#       watch says when the page reflects the action:
#       {metric: true}       the metric shows the new run's value: its text changed, or its
#                            element went stale and fresh again, or the run is over with the
#                            metric on the page (a rerun showing the same value)
#       {selector, pattern}  an element matching selector has text matching the RegExp
#       {absent: selector}   nothing matches selector
#   __fpe.wait(ms)  a promise of the result once the page reflects the action and the run is
#       over, or after ms. Times in ms, all after `up`:
#       running   the first message from the server after the input (the probe listens on
#                 Streamlit's websocket, ahead of Streamlit): the canvas's debounce, its PNG,
#                 the trip to the server and the server's queue are behind us;
#       shown     the page reflects the action (the MutationObserver saw it);
#       finished  the page has handled the script_finished of that run (one that is not
#                 "early for rerun": a fragment calling st.rerun(scope="app") ends early).
#       Also: before/value/changed (the metric's text), timedOut, exceptions shown, sent and
#       received (websocket messages since the input), disconnects, scriptState, pressed
#       (the element a pointerdown since arm() landed on).
#
# The DOM alone cannot say when a run began or ended: under load Streamlit handles several
# messages in one task, and React then commits "running" and "notRunning" as no change at
# all. Hence the websocket listener, which reads one field of each ForwardMsg.
_PROBE_JS = r"""
(() => {
  if (window.__fpe) return;
  const S = (window.__fpe = { armed: false, disconnects: 0, waiter: null, sent: 0, received: 0 });
  const METRIC = '[data-testid="stMetricValue"]';
  const FINISHED_FIELD = SCRIPT_FINISHED_FIELD, EARLY_FOR_RERUN = FINISHED_EARLY_FOR_RERUN;
  const metric = () => document.querySelector(METRIC);
  const scriptState = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app ? app.getAttribute("data-test-script-state") : null;
  };

  // protobuf: the script_finished status of a ForwardMsg, or null if it is another message
  const varint = (b, i) => {
    let v = 0, shift = 0, x;
    do { x = b[i++]; v += (x & 0x7f) * 2 ** shift; shift += 7; } while (x & 0x80);
    return [v, i];
  };
  const finishedStatus = (buf) => {
    const b = new Uint8Array(buf);
    let i = 0, key, v;
    while (i < b.length) {
      [key, i] = varint(b, i);
      const wire = key & 7;
      if (wire === 0) {
        [v, i] = varint(b, i);
        if (Math.floor(key / 8) === FINISHED_FIELD) return v;
      } else if (wire === 2) { [v, i] = varint(b, i); i += v; }
      else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else return null;
    }
    return null;
  };
  const onMessage = (ev) => {
    S.received += 1;
    if (!S.armed || S.up === null) return;
    const t = performance.now();
    if (S.running === null) S.running = t;
    if (S.serverDone === null && ev.data instanceof ArrayBuffer) {
      const status = finishedStatus(ev.data);
      if (status !== null && status !== EARLY_FOR_RERUN) {
        S.serverDone = t;
        setTimeout(check, 0);  // Streamlit handles the message after this listener
        requestAnimationFrame(check);
      }
    }
  };
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", onMessage);
      const send = this.send.bind(this);
      this.send = (data) => { S.sent += 1; return send(data); };
    }
  };

  const reflected = () => {
    const w = S.watch;
    if (w.absent) return document.querySelector(w.absent) === null;
    if (w.selector) {
      const re = new RegExp(w.pattern);
      return Array.from(document.querySelectorAll(w.selector)).some((e) => re.test(e.textContent));
    }
    const m = metric();
    const over = S.serverDone !== null && scriptState() === "notRunning";
    return m !== null && (m.textContent !== S.before || S.refreshed || over);
  };

  S.arm = (start, watch) => {
    const m = metric();
    Object.assign(S, {
      armed: true, startOn: start, watch: watch || { metric: true },
      up: start === "now" ? performance.now() : null, sent0: S.sent, received0: S.received,
      before: m ? m.textContent : null, value: null, changed: null,
      running: null, shown: null, serverDone: null, finished: null, refreshed: false,
      pressed: null,
    });
  };
  const since = (t) => (t === null || S.up === null ? null : t - S.up);
  S.result = (timedOut) => ({
    up: S.up, running: since(S.running), shown: since(S.shown),
    finished: since(S.finished), serverDone: since(S.serverDone),
    before: S.before, value: S.value, changed: S.changed, timedOut: !!timedOut,
    sent: S.sent - S.sent0, received: S.received - S.received0,
    disconnects: S.disconnects, scriptState: scriptState(), pressed: S.pressed,
    exceptions: document.querySelectorAll('[data-testid="stException"]').length,
  });
  const settle = () => {
    if (S.waiter && S.shown !== null && S.finished !== null) {
      const w = S.waiter;
      S.waiter = null;
      S.armed = false;
      clearTimeout(w.timer);
      w.resolve(S.result(false));
    }
  };
  S.wait = (ms) => new Promise((resolve) => {
    const timer = setTimeout(() => {
      S.waiter = null;
      S.armed = false;
      resolve(S.result(true));
    }, ms);
    S.waiter = { resolve, timer };
    settle();
  });

  const starter = (on) => () => {
    if (S.armed && S.up === null && S.startOn === on) S.up = performance.now();
  };
  window.addEventListener("pointerup", starter("up"), true);
  window.addEventListener("mouseup", starter("up"), true);
  window.addEventListener("keydown", starter("key"), true);
  window.addEventListener("pointerdown", (ev) => {  // for a stuck action: what was pressed
    const el = ev.composedPath()[0];
    if (S.armed) S.pressed = el && el.tagName ? `${el.tagName.toLowerCase()}.${el.className}` : "?";
  }, true);

  function check() {
    if (!S.armed || S.up === null || S.running === null) return;
    const t = performance.now();
    if (S.shown === null && reflected()) {
      S.shown = t;
      const m = metric();
      S.value = m ? m.textContent : null;
      S.changed = S.value !== S.before;
    }
    if (S.finished === null && S.shown !== null && S.serverDone !== null &&
        scriptState() === "notRunning") S.finished = t;
    settle();
  }
  const observe = (records) => {
    for (const r of records) {
      if (r.attributeName === "data-test-connection-state" && r.oldValue === "CONNECTED" &&
          r.target.getAttribute(r.attributeName) !== "CONNECTED") S.disconnects += 1;
      if (r.attributeName === "data-stale" && S.armed && S.running !== null &&
          r.oldValue === "true" && r.target.getAttribute("data-stale") !== "true" &&
          r.target.querySelector(METRIC)) S.refreshed = true;  // the metric's new run
    }
    check();
  };
  const install = () => new MutationObserver(observe).observe(document.documentElement, {
    subtree: true, childList: true, characterData: true, attributes: true,
    attributeOldValue: true,
    attributeFilter: ["data-stale", "data-test-script-state", "data-test-connection-state"],
  });
  if (document.documentElement) install();
  else document.addEventListener("DOMContentLoaded", install);
})();
"""


def probe_js() -> str:
    """The probe, with the field numbers of Streamlit's ForwardMsg it reads."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    field = ForwardMsg.DESCRIPTOR.fields_by_name["script_finished"]
    early = field.enum_type.values_by_name["FINISHED_EARLY_FOR_RERUN"].number
    return _PROBE_JS.replace("SCRIPT_FINISHED_FIELD", str(field.number)).replace(
        "FINISHED_EARLY_FOR_RERUN", str(early)
    )
