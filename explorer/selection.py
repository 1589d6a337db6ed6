"""What a student is looking at: the session-state keys the widgets write, the values a new
session starts with (``DEFAULTS``, read by the sidebar and by links), and the sidebar's choices
resolved into an input tensor (``Selection``). Plain records, no Streamlit: ``ui.state`` fills
them in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from explorer.digits import DigitStages
from explorer.sources import Source
from explorer.zoo import Preset

PATHS = {"Let the data decide": None, "Deep path": True, "Shallow path": False}
TARGETS = ("Predicted class", "True label", "Another class")


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
    downloads_open = "downloads_open"
    weights_open = "weights_open"
    predict = "predict_first"  # /forward hides each step until the student predicts it
    playing = "playing"  # /forward's Play is stepping through the pass
    pace = "play_pace"  # seconds per step while playing
    strip = "overview_strip"  # the thumbnails of every step (a click jumps to one)
    target_kind = "target_kind"  # /backward: which target the loss compares with
    target_class = "target_class"
    target_value = "target_value"  # a typed target for a model with one output number
    grad_step = "grad_step"
    lr = "learning_rate"
    sgd_replay = "sgd_replay"  # SGD steps a link asked for, replayed once the input is known
    # widgets of one page whose values must outlive a visit to another page (Streamlit drops
    # the state of widgets a run did not draw)
    sticky = (target_kind, target_class, target_value, grad_step, lr)
    # the sidebar's choices, which a follower's sidebar shows as text (the teacher's view)
    followed = (model, source, sample, random_seed, train, dropout_seed, path)

    projector = "projector"  # large type and figures for the back of a room
    link_adopted = "link_adopted"  # this session has read the link it was opened with
    networks = "my_networks"  # networks built and trained on /build, by picker name

    # the class (ui/classroom.py)
    browser = "browser_token"  # this browser's random token (kept in a cookie): owner of saves
    teacher = "teacher_token"  # set once the teacher key was exchanged (kept in a cookie)
    cookies_due = "cookies_due"  # tokens to write into the browser's cookies on this run
    teacher_key = "teacher_key_typed"  # the key typed on /teach
    key_error = "teacher_key_error"
    follow = "follow_teacher"  # the sidebar switch
    follow_code = "follow_code"  # the class followed (or to follow)
    follow_applied = "follow_applied"  # the version of the teacher's view this session shows
    follow_drawn = "follow_drawn"  # ... and the last one a run drew to its end
    follow_pending = "follow_pending"  # a newer view, applied before the next run's widgets
    follow_seen = "follow_heartbeat"  # when this session last told the store it follows
    class_lost = "class_lost"  # the database stopped answering: everyone goes on alone
    leading = "leading_code"  # the class this teacher session leads
    published = "published_view"  # what the teacher last published (to publish changes only)
    nickname = "nickname"
    class_answers = "class_answers"  # question id -> this student's graded answer
    ask_kind = "ask_kind"  # the question kind the teacher is about to ask

    @staticmethod
    def typed_start(model: str) -> str:
        """Typed numbers a link brought; the table starts from them."""
        return f"typed_start_{model}"

    @staticmethod
    def params(model: str) -> str:
        """This session's weights for ``model`` after SGD steps (absent: the shared ones)."""
        return f"params_{model}"

    @staticmethod
    def history(model: str) -> str:
        """The SGD steps taken, newest last, for undo (``SgdStep``s)."""
        return f"sgd_history_{model}"

    @staticmethod
    def typed(model: str) -> str:
        return f"typed_{model}"


# What a new session starts with, by session key: the sidebar sets these before its first run
# (``ui.state.defaults``), and a link leaves out every value equal to its default.
DEFAULTS: dict[str, Any] = {
    Keys.model: "cnn",
    # a student opening a shared link sees a real digit at once; drawing on /draw switches the
    # input to the drawing
    Keys.source: Source.SAMPLE,
    Keys.sample: 0,
    Keys.random_seed: 0,
    Keys.train: False,
    Keys.dropout_seed: 0,
    Keys.path: next(iter(PATHS)),
    Keys.step: 0,
    Keys.canvas: 0,
    Keys.stroke: 20,
    Keys.channel_view: "All channels",
    Keys.channel: 0,
    Keys.target_kind: TARGETS[0],
    Keys.target_class: 0,
    Keys.target_value: 1.0,  # a regression's target
    Keys.grad_step: 0,
    Keys.lr: 0.1,
}

# The part of the state a link carries, by the name ``explorer.links`` gives it.
LINK_KEYS = {
    "model": Keys.model,
    "source": Keys.source,
    "sample": Keys.sample,
    "random_seed": Keys.random_seed,
    "train": Keys.train,
    "dropout_seed": Keys.dropout_seed,
    "path": Keys.path,
    "step": Keys.step,
    "grad_step": Keys.grad_step,
    "lr": Keys.lr,
}


@dataclass(frozen=True)
class SgdStep:
    """One SGD step a session took: enough to undo it, and to replay it from a link."""

    before: dict[str, torch.Tensor] | None  # the weights before it (None: the shared ones)
    loss: float  # the loss it descended from
    prediction: Any  # the prediction before it (None: not a classifier)
    lr: float
    target: float | None  # the class, or the value aimed for; None: the input (autoencoder)


@dataclass
class Selection:
    """What the sidebar chose, resolved into tensors."""

    model_name: str
    preset: Preset
    source: Source
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
