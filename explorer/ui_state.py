"""The one module of ``explorer`` that touches Streamlit: session state and caches.

Everything a page needs to know about "what is this student looking at" comes from
``current_selection()``: the model, its input tensor (or a message saying why there is none),
train/eval and the dropout seed. Widgets write their values under the keys in ``Keys``.

Sharing rule: ``shared_model`` is cached once per server and handed to every session. It is
never switched to train mode, never hooked, never given ``.grad``: ``explorer.trace`` runs
train-mode passes on a private view (``explorer.session_view``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
import torch
import torch.nn as nn
from PIL import Image, UnidentifiedImageError

from explorer.digits import DigitStages, digit_stages, has_ink
from explorer.mnist import MNIST_MEAN, MNIST_STD
from explorer.trace import Trace, trace
from explorer.zoo import PRESETS, Preset, load_model

SAMPLES_PATH = Path(__file__).resolve().parent.parent / "sample_data" / "mnist_samples.npz"
MAX_UPLOAD_PIXELS = 4096 * 4096  # larger images are refused before they are decoded
SOURCES = ("Draw", "Sample", "Upload", "Typed numbers", "Random")
PATHS = {"Let the data decide": None, "Deep path": True, "Shallow path": False}


class Keys:
    """Session-state keys; widgets use them, tests drive them."""

    model = "model"
    source = "input_source"
    sample = "sample_id"
    upload = "upload"
    random_seed = "random_seed"
    train = "train_mode"
    dropout_seed = "dropout_seed"
    path = "conditional_path"
    drawing = "drawing"  # the last canvas image with ink (RGBA uint8), set by /draw
    canvas = "canvas_version"  # bumped by "Clear" so the canvas remounts empty
    source_switched = "source_switched"  # the canvas switched the input; the sidebar lags
    stroke = "stroke_width"
    step = "step"
    channel_view = "channel_view"
    channel = "channel"
    units_open = "units_open"  # the /forward expanders, open or closed
    compare_open = "compare_open"

    @staticmethod
    def typed(model: str) -> str:
        return f"typed_{model}"


@dataclass
class Selection:
    """What the sidebar chose, resolved into tensors."""

    model_name: str
    preset: Preset
    source: str
    x: torch.Tensor | None  # None when the chosen input cannot be used; see ``message``
    message: str | None = None  # why there is no input, or a note about the input
    label: int | None = None  # the true digit, for a shipped sample
    stages: DigitStages | None = None  # preprocessing stages of a drawn or uploaded digit
    train: bool = False
    seed: int = 0
    forward_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.x is not None


# --- caches ----------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the model...")
def shared_model(name: str) -> nn.Module:
    """One model object per preset for the whole server (read-only; see the module doc)."""
    model = load_model(name)
    for p in model.parameters():
        p.requires_grad_(False)  # nobody's forward pass builds a graph on the shared weights
    return model


@st.cache_data(show_spinner=False)
def samples() -> tuple[np.ndarray, np.ndarray]:
    """The shipped gallery: uint8 images (N, 28, 28) and their labels."""
    with np.load(SAMPLES_PATH) as data:
        return data["images"], data["labels"]


def run_trace(sel: Selection, *, train: bool | None = None) -> Trace:
    """Trace the selection on the shared model, in this session's mode and seed."""
    assert sel.x is not None
    mode = sel.train if train is None else train
    return trace(shared_model(sel.model_name), sel.x, train=mode, seed=sel.seed,
                 **sel.forward_kwargs)


# --- the selection ---------------------------------------------------------------------------


def defaults() -> None:
    """Initial values, set once per session before any widget is drawn."""
    state = st.session_state
    state.setdefault(Keys.model, "cnn")
    # A new session (a student opening a shared link) sees a real digit at once; drawing on
    # /draw switches the input to the drawing (``drawing_changed``).
    state.setdefault(Keys.source, "Sample")
    state.setdefault(Keys.sample, 0)
    state.setdefault(Keys.random_seed, 0)
    state.setdefault(Keys.train, False)
    state.setdefault(Keys.dropout_seed, 0)
    state.setdefault(Keys.path, next(iter(PATHS)))
    state.setdefault(Keys.canvas, 0)
    state.setdefault(Keys.stroke, 20)
    state.setdefault(Keys.channel_view, "All channels")
    state.setdefault(Keys.channel, 0)


