"""The one format between the app and a worker: a JSON document plus a blob of tensor bytes.

Nothing is pickled. Unpickling runs whatever code the bytes name, and the worker's bytes are
written by a process that ran a stranger's code, so the app reads them as data only:
``json.loads`` for the document, ``torch.frombuffer`` for tensors of a few known dtypes, and
every size checked before anything is built.

A frame is ``MAGIC | header length (8 bytes) | header JSON | blob``. In the header, values that
JSON cannot say are tagged dicts: ``{"$": "tensor", "i": 3}`` (row 3 of the tensor table),
``{"$": "tuple", "v": [...]}``, ``{"$": "dict", "v": [[key, value], ...]}``, ``{"$": "float",
"v": "nan"}``, ``{"$": "slice", ...}``, ``{"$": "dtype", "v": "float32"}``, and
``{"$": "repr", "v": "..."}`` for anything else, which comes back as a string.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from typing import Any

import torch

MAGIC = b"FPE1"
_ALIGN = 64  # tensor offsets in the blob, so frombuffer never sees a misaligned float64
_MAX_DEPTH = 40
MAX_TENSORS = 100_000  # building each costs the app time: a frame of tiny tensors is refused
_MAX_REPR = 200

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
}
_DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


class WireError(ValueError):
    """The bytes are not a well-formed frame (or hold more than allowed)."""


# --- writing -----------------------------------------------------------------------------------


class Packer:
    """Turns values into the plain document, collecting tensors into one blob."""

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._chunks: list[bytes] = []
        self._size = 0
        # The same memory seen twice -- a step's output is the next step's input, a layer's
        # weight is in its params and its extras, each a different detached view -- is stored
        # once. The views are kept alive, so no address is reused while packing.
        self._seen: dict[tuple, int] = {}
        self._alive: list[torch.Tensor] = []

    def tensor(self, t: torch.Tensor) -> dict[str, Any]:
        key = (
            (
                t.untyped_storage().data_ptr(),
                t.storage_offset(),
                tuple(t.shape),
                t.stride(),
                t.dtype,
            )
            if t.layout == torch.strided
            else ("object", id(t))
        )
        known = self._seen.get(key)
        if known is not None:
            return {"$": "tensor", "i": known}
        self._alive.append(t)
        data = t.detach()
        if data.layout != torch.strided:
            data = data.to_dense()
        if data.dtype not in _DTYPE_NAMES:
            data = data.float()
        flat = data.cpu().contiguous().reshape(-1)
        if flat.numel() and flat.stride(-1) != 1:  # an expanded one-element tensor: "contiguous"
            flat = flat.new_empty(flat.shape).copy_(flat)  # to torch, yet not viewable as bytes
        raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
        pad = (-self._size) % _ALIGN
        if pad:
            self._chunks.append(b"\0" * pad)
            self._size += pad
        row = len(self._rows)
        self._rows.append(
            {
                "dtype": _DTYPE_NAMES[data.dtype],
                "shape": list(data.shape),
                "offset": self._size,
                "nbytes": len(raw),
            }
        )
        self._chunks.append(raw)
        self._size += len(raw)
        self._seen[key] = row
        return {"$": "tensor", "i": row}

    def value(self, obj: Any, depth: int = 0) -> Any:
        """A plain, JSON-ready stand-in for ``obj`` (tensors go to the blob)."""
        if depth > _MAX_DEPTH:
            return {"$": "repr", "v": "..."}
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj if abs(obj) < 2**63 else {"$": "repr", "v": _short(repr(obj))}
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"$": "float", "v": repr(obj)}
        if isinstance(obj, torch.Tensor):
            return self.tensor(obj)
        if isinstance(obj, list):
            return [self.value(o, depth + 1) for o in obj]
        if isinstance(obj, tuple):  # torch.Size and torch.return_types too
            return {"$": "tuple", "v": [self.value(o, depth + 1) for o in obj]}
        if isinstance(obj, dict):
            return {
                "$": "dict",
                "v": [[self.value(k, depth + 1), self.value(v, depth + 1)] for k, v in obj.items()],
            }
        if isinstance(obj, slice):
            return {
                "$": "slice",
                "v": [self.value(p, depth + 1) for p in (obj.start, obj.stop, obj.step)],
            }
        if obj is Ellipsis:
            return {"$": "ellipsis"}
        if isinstance(obj, torch.dtype) and obj in _DTYPE_NAMES:
            return {"$": "dtype", "v": _DTYPE_NAMES[obj]}
        return {"$": "repr", "v": _short(repr(obj))}

    def frame(self, doc: Any) -> bytes:
        """The whole frame: ``doc`` (already plain) with the tensor table and the blob."""
        header = json.dumps(
            {"doc": doc, "tensors": self._rows}, allow_nan=False, separators=(",", ":")
        ).encode()
        return b"".join([MAGIC, struct.pack("<Q", len(header)), header, *self._chunks])


def _short(text: str) -> str:
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


# --- reading -----------------------------------------------------------------------------------


class Unpacker:
    """Reads a frame, checking every size and type before building anything."""

    def __init__(self, data: bytes | bytearray | memoryview, *, max_bytes: int) -> None:
        view = memoryview(data).cast("B")
        if view.readonly:  # tensors share the blob's memory, and torch wants it writable
            view = memoryview(bytearray(view))
        if len(view) > max_bytes:
            raise WireError(f"{len(view)} bytes is more than the {max_bytes} allowed")
        start = len(MAGIC) + 8
        if len(view) < start or bytes(view[: len(MAGIC)]) != MAGIC:
            raise WireError("not a frame")
        (n,) = struct.unpack_from("<Q", view, len(MAGIC))
        if n > len(view) - start:
            raise WireError("the header is cut short")
        try:
            header = json.loads(bytes(view[start : start + n]))
        except (ValueError, RecursionError) as e:
            raise WireError(f"the header is not JSON: {e}") from None
        if not isinstance(header, dict) or set(header) != {"doc", "tensors"}:
            raise WireError("the header must hold exactly 'doc' and 'tensors'")
        self.doc = header["doc"]
        self._blob = view[start + n :]
        rows = header["tensors"]
        if not isinstance(rows, list) or len(rows) > MAX_TENSORS:
            raise WireError(f"the tensor table must be a list of at most {MAX_TENSORS}")
        self._tensors = [self._build(row) for row in rows]

    def _build(self, row: Any) -> torch.Tensor:
        if not isinstance(row, dict) or set(row) != {"dtype", "shape", "offset", "nbytes"}:
            raise WireError("a tensor row must hold dtype, shape, offset and nbytes")
        dtype = DTYPES.get(row["dtype"]) if isinstance(row["dtype"], str) else None
        shape, offset, nbytes = row["shape"], row["offset"], row["nbytes"]
        if dtype is None:
            raise WireError(f"dtype {row['dtype']!r} is not allowed")
        if not (
            isinstance(shape, list) and len(shape) <= 8 and all(is_int(d) and d >= 0 for d in shape)
        ):
            raise WireError(f"bad tensor shape {shape!r}")
        if not (is_int(offset) and is_int(nbytes) and offset >= 0 and nbytes >= 0):
            raise WireError("bad tensor offset or size")
        itemsize = torch.empty((), dtype=dtype).element_size()
        if math.prod(shape) * itemsize != nbytes or offset + nbytes > len(self._blob):
            raise WireError("a tensor's size does not match its shape or the blob")
        if nbytes == 0:
            return torch.empty(shape, dtype=dtype)
        if offset % itemsize:
            raise WireError("a tensor is not aligned")
        return torch.frombuffer(self._blob[offset : offset + nbytes], dtype=dtype).reshape(shape)

    def tensor(self, plain: Any) -> torch.Tensor:
        """The tensor a ``{"$": "tensor"}`` reference names; WireError for anything else."""
        if not (
            isinstance(plain, dict)
            and plain.get("$") == "tensor"
            and set(plain) == {"$", "i"}
            and is_int(plain["i"])
            and 0 <= plain["i"] < len(self._tensors)
        ):
            raise WireError("expected a tensor")
        return self._tensors[plain["i"]]

    def value(self, plain: Any, depth: int = 0) -> Any:
        """The value a plain stand-in describes (unknown objects come back as strings)."""
        if depth > _MAX_DEPTH + 1:
            raise WireError("nested too deeply")
        if plain is None or isinstance(plain, (bool, int, float, str)):
            return plain
        if isinstance(plain, list):
            return [self.value(p, depth + 1) for p in plain]
        if not isinstance(plain, dict) or not isinstance(plain.get("$"), str):
            raise WireError(f"unexpected {type(plain).__name__}")
        tag, v = plain["$"], plain.get("v")
        if tag == "tensor":
            return self.tensor(plain)
        if tag == "tuple" and isinstance(v, list):
            return tuple(self.value(p, depth + 1) for p in v)
        if tag == "dict" and isinstance(v, list):
            out = {}
            for pair in v:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise WireError("a dict entry must be a [key, value] pair")
                key = self.value(pair[0], depth + 1)
                if not isinstance(key, (str, int, float, bool, type(None))):
                    raise WireError("a dict key must be a plain value")
                out[key] = self.value(pair[1], depth + 1)
            return out
        if tag == "float" and v in ("nan", "inf", "-inf"):
            return float(v)
        if tag == "slice" and isinstance(v, list) and len(v) == 3:
            return slice(*(self.value(p, depth + 1) for p in v))
        if tag == "ellipsis":
            return Ellipsis
        if tag == "dtype" and v in DTYPES:
            return DTYPES[v]
        if tag == "repr" and isinstance(v, str):
            return _short(v)
        raise WireError(f"unknown tag {tag!r}")


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class Fields:
    """A dict from the wire whose keys and value types are checked as they are read."""

    def __init__(self, plain: Any, what: str, keys: tuple[str, ...] | set[str]) -> None:
        if not isinstance(plain, dict):
            raise WireError(f"{what} must be a dict, not {type(plain).__name__}")
        extra = set(plain) - set(keys)
        if extra:
            raise WireError(f"{what} has unexpected fields {sorted(map(str, extra))[:5]}")
        self.plain, self.what = plain, what

    def get(self, key: str, check: Callable[[Any], bool], kind: str, default: Any = ...) -> Any:
        if key not in self.plain:
            if default is ...:
                raise WireError(f"{self.what} lacks {key!r}")
            return default
        value = self.plain[key]
        if not check(value):
            raise WireError(f"{self.what}.{key} must be {kind}")
        return value

    def text(self, key: str, cap: int = 1000, default: Any = ...) -> str:
        return self.get(
            key,
            lambda v: isinstance(v, str) and len(v) <= cap,
            f"a string of at most {cap} characters",
            default,
        )

    def opt_text(self, key: str, cap: int = 1000) -> str | None:
        return self.get(
            key,
            lambda v: v is None or (isinstance(v, str) and len(v) <= cap),
            "a string or null",
            None,
        )

    def integer(self, key: str, default: Any = ...) -> int:
        return self.get(key, is_int, "an integer", default)

    def flag(self, key: str, default: Any = ...) -> bool:
        return self.get(key, lambda v: isinstance(v, bool), "true or false", default)

    def items(self, key: str, cap: int = 20_000, default: Any = ...) -> list:
        return self.get(
            key,
            lambda v: isinstance(v, list) and len(v) <= cap,
            f"a list of at most {cap} items",
            default,
        )
