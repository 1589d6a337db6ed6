"""A real browser: draw a digit with the mouse, read the prediction, step through /forward."""

from __future__ import annotations

import math
import os
import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import new_context, scaled_ms

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("FPE_SCREENSHOTS", "/tmp/fpe-screenshots"))


# streamlit-drawable-canvas turns on fabric's drawing mode only once it has loaded its initial
# drawing, a moment after the canvas appears (later on a busy machine); a stroke before that is
# lost. In drawing mode fabric answers a mouse move with its crosshair cursor.
READY_TO_DRAW = """c => {
    const r = c.getBoundingClientRect();
    c.dispatchEvent(new MouseEvent("mousemove", {bubbles: true, clientX: r.left + 5,
                                                 clientY: r.top + r.height - 5}));
    return c.style.cursor === "crosshair";
}"""


def _ready_to_draw(page):
    """The drawing canvas, once a stroke on it would draw."""
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for()
    page.wait_for_function(READY_TO_DRAW, arg=canvas.element_handle(), polling=100)
    return canvas


def _draw(page, strokes: list[list[tuple[float, float]]]) -> None:
    """Mouse strokes on the drawing canvas, in canvas pixels (0..280)."""
    canvas = _ready_to_draw(page)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
        page.mouse.up()


ONE = [[(140, 40), (140, 240)]]
ZERO = [
    [
        (140 + 60 * math.sin(t / 20 * 2 * math.pi), 140 - 95 * math.cos(t / 20 * 2 * math.pi))
        for t in range(21)
    ]
]
SEVEN = [[(70, 50), (210, 50), (120, 245)]]
# as many students write them: a 1 with a flag at the top, a 7 with a crossbar
FLAGGED_ONE = [[(110, 80), (150, 40), (148, 240)]]
CROSSED_SEVEN = [[(70, 50), (210, 50), (120, 245)], [(115, 150), (205, 150)]]


def test_draw_predict_then_step_through_the_forward_pass(page, app_url) -> None:
    from playwright.sync_api import expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{app_url}/draw")
    expect(page.get_by_text("Draw a digit on the black square")).to_be_visible()
    prediction = page.get_by_test_id("stMetricValue")

    for name, strokes, digit in [
        ("1", ONE, "1"),
        ("0", ZERO, "0"),
        ("7", SEVEN, "7"),
        ("flagged-1", FLAGGED_ONE, "1"),
        ("crossed-7", CROSSED_SEVEN, "7"),
    ]:
        _draw(page, strokes)
        expect(prediction).to_have_text(digit)
        expect(page.get_by_test_id("stMetricLabel")).to_have_text("Prediction")  # a sure one
        page.screenshot(path=SHOTS / f"draw-{name}.png", full_page=True)
        page.get_by_role("button", name="Clear").click()
        expect(prediction).to_have_count(0)
        expect(page.get_by_text("Draw a digit on the black square")).to_be_visible()
        expect(page.locator("canvas.upper-canvas")).to_have_count(1)

    _draw(page, ONE)
    expect(prediction).to_have_text("1")
    # In-app navigation keeps the session (and the drawing); a fresh URL would not.
    page.get_by_role("link", name="Forward pass").click()
    source = page.get_by_test_id("forward-source")
    expect(source).to_be_visible()
    expect(page.get_by_label("Draw")).to_be_checked()  # drawing made the drawing the input
    expect(page.get_by_text("a sample of", exact=False)).to_have_count(0)
    expect(page.locator(".fpe-src .hit")).to_contain_text("self.conv1(x)")
    expect(page.get_by_text("eval mode", exact=False).first).to_be_visible()

    page.get_by_role("button", name="Next ▶").click()
    expect(page).to_have_url(re.compile(r"[?&]step=1$"))
    expect(page.get_by_text("relu", exact=False).first).to_be_visible()
    for k in range(2, 10):
        page.get_by_role("button", name="Next ▶").click()
        expect(page).to_have_url(re.compile(rf"[?&]step={k}$"))
    expect(page.locator(".fpe-src .hit")).to_contain_text("self.dropout(x)")
    page.screenshot(path=SHOTS / "forward-dropout-eval.png", full_page=True)

    page.get_by_test_id("stSidebar").get_by_text("Train mode", exact=True).click()
    expect(page.get_by_text("train mode ·", exact=False).first).to_be_visible()
    # the explanation now speaks of the dropped units and the 1/(1-p) scale
    expect(page.get_by_text("1.333", exact=False).filter(visible=True).first).to_be_visible()
    page.screenshot(path=SHOTS / "forward-dropout-train.png", full_page=True)


