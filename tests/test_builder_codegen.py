"""build(), the generated code and the presets, with torch as the reference."""

from __future__ import annotations

import random
import runpy

import pytest
import torch

from explorer import zoo
from explorer.builder import (
    CLASS_NAME,
    PRESET_NOTES,
    UNSUPPORTED_PRESETS,
    LayerSpec,
    NetworkSpec,
    Residual,
    analyse,
    build,
    compile_network,
    convertible_presets,
    from_preset,
    generate_code,
    preset_weights,
)
from explorer.trace import source_of, trace

L = LayerSpec
EVERY_KIND = NetworkSpec(
    "every kind",
    "image",
    None,
    (
        L(
            "Conv2d",
            {
                "in_channels": 1,
                "out_channels": 8,
                "kernel_size": 5,
                "stride": 2,
                "padding": 2,
                "bias": False,
            },
        ),
        L("BatchNorm2d", {"num_features": 8}),
        L("LeakyReLU", {"negative_slope": 0.1}),
        L(
            "Residual",
            {},
            (
                L("Conv2d", {"in_channels": 8, "out_channels": 8, "kernel_size": 3, "padding": 1}),
                L("Tanh"),
                L("Residual", {}, (L("Sigmoid"),)),
            ),
        ),
        L("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}),
        L("MaxPool2d", {"kernel_size": 2}),
        L("Flatten"),
        L("Dropout", {"p": 0.25}),
        L("Linear", {"in_features": 8 * 3 * 3, "out_features": 32}),
        L("BatchNorm1d", {"num_features": 32}),
        L("ReLU"),
        L("Residual", {}, (L("Linear", {"in_features": 32, "out_features": 32}),)),
        L("Linear", {"in_features": 32, "out_features": 10, "bias": False}),
    ),
)
SPECS = {"every_kind": EVERY_KIND, **{name: from_preset(name) for name in convertible_presets()}}


def _trained_like(model: torch.nn.Module) -> None:
    """Give BatchNorm non-trivial running statistics, as training would."""
    gen = torch.Generator().manual_seed(1)
    for name, buf in model.named_buffers():
        if name.endswith("running_mean"):
            buf.copy_(torch.randn(buf.shape, generator=gen))
        elif name.endswith("running_var"):
            buf.copy_(torch.rand(buf.shape, generator=gen) + 0.5)


def _input(spec: NetworkSpec, batch: int = 3) -> torch.Tensor:
    return torch.randn((batch, *spec.input_shape), generator=torch.Generator().manual_seed(7))


def test_build_is_seeded_in_eval_mode_and_leaves_the_rng_alone() -> None:
    state = torch.get_rng_state()
    a, b = build(EVERY_KIND), build(EVERY_KIND)
    assert torch.equal(torch.get_rng_state(), state)
    assert not a.training and not any(m.training for m in a.modules())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    c = build(EVERY_KIND, seed=1)
    assert not torch.equal(a.state_dict()["conv1.weight"], c.state_dict()["conv1.weight"])


def test_build_refuses_a_broken_or_empty_spec() -> None:
    broken = NetworkSpec("b", "vector", 4, (L("Linear", {"in_features": 3, "out_features": 2}),))
    with pytest.raises(ValueError, match=r"^layer 1 \(fc1\): Linear expects 4 input features"):
        build(broken)
    with pytest.raises(ValueError, match="no layers yet"):
        build(NetworkSpec("e", "image", None, ()))


@pytest.mark.parametrize("name", list(SPECS))
def test_generated_code_builds_the_same_network(name: str) -> None:
    spec = SPECS[name]
    built = build(spec)
    _trained_like(built)
    code = generate_code(spec)
    generated = compile_network(code)().eval()
    generated.load_state_dict(built.state_dict(), strict=True)
    x = _input(spec)
    with torch.no_grad():
        assert torch.equal(generated(x), built(x))
    # train mode too, where dropout draws from the RNG and BatchNorm uses the batch
    built.train(), generated.train()
    torch.manual_seed(3)
    with torch.no_grad():
        a = built(x)
    torch.manual_seed(3)
    with torch.no_grad():
        b = generated(x)
    assert torch.equal(a, b)


def test_generated_code_reads_like_a_tutorial() -> None:
    code = generate_code(from_preset("cnn"))
    assert f"class {CLASS_NAME}(nn.Module):" in code
    assert "        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)" in code
    assert "        self.pool1 = nn.MaxPool2d(2)" in code
    assert "        self.dropout1 = nn.Dropout(0.25)" in code
    assert "        self.fc1 = nn.Linear(3136, 128)" in code
    assert "        x = self.conv1(x)  # (N, 32, 28, 28)" in code
    assert "        x = self.flatten1(x)  # (N, 3136)" in code
    assert "        x = self.fc2(x)  # (N, 10)" in code
    compile(code, "<check>", "exec")
    code = generate_code(from_preset("skip"))
    assert "class Block1(nn.Module):" in code
    assert "        out = self.conv1(x)  # (N, 16, 14, 14)" in code
    assert "        return x + out  # the skip connection: (N, 16, 14, 14)" in code
    code = generate_code(EVERY_KIND)
    for snippet in [
        "nn.Conv2d(1, 8, kernel_size=5, stride=2, padding=2, bias=False)",
        "nn.LeakyReLU(0.1)",
        "nn.AvgPool2d(3, stride=2, padding=1)",
        "nn.Linear(32, 10, bias=False)",
        "nn.BatchNorm1d(32)",
        "self.block1 = Block1Block1()",
        "class Block2(nn.Module):",
    ]:
        assert snippet in code


def test_generated_file_runs_on_its_own(tmp_path, capsys) -> None:
    """Run as a script (as a student would, after downloading it): prints the output shape."""
    path = tmp_path / "my_network.py"
    path.write_text(generate_code(from_preset("bn_cnn")))
    runpy.run_path(str(path), run_name="__main__")
    assert capsys.readouterr().out.strip() == "torch.Size([1, 10])"


def test_a_trace_of_the_generated_code_shows_its_forward() -> None:
    spec = from_preset("skip")
    generated = compile_network(generate_code(spec))().eval()
    t = trace(generated, _input(spec, 1))
    codes = [s.code for s in t.steps]
    assert codes[0] == "x = self.conv1(x)  # (N, 16, 28, 28)"
    add = next(s for s in t.steps if s.op == "add")
    assert add.code == "return x + out  # the skip connection: (N, 16, 14, 14)"
    assert len(add.parents) == 2  # the skip edge: the block's input and its last layer
    src = source_of(t.steps[0])
    assert src.lines[0].strip() == "def forward(self, x):"
    assert "        x = self.fc1(x)  # (N, 10)" in src.lines
    block_src = source_of(add)
    assert block_src.lines[-1].strip().startswith("return x + out")


def test_a_trace_of_the_built_network_shows_the_residual_add() -> None:
    model = build(from_preset("skip"))
    x = _input(from_preset("skip"), 1)
    t = trace(model, x)
    with torch.no_grad():
        assert torch.equal(t.output, model(x))
    ops = [(s.op, s.module) for s in t.steps]
    assert ops[:6] == [
        ("conv2d", "conv1"),
        ("relu", "relu1"),
        ("max_pool2d", "pool1"),
        ("conv2d", "block1.conv1"),
        ("relu", "block1.relu1"),
        ("conv2d", "block1.conv2"),
    ]
    add = t.steps[6]
    assert add.op == "add" and add.module == "block1"
    assert set(add.parents) == {2, 5}  # x from pool1, f(x) from the block's last conv
    assert "x + self.body(x)" in add.code
    assert isinstance(model.block1, Residual)


# --- presets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", convertible_presets())
def test_presets_open_in_the_builder_with_the_same_architecture(name: str) -> None:
    spec = from_preset(name)
    assert analyse(spec).ok and analyse(spec).parameters == zoo.PRESETS[name].parameter_count
    preset = zoo.load_model(name)
    built = build(spec)
    assert [tuple(p.shape) for p in built.parameters()] == [
        tuple(p.shape) for p in preset.parameters()
    ]
    built.load_state_dict(preset_weights(name))
    x = zoo.example_input(name, batch=2 if zoo.PRESETS[name].input_kind == "image" else 1)
    with torch.no_grad():
        expected, got = preset(x), built(x)
    if name == "autoencoder":  # the preset reshapes its 784 outputs; see PRESET_NOTES
        got = got.view(-1, 1, 28, 28)
    assert torch.equal(got, expected)


def test_unsupported_presets_say_why() -> None:
    assert set(convertible_presets()) | set(UNSUPPORTED_PRESETS) == set(zoo.PRESETS)
    with pytest.raises(ValueError, match=r"cannot open in the builder: its forward\(\) has an"):
        from_preset("conditional")
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        from_preset("nope")
    assert "784" in PRESET_NOTES["autoencoder"]


def test_random_networks_round_trip_through_code() -> None:
    from test_builder_shapes import _random_spec  # tests/ is on sys.path under pytest

    rng = random.Random(5)
    checked = 0
    while checked < 25:
        spec = _random_spec(rng)
        if not analyse(spec).ok or not spec.layers:
            continue
        built = build(spec)
        generated = compile_network(generate_code(spec))().eval()
        generated.load_state_dict(built.state_dict(), strict=True)
        x = _input(spec, 2)
        with torch.no_grad():
            assert torch.equal(generated(x), built(x))
        checked += 1
