"""The one module of ``explorer`` that touches Streamlit: session state and caches.

Everything a page needs to know about "what is this student looking at" comes from
``current_selection()``: the model, its input tensor (or a message saying why there is none),
train/eval and the dropout seed. Widgets write their values under the keys in ``Keys``.

Sharing rule: ``shared_model`` is cached once per server and handed to every session. It is
never switched to train mode, never hooked, never given ``.grad``: ``explorer.trace`` runs
train-mode passes on a private view (``explorer.session_view``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import streamlit as st
import torch
import torch.nn as nn
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer import links
from explorer.builder import NetworkSpec, NetworkStore, analyse, compile_network, generate_code
from explorer.builder.store import default_data_dir
from explorer.classroom.classes import ClassStore
from explorer.classroom.db import DATABASE_URL_ENV, Database, open_database
from explorer.classroom.teacher import KEY_ENV, TeacherKey, configured_key
from explorer.digits import has_ink
from explorer.explain import overflow_note as _overflow_note
from explorer.gradients import Backward, backward
from explorer.selection import DEFAULTS as DEFAULTS
from explorer.selection import LINK_KEYS as LINK_KEYS
from explorer.selection import PATHS as PATHS
from explorer.selection import TARGETS as TARGETS
from explorer.selection import Keys as Keys
from explorer.selection import Selection as Selection
from explorer.selection import SgdStep as SgdStep
from explorer.sources import Gallery, InputSettings, Source, fitting, resolve, source_of
from explorer.sources import image_to_tensor as image_to_tensor
from explorer.trace import Trace, trace
from explorer.zoo import PRESETS, Preset, load_model

SAMPLES_PATH = Path(__file__).resolve().parent.parent / "sample_data" / "mnist_samples.npz"

# --- caches ----------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the model...")
def shared_model(name: str) -> nn.Module:
    """One model object per preset for the whole server (read-only; see the module doc)."""
    model = load_model(name)
    for p in model.parameters():
        p.requires_grad_(False)  # nobody's forward pass builds a graph on the shared weights
    return model


@st.cache_resource(show_spinner=False)
def samples() -> tuple[np.ndarray, np.ndarray]:
    """The shipped gallery: uint8 images (N, 28, 28) and their labels (shared, read-only)."""
    with np.load(SAMPLES_PATH) as data:
        images, labels = data["images"], data["labels"]
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


@dataclass
class SessionNetwork:
    """A network a student built and trained: in this session's model picker only."""

    preset: Preset
    model: nn.Module
    spec: NetworkSpec


def session_networks() -> dict[str, SessionNetwork]:
    return st.session_state.setdefault(Keys.networks, {})


def class_store() -> NetworkStore:
    """The networks saved for the class (the class database: see ``database``)."""
    return NetworkStore(database=database())


def classes() -> ClassStore:
    """Who leads, the view, questions and answers (the class database)."""
    return _classes(_database_address())


def database() -> Database:
    """PostgreSQL when $FPE_DATABASE_URL is set (replicas share one class), else SQLite under
    $FPE_DATA_DIR (./data). Opened, and migrated, once per server process."""
    return _database(_database_address())


def _database_address() -> str:
    return os.environ.get(DATABASE_URL_ENV) or f"sqlite:{default_data_dir()}"


@st.cache_resource(show_spinner=False)
def _database(address: str) -> Database:
    if address.startswith("sqlite:"):
        return open_database(url="", directory=address.removeprefix("sqlite:"))
    return open_database(url=address)


@st.cache_resource(show_spinner=False)
def _classes(address: str) -> ClassStore:
    return ClassStore(_database(address))


@st.cache_resource(show_spinner=False)
def teacher_key() -> TeacherKey:
    """The server's teacher key: $FPE_TEACHER_KEY, or one made when this process first runs
    the app, printed in its console with the teacher's link."""
    key = configured_key()
    if key.generated:
        port = st.get_option("server.port")
        print(
            f"\n  Teacher key: {key.value}\n  Teacher's link: http://localhost:{port}/teach?"
            f"key={key.value}\n  (set {KEY_ENV} to choose the key; replicas need the same "
            "one)\n",
            flush=True,
        )
    return key


