"""Draw digits on the real /draw canvas in headless Chromium and keep what the canvas made.

    python scripts/record_canvas_digits.py      # writes sample_data/canvas_digits.json

The digits below were written by hand, as key points typed in canvas pixels (0..280, y down):
a stroke is a list of pieces, each piece a smooth curve through its points, pieces meeting at a
sharp corner (the top of a 7). The script moves Chromium's mouse along each stroke (a point
every few pixels, as a mouse reports), sets the "Stroke width" slider first, and stores, per
digit, the mouse path it played, the pen width and the canvas's own picture (a PNG of the
fabric.js canvas, which is what /draw receives). These are an independent check of the
training data: other shapes, other hands, and the canvas's own renderer instead of
``explorer.strokes.render``. Nothing here is trained on.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import CHROMIUM, CHROMIUM_ARGS, Server  # noqa: E402

OUT = ROOT / "sample_data" / "canvas_digits.json"
STEP_PX = 4.0  # one mouse event every this many pixels

P = list[tuple[float, float]]
# (digit, style, pen width, strokes); a stroke is a list of pieces (smooth curves)
HAND: list[tuple[int, str, int, list[list[P]]]] = [
    (
        0,
        "oval",
        20,
        [
            [
                [
                    (150, 45),
                    (105, 62),
                    (82, 130),
                    (96, 208),
                    (145, 236),
                    (190, 200),
                    (198, 118),
                    (176, 60),
                    (138, 44),
                    (122, 56),
                ]
            ]
        ],
    ),
    (
        0,
        "oval",
        14,
        [
            [
                [
                    (95, 60),
                    (62, 95),
                    (55, 160),
                    (80, 215),
                    (118, 210),
                    (132, 150),
                    (124, 85),
                    (100, 58),
                    (90, 70),
                ]
            ]
        ],
    ),
    (
        0,
        "oval",
        30,
        [
            [
                [
                    (140, 70),
                    (90, 95),
                    (80, 160),
                    (115, 205),
                    (175, 200),
                    (200, 145),
                    (185, 90),
                    (145, 70),
                ]
            ]
        ],
    ),
    (
        0,
        "slashed",
        20,
        [
            [
                [
                    (140, 50),
                    (95, 75),
                    (85, 145),
                    (105, 215),
                    (150, 232),
                    (185, 190),
                    (190, 115),
                    (170, 62),
                    (140, 50),
                ]
            ],
            [[(80, 230), (200, 45)]],
        ],
    ),
    (
        0,
        "slashed",
        16,
        [
            [
                [
                    (150, 60),
                    (112, 80),
                    (102, 150),
                    (120, 210),
                    (160, 218),
                    (185, 170),
                    (183, 100),
                    (160, 62),
                    (145, 62),
                ]
            ],
            [[(95, 215), (195, 70)]],
        ],
    ),
    (
        0,
        "oval",
        24,
        [
            [
                [
                    (165, 40),
                    (115, 60),
                    (100, 140),
                    (110, 215),
                    (150, 240),
                    (180, 205),
                    (190, 120),
                    (185, 60),
                    (160, 42),
                ]
            ]
        ],
    ),
    (1, "flag", 20, [[[(110, 80), (150, 40)], [(150, 40), (148, 240)]]]),
    (1, "flag", 24, [[[(95, 100), (165, 38)], [(165, 38), (132, 245)]]]),
    (1, "flag", 14, [[[(60, 75), (88, 42)], [(88, 42), (86, 160)]]]),
    (
        1,
        "flag and base",
        20,
        [[[(105, 88), (145, 45)], [(145, 45), (143, 232)]], [[(98, 234), (192, 234)]]],
    ),
    (
        1,
        "flag and base",
        30,
        [[[(100, 100), (155, 50)], [(155, 50), (150, 225)]], [[(95, 228), (210, 226)]]],
    ),
    (1, "stick", 20, [[[(152, 48), (136, 236)]]]),
    (
        2,
        "plain",
        20,
        [
            [
                [(80, 90), (110, 52), (160, 45), (192, 82), (180, 130), (130, 180), (80, 230)],
                [(80, 230), (210, 228)],
            ]
        ],
    ),
    (
        2,
        "loop",
        20,
        [
            [
                [
                    (85, 85),
                    (128, 46),
                    (182, 68),
                    (182, 122),
                    (125, 188),
                    (78, 228),
                    (72, 210),
                    (92, 202),
                    (112, 226),
                    (160, 230),
                    (205, 226),
                ]
            ]
        ],
    ),
    (
        2,
        "plain",
        28,
        [[[(90, 75), (140, 45), (185, 75), (170, 135), (95, 215)], [(95, 215), (200, 210)]]],
    ),
    (
        2,
        "plain",
        14,
        [
            [
                [(130, 90), (150, 70), (175, 75), (180, 100), (165, 130), (125, 175)],
                [(125, 175), (190, 172)],
            ]
        ],
    ),
    (
        2,
        "loop",
        24,
        [
            [
                [
                    (90, 95),
                    (135, 50),
                    (180, 80),
                    (170, 135),
                    (110, 200),
                    (90, 225),
                    (100, 238),
                    (118, 222),
                    (110, 210),
                    (130, 225),
                    (200, 230),
                ]
            ]
        ],
    ),
    (
        2,
        "plain",
        20,
        [
            [
                [(75, 70), (125, 40), (180, 60), (185, 110), (150, 160), (100, 205), (78, 230)],
                [(78, 230), (150, 222), (205, 232)],
            ]
        ],
    ),
    (
        3,
        "round",
        20,
        [
            [
                [(85, 70), (130, 40), (180, 55), (186, 100), (135, 135)],
                [(135, 135), (188, 165), (192, 213), (140, 240), (85, 220)],
            ]
        ],
    ),
    (
        3,
        "flat top",
        20,
        [
            [
                [(80, 45), (195, 45)],
                [(195, 45), (130, 125)],
                [(130, 125), (184, 150), (196, 200), (150, 240), (85, 225)],
            ]
        ],
    ),
    (
        3,
        "round",
        14,
        [
            [
                [(110, 95), (140, 72), (170, 85), (165, 115), (140, 128)],
                [(140, 128), (172, 145), (172, 180), (140, 195), (108, 182)],
            ]
        ],
    ),
    (
        3,
        "round",
        30,
        [
            [
                [(80, 80), (125, 45), (175, 60), (170, 110), (125, 130)],
                [(125, 130), (185, 160), (180, 215), (125, 240), (75, 215)],
            ]
        ],
    ),
    (
        3,
        "flat top",
        16,
        [
            [
                [(95, 60), (185, 55)],
                [(185, 55), (135, 120)],
                [(135, 120), (185, 150), (180, 205), (130, 225), (90, 205)],
            ]
        ],
    ),
    (
        3,
        "round",
        22,
        [
            [
                [(100, 60), (150, 40), (190, 75), (160, 120), (130, 128)],
                [(130, 128), (175, 140), (195, 190), (160, 232), (100, 230), (80, 205)],
            ]
        ],
    ),
    (
        4,
        "closed",
        20,
        [[[(160, 40), (80, 170)], [(80, 170), (215, 170)]], [[(160, 40), (160, 245)]]],
    ),
    (4, "open", 20, [[[(85, 40), (80, 160)], [(80, 160), (210, 160)]], [[(175, 50), (175, 245)]]]),
    (4, "open", 16, [[[(100, 50), (85, 150)], [(85, 150), (200, 145)]], [[(175, 60), (160, 240)]]]),
    (
        4,
        "closed",
        30,
        [[[(150, 60), (90, 160)], [(90, 160), (200, 160)]], [[(150, 60), (150, 230)]]],
    ),
    (4, "open", 24, [[[(80, 55), (85, 150)], [(85, 150), (205, 148)]], [[(170, 45), (172, 240)]]]),
    (
        4,
        "closed",
        14,
        [[[(180, 60), (110, 150)], [(110, 150), (200, 150)]], [[(180, 60), (178, 210)]]],
    ),
    (
        5,
        "one stroke",
        20,
        [
            [
                [(180, 50), (100, 50)],
                [(100, 50), (95, 130)],
                [(95, 130), (150, 120), (190, 165), (180, 220), (130, 240), (85, 220)],
            ]
        ],
    ),
    (
        5,
        "two strokes",
        20,
        [
            [
                [(100, 50), (95, 130)],
                [(95, 130), (150, 118), (192, 160), (182, 220), (130, 240), (85, 222)],
            ],
            [[(100, 50), (185, 48)]],
        ],
    ),
    (
        5,
        "two strokes",
        26,
        [
            [
                [(95, 60), (90, 125)],
                [(90, 125), (140, 115), (185, 150), (180, 210), (130, 230), (80, 210)],
            ],
            [[(95, 58), (190, 60)]],
        ],
    ),
    (
        5,
        "one stroke",
        14,
        [
            [
                [(170, 70), (115, 70)],
                [(115, 70), (110, 130)],
                [(110, 130), (150, 122), (175, 150), (168, 190), (135, 205), (105, 195)],
            ]
        ],
    ),
    (
        5,
        "one stroke",
        24,
        [
            [
                [(190, 45), (110, 45)],
                [(110, 45), (90, 125)],
                [(90, 125), (160, 115), (195, 170), (170, 225), (110, 235), (80, 210)],
            ]
        ],
    ),
    (
        5,
        "two strokes",
        18,
        [
            [[(110, 45), (100, 125)], [(100, 125), (160, 120), (190, 170), (165, 225), (110, 232)]],
            [[(110, 45), (200, 40)]],
        ],
    ),
    (
        6,
        "curved",
        20,
        [
            [
                [
                    (180, 50),
                    (130, 70),
                    (95, 130),
                    (90, 190),
                    (120, 235),
                    (170, 225),
                    (185, 185),
                    (160, 150),
                    (110, 155),
                    (92, 185),
                ]
            ]
        ],
    ),
    (
        6,
        "straight",
        20,
        [
            [
                [(170, 40), (98, 180)],
                [(98, 180), (110, 230), (160, 235), (185, 195), (160, 155), (115, 160), (98, 182)],
            ]
        ],
    ),
    (
        6,
        "curved",
        14,
        [
            [
                [
                    (160, 60),
                    (120, 85),
                    (100, 140),
                    (110, 195),
                    (145, 205),
                    (165, 175),
                    (145, 148),
                    (112, 158),
                ]
            ]
        ],
    ),
    (
        6,
        "curved",
        28,
        [
            [
                [
                    (175, 45),
                    (120, 75),
                    (90, 140),
                    (100, 210),
                    (150, 235),
                    (190, 200),
                    (180, 155),
                    (130, 145),
                    (100, 170),
                ]
            ]
        ],
    ),
    (
        6,
        "straight",
        16,
        [
            [
                [(165, 45), (110, 170)],
                [(110, 170), (115, 220), (160, 225), (180, 190), (155, 160), (112, 170)],
            ]
        ],
    ),
    (
        6,
        "curved",
        22,
        [
            [
                [
                    (190, 55),
                    (140, 55),
                    (100, 110),
                    (85, 190),
                    (120, 240),
                    (175, 228),
                    (190, 185),
                    (150, 150),
                    (100, 170),
                ]
            ]
        ],
    ),
    (7, "plain", 20, [[[(70, 50), (210, 50)], [(210, 50), (120, 245)]]]),
    (
        7,
        "crossed",
        20,
        [[[(70, 50), (210, 50)], [(210, 50), (120, 245)]], [[(115, 150), (205, 150)]]],
    ),
    (
        7,
        "crossed",
        20,
        [
            [[(70, 75), (72, 50)], [(72, 50), (205, 50)], [(205, 50), (130, 240)]],
            [[(120, 145), (210, 143)]],
        ],
    ),
    (
        7,
        "crossed",
        14,
        [[[(100, 70), (180, 65)], [(180, 65), (125, 200)]], [[(115, 135), (180, 130)]]],
    ),
    (
        7,
        "crossed",
        28,
        [[[(75, 55), (200, 50)], [(200, 50), (170, 120), (140, 240)]], [[(120, 140), (210, 140)]]],
    ),
    (7, "plain", 16, [[[(80, 60), (200, 55)], [(200, 55), (150, 140), (130, 240)]]]),
    (
        8,
        "two loops",
        20,
        [
            [[(140, 45), (100, 80), (140, 125), (180, 85), (140, 45)]],
            [[(140, 125), (92, 175), (140, 235), (190, 180), (140, 125)]],
        ],
    ),
    (
        8,
        "one stroke",
        20,
        [
            [
                [
                    (180, 70),
                    (140, 45),
                    (100, 75),
                    (120, 120),
                    (175, 165),
                    (175, 220),
                    (140, 240),
                    (100, 215),
                    (105, 165),
                    (160, 115),
                    (180, 70),
                ]
            ]
        ],
    ),
    (
        8,
        "one stroke",
        14,
        [
            [
                [
                    (165, 80),
                    (140, 65),
                    (115, 85),
                    (130, 118),
                    (168, 150),
                    (165, 190),
                    (140, 200),
                    (112, 185),
                    (118, 150),
                    (155, 115),
                    (165, 82),
                ]
            ]
        ],
    ),
    (
        8,
        "two loops",
        28,
        [
            [[(145, 50), (100, 85), (145, 130), (185, 90), (145, 50)]],
            [[(145, 130), (95, 180), (145, 235), (195, 180), (145, 130)]],
        ],
    ),
    (
        8,
        "one stroke",
        24,
        [
            [
                [
                    (175, 60),
                    (130, 45),
                    (95, 80),
                    (130, 125),
                    (180, 170),
                    (165, 230),
                    (110, 235),
                    (95, 190),
                    (140, 135),
                    (180, 95),
                    (172, 60),
                ]
            ]
        ],
    ),
    (
        8,
        "two loops",
        16,
        [
            [[(150, 50), (115, 80), (150, 120), (185, 85), (150, 50)]],
            [[(150, 120), (105, 175), (150, 225), (195, 175), (150, 120)]],
        ],
    ),
    (
        9,
        "straight stem",
        20,
        [
            [
                [(185, 85), (150, 45), (100, 70), (105, 125), (150, 135), (185, 95)],
                [(185, 95), (185, 245)],
            ]
        ],
    ),
    (
        9,
        "curved stem",
        20,
        [
            [
                [(185, 85), (150, 45), (100, 70), (105, 125), (150, 135), (185, 95)],
                [(185, 95), (180, 180), (150, 240), (105, 235)],
            ]
        ],
    ),
    (
        9,
        "straight stem",
        14,
        [
            [
                [(170, 80), (140, 62), (112, 85), (120, 120), (150, 122), (170, 92)],
                [(170, 92), (160, 225)],
            ]
        ],
    ),
    (
        9,
        "curved stem",
        28,
        [
            [
                [(180, 90), (140, 50), (95, 80), (105, 130), (155, 135), (182, 100)],
                [(182, 100), (175, 190), (140, 240)],
            ]
        ],
    ),
    (
        9,
        "straight stem",
        24,
        [
            [
                [(190, 80), (145, 45), (95, 65), (95, 120), (145, 130), (190, 85)],
                [(190, 85), (165, 245)],
            ]
        ],
    ),
    (
        9,
        "curved stem",
        16,
        [
            [
                [(175, 75), (140, 50), (105, 75), (115, 120), (155, 120), (175, 85)],
                [(175, 85), (178, 170), (160, 230), (120, 238)],
            ]
        ],
    ),
]


def smooth(points: P) -> np.ndarray:
    """A Catmull-Rom curve through ``points``, a point every STEP_PX pixels: (K, 2)."""
    p = np.asarray(points, dtype=float)
    if len(p) == 2:
        n = max(2, int(np.linalg.norm(p[1] - p[0]) / STEP_PX) + 1)
        return p[0] + (p[1] - p[0]) * np.linspace(0, 1, n)[:, None]
    padded = np.concatenate([p[:1], p, p[-1:]])
    out = [p[:1]]
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1 : i + 3]
        n = max(2, int(np.linalg.norm(p2 - p1) / STEP_PX) + 1)
        t = np.linspace(0, 1, n)[1:, None]
        out.append(
            0.5
            * (
                2 * p1
                + (p2 - p0) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (3 * p1 - p0 - 3 * p2 + p3) * t**3
            )
        )
    return np.concatenate(out)


def mouse_path(pieces: list[P]) -> list[list[float]]:
    """A stroke's pieces as one mouse path, rounded to what a mouse reports (whole pixels)."""
    path = np.concatenate([smooth(piece) for piece in pieces])
    path = path[np.r_[True, np.any(np.diff(np.round(path), axis=0) != 0, axis=1)]]
    return np.round(path).tolist()


