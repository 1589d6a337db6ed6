"""Fuzzing everything that reads untrusted input: arbitrary input gives a valid result or a
clear ``ValueError``, never another exception, and never takes long.

The readers: typed numbers and uploads (``explorer.inputs``), digit preprocessing
(``explorer.digits``), shared links (``explorer.links``), network JSON
(``explorer.builder.spec_json``) and ``.pt`` weights (``explorer.builder.weights``).
Each bug these found also has a plain regression test in the file of its module.
"""

from __future__ import annotations

import io
import json
import math
import warnings
import zipfile
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from explorer.builder import LayerSpec, NetworkSpec
from explorer.builder.spec_json import export_spec_json, import_spec_json
from explorer.builder.weights import expected_state, import_weights
from explorer.digits import SIDE, digit_stages
from explorer.inputs import FLOAT32_MAX, decode_upload, parse_numbers
from explorer.links import DEFAULTS, from_params

# Not a registered profile: that would change hypothesis' settings for every test module.
# derandomize: the same examples on every run, so CI is repeatable; the deadline is the "no
# hang" half of the property (generous, for a loaded 2-core machine).
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=2_000,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Python's own words, which mean a bug slipped through as a ValueError nobody wrote for students.
INTERNAL = (
    "could not convert",
    "cannot convert",
    "invalid literal",
    "Exceeds the limit",
    "set_int_max_str_digits",
    "not subscriptable",
    "unhashable",
    "too many values",
    "not enough values",
)

T = TypeVar("T")