def add_session_network(spec: NetworkSpec, state: dict[str, torch.Tensor]) -> str:
    """Put a built network into this session's model picker; returns its picker name.

    It runs as the generated code (``generate_code``), so /forward highlights the lines of the
    ``forward()`` the student can download, with the trained weights loaded.
    """
    model = compile_network(generate_code(spec))()
    model.load_state_dict(state)
    model.eval()
    report = analyse(spec)
    out = report.output_shape or ()
    classify = spec.input_kind == "image" and out == (10,)
    name = f"{links.SAVED_PREFIX}{spec.name}"
    preset = Preset(
        name,
        f"{spec.name} (yours)",
        f"Built on /build: {len(spec.layers)} layers.",
        spec.input_kind,
        spec.input_shape,
        "classify" if classify else "regress",
        factory=lambda: model,
        default_input=None if spec.input_kind == "image" else ((0.0,) * spec.input_shape[0],),
    )
    session_networks()[name] = SessionNetwork(preset, model, spec)
    st.session_state.pop(Keys.params(name), None)
    return name


def model_names() -> list[str]:
    return [*PRESETS, *session_networks()]


def preset_of(name: str) -> Preset:
    if name in PRESETS:
        return PRESETS[name]
    mine = session_networks().get(name)
    return mine.preset if mine is not None else PRESETS["cnn"]


def model_of(name: str) -> nn.Module:
    """The shared preset model, or this session's own network."""
    mine = session_networks().get(name)
    return mine.model if mine is not None else shared_model(name if name in PRESETS else "cnn")


def run_trace(sel: Selection, *, train: bool | None = None) -> Trace:
    """Trace the selection on the shared model, in this session's mode, seed and weights.

    A pass on a preset's shared weights is the same for every session that asks for it, so it
    is traced once and shared (a class looking at sample #0 costs one trace); the result is
    read-only. A pass on this session's own weights is traced for this session alone.
    """
    assert sel.x is not None
    mode = sel.train if train is None else train
    key = pass_key(sel, train=mode)
    if key is not None:
        return _shared_trace(key, sel.model_name, sel.x, mode, sel.seed, sel.forward_kwargs)
    return trace(
        model_of(sel.model_name),
        sel.x,
        train=mode,
        seed=sel.seed,
        params=session_params(sel.model_name),
        **sel.forward_kwargs,
    )


def overflow_note(sel: Selection, t: Trace) -> str | None:
    """``explorer.explain.overflow_note`` of the selection's pass, looked for once per pass."""
    key = pass_key(sel, train=t.training)
    return _overflow_note(t) if key is None else _shared_overflow(key, t)


@st.cache_resource(max_entries=128, show_spinner=False)
def _shared_overflow(key: tuple, _t: Trace) -> str | None:
    return _overflow_note(_t)  # every step's isfinite: not once per student and rerun


def pass_key(sel: Selection, *, train: bool | None = None) -> tuple | None:
    """What makes this forward pass what it is, as a hashable key shared by every session:
    preset, the input's bytes, mode, seed and forward() arguments. None when the pass runs on
    this session's own weights (SGD steps, a network built here): those are not shared."""
    name = sel.model_name
    if sel.x is None or name not in PRESETS or session_params(name) is not None:
        return None
    x = sel.x.detach().to("cpu").contiguous()
    digest = hashlib.blake2b(x.numpy().tobytes(), digest_size=16).hexdigest()
    mode = sel.train if train is None else train
    kwargs = tuple(sorted(sel.forward_kwargs.items()))
    return (name, tuple(x.shape), str(x.dtype), digest, bool(mode), int(sel.seed), kwargs)


@st.cache_resource(max_entries=128, show_spinner=False)
def _shared_trace(
    key: tuple, name: str, _x: torch.Tensor, train: bool, seed: int, _forward_kwargs: dict[str, Any]
) -> Trace:
    """One trace per ``pass_key`` for the whole server (``key`` names it; ``_x`` is not hashed
    again). About 0.5 MB for the CNN, so the cache holds at most some 64 MB."""
    return trace(shared_model(name), _x.clone(), train=train, seed=seed, **_forward_kwargs)


def run_backward(sel: Selection, target: Any) -> Backward:
    """The backward pass of the selection against ``target`` (ValueError on a bad target).

    Shared like ``run_trace``: once per ``backward_key`` for the whole server, read-only."""
    assert sel.x is not None
    key = backward_key(sel, target)
    if key is not None:
        return _shared_backward(
            key, sel.model_name, sel.x, target, sel.train, sel.seed, sel.forward_kwargs
        )
    return backward(
        model_of(sel.model_name),
        sel.x,
        target,
        train=sel.train,
        seed=sel.seed,
        params=session_params(sel.model_name),
        **sel.forward_kwargs,
    )


def backward_key(sel: Selection, target: Any) -> tuple | None:
    """``pass_key`` and the target: names a backward pass for every session (None: not
    shared, see ``pass_key``)."""
    key = pass_key(sel)
    if key is None:
        return None
    if isinstance(target, torch.Tensor):
        target = ("tensor", tuple(target.shape), tuple(target.detach().flatten().tolist()))
    return (*key, "backward", target)


