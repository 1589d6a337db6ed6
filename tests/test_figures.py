"""explorer.figures by structure: traces, z shapes, titles, shared ranges, payload sizes.

Every expected value comes from the traced step's own tensors (or torch), never from the
figure code under test.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from functools import cache

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

import explorer
from explorer import INPUT, PRESETS, Trace
from explorer.figures import (
    Mosaic,
    activation_figure,
    channel_figure,
    compare_figure,
    figure_bytes,
    flow_dot,
    model_flow_dot,
    mosaic,
    probabilities_figure,
    step_figure,
    tensor_stats,
    vector_figure,
)
from explorer.figures.steps import MAX_MARKS, STEP_BUDGET

PAGE_BUDGET = 300_000  # bytes of plotly JSON the /forward page may send per rerun


@cache
def traced(name: str, train: bool = False, batch: int = 1) -> Trace:
    model = explorer.load_model(name, pretrained=False)
    x = explorer.example_input(name, batch=batch)
    return explorer.trace(model, x, train=train, seed=1 if train else None)


def step_of(name: str, op: str, nth: int = 0, **kw):
    return [s for s in traced(name, **kw).steps if s.op == op][nth]


def heatmaps(fig: go.Figure) -> list[go.Heatmap]:
    return [t for t in fig.data if t.type == "heatmap"]


def panel_titles(fig: go.Figure) -> list[str]:
    return [a.text for a in fig.layout.annotations if a.yref == "paper"]  # not tile numbers


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values and equal NaN positions."""
    return a.shape == b.shape and np.array_equal(
        np.asarray(a, np.float64), np.asarray(b, np.float64), equal_nan=True
    )


def tile_values(m: Mosaic, z: np.ndarray) -> np.ndarray:
    """Read (C, H, W) back out of a mosaic-shaped array, through Mosaic.position."""
    out = np.empty((m.channels, m.tile_h, m.tile_w), dtype=np.float64)
    for c in range(m.channels):
        r0, c0 = m.position(m.first + c, 0, 0)
        out[c] = z[r0 : r0 + m.tile_h, c0 : c0 + m.tile_w]
    return out


# --- tensor_stats and mosaic -----------------------------------------------------------------


def test_tensor_stats_are_plain_numbers_matching_torch() -> None:
    t = torch.tensor([[0.0, 1.0], [-2.0, 0.0]])
    s = tensor_stats(t)
    assert s == {
        "min": -2.0,
        "max": 1.0,
        "mean": -0.25,
        "std": pytest.approx(float(t.double().std(unbiased=False))),
        "frac_zero": 0.5,
        "shape": (2, 2),
    }
    assert all(type(s[k]) is float for k in ("min", "max", "mean", "std", "frac_zero"))


def test_mosaic_of_32_maps_is_an_8_by_4_grid_with_nan_gaps() -> None:
    t = torch.randn(32, 28, 28)
    m = mosaic(t)
    assert (m.rows, m.cols, m.tile_h, m.tile_w, m.channels) == (4, 8, 28, 28, 32)
    assert m.z.shape == (4 * 29 - 1, 8 * 29 - 1) and m.z.dtype == np.float32
    assert np.isnan(m.z).sum() == m.z.size - 32 * 28 * 28
    assert np.isnan(m.z[28::29, :]).all() and np.isnan(m.z[:, 28::29]).all()
    assert same(tile_values(m, m.z), t.numpy())


def test_mosaic_cells_map_back_to_units_at_every_channel_corner() -> None:
    t = torch.randn(32, 28, 28)
    m = mosaic(t)
    for ch in range(32):
        for r, c in [(0, 0), (0, 27), (27, 0), (27, 27)]:
            row, col = m.position(ch, r, c)
            assert m.unit_at(row, col) == (ch, r, c)
            assert m.z[row, col] == t[ch, r, c]
    assert m.unit_at(28, 0) is None and m.unit_at(0, 28) is None  # gaps
    assert m.unit_at(-1, 0) is None and m.unit_at(0, m.z.shape[1]) is None


def test_mosaic_unused_tiles_are_nan_and_map_to_no_unit() -> None:
    m = mosaic(torch.ones(7, 3, 3), cols=3)  # 3 x 3 tiles, 2 unused
    assert (m.rows, m.cols) == (3, 3)
    assert np.isnan(m.z[8:, 4:]).all()
    assert m.unit_at(8, 4) is None and m.unit_at(8, 0) == (6, 0, 0)
    with pytest.raises(IndexError):
        m.position(7, 0, 0)


