"""A screen for the class: at a projector's, a tablet's and a phone's size nothing is wider
than the screen and no label, title or line of code is cut; Play steps through the pass; the
mosaic holds every channel."""

from __future__ import annotations

import pytest
from conftest import new_context, scaled_ms
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

VIEWPORTS = {"projector": (1280, 720), "tablet": (1024, 768), "phone": (390, 844)}

# Elements whose text must never be cut: buttons, headings, the source's lines, plot titles.
CLIPPED = """() => {
  const cut = [];
  const check = (el, what) => {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return;
    if (el.scrollWidth > el.clientWidth + 1)
      cut.push(what + ': ' + (el.innerText || el.textContent).trim().slice(0, 60));
  };
  document.querySelectorAll('[data-testid="stMain"] button p').forEach(e => check(e, 'button'));
  document.querySelectorAll('[data-testid="stMain"] h1, [data-testid="stMain"] h4')
    .forEach(e => check(e, 'heading'));
  document.querySelectorAll('.fpe-src > span').forEach(e => check(e, 'code'));
  return cut;
}"""
TOO_WIDE = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  return [document.documentElement.scrollWidth - window.innerWidth,
          main ? main.scrollWidth - main.clientWidth : 0];
}"""


def _open(browser, app_url, size, path, projector=False):
    context = new_context(browser, viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.goto(f"{app_url}{path}")
    expect(page.get_by_test_id("forward-source")).to_be_visible()
    if projector:
        page.get_by_text("Projector mode").click()
        expect(page.locator("html")).to_have_css("font-size", "22px")
    page.wait_for_timeout(scaled_ms(1.0))  # figures settle their width
    return context, page


@pytest.mark.parametrize("name", list(VIEWPORTS))
def test_nothing_is_wider_than_the_screen_or_cut(browser, app_url, name) -> None:
    context, page = _open(
        browser, app_url, VIEWPORTS[name], "/forward?step=2", projector=name == "projector"
    )
    try:
        page_overflow, main_overflow = page.evaluate(TOO_WIDE)
        assert page_overflow <= 1 and main_overflow <= 1, (page_overflow, main_overflow)
        assert page.evaluate(CLIPPED) == []
        for label in ("◀ Prev", "Next ▶", "▶ Play"):
            box = page.get_by_role("button", name=label).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORTS[name][0]
        if name == "projector":  # the sidebar folds away; the line and its picture share a screen
            assert page.get_by_test_id("stSidebar").bounding_box()["width"] < 5
            hit = page.locator(".fpe-src .hit").bounding_box()
            figure = page.locator(".st-key-stack_code .js-plotly-plot").first.bounding_box()
            assert hit["y"] + hit["height"] <= 720 and figure["y"] < 720 - 150
            cut_titles = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
                .flatMap(p => [...p.querySelectorAll('.gtitle')].filter(t =>
                    t.getBoundingClientRect().right > p.getBoundingClientRect().right + 1)
                    .map(t => t.textContent))""")
            assert cut_titles == []
    finally:
        context.close()


def test_play_steps_through_the_pass_and_stops_at_the_end(browser, app_url) -> None:
    context, page = _open(browser, app_url, (1400, 1000), "/forward?step=7")
    try:
        thumb = page.get_by_test_id("stSliderThumbValue")
        expect(thumb).to_have_text("7")
        page.get_by_text("0.5 s", exact=True).click()
        # Every value the slider shows, as the browser changes it: polling could miss a step
        # that was up for less than a poll's interval.
        page.evaluate("""() => {
            window.fpeSeen = [];
            const note = () => {
                const t = document.querySelector('[data-testid="stSliderThumbValue"]');
                const v = t && t.textContent;
                if (v && window.fpeSeen[window.fpeSeen.length - 1] !== v) window.fpeSeen.push(v);
            };
            note();
            new MutationObserver(note).observe(document.body,
                {subtree: true, childList: true, characterData: true});
        }""")
        page.get_by_role("button", name="▶ Play").click()
        expect(thumb).to_have_text("10")  # the last step of the cnn
        expect(page.get_by_role("button", name="▶ Play")).to_be_visible()  # stopped by itself
        page.wait_for_timeout(scaled_ms(1.5))
        expect(thumb).to_have_text("10")
        assert page.evaluate("window.fpeSeen") == ["7", "8", "9", "10"]  # no step skipped
    finally:
        context.close()


def test_the_mosaic_holds_every_channel(browser, app_url) -> None:
    context, page = _open(browser, app_url, (1400, 1000), "/forward?step=4")  # relu2: 64 maps
    try:
        found = """() => [...document.querySelectorAll('.js-plotly-plot')]
            .map(p => [...p.querySelectorAll('.annotation-text')].map(a => a.textContent))
            .find(t => t.includes('63'))"""
        page.wait_for_function(f"() => !!({found})()")
        numbers = page.evaluate(found)
        assert [n for n in numbers if n.isdigit()] == [str(c) for c in range(64)]
    finally:
        context.close()


def test_the_canvas_bin_clears_the_prediction_too(browser, app_url) -> None:
    from test_browser import ONE, _draw

    context = new_context(browser, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{app_url}/draw")
        prediction = page.get_by_test_id("stMetricValue")
        _draw(page, ONE)
        expect(prediction).to_have_text("1")
        expect(page.get_by_text("each pixel p → (p − 0.1307) / 0.3081")).to_be_visible()
        page.locator("canvas.upper-canvas").first.hover()  # the toolbar slides in on hover
        page.locator('button[title="Reset canvas & history"]').click()
        expect(prediction).to_have_count(0)
        expect(page.get_by_text("Draw a digit on the black square")).to_be_visible()
    finally:
        context.close()
