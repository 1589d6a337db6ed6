"""Every page under streamlit.testing.v1.AppTest, driven by widget keys."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from explorer import load_model, trace
from explorer.digits import preprocess_digit
from explorer.inputs import decode_upload, parse_numbers
from explorer.selection import DEFAULTS
from explorer.sources import Source
from ui import state as ui_state
from ui.state import Keys

TIMEOUT = 60
APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _app(page: str | None = None, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _drawing(digit: str = "1") -> np.ndarray:
    img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    d = ImageDraw.Draw(img)
    if digit == "1":
        d.line([(140, 40), (140, 240)], fill=(255, 255, 255, 255), width=22)
    else:  # "0"
        d.ellipse([80, 40, 200, 240], outline=(255, 255, 255, 255), width=22)
    return np.asarray(img)


def _step_figure(at: AppTest) -> dict:
    """The step's own figure (not the thumbnails of every step above it), as plotly JSON."""
    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("-step_figure"))
    return json.loads(chart.proto.spec)


def _loss_code(at: AppTest) -> str:
    """The /backward page's loss code block, found by its content: AppTest lists elements in
    the order their deltas arrived, and the page fills some containers after later ones."""
    return next(c.value for c in at.code if "loss = " in c.value)


def _stats(at: AppTest):
    """The step's statistics table (min, max, mean, fraction zero of its input and output)."""
    return next(d.value for d in at.dataframe if "fraction zero" in d.value.columns)


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [w.value for w in at.warning] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


def test_home_page_shows_the_flow_of_the_chosen_network() -> None:
    at = _app()
    assert at.title[0].value == "Forward Pass Explorer"
    assert at.selectbox(key=Keys.model).value == "cnn"
    dot = at.get("graphviz_chart")[0].proto.spec
    assert dot.count("conv2d") == 2 and "(1, 10)" in dot
    at.selectbox(key=Keys.model).set_value("skip").run()
    assert not at.exception
    assert "add" in at.get("graphviz_chart")[0].proto.spec


def test_a_new_session_starts_from_the_defaults_table() -> None:
    at = _app()
    assert {key: at.session_state[key] for key in DEFAULTS} == DEFAULTS
    assert at.radio(key=Keys.source).value is Source.SAMPLE


def test_every_preset_renders_every_page() -> None:
    at = _app()
    for name in ui_state.PRESETS:
        at.selectbox(key=Keys.model).set_value(name).run()
        source = Source.TYPED if ui_state.PRESETS[name].input_kind == "vector" else Source.SAMPLE
        at.radio(key=Keys.source).set_value(source).run()
        for page in ("views/home.py", "views/draw.py", "views/forward.py"):
            at.switch_page(page).run()
            assert not at.exception, (name, page, [e.message for e in at.exception])


def test_draw_page_predicts_the_drawn_digit() -> None:
    at = _app("views/draw.py")
    assert "Draw a digit" in _text(at)  # empty canvas: no prediction yet
    assert not at.metric
    at.session_state[Keys.drawing] = _drawing("1")
    at.run()
    assert at.metric[0].label == "Prediction" and at.metric[0].value == "1"
    probs = at.get("plotly_chart")
    assert probs, "the probabilities chart is shown"
    # Clear forgets the drawing
    clear = next(b for b in at.button if b.label == "Clear")
    clear.click().run()
    assert not at.metric and Keys.drawing not in at.session_state


def test_draw_page_says_not_sure_with_the_top_two(monkeypatch) -> None:
    """Below the threshold the page names two digits and their probabilities, not one."""
    import explorer.verdict

    at = _app("views/draw.py")
    at.session_state[Keys.drawing] = _drawing("1")
    monkeypatch.setattr(explorer.verdict, "UNSURE_BELOW", 1.01)  # no probability reaches it
    at.run()
    probs = torch.softmax(load_model("cnn")(preprocess_digit(_drawing("1"))).detach()[0], 0)
    best, second = probs.topk(2).indices.tolist()
    assert at.metric[0].label == "Not sure"
    assert at.metric[0].value == f"{best} or {second}"
    assert f"{best} at {probs[best]:.0%}, {second} at {probs[second]:.0%}" in _text(at)


