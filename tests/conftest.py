"""Shared fixtures: a real Streamlit server and a real Chromium for the browser tests."""

from __future__ import annotations

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
from bench._server import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port


@contextmanager
def start_app() -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port; its URL while the block runs."""
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"fpe-streamlit-test-{port}.log"  # read on failure
    data_dir = tempfile.mkdtemp(prefix="fpe-data-")  # saved networks stay out of the checkout
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "FPE_DATA_DIR": data_dir},
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
    deadline = time.monotonic() + seconds
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
    expect.set_options(timeout=20_000)

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    try:
        yield pg
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
    needed = {pkg for item in session.items for marker, pkgs in SYSTEM_PACKAGES.items()
              if item.get_closest_marker(marker) for pkg in pkgs}
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


@contextmanager
def start_class_app(env: dict[str, str]) -> Iterator[str]:
    """Like ``start_app``, with extra environment (a class database, a teacher key)."""
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"fpe-streamlit-test-{port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "FPE_DATA_DIR": tempfile.mkdtemp(prefix="fpe-data-"), **env},
        )
        try:
            _wait_healthy(f"http://127.0.0.1:{port}", proc)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
