"""The app reads what a worker sends as data only: records round-trip, and garbage is refused."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from explorer import backward, load_model, trace
from explorer.sandbox import TEMPLATES, Limits, SandboxError
from explorer.sandbox.process import Outcome
from explorer.sandbox.records import (
    pack_backward,
    pack_step,
    pack_trace,
    unpack_backward,
    unpack_step,
    unpack_trace,
)
from explorer.sandbox.request import Request
from explorer.sandbox.runner import _read
from explorer.sandbox.wire import MAGIC, Packer, Unpacker, WireError
from explorer.sandbox.worker import READY

FILE = "<student code 0123456789ab>"  # the name a worker would give their code
BIG = 10**8


def _roundtrip(pack, unpack, record):
    p = Packer()
    doc = pack(p, record)
    u = Unpacker(p.frame(doc), max_bytes=BIG)
    return unpack(u, u.doc, FILE)


def _same_steps(a, b) -> None:
    assert len(a) == len(b)
    for s, r in zip(a, b, strict=True):
        assert (
            s.index,
            s.op,
            s.kind,
            s.module,
            s.nesting,
            s.parents,
            s.line,
            s.code,
            s.function,
            s.module_type,
            s.call_flow,
        ) == (
            r.index,
            r.op,
            r.kind,
            r.module,
            r.nesting,
            r.parents,
            r.line,
            r.code,
            r.function,
            r.module_type,
            r.call_flow,
        )
        assert all(torch.equal(x, y) for x, y in zip(s.inputs, r.inputs, strict=True))
        assert torch.equal(s.output, r.output)
        assert s.params.keys() == r.params.keys()
        assert all(torch.equal(s.params[k], r.params[k]) for k in s.params)
        assert s.args == r.args
        assert s.extras.keys() == r.extras.keys()


def test_a_trace_comes_back_equal() -> None:
    model = load_model("cnn", pretrained=False).train()
    t = trace(model, torch.randn(2, 1, 28, 28), seed=3)
    back = _roundtrip(pack_trace, unpack_trace, t)
    assert torch.equal(back.output, t.output) and torch.equal(back.input, t.input)
    assert (back.model_type, back.training, back.seed) == (t.model_type, True, 3)
    _same_steps(back.steps, t.steps)
    drop = next(s for s in back.steps if s.op == "dropout")
    assert torch.equal(
        drop.extras["mask"], next(s for s in t.steps if s.op == "dropout").extras["mask"]
    )
    pool = next(s for s in back.steps if s.op == "max_pool2d")
    assert pool.extras["indices"].dtype == torch.int64


def test_a_backward_pass_comes_back_equal() -> None:
    b = backward(load_model("simple_nn"), torch.tensor([[0.5, 0.3, 0.2]]), torch.tensor([[1.0]]))
    back = _roundtrip(pack_backward, unpack_backward, b)
    assert back.loss == b.loss and back.loss_name == b.loss_name
    assert back.output_grads.keys() == b.output_grads.keys()
    assert all(torch.equal(back.param_grads[n], g) for n, g in b.param_grads.items())
    assert torch.equal(back.input_grad, b.input_grad)
    assert back.grad_norms == b.grad_norms and back.grad_fns == b.grad_fns


def test_a_classifiers_backward_comes_back_equal() -> None:
    """An int class target becomes an expanded (stride 0) Long tensor: it must pack too."""
    x = ui_image()
    b = backward(load_model("cnn", pretrained=False), x, 5)
    assert b.target.dtype == torch.int64
    back = _roundtrip(pack_backward, unpack_backward, b)
    assert torch.equal(back.target, b.target) and back.loss == b.loss
    assert all(torch.equal(back.param_grads[n], g) for n, g in b.param_grads.items())


def test_an_expanded_tensor_packs() -> None:
    for t in (
        torch.tensor([7]).expand(1),
        torch.tensor(2.5).expand(1, 1),
        torch.arange(3).expand(2, 3),
        torch.zeros(0, 3),
    ):
        p = Packer()
        u = Unpacker(p.frame(p.tensor(t)), max_bytes=BIG)
        assert torch.equal(u.value(u.doc), t)


def ui_image() -> torch.Tensor:
    return torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_shared_tensors_are_sent_once() -> None:
    t = trace(load_model("mlp", pretrained=False), torch.randn(1, 1, 28, 28))
    p = Packer()
    frame = p.frame(pack_trace(p, t))
    weights = sum(q.numel() * 4 for q in load_model("mlp", pretrained=False).parameters())
    assert len(frame) < 1.2 * weights  # params and extras["weight"] are the same tensors


def test_odd_values_survive_as_plain_data() -> None:
    p = Packer()
    value = {
        "k": (3, 3),
        "s": slice(None, 2, None),
        "e": ...,
        "d": torch.float64,
        "n": float("nan"),
        "big": 10**30,
        1: [None, True],
        "obj": object(),
    }
    u = Unpacker(p.frame(p.value(value)), max_bytes=BIG)
    back = u.value(u.doc)
    assert back["k"] == (3, 3) and back["s"] == slice(None, 2, None) and back["e"] is ...
    assert back["d"] is torch.float64 and back["n"] != back["n"] and back[1] == [None, True]
    assert back["big"] == repr(10**30) and back["obj"].startswith("<object object")


def test_a_step_may_only_point_at_the_students_code() -> None:
    t = trace(load_model("simple_nn"), torch.randn(1, 3))
    step = t.steps[0]
    step.file = "/etc/passwd"  # a worker naming a server file for source_of to read
    assert _roundtrip(pack_step, unpack_step, step).file == ""
    step.file = FILE
    assert _roundtrip(pack_step, unpack_step, step).file == FILE


def _frame(header: dict, blob: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return MAGIC + struct.pack("<Q", len(raw)) + raw + blob


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        MAGIC + struct.pack("<Q", 10**9) + b"{}",  # a header longer than the frame
        _frame({"doc": 1}),  # no tensor table
        _frame({"doc": 1, "tensors": [], "extra": 2}),
        _frame(
            {"doc": 1, "tensors": [{"dtype": "object", "shape": [1], "offset": 0, "nbytes": 8}]},
            b"\0" * 8,
        ),
        _frame(
            {"doc": 1, "tensors": [{"dtype": "float32", "shape": [4], "offset": 0, "nbytes": 8}]},
            b"\0" * 8,
        ),  # size does not match the shape
        _frame(
            {"doc": 1, "tensors": [{"dtype": "float32", "shape": [4], "offset": 8, "nbytes": 16}]},
            b"\0" * 16,
        ),  # runs past the blob
        _frame(
            {"doc": 1, "tensors": [{"dtype": "float32", "shape": [-4], "offset": 0, "nbytes": 16}]},
            b"\0" * 16,
        ),
        MAGIC + struct.pack("<Q", 2001) + b"[" * 2000 + b"]",  # deeply nested
    ],
)
def test_malformed_frames_are_refused(data: bytes) -> None:
    with pytest.raises(WireError):
        u = Unpacker(data, max_bytes=BIG)
        u.value(u.doc)


@pytest.mark.parametrize(
    "doc",
    [
        {"$": "pickle", "v": "gASV..."},
        {"$": "tensor", "i": 5},
        {"$": "dict", "v": [[[1], 2]]},
        {"$": "dtype", "v": "object"},
    ],
)
def test_unknown_or_bad_tags_are_refused(doc) -> None:
    u = Unpacker(_frame({"doc": doc, "tensors": []}), max_bytes=BIG)
    with pytest.raises(WireError):
        u.value(u.doc)


def test_a_frame_over_the_limit_is_refused() -> None:
    p = Packer()
    frame = p.frame(p.value(torch.zeros(1000)))
    with pytest.raises(WireError, match="more than"):
        Unpacker(frame, max_bytes=len(frame) - 1)


def _request() -> Request:
    t = TEMPLATES["simple_nn"]
    return Request(t.source, t.default_input(), limits=Limits(max_result_bytes=10**6))


def _answer(doc) -> bytearray:
    p = Packer()
    return bytearray(READY + p.frame(doc))


@pytest.mark.parametrize(
    "stdout, what",
    [
        (bytearray(READY + b"hello, I am a result"), "protocol"),
        (_answer({"status": "ok"}), "protocol"),  # fields missing
        (
            _answer(
                {
                    "status": "ok",
                    "printed": "",
                    "printed_truncated": False,
                    "isolation": [],
                    "state_dict": {},
                    "trace": "a string",
                }
            ),
            "protocol",
        ),
        (
            _answer({"status": "fine", "printed": "", "printed_truncated": False, "isolation": []}),
            "protocol",
        ),
        (
            _answer(
                {
                    "status": "ok",
                    "printed": "",
                    "printed_truncated": False,
                    "isolation": ["all"],
                    "state_dict": {},
                }
            ),
            "protocol",
        ),
        (bytearray(), "crash"),  # nothing at all
    ],
)
def test_answers_of_the_wrong_shape_are_sandbox_errors(stdout: bytearray, what: str) -> None:
    with pytest.raises(SandboxError) as err:
        _read(Outcome(stdout, b"", 0), _request())
    assert err.value.kind == what
    assert "valid result" in err.value.message or "without sending" in err.value.message


def test_a_forward_output_that_is_not_a_tensor_is_refused_even_if_well_formed() -> None:
    t = trace(load_model("simple_nn"), torch.randn(1, 3))
    t.output = "a string"
    p = Packer()
    doc = {
        "status": "ok",
        "class_name": "SimpleNN",
        "printed": "",
        "printed_truncated": False,
        "isolation": [],
        "state_dict": {},
        "notes": [],
        "seconds": 0.1,
        "trace": pack_trace(p, t),
    }
    with pytest.raises(SandboxError) as err:
        _read(Outcome(bytearray(READY + p.frame(doc)), b"", 0), _request())
    assert err.value.kind == "protocol"
