"""Page cost: server-side time and plotly bytes to rebuild /forward (and /draw) for a preset.

    python -m bench.page_cost [--model cnn] [--repeats 5]

Two views of the same cost:
1. the library path a rerun takes: trace (this mode and the other, for train | eval) + the
   figures the page draws + their plotly JSON, per step;
2. a whole rerun of the real page under streamlit.testing.v1.AppTest (script time, including
   Streamlit's own work), with the bytes of every plotly chart the page sent.
Targets for cnn: <= 100 ms and <= 300 KB per rerun of /forward.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from explorer import figures, load_model, trace
from explorer.ui_state import Keys, image_to_tensor, samples

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


def apptest_rerun(model_name: str, step_index: int, repeats: int,
                  expanders_open: bool = False) -> tuple[float, int]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state[Keys.model] = model_name
    at.session_state[Keys.source] = "Sample"
    at.session_state[Keys.units_open] = expanders_open
    at.session_state[Keys.compare_open] = expanders_open
    at.run()
    at.switch_page("views/forward.py").run()
    times = []
    for _ in range(repeats):
        at.session_state[Keys.step] = step_index
        t0 = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - t0) * 1e3)
        if at.exception:
            raise RuntimeError(at.exception[0].message)
    size = sum(len(c.proto.spec) for c in at.get("plotly_chart"))
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    model = load_model(args.model)
    images, _ = samples()
    x = image_to_tensor(images[0])
    n = len(trace(model, x).steps)
    print(f"/forward for {args.model}, torch threads {torch.get_num_threads()}, "
          f"median of {args.repeats}")
    print("library: traces + every figure incl. the two expanders, and their JSON; page: a whole "
          "AppTest rerun with the expanders closed (the default) and open")
    print(f"{'step':>4s} {'op':12s} {'library ms':>10s} {'KB':>6s} {'page ms':>8s} {'KB':>6s} "
          f"{'open ms':>8s} {'KB':>6s}")
    worst = {"closed": (0.0, 0.0), "open": (0.0, 0.0)}
    for i in range(n):
        lib = [library_rerun(model, x, i) for _ in range(args.repeats)]
        lib_ms = statistics.median(m for m, _ in lib)
        page_ms, page_bytes = apptest_rerun(args.model, i, args.repeats)
        open_ms, open_bytes = apptest_rerun(args.model, i, args.repeats, expanders_open=True)
        op = trace(model, x).steps[i].op
        print(f"{i:4d} {op:12s} {lib_ms:10.1f} {lib[0][1] / 1e3:6.1f} {page_ms:8.1f} "
              f"{page_bytes / 1e3:6.1f} {open_ms:8.1f} {open_bytes / 1e3:6.1f}")
        for key, ms, size in (("closed", page_ms, page_bytes), ("open", open_ms, open_bytes)):
            worst[key] = (max(worst[key][0], ms), max(worst[key][1], size / 1e3))
    for key, (ms, kb) in worst.items():
        print(f"worst page rerun, expanders {key}: {ms:.1f} ms, {kb:.1f} KB of plotly JSON "
              "(targets: 100 ms, 300 KB)")


if __name__ == "__main__":
    main()