def test_a_link_reopens_the_same_step(page, app_url) -> None:
    from playwright.sync_api import expect

    page.goto(f"{app_url}/forward?step=6")
    # a new session starts on a shipped sample, so a shared link shows the step at once
    expect(page.locator(".fpe-src .hit")).to_contain_text("x.view(-1, 64 * 7 * 7)")
    expect(page.get_by_text("6·view", exact=False).first).to_be_visible()
    page.get_by_label("Draw").check(force=True)  # no drawing in this session: a clear message
    expect(page.get_by_text("Nothing drawn yet", exact=False)).to_be_visible()


def test_clicking_a_unit_shows_how_torch_computed_it(page, app_url) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    page.goto(f"{app_url}/forward")  # a new session: sample #0, step 0 (conv1)
    expect(page.locator(".fpe-src .hit")).to_contain_text("self.conv1(x)")
    page.get_by_text("Click a unit: how was it computed?").click()
    units = page.get_by_test_id("stExpander").filter(has_text="Click a unit")
    # the first unit shown is channel 0's strongest, not its (0, 0) corner
    from explorer import load_model
    from ui import state as ui_state

    x = ui_state.image_to_tensor(ui_state.samples()[0][0])
    r, c = divmod(int(load_model("cnn").conv1(x)[0, 0].argmax()), 28)
    first = units.get_by_text(f"Unit (0, {r}, {c})", exact=True)  # the heading, not the sum
    expect(first).to_be_visible()
    plot = units.locator(".js-plotly-plot .nsewdrag").first
    expect(plot).to_be_visible()
    # plotly attaches its click handlers some time after drawing (later on a loaded machine),
    # so a click that lands too early sends Streamlit nothing: only then click again. A click
    # that did send its selection is never repeated (a second click could undo a slow first).
    for _ in range(10):
        plot.scroll_into_view_if_needed()  # a mouse click lands only inside the viewport
        box = plot.bounding_box()
        page.evaluate(ARM)
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.3)
        try:
            page.wait_for_function("() => __fpe.sent > __fpe.sent0", timeout=scaled_ms(2))
            break
        except PlaywrightTimeout:
            continue
    page.screenshot(path=SHOTS / "forward-unit-click.png")
    expect(first).to_have_count(0)
    expect(units.get_by_text(re.compile(r"Unit \(0, \d+, \d+\): torch computed"))).to_be_visible()
    expect(units.get_by_text("kernel", exact=False).first).to_be_visible()
    page.screenshot(path=SHOTS / "forward-unit.png", full_page=True)


def test_backward_page_runs_and_shows_the_graph_and_gradients(page, app_url) -> None:
    from playwright.sync_api import expect

    page.goto(f"{app_url}/backward")
    expect(page.get_by_text("loss.backward()", exact=False).first).to_be_visible()
    graph = page.get_by_test_id("stGraphVizChart").locator("svg")
    expect(graph).to_be_visible()
    expect(graph.locator("g.node")).to_have_count(11 + 1)  # steps and input (parameters in them)
    expect(page.get_by_text("ConvolutionBackward0")).to_be_visible()
    expect(page.get_by_text("gradient d loss / d output").first).to_be_visible()
    expect(page.locator(".js-plotly-plot .heatmaplayer").first).to_be_visible()
    loss = page.get_by_test_id("stMetricValue").first
    before = float(loss.inner_text())
    page.get_by_role("button", name="Apply one SGD step").click()
    expect(page.get_by_text("After 1 step(s)", exact=False)).to_be_visible()
    assert float(loss.inner_text()) < before
    page.screenshot(path=SHOTS / "backward.png", full_page=True)


def test_a_shared_link_round_trips(page, app_url, browser) -> None:
    from playwright.sync_api import expect

    page.goto(f"{app_url}/forward?model=skip&sample=5&mode=train&seed=3&step=6")
    expect(page.locator(".fpe-src .hit")).to_contain_text("x + out")
    expect(
        page.get_by_text("Skip-connection CNN · train mode · dropout seed 3", exact=False)
    ).to_be_visible()
    page.get_by_role("button", name="Next ▶").click()
    expect(page).to_have_url(re.compile(r"step=7"))
    page.get_by_text("Share this view").click()
    link = page.get_by_test_id("stCode").filter(has_text="?").first.inner_text().strip()
    assert link.startswith(f"{app_url}/forward?") and "step=7" in link
    other = new_context(browser).new_page()
    try:  # a second student opens the link: same model, input, mode, seed and step
        other.goto(link)
        expect(other.locator(".fpe-src .hit")).to_contain_text("F.relu(x + out)")
        expect(other.get_by_text("7·relu", exact=False).first).to_be_visible()
        expect(other.get_by_text("train mode · dropout seed 3", exact=False)).to_be_visible()
    finally:
        other.context.close()


