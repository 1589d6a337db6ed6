"""The app's icon, drawn here: a 2-3-1 network (ForwardPassDemo's shape).

Streamlit fetches a ``:material/...:`` page icon from a font service on the internet; a class
network may have none, so the icon is an image made on the server.
"""

from __future__ import annotations

import functools

from PIL import Image, ImageDraw

_SIZE = 64
_COLUMNS = ((20, 44), (12, 32, 52), (32,))  # the nodes' y, layer by layer
_X = (10, 32, 54)
_EDGE, _NODE, _LIT = (120, 144, 168, 255), (37, 99, 235, 255), (220, 38, 38, 255)


@functools.cache
def app_icon() -> Image.Image:
    img = Image.new("RGBA", (_SIZE, _SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    for layer in range(len(_X) - 1):
        for y0 in _COLUMNS[layer]:
            for y1 in _COLUMNS[layer + 1]:
                draw.line((_X[layer], y0, _X[layer + 1], y1), fill=_EDGE, width=3)
    for layer, (x, ys) in enumerate(zip(_X, _COLUMNS, strict=True)):
        for y in ys:
            r = 6
            draw.ellipse((x - r, y - r, x + r, y + r), fill=_LIT if layer == 2 else _NODE)
    return img