@st.cache_resource(max_entries=64, show_spinner=False)
def _shared_backward(
    key: tuple,
    name: str,
    _x: torch.Tensor,
    _target: Any,
    train: bool,
    seed: int,
    _forward_kwargs: dict[str, Any],
) -> Backward:
    return backward(
        shared_model(name), _x.clone(), _target, train=train, seed=seed, **_forward_kwargs
    )


def session_params(model: str) -> dict[str, torch.Tensor] | None:
    return st.session_state.get(Keys.params(model))


def sgd_history(model: str) -> list[SgdStep]:
    return st.session_state.get(Keys.history(model), [])


# --- the selection ---------------------------------------------------------------------------


def defaults() -> None:
    """Initial values (``explorer.selection.DEFAULTS``), set once per session before any widget
    is drawn; the links leave out the same values."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


def timer_run() -> bool:
    """Is this run a fragment's own (its timer), not a run of the whole page?"""
    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def keep_sticky_widgets() -> None:
    """Keep /backward's target, step and learning rate while another page is shown."""
    keep_widgets(Keys.sticky)


def keep_widgets(keys: tuple[str, ...]) -> None:
    """Keep these widgets' values through a run that does not draw them: Streamlit forgets a
    widget's value after such a run, unless the script wrote it."""
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def adopt_link() -> list[links.Ignored]:
    """Once per session: take the state a shared link asks for; what it had to ignore, and why."""
    if st.session_state.get(Keys.link_adopted):
        return []
    st.session_state[Keys.link_adopted] = True
    values, ignored = links.from_params(st.query_params.to_dict())
    model = values.get("model")
    if model is not None and model not in PRESETS and model not in session_networks():
        name = model.removeprefix(links.SAVED_PREFIX)
        try:  # a network the teacher saved for the class: load it into this session
            values["model"] = add_session_network(*class_store().load(name))
        except ValueError:
            del values["model"]
            ignored.append(
                links.Ignored("model", f"no network called “{name}” is saved for the class")
            )
    model = values.get("model", links.DEFAULTS["model"])
    typed = values.pop("typed", None)
    if typed is not None:  # only now is it known how many numbers the model takes
        problem = links.typed_problem(typed, preset_of(model))
        if problem:
            ignored.append(links.Ignored("x", problem))
        else:
            st.session_state[Keys.typed_start(model)] = typed
            st.session_state[Keys.typed(model)] = np.array(typed, dtype=np.float64)
    if "target" in values:
        problem = _adopt_target(values.pop("target"), preset_of(model))
        if problem:
            ignored.append(links.Ignored("target", problem))
    if "sgd" in values:
        st.session_state[Keys.sgd_replay] = values.pop("sgd")
    for key, value in values.items():
        st.session_state[LINK_KEYS[key]] = value
    return ignored


def _adopt_target(target: str | float, preset: Preset) -> str | None:
    """Set the /backward target a link asks for; why it cannot be used, if it cannot."""
    if isinstance(target, str):
        if preset.task != "classify":
            return f"{preset.title} is not a classifier: its target is a number"
        st.session_state[Keys.target_kind] = target
    elif preset.task == "classify":
        if not float(target).is_integer() or not 0 <= target <= 9:
            return "a class is a whole number from 0 to 9"
        st.session_state[Keys.target_kind] = "Another class"
        st.session_state[Keys.target_class] = int(target)
    elif preset.task == "regress":
        st.session_state[Keys.target_value] = float(target)
    return None


def link_state(*, with_step: bool = False) -> dict[str, Any]:
    """This session's view as ``explorer.links`` describes it."""
    state = {k: st.session_state.get(key, links.DEFAULTS[k]) for k, key in LINK_KEYS.items()}
    state["source"] = chosen_source()
    if not with_step:
        state["step"] = 0
    typed = st.session_state.get(Keys.typed(state["model"]))
    state["typed"] = None if typed is None else np.asarray(typed).tolist()
    state["target"] = _link_target(preset_of(state["model"]))
    state["sgd"] = tuple((s.lr, s.target) for s in sgd_history(state["model"]))
    return state


def _link_target(preset: Preset) -> str | float:
    state = st.session_state
    if preset.task == "classify":
        kind = state.get(Keys.target_kind, DEFAULTS[Keys.target_kind])
        return float(state.get(Keys.target_class, 0)) if kind == "Another class" else kind
    if preset.task == "regress":
        value = float(state.get(Keys.target_value, DEFAULTS[Keys.target_value]))
        return value if value != DEFAULTS[Keys.target_value] else links.DEFAULTS["target"]
    return links.DEFAULTS["target"]