def set_stroke_width(page, width: int) -> None:
    """Move the "Stroke width" slider with the keyboard, as a student could."""
    from playwright.sync_api import expect

    widget = page.get_by_test_id("stSlider").filter(has_text="Stroke width")
    thumb = widget.locator("input[type=range]")
    current = int(thumb.input_value())
    if current == width:
        return
    thumb.focus()
    key = "ArrowRight" if width > current else "ArrowLeft"
    for _ in range(abs(width - current)):
        page.keyboard.press(key)
    expect(widget.get_by_test_id("stSliderThumbValue")).to_have_text(str(width))


def record(page, url: str) -> list[dict]:
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    page.goto(f"{url}/draw")
    expect(page.get_by_text("Draw a digit on the black square")).to_be_visible()
    records = []
    for digit, style, width, strokes in HAND:
        set_stroke_width(page, width)
        page.wait_for_timeout(500)  # the rerun remounts the canvas with the new pen
        canvas = page.locator("canvas.upper-canvas").first
        canvas.wait_for()
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        paths = [mouse_path(stroke) for stroke in strokes]
        for path in paths:
            page.mouse.move(box["x"] + path[0][0], box["y"] + path[0][1])
            page.mouse.down()
            for x, y in path[1:]:
                page.mouse.move(box["x"] + x, box["y"] + y)
            page.mouse.up()
        expect(page.get_by_test_id("stMetricValue")).to_be_visible()
        page.wait_for_timeout(300)
        # the strokes' layer (a separate canvas paints the black background)
        data_url = page.locator("canvas.dc-canvas.lower-canvas").first.evaluate(
            "c => c.toDataURL('image/png')"
        )
        grey = _grey_png(base64.b64decode(data_url.split(",", 1)[1]))
        record = {
            "digit": digit,
            "style": style,
            "width": width,
            "strokes": paths,
            "canvas_png": base64.b64encode(grey).decode("ascii"),
        }
        _check_whole(record)
        records.append(record)
        print(
            f"{digit} {style} (pen {width}): "
            f"the app says {page.get_by_test_id('stMetricValue').inner_text()}",
            flush=True,
        )
        page.get_by_role("button", name="Clear").click()
        expect(page.get_by_test_id("stMetricValue")).to_have_count(0)
        expect(page.locator("canvas.upper-canvas")).to_have_count(1)
        page.wait_for_timeout(500)  # the fresh canvas attaches its mouse handlers
    return records