def test_mosaic_of_one_map_is_the_map_itself() -> None:
    t = torch.randn(5, 6)
    m = mosaic(t)
    assert same(m.z, t.numpy()) and (m.rows, m.cols) == (1, 1)


def test_mosaic_window_numbers_channels_from_first() -> None:
    t = torch.randn(4, 2, 2)
    m = mosaic(t, first=10)
    assert m.unit_at(*m.position(12, 1, 0)) == (12, 1, 0)
    assert m.z[m.position(12, 1, 0)] == t[2, 1, 0]
    assert set(np.unique(m.channel_map)) == {10, 11, 12, 13}


# --- activation_figure and compare_figure ----------------------------------------------------


def test_activation_figure_of_4d_is_one_mosaic_heatmap_centred_at_zero() -> None:
    t = traced("cnn").steps[0].output  # (1, 32, 28, 28)
    fig = activation_figure(t, "conv1")
    (h,) = fig.data
    assert h.type == "heatmap" and h.z.shape == (115, 231) and h.z.dtype == np.float32
    assert h.zmid == 0 and h.zmin == -h.zmax == -float(t.abs().max())
    assert same(tile_values(mosaic(t[0]), h.z), t[0].numpy())
    assert "channel" in h.hovertemplate and "row" in h.hovertemplate
    assert fig.layout.title.text == "conv1"


def test_activation_figure_shows_the_chosen_example() -> None:
    t = torch.randn(3, 4, 5, 5)
    h = activation_figure(t, "x", sample=2).data[0]
    assert same(tile_values(mosaic(t[2]), h.z), t[2].numpy())
    assert "example 2" in panel_titles(activation_figure(t, "x", sample=2))[0]
    with pytest.raises(IndexError):
        activation_figure(t, "x", sample=3)


def test_activation_figure_draws_vectors_as_bars_or_strips_and_scalars_as_one_bar() -> None:
    short, long = torch.randn(1, 10), torch.randn(1, 128)
    bar = activation_figure(short, "s").data[0]
    assert bar.type == "bar" and np.array_equal(bar.y, short[0].numpy())
    strip = activation_figure(long, "l").data[0]
    assert strip.type == "heatmap" and strip.z.shape == (1, 128)
    assert np.array_equal(strip.z[0], long[0].numpy())
    one = activation_figure(torch.tensor(2.5), "n").data
    assert len(one) == 1 and one[0].type == "bar" and list(one[0].y) == [2.5]


def test_activation_figure_takes_a_given_colour_range() -> None:
    h = activation_figure(torch.randn(1, 2, 3, 3), "x", zmax=7.0).data[0]
    assert (h.zmin, h.zmax) == (-7.0, 7.0)


def test_compare_figure_puts_both_on_one_colour_range() -> None:
    a, b = torch.randn(1, 3, 4, 4), 3 * torch.randn(1, 3, 4, 4)
    fig = compare_figure(a, b, title="train vs eval")
    left, right = heatmaps(fig)
    top = max(float(a.abs().max()), float(b.abs().max()))
    assert left.zmax == right.zmax == top and left.zmin == right.zmin == -top
    assert [t.split()[0] for t in panel_titles(fig)] == ["train", "eval"]
    assert fig.layout.title.text == "train vs eval"


# --- step_figure -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_step_of_every_preset_has_a_figure_titled_with_op_and_shape(name: str) -> None:
    for step in traced(name).steps:
        fig = step_figure(step)
        assert len(fig.data) >= 1, step.op
        assert step.op in fig.layout.title.text
        assert str(step.output_shape) in fig.layout.title.text


def test_conv_step_is_one_mosaic_of_its_output() -> None:
    step = traced("cnn").steps[0]
    fig = step_figure(step)
    assert fig.layout.title.text == "conv2d · conv1 → (1, 32, 28, 28)"
    (h,) = fig.data
    assert same(tile_values(mosaic(step.output[0]), h.z), step.output[0].numpy())