def test_draw_page_refuses_a_vector_model_clearly() -> None:
    at = _app("views/draw.py", **{Keys.model: "simple_nn"})
    assert "typed numbers, not a drawing" in _text(at)


def test_forward_page_steps_and_keeps_the_step_in_the_url() -> None:
    at = _app("views/forward.py", **{Keys.source: Source.SAMPLE, Keys.sample: 3})
    assert at.slider(key=Keys.step).value == 0
    assert "conv2d" in _text(at)
    next_button = next(b for b in at.button if b.key == "next_step")
    next_button.click().run()
    assert at.slider(key=Keys.step).value == 1
    assert at.query_params.get("step") == ["1"] or at.query_params.get("step") == "1"
    at.slider(key=Keys.step).set_value(9).run()  # the dropout step of the cnn
    assert not at.exception
    assert "dropout" in _text(at).lower()


def test_forward_page_train_mode_changes_the_dropout_step() -> None:
    at = _app("views/forward.py", **{Keys.source: Source.SAMPLE, Keys.step: 9})
    eval_text = _text(at)
    assert "exactly the input" in eval_text and "eval mode" in eval_text
    at.toggle(key=Keys.train).set_value(True).run()
    assert not at.exception
    train_text = _text(at)
    assert "train mode" in train_text and "exactly the input" not in train_text
    assert "1.333" in train_text  # survivors are scaled by 1 / (1 - 0.25)
    seed = at.number_input(key=Keys.dropout_seed).value
    next(b for b in at.button if b.label == "Resample").click().run()
    assert at.number_input(key=Keys.dropout_seed).value == seed + 1


