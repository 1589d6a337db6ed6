"""Page cost: server-side time and bytes sent to rebuild /forward, /draw and /backward.

    python -m bench.page_cost [--model cnn] [--repeats 5]

Two views of the same cost:
1. the library path a rerun takes: trace (this mode and the other, for train | eval) + the
   figures the page draws + their plotly JSON, per step;
2. a whole rerun of the real page under streamlit.testing.v1.AppTest (script time, including
   Streamlit's own work), with the bytes of every plotly chart the page sent and of every
   element (sidebar included), cold (the first viewer of a pass and step) and warm (the rest
   of a class, served from the shared trace and figure caches);
3. whole reruns of /draw (a new stroke each time) and /backward.
Targets for cnn: <= 100 ms and <= 300 KB per rerun of /forward.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from explorer import figures, load_model, trace
from explorer.sources import Source
from ui.show import _shared_figure
from ui.state import Keys, _shared_backward, _shared_trace, image_to_tensor, samples

ROOT = Path(__file__).resolve().parent.parent


def library_rerun(model, x: torch.Tensor, step_index: int) -> tuple[float, int]:
    """One /forward rerun's model and figure work, done the way the page does it."""
    t0 = time.perf_counter()
    t = trace(model, x, train=False, seed=0)
    t_train = trace(model, x, train=True, seed=0)
    step = t.steps[step_index]
    figs = [figures.step_figure(step)]
    out = step.output
    if isinstance(out, torch.Tensor) and out.dim() == 4:
        figs.append(figures.channel_figure(out, 0))
    elif isinstance(out, torch.Tensor) and out.dim() == 2:
        figs.append(figures.vector_figure(out, "output units"))
    drop = next((i for i, s in enumerate(t.steps) if s.op == "dropout"), None)
    if drop is not None:
        figs.append(figures.compare_figure(t_train.steps[drop].output, t.steps[drop].output))
    figs.append(figures.compare_figure(t_train.output, t.output))
    size = sum(len(f.to_json()) for f in figs)
    return (time.perf_counter() - t0) * 1e3, size


def apptest_rerun(
    model_name: str, step_index: int, repeats: int, expanders_open: bool = False
) -> tuple[float, float, int, int]:
    """Reruns of /forward at one step: (cold ms, warm ms, plotly JSON bytes, all bytes).

    Cold: the first student to open this step of this pass (the shared trace and figure caches
    are emptied first; the models stay loaded). Warm: the median of the next reruns, what the
    rest of a class following along costs. All bytes: every element the rerun sent, serialised
    (the deltas of its ForwardMsgs, sidebar included)."""
    state = {
        Keys.model: model_name,
        Keys.source: Source.SAMPLE,
        Keys.units_open: expanders_open,
        Keys.compare_open: expanders_open,
    }
    return timed_reruns(
        "views/forward.py",
        state,
        repeats,
        lambda at, k: at.session_state.__setitem__(Keys.step, step_index),
    )


def other_page(page: str, state: dict, repeats: int) -> tuple[float, float, int, int]:
    """Reruns of another page for the cnn, as ``apptest_rerun``. On /draw each rerun has a new
    input (a digit drawn one stroke further, nothing to share); on /backward the same one (the
    first viewer of that backward pass, then the rest of the class, from the shared caches)."""

    def before(at, k: int) -> None:
        if Keys.drawing in state:
            at.session_state[Keys.drawing] = drawing(strokes=1 + k % 4)

    return timed_reruns(page, state, repeats, before)