def publish_link(*, with_step: bool = False) -> None:
    """Write this session's view into the address bar, so copying the URL shares it."""
    params = links.to_params(link_state(with_step=with_step))
    if params != st.query_params.to_dict():
        st.query_params.from_dict(params)


def share_url() -> str:
    """A link to this page in this session's state (the step too, on /forward)."""
    url = urlsplit(st.context.url or "http://localhost:8501/")
    return links.share_url(
        f"{url.scheme}://{url.netloc}",
        url.path,
        link_state(with_step=url.path.rstrip("/").endswith("forward")),
    )


def get(key: str, default: Any = None) -> Any:
    return st.session_state.get(key, default)


def resample_dropout() -> None:
    """Button callback: the next dropout seed, so a new mask is drawn."""
    st.session_state[Keys.dropout_seed] = int(st.session_state.get(Keys.dropout_seed, 0)) + 1


def remember_typed(model: str, values: np.ndarray) -> None:
    st.session_state[Keys.typed(model)] = values


def remember_drawing(image: np.ndarray | None, canvas: Any = None) -> bool:
    """Keep the canvas image for the other pages if it has ink; True if it did.

    An empty image from a canvas (``canvas``: its mount) that had ink is the canvas's own
    bin: the drawing and its prediction go too, as with Clear. An empty new canvas keeps the
    last drawing, so coming back to the page loses nothing."""
    if image is None:
        return False
    if not has_ink(image):
        if canvas is not None and st.session_state.get(_INKED_CANVAS) == canvas:
            st.session_state.pop(Keys.drawing, None)
            st.session_state.pop(_INKED_CANVAS, None)
        return False
    st.session_state[Keys.drawing] = np.array(image, dtype=np.uint8)
    st.session_state[_INKED_CANVAS] = canvas
    return True


_INKED_CANVAS = "drawing_canvas"  # the canvas mount that drew the kept drawing


def drawing_changed() -> None:
    """Canvas callback: a new stroke makes the drawing this session's input everywhere."""
    if chosen_source() != Source.DRAW:
        st.session_state[Keys.source] = Source.DRAW
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


def chosen_source() -> Source:
    """The sidebar's input source. The session keeps a ``Source`` (a class view or an old
    session may hold its word); this is the one place that reads it."""
    return source_of(st.session_state.get(Keys.source), DEFAULTS[Keys.source])


def fit_source_to_model() -> None:
    """An input kind the chosen network cannot take gives way to one it can, before the
    sidebar draws: SimpleNN opens on the tutorial's typed numbers, the CNN on a sample digit."""
    preset = preset_of(st.session_state.get(Keys.model, DEFAULTS[Keys.model]))
    st.session_state[Keys.source] = fitting(chosen_source(), preset)


def keep_choice(key: str, options: list[str]) -> None:
    """Fall back to the first option when the stored one is no longer offered."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0]


def clamp(key: str, lo: int, hi: int) -> int:
    """Keep a stored number inside [lo, hi] before its widget is drawn (ranges change)."""
    value = min(max(int(st.session_state.get(key, lo)), lo), hi)
    st.session_state[key] = value
    return value


def clamp_step(n_steps: int) -> int:
    """Keep the selected step inside this trace (another model may have fewer steps).

    A new session took the step from the link it opened (``adopt_link``).
    """
    return clamp(Keys.step, 0, n_steps - 1)


def move_step(delta: int, n_steps: int) -> None:
    """Previous/next button callback."""
    st.session_state[Keys.step] = min(
        max(int(st.session_state.get(Keys.step, 0)) + delta, 0), n_steps - 1
    )


def current_selection() -> Selection:
    """Resolve the sidebar's choices into an input tensor, or a message saying what is wrong."""
    state = st.session_state
    name = state.get(Keys.model, DEFAULTS[Keys.model])
    preset = preset_of(name)
    source = chosen_source()
    sel = Selection(
        name,
        preset,
        source,
        None,
        train=bool(state.get(Keys.train, False)),
        seed=int(state.get(Keys.dropout_seed, 0)),
    )
    if preset.branch_argument:
        sel.forward_kwargs = {preset.branch_argument: PATHS.get(state.get(Keys.path, ""))}
    upload = state.get(Keys.upload)
    settings = InputSettings(
        sample=int(state.get(Keys.sample, 0)),
        random_seed=int(state.get(Keys.random_seed, 0)),
        typed=state.get(Keys.typed(name)),
        drawing=state.get(Keys.drawing),
        upload=None if upload is None else upload.getvalue(),
    )
    got = resolve(preset, source, settings, Gallery(*samples()))
    sel.x, sel.message, sel.label, sel.stages = got.x, got.message, got.label, got.stages
    return sel
