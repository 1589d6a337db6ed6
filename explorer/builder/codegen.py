"""Spec -> the PyTorch source a student would write: an ``nn.Module`` with __init__ and forward().

The generated file stands alone (it imports only torch). Its attribute names are the built
network's module names, so ``MyNetwork().load_state_dict(build(spec).state_dict())`` is strict.
``compile_network`` runs the code from a string and registers it with ``linecache``, so a trace
of the generated class shows the lines of its forward().
"""

from __future__ import annotations

import hashlib
import linecache
from collections import OrderedDict
from collections.abc import Sequence

import torch.nn as nn

from explorer.builder.build import check_buildable
from explorer.builder.shapes import LayerReport, Shape, analyse
from explorer.builder.spec import LayerSpec, NetworkSpec, layer_call, layer_names

CLASS_NAME = "MyNetwork"
_MAX_REGISTERED = 256  # generated sources kept in linecache; the oldest are dropped
_registered: OrderedDict[str, None] = OrderedDict()


def generate_code(spec: NetworkSpec) -> str:
    """Readable, standalone source of ``class MyNetwork(nn.Module)`` for ``spec``.

    Raises:
        ValueError: the spec has a layer error (the code would not run).
    """
    check_buildable(spec)
    report = analyse(spec)
    assert report.output_shape is not None  # check_buildable passed
    blocks: list[str] = []
    init, body = _members(spec.layers, report.layers, blocks)
    n = spec.input_shape
    lines = [
        f'"""{CLASS_NAME}: the network "{spec.name}", from Forward Pass Explorer\'s builder.',
        "",
        f"Input {_shape(n)} -> output {_shape(report.output_shape)}; "
        f"{report.parameters:,} parameters.",
        '"""',
        "",
        "import torch",
        "import torch.nn as nn",
        "",
        *blocks,
        "",
        f"class {CLASS_NAME}(nn.Module):",
        f'    """{spec.name}: {_shape(n)} -> {_shape(report.output_shape)}."""',
        "",
        "    def __init__(self):",
        "        super().__init__()",
        *init,
        "",
        "    def forward(self, x):",
        f"        # x: {_shape(n)}",
        *body,
        "        return x",
        "",
        "",
        'if __name__ == "__main__":',
        f"    model = {CLASS_NAME}().eval()",
        '    # model.load_state_dict(torch.load("weights.pt", weights_only=True))',
        f"    x = torch.zeros(1, {', '.join(str(d) for d in n)})",
        f"    print(model(x).shape)  # torch.Size([1, {', '.join(map(str, report.output_shape))}])",
        "",
    ]
    return "\n".join(lines)


def compile_network(code: str, class_name: str = CLASS_NAME) -> type[nn.Module]:
    """Run generated code and return its network class; tracebacks and traces see its lines.

    Only for code from ``generate_code``: this executes whatever it is given.
    """
    digest = hashlib.sha1(code.encode()).hexdigest()[:12]
    filename = f"<generated {class_name} {digest}>"
    # mtime None: linecache.checkcache() keeps the entry, as for sources loaded by importers
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    _registered[filename] = None
    _registered.move_to_end(filename)
    while len(_registered) > _MAX_REGISTERED:
        old, _ = _registered.popitem(last=False)
        linecache.cache.pop(old, None)
    namespace: dict = {"__name__": "generated_network"}
    exec(compile(code, filename, "exec"), namespace)
    return namespace[class_name]


def _members(
    layers: Sequence[LayerSpec], reports: Sequence[LayerReport], blocks: list[str], var: str = "x"
) -> tuple[list[str], list[str]]:
    """``__init__`` assignments and forward() lines for one list of layers.

    The first layer reads ``x`` and every line assigns ``var``. Residual blocks become classes
    of their own, appended to ``blocks`` (inner ones first).
    """
    init, body = [], []
    for i, (name, layer, report) in enumerate(
        zip(layer_names(layers), layers, reports, strict=True)
    ):
        if layer.kind == "Residual":
            cls = "".join(part[:1].upper() + part[1:] for part in report.name.split("."))
            _block_class(cls, layer, report, blocks)
            init.append(f"        self.{name} = {cls}()  # x + f(x)")
        else:
            init.append(f"        self.{name} = nn.{layer_call(layer)}")
        arg = "x" if i == 0 else var
        body.append(f"        {var} = self.{name}({arg})  # {_shape(report.output_shape)}")
    return init, body


def _block_class(cls: str, layer: LayerSpec, report: LayerReport, blocks: list[str]) -> None:
    init, body = _members(layer.children, report.children, blocks, var="out")
    blocks += [
        "",
        f"class {cls}(nn.Module):",
        '    """A residual block: its layers compute f(x), and it returns x + f(x)."""',
        "",
        "    def __init__(self):",
        "        super().__init__()",
        *init,
        "",
        "    def forward(self, x):",
        *body,
        f"        return x + out  # the skip connection: {_shape(report.output_shape)}",
        "",
    ]


def _shape(shape: Shape | None) -> str:
    return "(N, " + ", ".join(str(d) for d in shape or ()) + ")"