# ui/canvas_touch.py has put its rule into the canvas's shadow root
PATCHED = """() => [...document.querySelectorAll("[data-testid=stBidiComponentIsolated]")]
    .some(h => h.shadowRoot && h.shadowRoot.querySelector(".dc-root")
               && h.shadowRoot.querySelector("style[data-fpe]"))"""


@pytest.mark.parametrize("start", [(140, 40), (230, 6)], ids=["middle", "top-right-corner"])
def test_drawing_with_a_finger_on_a_tablet(browser, app_url, start) -> None:
    """A finger stroke draws, wherever it starts: the top-right corner is where the canvas's
    hidden toolbar used to swallow touches (ui/canvas_touch.py)."""
    from playwright.sync_api import expect

    context = new_context(
        browser,
        viewport={"width": 1024, "height": 1366},
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
    )
    try:
        page = context.new_page()
        page.goto(f"{app_url}/draw")
        canvas = _ready_to_draw(page)
        expect(canvas).to_be_visible()
        page.wait_for_function(PATCHED)
        box = canvas.bounding_box()
        assert box["width"] == 280  # the whole canvas, not clipped by a narrow column
        touch = context.new_cdp_session(page)  # real touch events, as a finger sends them
        x, y = box["x"] + start[0], box["y"] + start[1]
        touch.send(
            "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]}
        )
        for k in range(1, 21):
            touch.send(
                "Input.dispatchTouchEvent",
                {"type": "touchMove", "touchPoints": [{"x": x, "y": y + 10 * k}]},
            )
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        expect(page.get_by_test_id("stMetricValue")).to_have_text("1")
        page.screenshot(path=SHOTS / f"draw-touch-{start[0]}-{start[1]}.png")
    finally:
        context.close()


# the probe (bench/_server.py) times from now; "absent" of nothing: no element to wait for
ARM = "() => __fpe.arm('now', {absent: '#fpe-nothing'})"


@contextmanager
def rerun(page):
    """The block's action reruns the app: wait until that rerun is over.

    Streamlit's running flag in the DOM cannot say it: a rerun may not have started when we
    look (a fixed pause before looking was too short on a busy machine), and under load React
    commits "running" and "notRunning" at once. The probe hears the run's script_finished.
    """
    from playwright.sync_api import expect

    # a run still going from before would end inside the block and pass for the new one
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    page.evaluate(ARM)
    yield
    done = page.evaluate("ms => __fpe.wait(ms)", scaled_ms(30))
    assert not done["timedOut"], f"the rerun did not finish: {done}"


def _pick(page, label: str, option) -> None:
    from playwright.sync_api import expect

    box = page.get_by_role("combobox", name=label)
    expect(box).to_have_count(1)  # a rerun that moved it may leave the old one for a moment
    value = box.input_value()
    if value == option if isinstance(option, str) else option.search(value):
        return  # picking what is already picked reruns nothing
    box.click()
    with rerun(page):
        page.get_by_role("option", name=option).click()
    expect(page.get_by_role("combobox", name=label)).to_have_value(option)


def test_build_train_and_draw_with_your_own_network(page, app_url) -> None:
    from playwright.sync_api import expect

    page.goto(f"{app_url}/build")
    _pick(page, "Start from", "Empty network, image input")
    with rerun(page):
        page.get_by_test_id("stBaseButton-secondary").filter(has_text="Open").click()
    expect(page.get_by_text("Total: 0 parameters", exact=False)).to_be_visible()
    for kind in ("Flatten", "Linear"):
        _pick(page, "Add a layer", re.compile(f"^{kind}:"))
        add = page.get_by_role("button", name=re.compile(r"\bAdd$"))
        expect(add).to_have_count(1)  # not a stale copy left by the last rerun
        with rerun(page):
            add.click()
        expect(page.get_by_text(f"· {kind}", exact=False).first).to_be_visible()
    out = page.get_by_role("spinbutton", name="out_features")
    out.fill("10")
    out.press("Enter")
    expect(page.get_by_text("7,850 parameters · output 10", exact=False)).to_be_visible()
    page.get_by_role("tab", name="Train").click()
    page.get_by_role("button", name="Train", exact=True).click()
    # the metric, not the live chart's legend ("held-out accuracy" too)
    accuracy = page.get_by_test_id("stMetricLabel").get_by_text("Held-out accuracy")
    expect(accuracy).to_be_visible(timeout=scaled_ms(120))
    page.get_by_role("button", name="Use this network on every page").click()
    expect(page.get_by_role("combobox", name="Network")).to_have_value("MyNetwork (yours)")
    page.get_by_role("link", name="Draw").click()
    _draw(page, ONE)
    # a network trained for one short epoch may be unsure: "1", or "1 or 7" naming its top two
    expect(page.get_by_test_id("stMetricValue")).to_have_text(re.compile(r"^1( or \d)?$"))
    page.screenshot(path=SHOTS / "build-draw.png", full_page=True)


