"""Gradient figures by structure: what is drawn, in which shape, within the payload budget."""

from __future__ import annotations

import numpy as np
import torch

from explorer import backward, example_input, load_model
from explorer.figures import figure_bytes, mosaic, norms_figure, param_grad_figure


def _grads():
    return backward(load_model("cnn", pretrained=False), example_input("cnn"), 3).param_grads


def test_conv_kernels_form_one_mosaic_of_the_real_gradient() -> None:
    g = _grads()["conv1.weight"]  # (32, 1, 3, 3)
    fig, caption = param_grad_figure("conv1.weight", g)
    (heat,) = [t for t in fig.data if t.type == "heatmap"]
    expected = mosaic(g.reshape(32, 3, 3)).z
    assert heat.z.shape == expected.shape
    assert np.allclose(np.nan_to_num(heat.z), np.nan_to_num(expected))
    assert "all 32 kernels" in caption


def test_many_kernels_are_cut_to_a_readable_number() -> None:
    fig, caption = param_grad_figure("conv2.weight", _grads()["conv2.weight"])  # 64 x 32
    assert "output channels 0-15 of 64" in caption
    assert figure_bytes(fig) < 120_000


def test_linear_gradients_small_as_a_matrix_big_as_row_norms() -> None:
    grads = _grads()
    small, _ = param_grad_figure("fc2.weight", grads["fc2.weight"])  # 10 x 128
    assert small.data[0].type == "heatmap" and np.array(small.data[0].z).shape == (10, 128)
    big, caption = param_grad_figure("fc1.weight", grads["fc1.weight"])  # 128 x 3136
    assert big.data[0].type == "bar" and len(big.data[0].y) == 128
    assert np.allclose(big.data[0].y, grads["fc1.weight"].norm(dim=1).numpy(), rtol=1e-6)
    assert "401,408 numbers" in caption


def test_norms_figure_has_a_bar_per_parameter() -> None:
    fig = norms_figure({"a.weight": 1.5, "a.bias": 0.25})
    assert list(fig.data[0].x) == ["a.weight", "a.bias"]
    assert np.allclose(fig.data[0].y, [1.5, 0.25])
    assert torch.tensor(fig.data[0].y).dtype == torch.float32