def test_relu_step_shows_before_after_and_what_it_zeroed() -> None:
    step = step_of("skip", "relu", 1)  # (1, 16, 14, 14): every channel fits the budget
    before, after = step.inputs[0][0], step.output[0]
    fig = step_figure(step)
    b, a, z = heatmaps(fig)
    top = max(float(before.abs().max()), float(after.abs().max()))
    assert (b.zmin, b.zmax) == (a.zmin, a.zmax) == (-top, top)
    assert b.zmid == a.zmid == 0
    m = mosaic(before)
    assert same(tile_values(m, b.z), before.numpy())
    assert same(tile_values(m, a.z), after.numpy())
    zeroed = (after == 0) & (before != 0)
    assert z.z.dtype == np.uint8
    assert np.array_equal(tile_values(m, z.z), zeroed.numpy())
    assert f"zeroed: {float(zeroed.float().mean()):.0%}" in panel_titles(fig)[2]


def test_relu_counts_as_zeroed_only_what_it_set_to_zero() -> None:
    x = torch.tensor([[[[-1.0, 0.0], [2.0, -3.0]]]])  # the 0 was zero before the ReLU
    fig = step_figure(explorer.trace(torch.nn.Sequential(torch.nn.ReLU()), x).steps[0])
    assert np.array_equal(heatmaps(fig)[2].z, [[1, 0], [0, 1]])
    assert "zeroed: 50%" in panel_titles(fig)[2]


def test_relu_of_a_vector_uses_strips() -> None:
    step = step_of("cnn", "relu", 2)  # (1, 128)
    b, a, z = step_figure(step).data
    assert b.z.shape == a.z.shape == z.z.shape == (1, 128)
    assert np.array_equal(z.z[0], ((step.output[0] == 0) & (step.inputs[0][0] != 0)).numpy())


def test_big_relu_shows_every_channel_in_one_numbered_mosaic() -> None:
    step = step_of("cnn", "relu")  # (1, 32, 28, 28): before | after | zeroed would be ~480 KB
    fig = step_figure(step)
    (only,) = heatmaps(fig)
    assert same(tile_values(mosaic(step.output[0]), only.z), step.output[0].numpy())
    assert "all 32 channels" in panel_titles(fig)[0] and "one channel" in fig.layout.title.text
    numbers = [a.text for a in fig.layout.annotations if a.yref != "paper"]
    assert numbers == [str(c) for c in range(32)]  # every tile says which channel it is
    assert figure_bytes(fig) <= STEP_BUDGET
    # paging through side-by-side panels is still there for a caller that asks for it
    count = 14
    later = step_figure(step, first_channel=32 - count)
    assert "of 32" in later.layout.title.text and len(heatmaps(later)) == 3


def test_one_channel_of_a_step() -> None:
    step = step_of("cnn", "relu")
    fig = step_figure(step, channel=5)
    b, a, _ = heatmaps(fig)
    assert np.array_equal(a.z, step.output[0, 5].numpy())
    assert "channel 5 of 32" in fig.layout.title.text
    with pytest.raises(IndexError):
        step_figure(step, channel=32)


def _marker_units(fig: go.Figure, panel: go.Heatmap, m: Mosaic) -> list[tuple[int, int, int]]:
    """The (channel, r, c) under each marker of the figure's scatter, read through the axes."""
    (dots,) = [t for t in fig.data if t.type == "scatter"]
    if panel.x is None:  # numeric axes: coordinates are the cells
        cols, rows = np.asarray(dots.x), np.asarray(dots.y)
    else:  # category axes: find each label's position
        xi = {label: i for i, label in enumerate(panel.x)}
        yi = {label: i for i, label in enumerate(panel.y)}
        cols = np.array([xi[v] for v in dots.x])
        rows = np.array([yi[v] for v in dots.y])
    return [m.unit_at(int(r), int(c)) for r, c in zip(rows, cols, strict=True)]