def _check_whole(record: dict) -> None:
    """The canvas holds exactly the strokes played (no stroke lost, none left over from the
    digit before): its ink and the re-rendered paths overlap almost entirely."""
    from explorer.strokes import canvas_picture, render

    canvas = canvas_picture(record) > 127
    again = render([np.asarray(s) for s in record["strokes"]], record["width"]) > 127
    overlap = (canvas & again).sum() / (canvas | again).sum()
    if overlap < 0.9:
        raise RuntimeError(
            f"digit {record['digit']} ({record['style']}): the canvas and the "
            f"played strokes overlap only {overlap:.0%}"
        )


def _grey_png(png: bytes) -> bytes:
    """The canvas's RGBA PNG as the ink /draw sees (luminance times alpha), one channel."""
    import io

    from PIL import Image

    from explorer.digits import ink_intensity

    ink = ink_intensity(np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")))
    out = io.BytesIO()
    Image.fromarray(np.round(ink * 255).astype(np.uint8)).save(out, format="PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    from playwright.sync_api import sync_playwright

    with Server("app.py", log_name="fpe-record-canvas.log") as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            records = record(page, server.url)
        finally:
            browser.close()
    OUT.write_text(
        json.dumps(
            {
                "about": "Digits drawn on the /draw canvas in headless Chromium by "
                "scripts/record_canvas_digits.py: mouse paths (canvas pixels), pen width, "
                "and the canvas's own picture (grey PNG, base64).",
                "digits": records,
            },
            separators=(",", ":"),
        )
        + "\n"
    )
    print(f"wrote {len(records)} digits to {OUT}")


if __name__ == "__main__":
    main()
