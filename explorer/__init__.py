"""Forward Pass Explorer: see what PyTorch's forward() does, op by op.

Data flow: ``zoo.load_model -> trace.trace -> figures.* -> pages/*``.
"""

from __future__ import annotations

from explorer.zoo import PRESETS, Preset, example_input, load_model

__all__ = ["PRESETS", "Preset", "example_input", "load_model"]
