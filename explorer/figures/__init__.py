"""Trace/Step -> plotly figures and Graphviz flow charts. Never imports streamlit.

Every picture is a view of a tensor torch produced during the traced pass: values come from the
``Step``, one example of the batch at a time (``sample``), on a colour range centred at 0.
"""

from __future__ import annotations

from explorer.figures.activations import (
    activation_figure,
    channel_figure,
    compare_figure,
    figure_bytes,
    probabilities_figure,
    vector_figure,
)
from explorer.figures.flow import Shade, flow_dot, grad_rms, grad_shades, model_flow_dot
from explorer.figures.grads import norms_figure, param_grad_figure
from explorer.figures.images import pad_square
from explorer.figures.mosaic import Mosaic, mosaic
from explorer.figures.overview import overview_figure
from explorer.figures.patch import patch_figure
from explorer.figures.stats import tensor_stats
from explorer.figures.steps import step_figure, step_title

__all__ = [
    "Mosaic",
    "activation_figure",
    "channel_figure",
    "compare_figure",
    "figure_bytes",
    "Shade",
    "flow_dot",
    "grad_rms",
    "grad_shades",
    "model_flow_dot",
    "mosaic",
    "norms_figure",
    "overview_figure",
    "pad_square",
    "param_grad_figure",
    "patch_figure",
    "probabilities_figure",
    "step_figure",
    "step_title",
    "tensor_stats",
    "vector_figure",
]