def test_pool_marks_each_windows_winner_at_the_recorded_index() -> None:
    step = step_of("cnn", "max_pool2d", 1)  # 64 x 7 x 7 = 3136 winners
    x, idx = step.inputs[0][0], step.extras["indices"][0]
    fig = step_figure(step)
    inp, out = heatmaps(fig)
    assert same(tile_values(mosaic(step.output[0]), out.z), step.output[0].numpy())
    w = x.shape[-1]
    expected = [(c, int(i) // w, int(i) % w) for c in range(64) for i in idx[c].reshape(-1)]
    assert _marker_units(fig, inp, mosaic(x)) == expected
    # the marked inputs are exactly the outputs: the max of each window
    assert all(
        x[c, r, q] == step.output[0].reshape(64, -1)[c, k % 49]
        for k, (c, r, q) in enumerate(expected)
    )


def test_pool_with_too_many_winners_marks_none_and_says_so() -> None:
    step = step_of("cnn", "max_pool2d", 0)  # 32 x 14 x 14 = 6272 winners
    assert step.extras["indices"][0].numel() > MAX_MARKS
    fig = step_figure(step)
    assert not [t for t in fig.data if t.type == "scatter"]
    assert "all 32 channels" in panel_titles(fig)[0]  # every channel; one channel shows its winners


def test_pool_of_one_channel_marks_its_winners() -> None:
    step = step_of("cnn", "max_pool2d", 0)
    fig = step_figure(step, channel=3)
    inp, out = heatmaps(fig)
    assert np.array_equal(inp.z, step.inputs[0][0, 3].numpy())
    assert np.array_equal(out.z, step.output[0, 3].numpy())
    idx = step.extras["indices"][0, 3].reshape(-1)
    expected = [(0, int(i) // 28, int(i) % 28) for i in idx]
    assert _marker_units(fig, inp, mosaic(step.inputs[0][0, 3])) == expected


def test_dropout_in_training_shows_the_mask_and_the_scale() -> None:
    step = step_of("cnn", "dropout", train=True)
    assert step.extras["training"]
    fig = step_figure(step)
    before, mask, after = fig.data
    assert np.array_equal(mask.z[0], step.extras["mask"][0].numpy().astype(np.uint8))
    assert 0 < mask.z.sum() < mask.z.size  # some dropped, some kept
    assert np.array_equal(after.z[0], step.output[0].numpy())
    assert (before.zmin, before.zmax) == (after.zmin, after.zmax)
    assert "p = 0.25" in fig.layout.title.text and "1.333" in fig.layout.title.text
    assert f"{int(step.extras['mask'].sum())} kept" in panel_titles(fig)[1]


def test_dropout_in_eval_is_the_identity() -> None:
    step = step_of("cnn", "dropout")
    fig = step_figure(step)
    assert "eval mode: identity" in fig.layout.title.text
    assert fig.data[1].z.min() == 1


def test_batch_norm_title_names_the_statistics_used() -> None:
    assert "running statistics" in step_figure(step_of("bn_cnn", "batch_norm")).layout.title.text
    train = step_of("bn_cnn", "batch_norm", train=True, batch=2)
    assert "batch statistics" in step_figure(train).layout.title.text


def test_add_shows_both_inputs_and_the_sum_on_one_range() -> None:
    step = step_of("skip", "add")
    fig = step_figure(step)
    hs = heatmaps(fig)
    assert len(hs) == 3 and len({(h.zmin, h.zmax) for h in hs}) == 1
    m = mosaic(step.output[0])
    for h, t in zip(hs, (*step.inputs, step.output), strict=True):
        assert same(tile_values(m, h.z), t[0].numpy())
    assert panel_titles(fig) == [
        f"{n} (1, 16, 14, 14)" for n in ("x", "out", "x + out")
    ]  # as written


def test_linear_shows_input_and_output_vectors() -> None:
    step = step_of("cnn", "linear", 1)  # fc2: 128 -> 10
    strip, bars = step_figure(step).data
    assert strip.type == "heatmap" and np.array_equal(strip.z[0], step.inputs[0][0].numpy())
    assert bars.type == "bar" and np.array_equal(bars.y, step.output[0].numpy())
    assert bars.marker.cmin == -bars.marker.cmax and strip.zmax == bars.marker.cmax


def test_view_keeps_the_values_and_says_only_the_shape_changed() -> None:
    step = step_of("cnn", "view")
    fig = step_figure(step)
    before, after = fig.data
    assert "only the shape changed" in fig.layout.title.text
    assert panel_titles(fig) == ["before (1, 64, 7, 7)", "after (1, 3136)"]
    assert np.array_equal(after.z[0], step.output[0].numpy())
    assert np.array_equal(tile_values(mosaic(step.inputs[0][0]), before.z).reshape(-1), after.z[0])


def test_other_ops_show_input_and_output() -> None:
    step = step_of("conditional", "mean")  # (1, 64) -> ()
    vector, number = step_figure(step).data
    assert np.array_equal(vector.y, step.inputs[0][0].numpy())
    assert list(number.y) == [float(step.output)]


def test_step_figures_send_float32_typed_arrays() -> None:
    spec = json.loads(step_figure(traced("cnn").steps[0]).to_json())
    assert spec["data"][0]["z"]["dtype"] == "f4" and "bdata" in spec["data"][0]["z"]


# --- probabilities, one channel, one vector --------------------------------------------------


def test_probabilities_sum_to_one_and_highlight_the_argmax() -> None:
    logits = torch.tensor([[0.5, 3.0, -1.0, 0.0, 2.0, 0.1, 0.2, 0.3, 0.4, 0.6]])
    fig = probabilities_figure(logits)
    (bar,) = fig.data
    assert np.allclose(bar.y, torch.softmax(logits[0], 0).numpy(), atol=1e-7)
    assert abs(float(np.sum(bar.y, dtype=np.float64)) - 1) < 1e-6
    assert list(bar.x) == list(range(10)) and tuple(fig.layout.yaxis.range) == (0, 1)
    colours = list(bar.marker.color)
    highlighted = [i for i, c in enumerate(colours) if colours.count(c) == 1]
    assert highlighted == [1] and "prediction: 1" in fig.layout.title.text


def test_probabilities_of_the_chosen_example() -> None:
    logits = torch.zeros(2, 10)
    logits[1, 7] = 5
    assert "prediction: 7" in probabilities_figure(logits, sample=1).layout.title.text


def test_channel_figure_cells_are_clickable_points_carrying_row_and_col() -> None:
    t = traced("cnn").steps[1].output  # (1, 32, 28, 28)
    fig = channel_figure(t, 4)
    heat, cells = fig.data
    assert np.array_equal(heat.z, t[0, 4].numpy())
    assert heat.zmax == float(t[0].abs().max())  # the colours of the mosaic it came from
    assert len(cells.customdata) == 28 * 28 and cells.marker.opacity <= 0.05
    for i in (0, 27, 28, 400, 783):
        r, c = divmod(i, 28)
        assert list(cells.customdata[i]) == [r, c]
        assert (cells.x[i], cells.y[i]) == (c, r)
    assert fig.layout.clickmode == "event+select"
    assert len(channel_figure(t, 4, clickable=False).data) == 1


def test_channel_figure_marks_pool_winners() -> None:
    step = step_of("cnn", "max_pool2d", 0)
    fig = channel_figure(step.inputs[0], 6, winners=step.extras["indices"], clickable=False)
    _, dots = fig.data
    idx = step.extras["indices"][0, 6].reshape(-1).numpy()
    assert np.array_equal(dots.x, idx % 28) and np.array_equal(dots.y, idx // 28)


def test_vector_figure_bars_are_selectable_with_their_unit() -> None:
    t = traced("cnn").steps[8].output  # (1, 128)
    (bar,) = vector_figure(t, "fc1").data
    assert np.array_equal(bar.y, t[0].numpy())
    assert [list(u) for u in bar.customdata] == [[i] for i in range(128)]


# --- flow_dot --------------------------------------------------------------------------------

NODE = re.compile(r"^\s+(input|s\d+) \[", re.M)
EDGE = re.compile(r"^\s+(input|s\d+) -> (s\d+);", re.M)


@pytest.mark.parametrize("name", list(PRESETS))
def test_flow_has_a_node_per_step_and_an_edge_per_parent(name: str) -> None:
    t = traced(name)
    dot = flow_dot(t)
    assert dot.startswith("digraph") and "rankdir=TB" in dot
    assert sorted(NODE.findall(dot)) == sorted(["input", *(f"s{s.index}" for s in t.steps)])
    expected = {
        ("input" if p == INPUT else f"s{p}", f"s{s.index}") for s in t.steps for p in s.parents
    }
    assert set(EDGE.findall(dot)) == expected
    assert len(EDGE.findall(dot)) == sum(len(s.parents) for s in t.steps)


def test_flow_of_the_skip_net_shows_the_skip_connection() -> None:
    t = traced("skip")
    add = step_of("skip", "add")
    into_add = [a for a, b in EDGE.findall(flow_dot(t)) if b == f"s{add.index}"]
    assert len(into_add) == 2 and "s2" in into_add


def test_flow_labels_highlight_params_and_gradients() -> None:
    t = traced("cnn")
    dot = flow_dot(t, selected=3, show_params=True, grad_rms={0: 2.0, 7: 0.1})
    assert 's0 [label="conv2d · conv1\\n(1, 32, 28, 28)' in dot
    assert 'input [label="input\\n(1, 1, 28, 28)"' in dot
    selected = [line for line in dot.splitlines() if "penwidth" in line]
    assert len(selected) == 1 and selected[0].lstrip().startswith("s3 ")
    assert 'color="#1565c0"' in selected[0]  # a frame in no colour of the gradient scale
    assert 'label="conv1.weight\\n(32, 1, 3, 3)"' in dot and dot.count("style=dashed") == 8
    shaded = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\s+(s\d+) \[.*fillcolor=\"(#\w+)\"", dot, re.M)
    }
    assert shaded["s0"] != shaded["s7"]
    assert "grad RMS 2" in dot
    assert "(1, 1, 28, 28) → (1, 32, 28, 28)" in model_flow_dot(t)


def test_flow_shades_by_gradient_per_element_on_a_log_scale() -> None:
    from explorer.figures import grad_rms, grad_shades

    grads = {0: torch.full((1, 1000), 0.01), 1: torch.full((1, 10), 1.0), 2: torch.zeros(3)}
    rms = grad_rms(grads)
    assert rms[0] == pytest.approx(0.01) and rms[1] == pytest.approx(1.0)  # size, not count
    shades = grad_shades(rms)
    assert shades[0].low == pytest.approx(0.01) and shades[-1].high == pytest.approx(1.0)
    ratios = [s.high / s.low for s in shades]
    assert ratios == pytest.approx([ratios[0]] * len(shades))  # equal bands of the log
    t = traced("cnn")
    dot = flow_dot(t, show_params=True, grad_rms={0: 0.01, 1: 1.0}, per_row=4)
    fill = dict(re.findall(r"^\s+(s\d+) \[.*fillcolor=\"(#\w+)\"", dot, re.M))
    assert fill["s0"] == shades[0].colour and fill["s1"] == shades[-1].colour
    assert "weight (32, 1, 3, 3)" in dot and "shape=note" not in dot  # parameters in the box
    assert dot.count("rank=same") == -(-(len(t.steps) + 1) // 4)


def test_flow_escapes_quotes_in_labels() -> None:
    t = traced("simple_nn")
    odd = dataclasses.replace(t, steps=[dataclasses.replace(t.steps[0], module='my "fc"\\1')])
    dot = flow_dot(odd)
    assert 'my \\"fc\\"\\\\1' in dot
    assert dot.count('"') % 2 == 0


# --- payload ---------------------------------------------------------------------------------


def test_every_cnn_step_figure_fits_the_step_budget() -> None:
    for step in traced("cnn").steps:
        assert figure_bytes(step_figure(step)) <= STEP_BUDGET, step.op


def test_the_forward_page_of_the_cnn_fits_its_budget_at_every_step() -> None:
    """Per rerun: the selected step, a clicked channel and the class probabilities."""
    t = traced("cnn")
    probs = figure_bytes(probabilities_figure(t.output))
    channel = figure_bytes(channel_figure(t.steps[0].output, 0))
    sizes = [figure_bytes(step_figure(s)) for s in t.steps]
    assert max(sizes) + channel + probs <= PAGE_BUDGET
    # the whole set, every step once: a guard against a figure quietly growing
    assert sum(sizes) <= 1_400_000


def test_figures_never_import_streamlit() -> None:
    code = "import sys, explorer.figures; sys.exit('streamlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_overview_has_a_thumbnail_per_step_and_lights_the_current_one() -> None:
    from explorer.figures import overview_figure

    t = explorer.trace(explorer.load_model("cnn"), explorer.example_input("cnn"))
    fig = overview_figure(t, 3, classify=True, hidden={9, 10})
    assert len(fig.data) == len(t) + 1  # the input, then every step
    assert [int(tr.customdata.flat[0]) for tr in fig.data] == [-1, *range(len(t))]
    labels = [a.text for a in fig.layout.annotations if a.text != "?"]
    assert labels[4] == "<b>3·conv2d</b>" and len(fig.layout.shapes) == 1
    assert np.isnan(np.asarray(fig.data[-1].z, dtype=float)).all()  # hidden: blank
    assert sum(a.text == "?" for a in fig.layout.annotations) == 2
    probs = overview_figure(t, 0, classify=True).data[-1].z
    assert np.asarray(probs).sum() == pytest.approx(1.0, abs=1e-5)  # the last: softmax
    for tr in fig.data:
        assert np.asarray(tr.z).size <= 14 * 14  # thumbnails stay small: sent every rerun
