"""deploy/nginx.conf in front of two real replicas: sessions stick to one replica."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, _wait_healthy, free_port, new_context, start_app

pytestmark = [pytest.mark.browser, pytest.mark.nginx]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture(scope="module")
def proxy_url():
    if not os.path.exists(NGINX):
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: scripts/test.sh installs it with apt-get")
        pytest.skip("nginx is not installed")
    with start_app() as one, start_app() as two, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        site = (ROOT / "deploy" / "nginx.conf").read_text()
        site = site.replace("server app1:8501;", f"server {one.removeprefix('http://')};")
        site = site.replace("server app2:8501;", f"server {two.removeprefix('http://')};")
        site = site.replace("listen 8080;", f"listen 127.0.0.1:{port};")
        temp = "\n".join(
            f"{k}_temp_path {tmp}/{k};"
            for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(
            f"daemon off; worker_processes 1; pid {tmp}/nginx.pid; "
            f"error_log {tmp}/error.log;\nevents {{}}\n"
            f"http {{ access_log off; {temp}\n{site}\n}}\n"
        )
        proc = subprocess.Popen(
            [NGINX, "-c", str(conf), "-p", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        try:
            _wait_healthy(f"http://127.0.0.1:{port}", proc)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_a_session_sticks_to_one_replica_through_nginx(browser, proxy_url) -> None:
    from playwright.sync_api import expect

    context = new_context(browser)
    try:
        page = context.new_page()
        page.goto(f"{proxy_url}/forward")
        expect(page.locator(".fpe-src .hit")).to_contain_text("self.conv1(x)")
        cookie = next(c for c in context.cookies() if c["name"] == "fpe_route")
        for step in range(1, 4):  # reruns travel over the proxied websocket
            page.get_by_role("button", name="Next ▶").click()
            expect(page).to_have_url(re.compile(rf"step={step}$"))
        # the sidebar's sample picture is served over HTTP by the replica holding the session
        thumbnail = page.get_by_test_id("stSidebar").locator("img").first
        expect(thumbnail).to_be_visible()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle()
        )
        page.reload()
        expect(page.locator(".fpe-src .hit")).to_contain_text("self.conv2(x)")  # step 3
        assert next(c for c in context.cookies() if c["name"] == "fpe_route") == cookie
    finally:
        context.close()