def timed_reruns(
    page: str, state: dict, repeats: int, before: Callable[[Any, int], None]
) -> tuple[float, float, int, int]:
    """Open ``page`` with ``state``, empty the shared caches, then time ``repeats`` + 1 reruns
    (``before(at, k)`` first): (first ms, median ms of the rest, plotly bytes, all bytes)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    at.switch_page(page).run()
    _shared_trace.clear()
    _shared_backward.clear()
    _shared_figure.clear()
    times = []
    for k in range(repeats + 1):
        before(at, k)
        t0 = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - t0) * 1e3)
        if at.exception:
            raise RuntimeError(at.exception[0].message)
    plotly = sum(len(c.proto.spec) for c in at.get("plotly_chart"))
    everything = sum(p.ByteSize() for p in _protos(at._tree))
    return times[0], statistics.median(times[1:]), plotly, everything


def drawing(strokes: int) -> np.ndarray:
    """A 280x280 RGBA canvas image of a 4 drawn in up to four strokes."""
    img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    d = ImageDraw.Draw(img)
    lines = [
        [(90, 40), (80, 160)],
        [(80, 160), (200, 160)],
        [(170, 40), (170, 250)],
        [(60, 60), (62, 62)],
    ]
    for line in lines[:strokes]:
        d.line(line, fill=(255, 255, 255, 255), width=22)
    return np.asarray(img)


def _protos(node):
    """Every element proto under an AppTest node."""
    proto = getattr(node, "proto", None)
    if proto is not None and hasattr(proto, "ByteSize"):
        yield proto
    for child in getattr(node, "children", {}).values():
        yield from _protos(child)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(max(1, int(os.environ.get("FPE_TORCH_THREADS") or 1)))  # as ui/process.py
    model = load_model(args.model)
    images, _ = samples()
    x = image_to_tensor(images[0])
    n = len(trace(model, x).steps)
    print(
        f"/forward for {args.model}, torch threads {torch.get_num_threads()}, "
        f"median of {args.repeats}"
    )
    print(
        "library: traces + every figure incl. the two expanders, and their JSON, uncached; "
        "then whole AppTest reruns with the expanders closed (the default) and open"
    )
    print(
        f"{'step':>4s} {'op':12s} {'library':>8s} {'KB':>6s} {'cold':>6s} {'warm':>6s} "
        f"{'plotly':>7s} {'all':>6s} {'open':>6s} {'warm':>6s} {'plotly':>7s} {'all':>6s}"
    )
    worst: dict[str, list[float]] = {"closed": [0.0] * 4, "open": [0.0] * 4}
    for i in range(n):
        lib = [library_rerun(model, x, i) for _ in range(args.repeats)]
        lib_ms = statistics.median(m for m, _ in lib)
        closed = apptest_rerun(args.model, i, args.repeats)
        opened = apptest_rerun(args.model, i, args.repeats, expanders_open=True)
        op = trace(model, x).steps[i].op
        print(
            f"{i:4d} {op:12s} {lib_ms:8.1f} {lib[0][1] / 1e3:6.1f} "
            f"{closed[0]:6.1f} {closed[1]:6.1f} {closed[2] / 1e3:7.1f} {closed[3] / 1e3:6.1f} "
            f"{opened[0]:6.1f} {opened[1]:6.1f} {opened[2] / 1e3:7.1f} {opened[3] / 1e3:6.1f}"
        )
        for key, row in (("closed", closed), ("open", opened)):
            worst[key] = [max(a, b) for a, b in zip(worst[key], row, strict=True)]
    print(
        "ms: server time of a whole rerun (cold: first viewer of this step; warm: the next "
        "ones); KB: plotly JSON / every element sent"
    )
    for key, (cold, warm, plotly, everything) in worst.items():
        print(
            f"worst rerun, expanders {key}: cold {cold:.1f} ms, warm {warm:.1f} ms, "
            f"{plotly / 1e3:.1f} KB plotly JSON, {everything / 1e3:.1f} KB in all "
            "(targets: 100 ms, 300 KB)"
        )
    print("\nother pages for the cnn, whole reruns (first / median of the rest):")
    for page, state, what in (
        (
            "views/draw.py",
            {Keys.source: Source.DRAW, Keys.drawing: drawing(1)},
            "/draw, a new stroke each rerun",
        ),
        ("views/backward.py", {Keys.source: Source.SAMPLE}, "/backward, predicted-class target"),
    ):
        first, rest, plotly, everything = other_page(page, state, args.repeats)
        print(
            f"{what}: {first:.1f} / {rest:.1f} ms, {plotly / 1e3:.1f} KB plotly JSON, "
            f"{everything / 1e3:.1f} KB in all"
        )


if __name__ == "__main__":
    main()