def test_two_sessions_do_not_share_mode_and_the_shared_model_is_untouched() -> None:
    train = _app("views/forward.py", **{Keys.source: Source.SAMPLE, Keys.step: 9, Keys.train: True})
    evals = _app("views/forward.py", **{Keys.source: Source.SAMPLE, Keys.step: 9})
    train.run()
    evals.run()
    assert "train mode" in _text(train) and "eval mode" in _text(evals)
    model = ui_state.shared_model("cnn")
    assert not any(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    # the eval session's pass equals a plain eval forward of a fresh copy of the weights
    images, _ = ui_state.samples()
    x = ui_state.image_to_tensor(images[0])
    with torch.no_grad():
        assert torch.equal(trace(model, x).output, load_model("cnn")(x))


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"edited_rows": {0: {"x1": None}}, "added_rows": [], "deleted_rows": []}, "finite"),
        ({"edited_rows": {}, "added_rows": [], "deleted_rows": [0]}, "at least one row"),
    ],
)
def test_typed_numbers_bad_input_gets_a_clear_message(edit, message) -> None:
    at = _app("views/forward.py", **{Keys.model: "simple_nn", Keys.source: Source.TYPED})
    assert not at.warning  # the tutorial's input [[0.5, 0.3, 0.2]] works
    at.session_state["editor_simple_nn"] = edit
    at.run()
    assert not at.exception
    assert message in _text(at)
    at.session_state["editor_simple_nn"] = {
        "edited_rows": {0: {"x1": 1.5}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.warning and at.slider(key=Keys.step).max == 2


def test_parse_numbers_checks_the_count() -> None:
    assert parse_numbers([[1, 2]], 2).shape == (1, 2)
    with pytest.raises(ValueError, match="3 numbers per row"):
        parse_numbers([[0.5, 0.3]], 3)
    with pytest.raises(ValueError, match="number"):
        parse_numbers([["a", "b", "c"]], 3)


def test_numbers_float32_cannot_hold_are_refused_with_the_limit() -> None:
    """Finite as float64, they used to become infinity in float32 without a word."""
    for values, shown in [
        ([[1e308, 0, 0]], "1e308"),
        ([[0, -3.5e38, 0]], "-3.5e38"),
        ([[10**400, 0, 0]], "A number in the table"),
    ]:  # past float64 too
        with pytest.raises(
            ValueError,
            match=f"{shown} is too large for float32, the type the "
            "network computes in: numbers up to about 3.4e38",
        ):
            parse_numbers(values, 3)
    x = parse_numbers([[3.4e38, -3.4e38, 1e-50]], 3)  # the largest fit; tiny ones become 0
    assert bool(torch.isfinite(x).all()) and x[0, 2] == 0


def test_an_input_the_network_cannot_take_gives_way_to_one_it_can() -> None:
    """SimpleNN opens on the tutorial's typed numbers, not on a warning about a drawing."""
    at = _app("views/forward.py", **{Keys.model: "simple_nn", Keys.source: Source.DRAW})
    assert at.radio(key=Keys.source).value == Source.TYPED
    assert not at.warning and at.slider(key=Keys.step).max == 2
    at.selectbox(key=Keys.model).set_value("cnn").run()
    assert at.radio(key=Keys.source).value == Source.SAMPLE and not at.warning
    at.radio(key=Keys.source).set_value(Source.RANDOM).run()  # Random feeds both kinds: kept
    at.selectbox(key=Keys.model).set_value("forward_demo").run()
    assert at.radio(key=Keys.source).value == Source.RANDOM and not at.warning


def _png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_upload_decoding_handles_good_and_bad_files() -> None:
    white_page = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(white_page).line([(100, 30), (100, 170)], fill=0, width=18)
    digit = decode_upload(_png(white_page))
    assert digit[0, 0] == 0 and digit[100, 100] == 255  # dark ink on paper was inverted
    assert preprocess_digit(digit).shape == (1, 1, 28, 28)
    for bad, words in [
        (b"", "empty"),
        (b"not an image at all", "not an image"),
        (_png(white_page)[:200], "could not be read"),
        (_png(Image.new("L", (64, 64)), "GIF"), "PNG or JPEG"),
    ]:
        with pytest.raises(ValueError, match=words):
            decode_upload(bad)


def test_a_palette_png_keeps_its_transparency() -> None:
    """White ink on a transparent white page, saved as a palette PNG (transparency in a tRNS
    chunk, no alpha band): it used to lose the transparency and read as an empty page."""
    page = Image.new("RGBA", (100, 100), (255, 255, 255, 0))
    ImageDraw.Draw(page).line([(50, 15), (50, 85)], fill=(255, 255, 255, 255), width=10)
    png = _png(page.convert("P"))
    assert Image.open(io.BytesIO(png)).mode == "P"
    digit = decode_upload(png)
    assert digit[0, 0] == 0 and digit[50, 50] == 255
    assert preprocess_digit(digit).shape == (1, 1, 28, 28)


def test_upload_refuses_a_decompression_bomb_before_decoding() -> None:
    huge = _png(Image.new("1", (5000, 5000)))  # tiny file, 25 megapixels
    with pytest.raises(ValueError, match="4096x4096"):
        decode_upload(huge)


def test_upload_through_the_sidebar_feeds_every_page() -> None:
    at = _app("views/forward.py", **{Keys.source: Source.UPLOAD})
    assert "Upload a PNG or JPEG" in _text(at)
    paper = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(paper).line([(100, 30), (100, 170)], fill=0, width=18)  # a "1" in pen
    at.file_uploader(key=Keys.upload).set_value(("one.png", _png(paper), "image/png")).run()
    assert not at.exception and not at.warning
    assert "conv2d" in _text(at)
    at.switch_page("views/draw.py").run()  # /draw predicts only from the canvas
    assert not at.exception
    at.switch_page("views/forward.py").run()
    at.file_uploader(key=Keys.upload).set_value(("bad.png", b"\x89PNG broken", "image/png"))
    at.run()
    assert not at.exception
    assert "not an image" in _text(at) or "could not be read" in _text(at)
    at.radio(key=Keys.source).set_value(Source.SAMPLE).run()  # the other choices still work
    assert not at.warning


def test_forward_expanders_build_their_content_only_when_open() -> None:
    at = _app("views/forward.py", **{Keys.step: 7})  # fc1 of the cnn
    closed_charts = len(at.get("plotly_chart"))
    assert "torch computed" not in _text(at)
    at.session_state[Keys.units_open] = True
    at.session_state[Keys.compare_open] = True
    at.run()
    assert not at.exception
    text = _text(at)
    assert "torch computed" in text  # the unit's computation, checked against torch's value
    assert "Prediction in **train** mode" in text
    assert len(at.get("plotly_chart")) == closed_charts + 3  # units, train|eval dropout, output


def _loss(at: AppTest) -> float:
    return float(next(m.value for m in at.metric if m.label == "Loss"))


def test_backward_page_shows_gradients_and_a_session_only_sgd_step() -> None:
    at = _app("views/backward.py")
    assert "ConvolutionBackward0" in _text(at)
    dot = at.get("graphviz_chart")[0].proto.spec
    assert "grad RMS" in dot and "weight (32, 1, 3, 3)" in dot
    predicted = _loss(at)
    at.radio(key=Keys.target_kind).set_value("Another class").run()
    at.number_input(key=Keys.target_class).set_value(3).run()
    assert "torch.tensor([3])" in _loss_code(at)
    wrong = _loss(at)
    assert wrong > predicted  # sample #0 is a 0: calling it a 3 costs more
    shared = {k: v.clone() for k, v in ui_state.shared_model("cnn").state_dict().items()}

    next(b for b in at.button if b.key == "sgd_apply").click().run()
    assert not at.exception
    stepped = _loss(at)
    assert stepped < wrong
    assert f"{wrong:.4f} → {stepped:.4f}" in _text(at)
    for k, v in ui_state.shared_model("cnn").state_dict().items():
        assert torch.equal(v, shared[k]), k  # only this session's copy moved
    assert all(p.grad is None for p in ui_state.shared_model("cnn").parameters())

    other = _app("views/backward.py")
    other.radio(key=Keys.target_kind).set_value("Another class").run()
    other.number_input(key=Keys.target_class).set_value(3).run()
    assert _loss(other) == pytest.approx(wrong)  # another student still has the trained model

    # this session's forward pass runs on its own weights now; the other session's does not
    for session in (at, other):
        session.session_state[Keys.step] = 10
        session.switch_page("views/forward.py").run()
    mine, theirs = _stats(at), _stats(other)
    assert not mine.loc["output"].equals(theirs.loc["output"])
    assert not mine.loc["input"].equals(theirs.loc["input"])  # fc2's input moved too

    at.switch_page("views/backward.py").run()
    at.radio(key=Keys.target_kind).set_value("Another class").run()
    at.number_input(key=Keys.target_class).set_value(3).run()
    next(b for b in at.button if b.key == "sgd_undo").click().run()
    assert _loss(at) == pytest.approx(wrong)
    assert Keys.params("cnn") not in at.session_state


@pytest.mark.parametrize("name", ["simple_nn", "autoencoder", "skip", "conditional", "bn_cnn"])
def test_backward_page_works_for_every_kind_of_model(name: str) -> None:
    source = Source.TYPED if ui_state.PRESETS[name].input_kind == "vector" else Source.SAMPLE
    at = _app("views/backward.py", **{Keys.model: name, Keys.source: source})
    assert not at.warning, [w.value for w in at.warning]
    if name == "simple_nn":
        assert "F.mse_loss(model(x), target)" in _loss_code(at)
        at.number_input(key=Keys.target_value).set_value(5.0).run()
        assert "[[5.0]]" in _loss_code(at)
    if name == "autoencoder":
        assert "F.mse_loss(model(x), x)" in _loss_code(at)
    steps = at.selectbox(key=Keys.grad_step).options
    at.selectbox(key=Keys.grad_step).set_value(len(steps) - 1).run()
    assert not at.exception


def test_a_shared_link_opens_the_same_view_and_bad_values_are_named() -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(
        {"model": "mlp", "sample": "4", "mode": "train", "seed": "3", "step": "2", "rseed": "oops"}
    )
    at.run()
    assert "rseed" in " ".join(w.value for w in at.warning)  # named once, on arrival
    at.switch_page("views/forward.py").run()
    assert not at.exception
    assert at.selectbox(key=Keys.model).value == "mlp"
    assert at.selectbox(key=Keys.sample).value == 4
    assert at.toggle(key=Keys.train).value is True
    assert at.number_input(key=Keys.dropout_seed).value == 3
    assert at.slider(key=Keys.step).value == 2
    link = next(c.value for c in at.code if "?" in c.value)
    for part in ("model=mlp", "sample=4", "mode=train", "seed=3"):
        assert part in link
    assert at.query_params["step"] in ("2", ["2"])


def test_typed_numbers_from_a_link_fill_the_table() -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"model": "simple_nn", "input": "typed", "x": "1,2,3"})
    at.run()
    at.switch_page("views/forward.py").run()
    assert not at.exception and not at.warning
    assert "(1, 3)" in _text(at)
    assert at.query_params["x"] in ("1,2,3", ["1,2,3"])
    assert np.array_equal(at.session_state[Keys.typed("simple_nn")], [[1.0, 2.0, 3.0]])
    stats = _stats(at)  # step 0's input row: the linked numbers themselves
    assert stats.loc["input", "min"] == 1.0 and stats.loc["input", "max"] == 3.0


