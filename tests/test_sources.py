"""Input sources: every source into an image network and a vector network, straight through
``resolve()`` (no Streamlit), against tensors made the direct way; bad values give a message."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from explorer.digits import digit_stages
from explorer.inputs import decode_upload
from explorer.sources import (
    Gallery,
    InputSettings,
    Source,
    fitting,
    image_to_tensor,
    resolve,
    source_of,
)
from explorer.zoo import PRESETS

CNN, SIMPLE = PRESETS["cnn"], PRESETS["simple_nn"]
SAMPLES = Path(__file__).resolve().parent.parent / "sample_data" / "mnist_samples.npz"


@pytest.fixture(scope="module")
def gallery() -> Gallery:
    with np.load(SAMPLES) as data:
        return Gallery(data["images"], data["labels"])


def _canvas() -> np.ndarray:
    """A "1" on the canvas: white ink on black, RGBA as the canvas gives it."""
    img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    ImageDraw.Draw(img).line([(140, 40), (140, 240)], fill=(255, 255, 255, 255), width=22)
    return np.asarray(img)


def _png() -> bytes:
    """A dark "1" in pen on white paper."""
    paper = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(paper).line([(100, 30), (100, 170)], fill=0, width=18)
    buf = io.BytesIO()
    paper.save(buf, format="PNG")
    return buf.getvalue()


def test_the_sources_keep_their_words_labels_and_order() -> None:
    """The radio's labels and the links' words, in the sidebar's order."""
    assert [s.label for s in Source] == ["Draw", "Sample", "Upload", "Typed numbers", "Random"]
    assert [s.value for s in Source] == ["draw", "sample", "upload", "typed", "random"]
    assert [s for s in Source if s.fits(CNN)] == [
        Source.DRAW,
        Source.SAMPLE,
        Source.UPLOAD,
        Source.RANDOM,
    ]
    assert [s for s in Source if s.fits(SIMPLE)] == [Source.TYPED, Source.RANDOM]


def test_a_source_the_network_cannot_take_gives_way_to_the_one_it_opens_on() -> None:
    assert fitting(Source.DRAW, SIMPLE) == Source.TYPED
    assert fitting(Source.TYPED, CNN) == Source.SAMPLE
    assert fitting(Source.RANDOM, SIMPLE) == Source.RANDOM == fitting(Source.RANDOM, CNN)
    assert fitting(Source.UPLOAD, CNN) == Source.UPLOAD


def test_a_stored_source_is_read_from_itself_or_its_word() -> None:
    assert source_of(Source.UPLOAD, Source.SAMPLE) is Source.UPLOAD
    assert source_of("typed", Source.SAMPLE) is Source.TYPED
    for junk in ("Typed numbers", None, 3, "webcam"):  # a label is not a stored value
        assert source_of(junk, Source.SAMPLE) is Source.SAMPLE


def test_a_sample_is_the_gallery_image_and_its_label(gallery: Gallery) -> None:
    got = resolve(CNN, Source.SAMPLE, InputSettings(sample=5), gallery)
    assert got.ok and got.message is None
    assert torch.equal(got.x, image_to_tensor(gallery.images[5]))
    assert got.label == int(gallery.labels[5]) and got.stages is None
    wrapped = resolve(CNN, Source.SAMPLE, InputSettings(sample=5 + len(gallery.images)), gallery)
    assert torch.equal(wrapped.x, got.x)  # a link's index past the end wraps around


def test_image_to_tensor_normalises_like_mnist() -> None:
    image = np.zeros((28, 28), np.uint8)
    image[3, 4] = 255
    x = image_to_tensor(image)
    assert x.shape == (1, 1, 28, 28)
    assert x[0, 0, 0, 0].item() == pytest.approx(-0.1307 / 0.3081, rel=1e-6)
    assert x[0, 0, 3, 4].item() == pytest.approx((1 - 0.1307) / 0.3081, rel=1e-6)


@pytest.mark.parametrize("preset", [CNN, SIMPLE], ids=["image", "vector"])
def test_random_is_torch_randn_from_the_seed(preset) -> None:
    got = resolve(preset, Source.RANDOM, InputSettings(random_seed=42))
    want = torch.randn((1, *preset.input_shape), generator=torch.Generator().manual_seed(42))
    assert torch.equal(got.x, want)
    other = resolve(preset, Source.RANDOM, InputSettings(random_seed=43))
    assert not torch.equal(other.x, want)


