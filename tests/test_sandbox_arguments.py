"""forward()'s extra parameters, read from source: what /code offers controls for."""

from __future__ import annotations

from explorer.sandbox import TEMPLATES
from explorer.sandbox.arguments import Argument, forward_arguments


def test_literal_defaults_after_the_input_are_found() -> None:
    source = (
        "class Helper:\n    def forward(self, x, k=9): ...\n"
        "class Net:\n    def forward(self, x, flag=True, scale=0.5, *, name='a', "
        "n=None, size=(1, 2), w=[1]): ...\n"
    )
    assert forward_arguments(source, "Net") == [
        Argument("flag", True),
        Argument("scale", 0.5),
        Argument("name", "a"),
        Argument("n", None),
    ]  # a tuple or list default is left at its default
    assert forward_arguments(source, "Helper") == [Argument("k", 9)]


def test_the_templates_and_broken_code_have_none() -> None:
    for t in TEMPLATES.values():
        assert forward_arguments(t.source, t.class_name) == []
    assert forward_arguments("def forward(self, x, flag=True:") == []