def test_a_link_with_the_wrong_count_of_numbers_says_so() -> None:
    """It used to be dropped without a word: the table just showed the default numbers."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"model": "simple_nn", "input": "typed", "x": "1,2"})
    at.run()
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "**x**: SimpleNN (3-4-1) takes 3 numbers per row; the link has 2" in warning
    assert np.array_equal(at.session_state[Keys.typed("simple_nn")], [[0.5, 0.3, 0.2]])  # default
    assert at.radio(key=Keys.source).value == Source.TYPED  # the rest of the link holds


def test_forward_says_when_numbers_overflow_inside_the_network(tmp_path, monkeypatch) -> None:
    """1e30 fits float32, but a weight of 1e30 makes it 1e60: /forward names the step."""
    from explorer.builder import LayerSpec, NetworkSpec, NetworkStore

    monkeypatch.setenv("FPE_DATA_DIR", str(tmp_path))
    spec = NetworkSpec(
        "Big", "vector", 1, (LayerSpec("Linear", {"in_features": 1, "out_features": 1}),)
    )
    NetworkStore(tmp_path).save(
        "Big", spec, {"fc1.weight": torch.tensor([[1e30]]), "fc1.bias": torch.zeros(1)}
    )
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"model": "yours:Big", "input": "typed", "x": "1e30"})
    at.switch_page("views/forward.py")
    at.run()
    assert not at.exception
    assert "From step 0 (linear) on, some values are infinite or NaN" in _text(at)


def test_projector_mode_enlarges_text_and_figures() -> None:
    at = _app("views/forward.py", **{Keys.step: 7})
    normal = _step_figure(at)
    at.toggle(key=Keys.projector).set_value(True).run()
    assert not at.exception
    big = _step_figure(at)
    assert big["layout"]["font"]["size"] == 20
    assert big["layout"]["height"] > normal["layout"].get("height", 0)
    assert any("font-size: 22px" in h.proto.body for h in at.get("html"))


def test_shared_figures_follow_each_sessions_view() -> None:
    """Figures are built once per pass and shared between sessions: a session in projector
    mode, in train mode or on another step must not get another session's figure."""
    plain = _app("views/forward.py", **{Keys.step: 9})
    big = _app("views/forward.py", **{Keys.step: 9, Keys.projector: True})
    train = _app("views/forward.py", **{Keys.step: 9, Keys.train: True})
    later = _app("views/forward.py", **{Keys.step: 8})
    plain.run()  # again, after the others filled the cache

    def spec(at: AppTest) -> dict:
        return _step_figure(at)

    assert spec(big)["layout"]["font"]["size"] == 20
    assert spec(plain)["layout"].get("font", {}).get("size") != 20
    assert spec(plain) != spec(train) and spec(plain) != spec(later)
    again = _app("views/forward.py", **{Keys.step: 9})
    assert spec(again) == spec(plain)  # the same pass and step: the same figure
    # and the figure shows what torch computed for this session's pass
    images, _ = ui_state.samples()
    step = trace(
        ui_state.shared_model("cnn"), ui_state.image_to_tensor(images[0]), train=True, seed=0
    ).steps[9]
    values = np.concatenate([step.inputs[0].numpy().ravel(), step.output.numpy().ravel(), [1]])
    shown = np.concatenate([_plotly_array(tr["z"]) for tr in spec(train)["data"] if "z" in tr])
    shown = shown[np.isfinite(shown)]
    # before | mask | after: the pass's own numbers (and the mask's 0s and 1s), as float32
    assert shown.size and np.isin(shown.astype(np.float32), values).all()