def get(key: str, default: Any = None) -> Any:
    return st.session_state.get(key, default)


def resample_dropout() -> None:
    """Button callback: the next dropout seed, so a new mask is drawn."""
    st.session_state[Keys.dropout_seed] = int(st.session_state.get(Keys.dropout_seed, 0)) + 1


def remember_typed(model: str, values: np.ndarray) -> None:
    st.session_state[Keys.typed(model)] = values


def remember_drawing(image: np.ndarray | None) -> bool:
    """Keep the canvas image for the other pages if it has ink; True if it did."""
    if image is None or not has_ink(image):
        return False
    st.session_state[Keys.drawing] = np.array(image, dtype=np.uint8)
    return True


def drawing_changed() -> None:
    """Canvas callback: a new stroke makes the drawing this session's input everywhere."""
    if st.session_state.get(Keys.source) != "Draw":
        st.session_state[Keys.source] = "Draw"
        st.session_state[Keys.source_switched] = True


def sidebar_is_stale() -> bool:
    """True once after ``drawing_changed`` switched the input.

    The canvas reruns only its fragment, so the sidebar's radio still shows the old choice and
    would send it back on the next full rerun; the caller reruns the whole app to redraw it.
    """
    return bool(st.session_state.pop(Keys.source_switched, False))


def last_drawing() -> np.ndarray | None:
    return st.session_state.get(Keys.drawing)


def clear_drawing() -> None:
    """Button callback: forget the drawing and remount an empty canvas."""
    st.session_state.pop(Keys.drawing, None)
    st.session_state[Keys.canvas] = int(st.session_state.get(Keys.canvas, 0)) + 1


def clamp(key: str, lo: int, hi: int) -> int:
    """Keep a stored number inside [lo, hi] before its widget is drawn (ranges change)."""
    value = min(max(int(st.session_state.get(key, lo)), lo), hi)
    st.session_state[key] = value
    return value


def clamp_step(n_steps: int) -> int:
    """Keep the selected step inside this trace (another model may have fewer steps).

    A new session takes the step from the link it opened (``?step=``): the slider is bound to
    that query parameter, but it is drawn after this runs.
    """
    if Keys.step not in st.session_state:
        raw = st.query_params.get(Keys.step, "0")
        st.session_state[Keys.step] = int(raw) if raw.isdigit() else 0
    return clamp(Keys.step, 0, n_steps - 1)


def move_step(delta: int, n_steps: int) -> None:
    """Previous/next button callback."""
    st.session_state[Keys.step] = min(max(int(st.session_state.get(Keys.step, 0)) + delta, 0),
                                      n_steps - 1)


def current_selection() -> Selection:
    """Resolve the sidebar's choices into an input tensor, or a message saying what is wrong."""
    state = st.session_state
    name = state.get(Keys.model, "cnn")
    preset = PRESETS[name]
    source = state.get(Keys.source, "Sample")
    sel = Selection(name, preset, source, None, train=bool(state.get(Keys.train, False)),
                    seed=int(state.get(Keys.dropout_seed, 0)))
    if name == "conditional":
        sel.forward_kwargs = {"deep": PATHS.get(state.get(Keys.path))}
    if source == "Random":
        gen = torch.Generator().manual_seed(int(state.get(Keys.random_seed, 0)))
        sel.x = torch.randn((1, *preset.input_shape), generator=gen)
        return sel
    if preset.input_kind == "vector":
        return _vector_input(sel)
    if source == "Typed numbers":
        sel.message = (f"{preset.title} takes a 28x28 image, not typed numbers: choose Draw, "
                       "Sample, Upload or Random in the sidebar.")
        return sel
    if source == "Sample":
        images, labels = samples()
        i = int(state.get(Keys.sample, 0)) % len(images)
        sel.x = image_to_tensor(images[i])
        sel.label = int(labels[i])
        return sel
    if source == "Upload":
        return _upload_input(sel)
    return _drawn_input(sel)


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """A centred 28x28 uint8 MNIST image -> the normalised (1, 1, 28, 28) model input."""
    x = torch.from_numpy(image.astype(np.float32) / 255.0)
    return ((x - MNIST_MEAN) / MNIST_STD).view(1, 1, 28, 28)


