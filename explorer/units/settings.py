"""Reading a step's recorded arguments by name, whether they came positionally or by keyword.

The recorder keeps a functional call's positional arguments as ``argN`` keys and a module's
settings by name; ``named_args`` turns both into the same names.
"""

from __future__ import annotations

from typing import Any


def named_args(args: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Turn the recorder's positional ``argN`` keys into parameter names."""
    out = {}
    for k, v in args.items():
        if k.startswith("arg") and k[3:].isdigit():
            i = int(k[3:])
            if i < len(names):
                out[names[i]] = v
        else:
            out[k] = v
    return out


def pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))