def test_the_strip_is_shared_per_step_and_lights_each_sessions_own() -> None:
    """The thumbnails strip is built once per pass and step for the class (it was most of a
    follower's rerun), yet each session's strip lights its own step, in its own mode."""

    def strip(at: AppTest) -> str:
        return next(
            c.proto.spec for c in at.get("plotly_chart") if c.proto.id.endswith("-overview_strip")
        )

    nine = _app("views/forward.py", **{Keys.step: 9})
    eight = _app("views/forward.py", **{Keys.step: 8})
    big = _app("views/forward.py", **{Keys.step: 9, Keys.projector: True})
    again = _app("views/forward.py", **{Keys.step: 9})
    assert strip(nine) != strip(eight) and strip(nine) != strip(big)
    assert strip(again) == strip(nine)
    nine.run()  # shown again from the shared copy: unchanged by having been sent
    assert strip(nine) == strip(again)


def test_shared_backward_figures_follow_each_sessions_target() -> None:
    """Backward passes and their figures are shared per target: another target, another
    figure; the same target, the same figure and loss."""

    def gradient_spec(at: AppTest) -> str:
        return next(c.proto.spec for c in at.get("plotly_chart") if c.proto.id.endswith("grad_out"))

    predicted = _app("views/backward.py")
    other = _app("views/backward.py")
    other.radio(key=Keys.target_kind).set_value("Another class").run()
    other.number_input(key=Keys.target_class).set_value(3).run()
    again = _app("views/backward.py")
    assert gradient_spec(predicted) != gradient_spec(other)
    assert gradient_spec(again) == gradient_spec(predicted)
    assert _loss(again) == _loss(predicted) != _loss(other)