def test_typed_numbers_go_in_as_typed_or_as_the_preset_default() -> None:
    got = resolve(SIMPLE, Source.TYPED, InputSettings(typed=[[1.0, 2.0, 3.0], [0, 0, -1]]))
    assert torch.equal(got.x, torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, -1.0]]))
    default = resolve(SIMPLE, Source.TYPED, InputSettings())
    assert torch.equal(default.x, torch.tensor(SIMPLE.default_input, dtype=torch.float32))


def test_a_drawing_goes_through_the_digit_preprocessing() -> None:
    canvas = _canvas()
    got = resolve(CNN, Source.DRAW, InputSettings(drawing=canvas))
    assert got.stages is not None and got.label is None
    assert torch.equal(got.x, digit_stages(canvas).tensor)


def test_an_upload_is_decoded_then_preprocessed() -> None:
    got = resolve(CNN, Source.UPLOAD, InputSettings(upload=_png()))
    assert got.stages is not None
    assert torch.equal(got.x, digit_stages(decode_upload(_png())).tensor)


def test_an_image_network_asks_for_an_image_instead_of_typed_numbers() -> None:
    got = resolve(CNN, Source.TYPED, InputSettings(typed=[[1.0, 2.0, 3.0]]))
    assert got.x is None
    assert got.message == (
        "MNIST CNN takes a 28x28 image, not typed numbers: choose Draw, Sample, Upload or "
        "Random in the sidebar."
    )


@pytest.mark.parametrize("source", [Source.DRAW, Source.SAMPLE, Source.UPLOAD])
def test_a_vector_network_asks_for_numbers_instead_of_an_image(source, gallery) -> None:
    settings = InputSettings(drawing=_canvas(), upload=_png())
    got = resolve(SIMPLE, source, settings, gallery)
    assert got.x is None
    assert got.message == (
        "SimpleNN (3-4-1) takes 3 numbers, not an image: choose Typed numbers or Random in "
        "the sidebar."
    )


@pytest.mark.parametrize(
    "preset, source, settings, words",
    [
        (CNN, Source.DRAW, InputSettings(), "Nothing drawn yet"),
        (CNN, Source.DRAW, InputSettings(drawing=np.zeros((280, 280, 4), np.uint8)), "Nothing"),
        (CNN, Source.DRAW, InputSettings(drawing=np.zeros(5, np.uint8)), "must be shaped"),
        (CNN, Source.UPLOAD, InputSettings(), "Upload a PNG or JPEG"),
        (CNN, Source.UPLOAD, InputSettings(upload=b"not an image"), "not an image"),
        (CNN, Source.UPLOAD, InputSettings(upload=b""), "empty"),
        (CNN, Source.SAMPLE, InputSettings(), "No sample digits"),  # no gallery given
        (CNN, Source.RANDOM, InputSettings(random_seed=-1), "from 0 to 2,147,483,647"),
        (CNN, Source.RANDOM, InputSettings(random_seed=2**40), "whole number"),
        (SIMPLE, Source.RANDOM, InputSettings(random_seed=1.5), "whole number"),  # type: ignore[arg-type]
        (SIMPLE, Source.TYPED, InputSettings(typed=[[1.0, 2.0]]), "3 numbers per row"),
        (SIMPLE, Source.TYPED, InputSettings(typed=[[1.0, float("nan"), 2]]), "finite"),
        (SIMPLE, Source.TYPED, InputSettings(typed=[["a", "b", "c"]]), "number"),
        (SIMPLE, Source.TYPED, InputSettings(typed=[[1e308, 0, 0]]), "too large for float32"),
        (SIMPLE, Source.TYPED, InputSettings(typed=np.zeros((0, 3))), "at least one row"),
    ],
)
def test_bad_values_give_a_message_not_an_exception(preset, source, settings, words) -> None:
    got = resolve(preset, source, settings)
    assert got.x is None and not got.ok
    assert words in (got.message or ""), got.message


def test_a_bad_sample_index_gives_a_message(gallery: Gallery) -> None:
    got = resolve(CNN, Source.SAMPLE, InputSettings(sample="seven"), gallery)  # type: ignore[arg-type]
    assert got.x is None and "by its number" in (got.message or "")


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("source", list(Source))
def test_every_source_into_every_preset_gives_an_input_or_a_message(name, source, gallery):
    preset = PRESETS[name]
    settings = InputSettings(sample=1, random_seed=3, drawing=_canvas(), upload=_png())
    got = resolve(preset, source, settings, gallery)
    assert (got.x is None) != (got.message is None), (got.x, got.message)
    assert got.ok == source.fits(preset)  # these settings are all good ones
    if got.ok:
        assert got.x.shape == (*got.x.shape[:1], *preset.input_shape)