def clear_error_or(call: Callable[[], T]) -> T | None:
    """The result of ``call``, or None if it raised a ValueError a student can read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a library's warning is a problem the code ignored
            result = call()
    except ValueError as err:
        message = str(err)
        assert message.strip(), "a ValueError with no message"
        assert not any(word in message for word in INTERNAL), message
        event("refused")  # --hypothesis-show-statistics: how often each side is reached
        return None
    event("accepted")
    return result


# --- typed numbers ---------------------------------------------------------------------------

cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e40, max_value=1e40),  # around float32's limit
    st.integers(min_value=-(10**400), max_value=10**400),
    st.text(max_size=12),
    st.none(),
    st.booleans(),
)


@st.composite
def tables(draw: st.DrawFn) -> tuple[Any, int]:
    """Typed values and the count the model takes: any nested cells, or rows of that count."""
    n = draw(st.integers(min_value=1, max_value=5))
    numbers = st.floats(-1e39, 1e39) | st.integers(-(10**40), 10**40)
    rows = st.lists(st.lists(numbers, min_size=n, max_size=n), min_size=1, max_size=4)
    anything = st.lists(st.lists(cells, max_size=5), max_size=5) | st.lists(cells, max_size=5)
    return draw(rows | anything | cells), n


@FUZZ
@given(tables())
def test_typed_numbers_are_a_finite_float32_table_or_refused(table: tuple[Any, int]) -> None:
    values, n = table
    x = clear_error_or(lambda: parse_numbers(values, n))
    if x is not None:
        assert x.dtype == torch.float32 and x.dim() == 2 and x.shape[1] == n
        assert x.shape[0] >= 1 and bool(torch.isfinite(x).all())


# --- uploads and digits ----------------------------------------------------------------------

MODES = {"PNG": ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"], "JPEG": ["L", "RGB", "CMYK"]}


@st.composite
def images(draw: st.DrawFn) -> bytes:
    """A real PNG or JPEG: any mode those formats store, odd sizes and aspect ratios."""
    fmt = draw(st.sampled_from(sorted(MODES)))
    mode = draw(st.sampled_from(MODES[fmt]))
    side = st.sampled_from([1, 2, 3, 7, 8, 9, 28, 61]) | st.integers(1, 400)
    width, height = draw(side), draw(side)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pixels = rng.integers(0, 256, (height, width, 4), np.uint8)  # (H, W, RGBA)
    pixels[draw(st.integers(0, height - 1)) :] = draw(st.sampled_from([0, 255]))  # a flat part
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, fmt)
    return buffer.getvalue()


@st.composite
def damaged(draw: st.DrawFn, files: st.SearchStrategy[bytes]) -> bytes:
    """A real file cut short or with some bytes overwritten."""
    data = bytearray(draw(files))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@FUZZ
@given(st.binary(max_size=2_000) | images() | damaged(images()))
def test_an_upload_is_a_grayscale_image_or_refused(data: bytes) -> None:
    gray = clear_error_or(lambda: decode_upload(data))
    if gray is not None:
        assert gray.dtype == np.uint8 and gray.ndim == 2
        stages = clear_error_or(lambda: digit_stages(gray))
        assert stages is None or tuple(stages.tensor.shape) == (1, 1, SIDE, SIDE)


sides = st.sampled_from([0, 1, 2, 7, 8, 9, 28, 280, 4096, 5000])
pixel_arrays = st.one_of(
    hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=12)),
    hnp.arrays(
        np.uint8,
        st.tuples(sides, sides).filter(lambda s: s[0] * s[1] <= 50_000),
        elements=st.sampled_from([0, 30, 255]),
        fill=st.just(np.uint8(0)),
    ),
    hnp.arrays(
        np.uint8,
        st.tuples(st.integers(8, 40), st.integers(8, 40), st.sampled_from([1, 2, 3, 4, 5])),
    ),
    hnp.arrays(np.float32, st.tuples(st.integers(8, 30), st.integers(8, 30))),
)


@FUZZ
@given(pixel_arrays)
def test_any_pixels_give_a_digit_or_a_reason(image: np.ndarray) -> None:
    stages = clear_error_or(lambda: digit_stages(image))
    if stages is not None:
        assert stages.tensor.dtype == torch.float32
        assert tuple(stages.tensor.shape) == (1, 1, SIDE, SIDE)
        assert bool(torch.isfinite(stages.tensor).all())
        assert stages.centred.min() >= 0 and stages.centred.max() <= 1


# --- links -----------------------------------------------------------------------------------

NAMES = ["model", "input", "sample", "rseed", "seed", "step", "mode", "path", "x"]
link_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "cnn",
            "mlp",
            "simple_nn",
            "yours:My net",
            "typed",
            "train",
            "deep",
            "1e308",
            "-0",
            "1_000",
            "٣",
            "nan",
            "inf",
            "3.4e38",
            "3.5e38",
            "1e-50",
        ]
    ),
    st.lists(
        st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**50), 10**50),
        min_size=1,
        max_size=8,
    ).map(lambda v: ",".join(map(str, v))),
    st.lists(st.lists(st.floats(-1e39, 1e39), min_size=1, max_size=4), min_size=1, max_size=4).map(
        lambda rows: ";".join(",".join(map(repr, r)) for r in rows)
    ),
)


@FUZZ
@given(st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=8), link_values, max_size=6))
def test_a_link_gives_valid_state_and_names_what_it_ignored(params: dict[str, str]) -> None:
    state, ignored = from_params(params)
    assert set(state) <= set(DEFAULTS)
    assert {i.name for i in ignored} <= set(params)
    assert all(i.reason.strip() and not any(w in i.reason for w in INTERNAL) for i in ignored)
    for row in state.get("typed", ()):
        assert all(math.isfinite(v) and abs(v) <= FLOAT32_MAX for v in row)


# --- network JSON ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
KINDS = [
    "Linear",
    "Conv2d",
    "ReLU",
    "Dropout",
    "Residual",
    "MaxPool2d",
    "BatchNorm1d",
    "Flatten",
    "Nope",
]


@st.composite
def almost_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A network dict close to a valid one, with some fields replaced by anything."""
    plain = st.sampled_from(
        [
            {"kind": "ReLU"},
            {"kind": "Flatten", "params": {}},
            {"kind": "Dropout", "params": {"p": 0.5}},
            {"kind": "Linear", "params": {"in_features": 3, "out_features": 2}},
        ]
    )
    odd = st.fixed_dictionaries(
        {"kind": st.sampled_from(KINDS)},
        optional={
            "params": st.dictionaries(
                st.sampled_from(["in_features", "out_features", "p", "kernel_size", "bias", "x"]),
                json_values | st.integers(-(10**400), 10**400),
                max_size=3,
            ),
            "children": st.lists(
                st.fixed_dictionaries({"kind": st.sampled_from(KINDS)}), max_size=2
            ),
        },
    )
    kind = draw(st.sampled_from(["image", "vector"]))
    spec = {
        "format": "forward-pass-explorer/network",
        "version": 1,
        "name": "Net",
        "input_kind": kind,
        "input_features": None if kind == "image" else 3,
        "layers": draw(st.lists(plain | odd, max_size=4)),
    }
    for key in draw(st.lists(st.sampled_from([*spec, "extra"]), max_size=2)):  # often none
        spec[key] = draw(json_values)
    return spec


def _dumps(data: Any) -> str:
    # Python's int -> str limit (4300 digits) is the writer's problem, not the reader's
    return json.dumps(data) if not _huge_int(data) else "[1" + "0" * 5_000 + "]"


def _huge_int(data: Any) -> bool:
    if isinstance(data, int) and not isinstance(data, bool):
        return abs(data) >= 10**4000
    if isinstance(data, dict):
        return any(_huge_int(v) for v in data.values())
    return isinstance(data, list) and any(_huge_int(v) for v in data)


@FUZZ
@given(
    st.one_of(
        almost_specs().map(_dumps),
        json_values.map(json.dumps),
        st.text(max_size=200),
        st.binary(max_size=200),
        st.sampled_from(['{"a": NaN}', "[" * 100_000, "1" * 5_000, '{"name": 1' + "0" * 400 + "}"]),
    )
)
def test_network_json_is_a_spec_or_refused(text: str | bytes) -> None:
    spec = clear_error_or(lambda: import_spec_json(text))
    if spec is not None:
        assert import_spec_json(export_spec_json(spec)) == spec