def _plotly_array(z) -> np.ndarray:
    """A plotly JSON array: a list, or a typed array {"dtype", "bdata", "shape"}."""
    if isinstance(z, dict):
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).astype(float)
    return np.array(
        [np.nan if v is None else v for v in np.ravel(np.array(z, dtype=object))], dtype=float
    )


def test_forward_page_offers_the_downloads() -> None:
    closed = _app("views/forward.py")
    assert not closed.get("download_button")  # made only while their expander is open
    at = _app("views/forward.py", **{Keys.downloads_open: True})
    labels = {b.proto.label for b in at.get("download_button")}
    assert labels == {
        "Activations (.npz)",
        "Activations (.csv)",
        "Model code (.py)",
        "Weights (.pt)",
    }


def test_a_link_opens_a_network_saved_for_the_class(tmp_path, monkeypatch) -> None:
    """A teacher saves a network on /build; a link naming it (as the model picker does,
    ``yours:<name>``) opens it in every student's session. A name that is not saved is named
    and ignored."""
    from explorer.builder import NetworkStore
    from explorer.builder.presets import from_preset, preset_weights

    monkeypatch.setenv("FPE_DATA_DIR", str(tmp_path))
    NetworkStore(tmp_path).save("Class MLP", from_preset("mlp"), preset_weights("mlp"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"model": "yours:Class MLP", "sample": "4", "step": "3"})
    at.switch_page("views/forward.py")  # the student opens the link on /forward
    at.run()  # (one run: AppTest replays a selectbox whose options grew as its old value)
    assert not at.exception and not at.warning
    assert at.selectbox(key=Keys.model).value == "yours:Class MLP"
    assert "Class MLP (yours)" in _text(at)
    # the saved network's last step, as torch computes it with the saved weights
    images, _ = ui_state.samples()
    with torch.no_grad():
        want = load_model("mlp")(ui_state.image_to_tensor(images[4]))
    out = _stats(at).loc["output"]
    assert out["max"] == pytest.approx(float(want.max()), abs=1e-4)
    assert out["min"] == pytest.approx(float(want.min()), abs=1e-4)

    missing = AppTest.from_file(APP, default_timeout=TIMEOUT)
    missing.query_params.update({"model": "yours:Nobody saved this"})
    missing.run()
    assert "Nobody saved this" in " ".join(w.value for w in missing.warning)
    assert missing.selectbox(key=Keys.model).value == "cnn"


