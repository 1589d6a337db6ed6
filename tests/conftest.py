"""Shared fixtures: a real Streamlit server and a real Chromium for the browser tests.

Every wait in the browser tests is ``scaled``: a fixed 20 s was enough on an idle machine and
too little on a busy one, so the session first measures how slow the machine is right now.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# the benchmarks launch the same Chromium the same way: one definition for both
from bench._server import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, probe_js, streamlit_command

# A fixed pure-Python workload, run in two processes at once: the server and the browser are
# the two busy processes of a browser test, so two other CPU-bound processes on a 2-core
# machine show up as about 2x. REFERENCE_SECONDS is its time on the idle 2-core development
# machine; the factor is clamped so that a hiccup can neither shorten a wait nor make a real
# hang take half an hour to report.
_SPIN = (
    "import time\nt = time.perf_counter()\nx = 0\nfor i in range(3_000_000):\n"
    "    x += i % 7\nprint(time.perf_counter() - t)"
)
REFERENCE_SECONDS = 0.23
SLOWEST = 6.0


@functools.cache
def slowness() -> float:
    """How many times slower than the idle development machine this one runs now (1..6).

    FPE_TEST_SLOWNESS overrides the measurement (a known-slow runner, or to try short waits).
    """
    if os.environ.get("FPE_TEST_SLOWNESS"):
        return float(os.environ["FPE_TEST_SLOWNESS"])
    rounds = []
    for _ in range(3):  # the median of three: one round is at the mercy of the scheduler
        procs = [
            subprocess.Popen([sys.executable, "-c", _SPIN], stdout=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        rounds.append(max(float(p.communicate()[0]) for p in procs))
    return min(max(sorted(rounds)[1] / REFERENCE_SECONDS, 1.0), SLOWEST)


def scaled(seconds: float) -> float:
    """``seconds`` on the idle development machine, in seconds on this one."""
    return seconds * slowness()


def scaled_ms(seconds: float) -> float:
    """``scaled`` in milliseconds, as playwright takes timeouts."""
    return scaled(seconds) * 1000


def pytest_report_header(config) -> str:
    return f"browser-test waits scaled by {slowness():.1f}x (the machine's measured slowness)"


def pytest_terminal_summary(terminalreporter) -> None:
    # -q hides the header; a failure report should still say how much patience the waits had
    terminalreporter.write_line(f"browser-test waits scaled by {slowness():.1f}x")


@contextmanager
def start_app(env: dict[str, str] | None = None) -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port; its URL while the block runs.

    ``env`` adds to the server's environment (a class database, a teacher key)."""
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"fpe-streamlit-test-{port}.log"  # read on failure
    data_dir = tempfile.mkdtemp(prefix="fpe-data-")  # saved networks stay out of the checkout
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            streamlit_command("app.py", port),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "FPE_DATA_DIR": data_dir, **(env or {})},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    with start_app() as url:
        yield url


def _wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + scaled(seconds)
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the Streamlit server did not start")
        time.sleep(0.3)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through playwright; skipped only outside CI when it is missing."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it with apt-get")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    # The first page of a fresh server loads the models: allow more than expect's 5 s.
    expect.set_options(timeout=scaled_ms(20))

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def new_context(browser, **options):
    """A browser context with scaled timeouts and bench/_server.py's probe in every page.

    The probe hears each run's script_finished on Streamlit's websocket: the DOM alone cannot
    say when a rerun is over (see ``rerun`` in test_browser.py).
    """
    context = browser.new_context(**{"viewport": {"width": 1400, "height": 1000}, **options})
    context.set_default_timeout(scaled_ms(30))
    context.add_init_script(probe_js())
    return context


@pytest.fixture
def page(browser, app_url):
    context = new_context(browser)
    try:
        yield context.new_page()
    finally:
        context.close()


# --- Debian packages the selected tests need -------------------------------------------------
# scripts/test.sh collects the tests it was asked to run with FPE_SYSTEM_NEEDS set, and installs
# only the packages named here for their markers: `-m "not browser"` needs no apt-get at all.
SYSTEM_PACKAGES = {"browser": ("chromium",), "nginx": ("nginx",)}


def pytest_collection_finish(session: pytest.Session) -> None:
    path = os.environ.get("FPE_SYSTEM_NEEDS")
    if not path:
        return
    needed = {
        pkg
        for item in session.items
        for marker, pkgs in SYSTEM_PACKAGES.items()
        if item.get_closest_marker(marker)
        for pkg in pkgs
    }
    Path(path).write_text("".join(f"{pkg}\n" for pkg in sorted(needed)))


# --- PostgreSQL (the class's shared database across replicas) -------------------------------
SYSTEM_PACKAGES["postgres"] = ("postgresql",)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A real PostgreSQL server for the whole run (tests/pg_server.py), stopped at the end."""
    from pg_server import binaries, postgres_server

    if binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is missing: scripts/test.sh installs it with apt-get")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    """The class's database, on each backend: SQLite in a temporary folder, or a fresh
    database on the test PostgreSQL server."""
    from explorer.classroom.db import open_database

    if request.param == "sqlite":
        db = open_database(url="", directory=tmp_path)
    else:
        from pg_server import fresh_database

        admin = request.getfixturevalue("postgres_admin_url")
        db = open_database(url=fresh_database(admin, f"t_{os.getpid()}_{id(request)}"))
    try:
        yield db
    finally:
        db.close()