# --- .pt weights -----------------------------------------------------------------------------

SMALL = NetworkSpec(
    "Small",
    "vector",
    3,
    (
        LayerSpec("Linear", {"in_features": 3, "out_features": 4}),
        LayerSpec("BatchNorm1d", {"num_features": 4}),
        LayerSpec("ReLU"),
        LayerSpec("Linear", {"in_features": 4, "out_features": 2}),
    ),
)
EXPECTED = expected_state(SMALL)
DTYPES = [torch.float32, torch.float16, torch.float64, torch.int64, torch.bool, torch.complex64]


@st.composite
def odd_tensors(draw: st.DrawFn, shape: tuple[int, ...], dtype: torch.dtype) -> Any:
    """A tensor (or not) that is wrong, or odd but right, in a way a saved file can be."""
    kind = draw(
        st.sampled_from(
            [
                "shape",
                "dtype",
                "nan",
                "meta",
                "expanded",
                "strided",
                "sparse",
                "scalar",
                "text",
                "list",
            ]
        )
    )
    right = torch.ones(shape, dtype=dtype)
    if kind == "shape":
        return torch.zeros(draw(st.lists(st.integers(0, 5), max_size=3)), dtype=dtype)
    if kind == "dtype":
        return right.to(draw(st.sampled_from(DTYPES)))
    if kind == "nan" and dtype.is_floating_point:
        return right.fill_(draw(st.sampled_from([math.nan, math.inf, -1.0])))
    if kind == "meta":
        return torch.empty(shape, dtype=dtype, device="meta")
    if kind == "expanded":  # a huge view of one stored number: no memory, any shape
        return torch.ones(1, dtype=dtype).expand(*shape) if shape else right
    if kind == "strided" and right.dim() == 2:
        return torch.ones(shape[1], shape[0], dtype=dtype).t()
    if kind == "sparse" and dtype.is_floating_point:
        return right.to_sparse()
    if kind == "scalar":
        return torch.tensor(1.0)
    if kind == "text":
        return "weights"
    if kind == "list":
        return [1.0] * max(1, right.numel())
    return right


@st.composite
def odd_state_dicts(draw: st.DrawFn) -> Any:
    state = {}
    for key, (shape, dtype) in EXPECTED.items():
        fault = draw(st.integers(0, 12))  # most tensors right, so whole files are often right
        if fault == 1:
            state[key] = draw(odd_tensors(shape, dtype))
        elif fault:
            state[key] = torch.ones(shape, dtype=dtype)
    if draw(st.integers(0, 5)) == 0:
        state[draw(st.text(max_size=10))] = torch.zeros(2)
    if draw(st.integers(0, 9)) == 0:
        state[draw(st.integers())] = torch.zeros(1)
    wrap = draw(st.sampled_from(["dict"] * 6 + ["list", "nested", "tensor", "huge"]))
    if wrap == "list":
        return list(state.values())
    if wrap == "nested":
        return {"state_dict": state, "epoch": 3}
    if wrap == "tensor":
        return torch.zeros(3)
    if wrap == "huge":  # declares 2**40 floats, stores one
        return {**state, "0.weight": torch.zeros(1).expand(2**20, 2**20)}
    return state


def _saved(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@st.composite
def junk_zips(draw: st.DrawFn) -> bytes:
    """Zip archives: junk entries, stored or compressed, or a real .pt with junk added."""
    buffer = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with zipfile.ZipFile(buffer, "w", method) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # repeated names are part of the junk
        if draw(st.booleans()):
            with zipfile.ZipFile(io.BytesIO(_saved(_right_state()))) as real:
                for info in real.infolist():
                    archive.writestr(info.filename, real.read(info))
        for _ in range(draw(st.integers(0, 3))):
            archive.writestr(
                draw(
                    st.sampled_from(
                        ["archive/data.pkl", "archive/data/0", "archive/version", "x/../y", "a"]
                    )
                ),
                draw(st.binary(max_size=100)),
            )
    return buffer.getvalue()


def _right_state() -> dict[str, torch.Tensor]:
    return {k: torch.ones(shape, dtype=dtype) for k, (shape, dtype) in EXPECTED.items()}


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=1_000),
        odd_state_dicts().map(_saved),
        junk_zips(),
        damaged(st.just(_saved(_right_state()))),
    )
)
def test_a_weights_file_loads_or_is_refused(data: bytes) -> None:
    state = clear_error_or(lambda: import_weights(SMALL, data))
    if state is not None:
        assert {k: (tuple(v.shape), v.dtype) for k, v in state.items()} == EXPECTED
        model = torch.nn.Sequential(
            torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 2)
        )
        model.load_state_dict(
            {
                k.replace("fc1", "0").replace("bn1", "1").replace("fc2", "3"): v
                for k, v in state.items()
            }
        )
