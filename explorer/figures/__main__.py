"""Print the plotly JSON size of every step figure of a preset: ``python -m explorer.figures cnn``."""

from __future__ import annotations

import argparse

import explorer
from explorer.figures import figure_bytes, probabilities_figure, step_figure, step_title


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("preset", nargs="?", default="cnn", choices=list(explorer.PRESETS))
    args = parser.parse_args()
    model = explorer.load_model(args.preset, pretrained=False)
    t = explorer.trace(model, explorer.example_input(args.preset))
    total = 0
    for step in t.steps:
        size = figure_bytes(step_figure(step))
        total += size
        print(f"{step.index:>3}  {size / 1000:7.1f} KB  {step_title(step)}")
    print(f"     {total / 1000:7.1f} KB  all {len(t.steps)} step figures")
    print(f"     {figure_bytes(probabilities_figure(t.output)) / 1000:7.1f} KB  probabilities")


if __name__ == "__main__":
    main()