def _vector_input(sel: Selection) -> Selection:
    n = sel.preset.input_shape[0]
    if sel.source != "Typed numbers":
        sel.message = (f"{sel.preset.title} takes {n} numbers, not an image: choose Typed "
                       "numbers or Random in the sidebar.")
        return sel
    values = st.session_state.get(Keys.typed(sel.model_name))
    if values is None:
        values = np.array(sel.preset.default_input, dtype=np.float64)
    try:
        sel.x = parse_numbers(values, n)
    except ValueError as err:
        sel.message = str(err)
    return sel


def parse_numbers(values: Any, n: int) -> torch.Tensor:
    """Typed numbers (a table or nested list) -> a (rows, n) float32 tensor, or ValueError."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("Every cell must be a number (like 0.5 or -2).") from None
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != n:
        got = array.shape[-1] if array.ndim else 0
        raise ValueError(f"This model takes {n} numbers per row; the table has {got}.")
    if array.shape[0] == 0:
        raise ValueError("Type at least one row of numbers.")
    if not np.isfinite(array).all():
        raise ValueError("Every cell needs a finite number: empty cells, NaN and infinity "
                         "cannot go through a network.")
    return torch.from_numpy(array.astype(np.float32))


def _drawn_input(sel: Selection) -> Selection:
    drawing = st.session_state.get(Keys.drawing)
    if drawing is None or not has_ink(drawing):
        sel.message = ("Nothing drawn yet: draw a digit on the Draw page, or choose Sample in "
                       "the sidebar.")
        return sel
    return _from_image(sel, drawing)


def _upload_input(sel: Selection) -> Selection:
    upload = st.session_state.get(Keys.upload)
    if upload is None:
        sel.message = "Upload a PNG or JPEG of a digit in the sidebar."
        return sel
    try:
        image = decode_upload(upload.getvalue())
    except ValueError as err:
        sel.message = str(err)
        return sel
    return _from_image(sel, image)


def _from_image(sel: Selection, image: np.ndarray) -> Selection:
    try:
        sel.stages = digit_stages(image)
    except ValueError as err:
        sel.message = str(err)
        return sel
    sel.x = sel.stages.tensor
    return sel


def decode_upload(data: bytes) -> np.ndarray:
    """Uploaded bytes -> an array ``digit_stages`` accepts (ink bright), or a clear ValueError."""
    if not data:
        raise ValueError("The uploaded file is empty.")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_UPLOAD_PIXELS:
                raise ValueError(f"The image is {img.width}x{img.height} pixels; images up to "
                                 "4096x4096 are accepted.")
            if img.format not in ("PNG", "JPEG"):
                raise ValueError(f"Please upload a PNG or JPEG (this file is {img.format}).")
            img.load()
            gray = np.asarray(img.convert("LA") if "A" in img.getbands() else img.convert("L"))
    except UnidentifiedImageError:
        raise ValueError("That file is not an image PNG or JPEG can read.") from None
    except (OSError, Image.DecompressionBombError, SyntaxError) as err:
        raise ValueError(f"The image could not be read ({err}); is the file complete?") from None
    if gray.ndim == 3:  # LA: ink is luminance times alpha, as on the canvas
        lum, alpha = gray[..., 0].astype(np.float32), gray[..., 1].astype(np.float32) / 255
        opaque = alpha > 0.5
        if opaque.mean() > 0.9 and lum[opaque].mean() > 127:  # dark digit on a light page
            lum = 255 - lum
        return (lum * alpha).astype(np.uint8)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if border.mean() > 127:  # dark ink on white paper: MNIST digits are white on black
        gray = 255 - gray
    return gray