def test_one_page_registry_routes_the_app_and_fills_home() -> None:
    from ui.pages import PAGES

    at = _app()
    links = [link.proto.page for link in at.get("page_link")]
    assert links == [p.url_path for p in PAGES if p.blurb]  # a card for every page but Home
    for p in PAGES:
        if p.url_path:
            assert not _app(p.path).exception


def test_backward_state_outlives_a_visit_to_another_page_and_travels_in_the_link() -> None:
    at = _app("views/backward.py")
    at.radio(key=Keys.target_kind).set_value("Another class").run()
    at.number_input(key=Keys.target_class).set_value(6).run()
    at.number_input(key=Keys.lr).set_value(1.0).run()
    steps = at.selectbox(key=Keys.grad_step).options
    at.selectbox(key=Keys.grad_step).set_value(4).run()
    before = _loss(at)
    next(b for b in at.button if b.key == "sgd_apply").click().run()
    # lr 1.0 on one example: the loss collapses and the page says so
    assert _loss(at) < 1e-4 < before
    assert any("drove the loss" in w.value for w in at.warning)

    at.switch_page("views/forward.py").run()
    assert any("1 SGD step applied" in i.value for i in at.info)  # every page names it
    at.switch_page("views/backward.py").run()
    assert at.radio(key=Keys.target_kind).value == "Another class"
    assert at.number_input(key=Keys.target_class).value == 6
    assert at.number_input(key=Keys.lr).value == 1.0
    assert at.selectbox(key=Keys.grad_step).value == 4 and len(steps) > 4
    params = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert params == {"target": "6", "lr": "1", "gstep": "4", "sgd": "1:6"}

    student = AppTest.from_file(APP, default_timeout=TIMEOUT)
    student.query_params.update(params)
    student.run()
    student.switch_page("views/backward.py").run()
    assert not student.exception
    assert student.radio(key=Keys.target_kind).value == "Another class"
    assert student.number_input(key=Keys.lr).value == 1.0
    assert len(student.session_state[Keys.history("cnn")]) == 1
    mine, theirs = at.session_state[Keys.params("cnn")], student.session_state[Keys.params("cnn")]
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)  # the same step, replayed

    next(b for b in student.button if b.key == "sgd_banner_reset").click().run()
    assert Keys.params("cnn") not in student.session_state
    assert not any("SGD step" in i.value for i in student.info)
