"""forward()'s extra parameters, read from a student's source without running it.

``def forward(self, x, flag=True, scale=0.5)`` gives the page a switch for ``flag`` and a number
for ``scale``; the values chosen go to the run as ``forward_kwargs``. Only literal defaults
(bool, int, float, str, None) are offered: anything else stays at its default.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

PLAIN = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class Argument:
    """One parameter of forward() after the input, with its default value."""

    name: str
    default: Any


def forward_arguments(source: str, class_name: str | None = None) -> list[Argument]:
    """The extra parameters of the model class's forward() (the named class, else the last
    class that defines one); [] when the source does not parse or has none."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    forwards = [
        (cls.name, fn)
        for cls in tree.body
        if isinstance(cls, ast.ClassDef)
        for fn in cls.body
        if isinstance(fn, ast.FunctionDef) and fn.name == "forward"
    ]
    chosen = [fn for name, fn in forwards if name == class_name] or [fn for _, fn in forwards]
    if not chosen:
        return []
    args = chosen[-1].args
    positional = [*args.posonlyargs, *args.args]
    defaults = dict(
        zip(
            [a.arg for a in positional[len(positional) - len(args.defaults) :]],
            args.defaults,
            strict=True,
        )
    )
    defaults.update(
        {a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None}
    )
    found = []
    for a in [*positional[2:], *args.kwonlyargs]:  # after self and the input
        if a.arg not in defaults:
            continue
        try:
            value = ast.literal_eval(defaults[a.arg])
        except ValueError:
            continue
        if isinstance(value, PLAIN):
            found.append(Argument(a.arg, value))
    return found
