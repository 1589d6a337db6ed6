"""Two app processes on one PostgreSQL: the teacher leads on one, followers follow on the other,
in a real Chromium."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import new_context, scaled_ms, start_app

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
SHOTS = Path(os.environ.get("FPE_SCREENSHOTS", "/tmp/fpe-screenshots"))
KEY = "class-browser-key"


@pytest.fixture(scope="module")
def replicas(postgres_admin_url):
    from pg_server import fresh_database

    url = fresh_database(postgres_admin_url, "class_browser")
    env = {"FPE_DATABASE_URL": url, "FPE_TEACHER_KEY": KEY}
    with start_app(env) as a, start_app(env) as b:
        yield a, b


def test_a_teacher_on_one_replica_leads_followers_on_another(browser, replicas) -> None:
    from playwright.sync_api import expect

    a, b = replicas
    SHOTS.mkdir(parents=True, exist_ok=True)
    teacher_ctx = new_context(browser, viewport={"width": 1400, "height": 1000})
    contexts = [teacher_ctx]
    try:
        teacher = teacher_ctx.new_page()
        teacher.goto(f"{a}/teach?key={KEY}")
        start = teacher.get_by_role("button", name="Start a class")
        expect(start).to_be_visible()
        expect(teacher).not_to_have_url(re.compile("key="))  # never left in the address bar
        teacher.reload()  # the key was exchanged for a token the browser keeps
        expect(start).to_be_visible()
        start.click()
        code_el = teacher.get_by_test_id("class-code")
        expect(code_el).to_have_text(re.compile(r"^[A-Z0-9]{4}$"))
        code = code_el.inner_text()

        teacher.get_by_role("link", name="Forward pass").click()
        hit = teacher.locator(".fpe-src .hit")
        expect(hit).to_contain_text("self.conv1(x)")
        teacher.get_by_role("button", name="Next ▶").click()
        expect(teacher).to_have_url(re.compile(r"step=1"))

        followers = []
        for _ in range(2):
            ctx = new_context(browser, viewport={"width": 1280, "height": 720})
            contexts.append(ctx)
            page = ctx.new_page()
            page.goto(f"{b}/?follow=1&class={code}")  # the home page: taken to /forward
            expect(page.locator(".fpe-src .hit")).to_have_text(hit.inner_text())
            expect(page.get_by_text(f"Following the teacher · class {code}")).to_be_visible()
            followers.append(page)
        expect(followers[0].get_by_role("button", name="Next ▶")).to_be_disabled()

        # each step's line of forward(), from the pass itself: the teacher's page may still be
        # drawing the step when its address already names it
        from explorer import load_model, trace
        from ui.state import image_to_tensor, samples

        lines = [s.line for s in trace(load_model("cnn"), image_to_tensor(samples()[0][0])).steps]
        for step in (2, 3, 4):
            teacher.get_by_role("button", name="Next ▶").click()
            expect(teacher).to_have_url(re.compile(rf"step={step}$"))
            for page in followers:  # within the poll (0.5 s) and a rerun: 5 s is generous
                expect(page).to_have_url(re.compile(rf"step={step}$"), timeout=scaled_ms(5))
                expect(page.locator(".fpe-src .hit")).to_have_text(
                    re.compile(rf"^\s*{lines[step]}\s")
                )
        teacher.get_by_test_id("stSidebar").get_by_text("Train mode", exact=True).click()
        for page in followers:
            expect(page.get_by_text("train mode ·", exact=False).first).to_be_visible()
        followers[1].screenshot(path=SHOTS / "class-follower-1280.png")

        teacher.get_by_role("link", name="Teach").click()
        expect(teacher.get_by_test_id("stMetricValue")).to_have_text("2")
        teacher.get_by_role("button", name="Ask the class").click()
        pick = followers[0].get_by_role("button", name="Send")
        expect(pick).to_be_visible()
        followers[0].get_by_label("Your answer").fill("1, 64, 14, 14")
        pick.click()
        expect(followers[0].get_by_text("Give a fraction like").first).to_be_visible()  # unreadable
        expect(followers[0].get_by_label("Your answer")).to_have_count(1)  # the rerun is over
        followers[0].get_by_label("Your answer").fill("50%")  # step 4 is a ReLU: "zeros"
        pick.click()
        expect(followers[0].get_by_text("Wait for the teacher", exact=False)).to_be_visible()
        expect(teacher.get_by_test_id("class-headline")).to_have_text("100% think about 50%")
        teacher.screenshot(path=SHOTS / "class-teach-1400.png", full_page=True)
        teacher.set_viewport_size({"width": 1280, "height": 720})
        teacher.screenshot(path=SHOTS / "class-teach-1280.png")

        teacher.reload()  # still the teacher, still leading: the token is in a cookie
        expect(teacher.get_by_test_id("class-code")).to_have_text(code)
        assert any(c["name"] == "fpe_teacher" for c in teacher_ctx.cookies())
    finally:
        for ctx in contexts:
            ctx.close()
