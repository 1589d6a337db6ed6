"""Trace overhead: explorer.trace vs a plain forward, for every preset, in one run.

    python -m bench.trace_overhead [--repeats 300]

Prints, per preset, the median time of a plain ``model(x)`` (no_grad, batch 1, eval), of
``trace(model, x)`` in eval, and of a seeded train-mode trace, and their ratios. Target for
``cnn``: trace <= 3x plain.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from explorer import PRESETS, example_input, load_model, trace


def median_ms(fn, repeats: int) -> float:
    for _ in range(max(10, repeats // 10)):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 1, "
        f"median of {args.repeats}"
    )
    print(
        f"{'preset':14s} {'plain ms':>9s} {'trace ms':>9s} {'ratio':>6s} "
        f"{'train+seed ms':>14s} {'ratio':>6s} {'steps':>5s}"
    )
    for name in PRESETS:
        model = load_model(name, pretrained=False)
        x = example_input(name)

        def plain(model=model, x=x):
            with torch.no_grad():
                model(x)

        p = median_ms(plain, args.repeats)
        t = median_ms(lambda model=model, x=x: trace(model, x), args.repeats)
        s = median_ms(lambda model=model, x=x: trace(model, x, train=True, seed=1), args.repeats)
        steps = len(trace(model, x).steps)
        print(f"{name:14s} {p:9.3f} {t:9.3f} {t / p:6.2f} {s:14.3f} {s / p:6.2f} {steps:5d}")


if __name__ == "__main__":
    main()
