"""Weights for a spec: what a ``state_dict`` must hold, checking one, and ``.pt`` bytes in and out.

Imported weights are untrusted: ``torch.load(..., weights_only=True)`` refuses anything but
tensors and plain containers, and every tensor is checked against the network (names, shapes,
dtypes, finite values) before anyone can load it into a model.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import Any

import torch

from explorer.builder.build import Network, assemble, check_buildable
from explorer.builder.shapes import Shape, shape_text
from explorer.builder.spec import NetworkSpec

MAX_WEIGHTS_BYTES = 64 * 1024 * 1024  # 5,000,000 float32 parameters are 20 MB
MAX_ENTRIES = 5_000  # files inside a .pt archive; one per tensor, plus a few


def expected_state(spec: NetworkSpec) -> dict[str, tuple[Shape, torch.dtype]]:
    """Every ``state_dict`` entry the built network has: name -> (shape, dtype)."""
    check_buildable(spec)
    # the meta device builds the layers without allocating or initialising any memory
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        skeleton = assemble(Network(), spec.layers)
    return {k: (tuple(v.shape), v.dtype) for k, v in skeleton.state_dict().items()}


def check_state_dict(spec: NetworkSpec, state: Any) -> dict[str, torch.Tensor]:
    """A validated copy of ``state`` for ``spec``'s network; ValueError says what is wrong.

    The keys must be exactly the network's, each tensor the right shape and dtype, with finite
    values (and BatchNorm running variances not negative).
    """
    if not isinstance(state, Mapping):
        raise ValueError(f"weights must be a dictionary of tensors, not {type(state).__name__}")
    expected = expected_state(spec)
    bad_keys = [k for k in state if not isinstance(k, str)]
    if bad_keys:
        raise ValueError("weights must be named by text keys such as 'fc1.weight'")
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_few(missing)}")
        if unexpected:
            parts.append(f"has {_few(unexpected)}, which this network does not")
        raise ValueError(
            f"these weights belong to a different network: they are {' and '.join(parts)}"
        )
    out = {}
    for key, (shape, dtype) in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{key!r} must be a tensor, not {type(value).__name__}")
        if value.layout != torch.strided or value.is_quantized:
            raise ValueError(f"{key!r} must be an ordinary dense tensor")
        if value.is_meta:  # map_location leaves them on "meta": shapes with no numbers behind
            raise ValueError(
                f"{key!r} holds no values: it was saved from a model on PyTorch's "
                f"'meta' device, which has shapes but no weights"
            )
        if tuple(value.shape) != shape:
            raise ValueError(
                f"{key!r} has shape {shape_text(tuple(value.shape)) or 'scalar'} "
                f"but this network needs {shape_text(shape) or 'a scalar'}: these "
                f"weights belong to a different network"
            )
        if value.dtype != dtype:
            raise ValueError(
                f"{key!r} holds {str(value.dtype).removeprefix('torch.')} values "
                f"but this network needs {str(dtype).removeprefix('torch.')}"
            )
        value = value.detach().to("cpu").clone().contiguous()
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ValueError(f"{key!r} contains NaN or infinite values")
        if key.endswith("running_var") and bool((value < 0).any()):
            raise ValueError(f"{key!r} has negative variances")
        out[key] = value
    return out


def export_weights(state: Mapping[str, torch.Tensor]) -> bytes:
    """``torch.save`` bytes of a ``state_dict`` (for download as ``.pt``)."""
    # clones, so no tensor drags a larger shared storage into the file
    plain = {k: v.detach().to("cpu").clone().contiguous() for k, v in state.items()}
    buffer = io.BytesIO()
    torch.save(plain, buffer)
    return buffer.getvalue()


def import_weights(spec: NetworkSpec, data: bytes) -> dict[str, torch.Tensor]:
    """Read ``.pt`` bytes safely and check them against ``spec``; ValueError says what is wrong."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"expected the bytes of a .pt file, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_WEIGHTS_BYTES:
        raise ValueError(
            f"the weights file is {len(data) / 2**20:.1f} MB; the limit is "
            f"{MAX_WEIGHTS_BYTES // 2**20} MB"
        )
    _check_archive(data)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # any failure of an untrusted file is the file's fault
        raise ValueError(
            f"the weights file could not be read ({type(e).__name__}): it is "
            f"damaged, or not a PyTorch .pt file of plain tensors"
        ) from None
    return check_state_dict(spec, state)


def _check_archive(data: bytes) -> None:
    """torch.save writes an uncompressed zip; refuse anything else before unpacking it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError, OSError):
        raise ValueError(
            "this is not a .pt file saved by torch.save, or it was cut short (download it again)"
        ) from None
    if len(entries) > MAX_ENTRIES:
        raise ValueError(
            f"the weights file holds {len(entries):,} entries; too many for a "
            f"network of at most 50 layers"
        )
    # a compressed entry could unpack to far more than the file's size (a zip bomb)
    if any(e.compress_type != zipfile.ZIP_STORED for e in entries):
        raise ValueError(
            "the weights file is compressed; torch.save never compresses, so it "
            "was not written by torch.save"
        )
    if sum(e.file_size for e in entries) > MAX_WEIGHTS_BYTES:
        raise ValueError("the weights file unpacks to more than the size limit")


def _few(keys: list[str]) -> str:
    shown = ", ".join(repr(k[:60]) for k in keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