def _dropped_text(seed: int, sample: int = 3) -> str:
    """What /forward says about the dropout step of sample ``sample`` in train mode."""
    from explorer import load_model, trace
    from ui.state import image_to_tensor, samples

    t = trace(load_model("cnn"), image_to_tensor(samples()[0][sample]), train=True, seed=seed)
    mask = t.steps[9].extras["mask"]
    dropped = int((~mask).sum())
    return f"({dropped:,} of {mask.numel():,})"


def test_concurrent_sessions_each_get_only_their_own_results(browser, app_url) -> None:
    """Four students at once on one server: two in train mode with different dropout seeds,
    one in eval mode, one running backward and an SGD step. Each page shows its own pass, with
    the numbers torch gives for that pass, while the others act at the same time."""
    import torch
    import torch.nn.functional as F
    from playwright.sync_api import expect

    from explorer import load_model
    from ui.state import image_to_tensor, samples

    assert _dropped_text(5) != _dropped_text(6)  # the two seeds are told apart
    contexts = [new_context(browser) for _ in range(4)]
    try:
        seed5, seed6, evals, back = (c.new_page() for c in contexts)
        urls = {
            seed5: "/forward?sample=3&mode=train&seed=5&step=9",
            seed6: "/forward?sample=3&mode=train&seed=6&step=9",
            evals: "/forward?sample=3&step=9",
            back: "/backward?sample=3",
        }
        for pg, url in urls.items():  # each page's first run starts while the others run
            pg.goto(app_url + url, wait_until="commit")
        for pg, seed in ((seed5, 5), (seed6, 6)):
            expect(pg.get_by_text(f"train mode · dropout seed {seed}")).to_be_visible()
            expect(pg.get_by_text(_dropped_text(seed), exact=False)).to_be_visible()
        expect(evals.get_by_text("exactly the input", exact=False)).to_be_visible()
        expect(evals.get_by_text("eval mode", exact=False).first).to_be_visible()

        model = load_model("cnn").eval()
        with torch.no_grad():
            logits = model(image_to_tensor(samples()[0][3]))
        reference = float(F.cross_entropy(logits, logits.argmax(1)))
        loss = back.get_by_test_id("stMetricValue").first
        expect(loss).to_have_text(f"{reference:.4f}")

        # now all act at once: an SGD step, a new dropout draw, a step forward, a step back
        back.get_by_role("button", name="Apply one SGD step").click(no_wait_after=True)
        seed5.get_by_role("button", name="Resample").click(no_wait_after=True)
        evals.get_by_role("button", name="Next ▶").click(no_wait_after=True)
        seed6.get_by_role("button", name="◀ Prev").click(no_wait_after=True)

        expect(back.get_by_text("After 1 step(s)", exact=False)).to_be_visible()
        assert float(loss.inner_text()) < reference
        expect(seed5.get_by_text("train mode · dropout seed 6")).to_be_visible()
        expect(seed5.get_by_text(_dropped_text(6), exact=False)).to_be_visible()
        expect(evals.locator(".fpe-src .hit")).to_contain_text("self.fc2(x)")
        expect(seed6.locator(".fpe-src .hit")).to_contain_text("F.relu(self.fc1(x))")
        expect(seed6.get_by_text("train mode · dropout seed 6")).to_be_visible()
        # the SGD step moved only that session's weights: a new student gets the shipped loss
        fresh = new_context(browser)
        contexts.append(fresh)
        other = fresh.new_page()
        other.goto(f"{app_url}/backward?sample=3")
        expect(other.get_by_test_id("stMetricValue").first).to_have_text(f"{reference:.4f}")
    finally:
        for c in contexts:
            c.close()


def test_your_code_runs_and_is_sent_to_the_backward_page(browser, monkeypatch) -> None:
    """With code allowed: run the tutorial's ImageClassifier on /code, send it to /backward,
    where its gradients come from the sandbox, and take an SGD step on it."""
    from conftest import start_app
    from playwright.sync_api import expect

    monkeypatch.setenv("FPE_ALLOW_CODE", "1")
    with start_app() as url:
        context = new_context(browser)
        try:
            page = context.new_page()
            page.goto(f"{url}/code")
            radio = page.get_by_role("radio", name="ImageClassifier")
            radio.wait_for(state="attached")  # the first run has drawn the page
            with rerun(page):
                radio.check(force=True)
            page.get_by_role("button", name="Run forward()").click()
            expect(page.locator(".fpe-src .hit")).to_contain_text(
                "self.conv1(x)", timeout=scaled_ms(30)
            )
            page.get_by_role("button", name="open the backward pass").click()
            expect(page).to_have_url(re.compile(r"/backward$"))
            main = page.get_by_test_id("stMainBlockContainer")
            expect(main.get_by_text("from Your code", exact=False)).to_be_visible(
                timeout=scaled_ms(30)
            )
            sidebar = page.get_by_test_id("stSidebar")  # names the model /backward shows
            expect(sidebar.get_by_text("shows your ImageClassifier", exact=False)).to_be_visible()
            expect(page.get_by_text("ConvolutionBackward0")).to_be_visible(timeout=scaled_ms(30))
            loss = page.get_by_test_id("stMetricValue").first
            before = float(loss.inner_text())
            with rerun(page):
                page.get_by_role("button", name="Apply one SGD step").click()
            expect(page.get_by_text("after 1 SGD step", exact=False)).to_be_visible()
            assert float(loss.inner_text()) < before
            page.screenshot(path=SHOTS / "code-backward.png", full_page=True)
            page.get_by_role("button", name="Use the sidebar's model").click()
            expect(page.get_by_text("from Your code", exact=False)).to_have_count(0)
        finally:
            context.close()


def test_the_code_editor_indents_marks_the_error_line_and_runs_the_edit(
    browser, monkeypatch
) -> None:
    """/code's editor in a real browser: Tab indents, a wrong indent is marked at its line,
    Shift+Tab takes it back, a typed line runs; nothing is fetched from outside the server."""
    from conftest import start_app
    from playwright.sync_api import expect

    monkeypatch.setenv("FPE_ALLOW_CODE", "1")
    with start_app() as url:
        context = new_context(browser, viewport={"width": 1400, "height": 1000})
        outside: list[str] = []
        try:
            page = context.new_page()
            page.on(
                "request",
                lambda r: (
                    outside.append(r.url) if not r.url.startswith((url, "data:", "blob:")) else None
                ),
            )
            page.goto(f"{url}/code")
            editor = page.frame_locator('iframe[title="ui.code_editor.fpe_code_editor"]')
            lines = editor.locator(".ace_line")
            expect(lines.filter(has_text="return x")).to_have_count(1, timeout=scaled_ms(30))

            def line(text: str):
                return lines.filter(has_text=text).first

            line("return x").click(force=True)  # Ace lays its text layer over the lines
            page.keyboard.press("Home")  # to the first character after the indent
            with rerun(page):  # the editor sends its text after a 200 ms pause
                page.keyboard.press("Tab")
            expect(line("return x")).to_have_text(" " * 12 + "return x")
            page.get_by_role("button", name="Run forward()").click()
            expect(page.get_by_text("line 17", exact=False).first).to_be_visible(
                timeout=scaled_ms(30)
            )
            expect(editor.locator(".ace_error-marker")).to_have_count(1)
            expect(editor.locator(".ace_gutter-cell.ace_error")).to_have_text("17")
            page.screenshot(path=SHOTS / "code-error.png", full_page=True)

            line("return x").click(force=True)  # Ace lays its text layer over the lines
            page.keyboard.press("Shift+Tab")
            line("self.fc2(x)").click(force=True)
            page.keyboard.press("End")
            page.keyboard.press("Enter")  # the new line keeps the indent
            with rerun(page):
                page.keyboard.type("x = x * 2  # doubled")
            expect(line("doubled")).to_have_text(" " * 8 + "x = x * 2  # doubled")
            expect(editor.locator(".ace_error-marker")).to_have_count(0)  # the code changed
            page.get_by_role("button", name="Run forward()").click()
            expect(page.get_by_text("x = x * 2", exact=False).first).to_be_visible(
                timeout=scaled_ms(30)
            )
            expect(page.get_by_test_id("stAlert").filter(has_text="line 17")).to_have_count(0)
            page.screenshot(path=SHOTS / "code-run.png", full_page=True)
            assert outside == []  # the editor's code, mode and theme come from the server
        finally:
            context.close()
