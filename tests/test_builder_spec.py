"""Builder specs: strict validation, JSON in and out (also hostile JSON), names, and editing."""

from __future__ import annotations

import json
import random
import time

import pytest

from explorer.builder import (
    MAX_LAYERS,
    PALETTE,
    LayerSpec,
    NetworkSpec,
    append_layer,
    clean_name,
    default_layer,
    export_spec_json,
    from_preset,
    get_layer,
    import_spec_json,
    insert_layer,
    layer_names,
    move_layer,
    remove_layer,
    update_params,
    walk,
)

L = LayerSpec


def _linear(i: int, o: int) -> LayerSpec:
    return L("Linear", {"in_features": i, "out_features": o})


def _doc(**changes) -> dict:
    """A valid network document with some fields changed."""
    doc = from_preset("skip").to_dict()
    doc.update(changes)
    return doc


def _loads(doc) -> NetworkSpec:
    return import_spec_json(json.dumps(doc))


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["simple_nn", "mlp", "cnn", "skip", "bn_cnn", "autoencoder"])
def test_json_round_trip(preset: str) -> None:
    spec = from_preset(preset)
    text = export_spec_json(spec)
    assert import_spec_json(text) == spec
    assert import_spec_json(text.encode()) == spec


def test_params_are_completed_with_defaults_and_hand_written_json_is_accepted() -> None:
    spec = import_spec_json(
        '{"name": "tiny", "input_kind": "vector", "input_features": 4,'
        ' "layers": [{"kind": "Linear", "params": {"in_features": 4,'
        ' "out_features": 3}}, {"kind": "ReLU"}, {"kind": "Dropout"}]}'
    )
    assert spec.layers[0].params == {"in_features": 4, "out_features": 3, "bias": True}
    assert spec.layers[2].params == {"p": 0.5}
    assert spec.layers[0] == _linear(4, 3)
    assert spec.input_shape == (4,)


def test_layer_names_are_numbered_per_kind_and_nested_names_are_dotted() -> None:
    spec = from_preset("skip")
    assert layer_names(spec.layers) == [
        "conv1",
        "relu1",
        "pool1",
        "block1",
        "relu2",
        "pool2",
        "flatten1",
        "fc1",
    ]
    assert [(p, n) for p, n, _ in walk(spec.layers)][3:7] == [
        ((3,), "block1"),
        ((3, 0), "block1.conv1"),
        ((3, 1), "block1.relu1"),
        ((3, 2), "block1.conv2"),
    ]


# --- names -----------------------------------------------------------------------------------


def test_names_are_tidied_and_odd_names_refused() -> None:
    assert clean_name("  My   first net ") == "My first net"
    assert clean_name("cnn-2_b") == "cnn-2_b"
    for bad, says in [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 41, "at most 40"),
        ("a/b", "'/'"),
        ("../etc", "'.'"),
        ("naïve", "'ï'"),
        ("a\nb;", "';'"),
        (None, "text"),
        (3, "text"),
    ]:
        with pytest.raises(ValueError, match=says):
            clean_name(bad)
    with pytest.raises(ValueError, match="name"):
        NetworkSpec("drop table;", "image", None, ())


def test_the_name_rule_says_exactly_what_is_allowed() -> None:
    """It used to say "letters" and then refuse é, which is a letter."""
    with pytest.raises(ValueError) as e:
        clean_name("Réseau  Neuronal")
    assert str(e.value) == (
        "a name may use only the letters A–Z and a–z (no accents), digits, "
        "spaces, - and _, up to 40 characters; 'Réseau Neuronal' has 'é'"
    )
    with pytest.raises(ValueError, match="'Сеть' has 'С', 'е', 'т', 'ь'$"):
        clean_name("Сеть")  # Cyrillic: looks like Latin letters, would not fold case in SQLite


# --- strict validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "says"),
    [
        ({"kind": "Conv3d"}, "unknown layer kind 'Conv3d'"),
        ({"kind": "Linear", "params": {"in_features": 4}}, "Linear needs out_features"),
        (
            {"kind": "Linear", "params": {"in_features": 4, "out_features": 2, "bais": True}},
            "Linear has no parameter 'bais'; its parameters are in_features, out_features, bias",
        ),
        ({"kind": "ReLU", "params": {"inplace": True}}, "ReLU has no parameter 'inplace'"),
        (
            {"kind": "Linear", "params": {"in_features": "4", "out_features": 2}},
            "Linear in_features must be a whole number, not '4'",
        ),
        ({"kind": "Linear", "params": {"in_features": 4.0, "out_features": 2}}, "whole number"),
        ({"kind": "Linear", "params": {"in_features": True, "out_features": 2}}, "whole number"),
        (
            {"kind": "Linear", "params": {"in_features": 0, "out_features": 2}},
            "Linear in_features must be from 1 to 65,536, not 0",
        ),
        (
            {"kind": "Linear", "params": {"in_features": 10**30, "out_features": 2}},
            "must be from 1 to 65,536",
        ),
        (
            {"kind": "Linear", "params": {"in_features": 4, "out_features": 2, "bias": 1}},
            "Linear bias must be true or false",
        ),
        (
            {
                "kind": "Conv2d",
                "params": {"in_channels": 1, "out_channels": 2000, "kernel_size": 3},
            },
            "Conv2d out_channels must be from 1 to 1,024",
        ),
        (
            {"kind": "Conv2d", "params": {"in_channels": 1, "out_channels": 2, "kernel_size": 0}},
            "kernel_size must be from 1 to 64",
        ),
        ({"kind": "MaxPool2d", "params": {"stride": 0}}, "MaxPool2d stride must be from 1"),
        ({"kind": "Dropout", "params": {"p": 1.0}}, "Dropout p must be at least 0 and less than 1"),
        ({"kind": "Dropout", "params": {"p": -0.1}}, "Dropout p must be at least 0"),
        ({"kind": "Dropout", "params": {"p": 2}}, "less than 1, not 2.0"),
        ({"kind": "LeakyReLU", "params": {"negative_slope": "0.1"}}, "must be a number"),
        ({"kind": "ReLU", "children": [{"kind": "ReLU"}]}, "only a Residual block holds layers"),
        ({"kind": "Residual", "children": {"kind": "ReLU"}}, "must be a list"),
        ({"kind": "ReLU", "name": "x"}, "unexpected field 'name'"),
        ({"params": {}}, "missing the field 'kind'"),
        ([1, 2], "must be a JSON object"),
        ({"kind": "Linear", "params": [4, 2]}, "parameters must be a JSON object"),
    ],
)
def test_bad_layers_are_refused_with_where_and_what(layer, says: str) -> None:
    doc = _doc(layers=[{"kind": "Flatten"}, layer])
    with pytest.raises(ValueError, match="^layer 2") as e:
        _loads(doc)
    assert says in str(e.value)


def test_a_bad_layer_inside_a_block_is_located() -> None:
    doc = _doc(layers=[{"kind": "Residual", "children": [{"kind": "ReLU"}, {"kind": "Nope"}]}])
    with pytest.raises(ValueError, match=r"^layer 1\.2: unknown layer kind 'Nope'"):
        _loads(doc)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"input_kind": "audio"}, "input_kind must be 'image' or 'vector'"),
        ({"input_features": 5}, "an image input is always 1x28x28"),
        ({"input_kind": "vector", "input_features": None}, "input_features must be a whole number"),
        ({"input_kind": "vector", "input_features": 0}, "input_features must be from 1"),
        ({"layers": {"kind": "ReLU"}}, "layers in the network must be a list"),
        ({"format": "something-else"}, "not a network file from the builder"),
        ({"version": 2}, "this builder reads version 1"),
        ({"version": True}, "version"),
        ({"extra": 1}, "unexpected field 'extra'"),
        ({"name": "a" * 1000}, "use at most 40"),
    ],
)
def test_bad_networks_are_refused(changes: dict, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        _loads(_doc(**changes))


def test_missing_fields_and_non_objects_are_refused() -> None:
    doc = _doc()
    del doc["layers"]
    with pytest.raises(ValueError, match="missing the field 'layers'"):
        _loads(doc)
    for top in ([], "net", 3, None):
        with pytest.raises(ValueError, match="must be a JSON object"):
            _loads(top)


def test_limits_on_layers_and_nesting() -> None:
    with pytest.raises(ValueError, match=f"at most {MAX_LAYERS} layers"):
        _loads(_doc(layers=[{"kind": "ReLU"}] * (MAX_LAYERS + 1)))
    nested = [{"kind": "Residual", "children": [{"kind": "ReLU"}] * 30}] * 2  # 62 in all
    with pytest.raises(ValueError, match=f"at most {MAX_LAYERS} layers"):
        _loads(_doc(layers=nested))
    block: dict = {"kind": "ReLU"}
    for _ in range(4):
        block = {"kind": "Residual", "children": [block]}
    with pytest.raises(ValueError, match="nest more than 3 levels"):
        _loads(_doc(layers=[block]))
    three = block["children"][0]
    assert _loads(_doc(layers=[three])).layers[0].depth == 3
    with pytest.raises(ValueError, match="nested 4 deep"):
        L("Residual", {}, (L("Residual", {}, (L("Residual", {}, (L("Residual"),)),)),))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ("{'name': 1}", "not valid JSON"),
        ('{"name": "a", "name": "b"}', "the field 'name' twice"),
        ('{"layers": [{"kind": "Dropout", "params": {"p": NaN}}]}', "NaN"),
        ('{"x": Infinity}', "Infinity"),
        (
            '{"name": "a", "input_kind": "image", "input_features": null, "layers": [{"kind": '
            '"Dropout", "params": {"p": 1e999}}]}',
            "p must be at least 0 and less than 1, not inf",
        ),
        ("[" * 100_001 + "]" * 100_001, "too long"),
        ("[" * 100_000 + "]" * 100_000, "nested far too deeply"),
        ('{"name": "' + "a" * 300_000 + '"}', "too long"),
        ("1" * 5000, "a whole number 5,000 digits long"),  # int() would refuse past 4,300 digits
        ('{"name": -' + "9" * 1001 + "}", "a whole number 1,001 digits long"),
    ],
    ids=lambda v: v[:30] if isinstance(v, str) else None,
)
def test_hostile_json_is_a_value_error(text: str, says: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError, match=says):
        import_spec_json(text)
    assert time.perf_counter() - started < 1.0


def test_bytes_that_are_not_utf8_and_non_text_are_refused() -> None:
    with pytest.raises(ValueError, match="not UTF-8"):
        import_spec_json(b"\xff\xfe{}")
    with pytest.raises(ValueError, match="expected JSON text"):
        import_spec_json(123)  # type: ignore[arg-type]


_JUNK = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    10**20,
    -(10**20),
    "",
    "x" * 100,
    [],
    [1, [2]],
    {},
    {"a": {"b": {}}},
    1e308,
    -0.0,
]


def test_fuzzed_documents_only_ever_raise_value_error() -> None:
    """Replace random parts of valid documents with junk: parse, or ValueError, never else."""
    rng = random.Random(0)
    bases = [from_preset(n).to_dict() for n in ("skip", "cnn", "simple_nn", "bn_cnn")]
    accepted = 0
    for _ in range(600):
        doc = json.loads(json.dumps(rng.choice(bases)))
        for _ in range(rng.randint(1, 3)):
            _mutate(doc, rng)
        try:
            spec = import_spec_json(json.dumps(doc))
        except ValueError:
            continue
        accepted += 1
        assert import_spec_json(export_spec_json(spec)) == spec
    assert 0 < accepted < 600


def _mutate(doc: dict, rng: random.Random) -> None:
    containers: list = [doc]
    node = doc
    while isinstance(node, (dict, list)) and node and rng.random() < 0.8:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        containers.append((node, key))
        node = node[key]
    if len(containers) == 1:
        doc[rng.choice(["name", "extra", "layers"])] = rng.choice(_JUNK)
        return
    parent, key = containers[-1]
    if isinstance(parent, dict) and rng.random() < 0.2:
        parent[rng.choice(["kind", "params", "children", "zzz", "bias", "p"])] = rng.choice(_JUNK)
    else:
        parent[key] = rng.choice(_JUNK)


def test_a_whole_number_past_float_range_is_out_of_range_not_an_overflow() -> None:
    """float(10**400) raises OverflowError; a float setting given it is simply out of range."""
    with pytest.raises(
        ValueError,
        match="Dropout p must be at least 0 and less than 1, not a "
        "whole number about 400 digits long",
    ):
        L("Dropout", {"p": 10**400})
    with pytest.raises(
        ValueError,
        match="in_features must be from 1 to 65,536, not a whole number about 5,000 digits long",
    ):
        L("Linear", {"in_features": 10**5000, "out_features": 2})  # repr() refuses it


def test_specs_made_in_python_are_checked_too() -> None:
    with pytest.raises(ValueError, match="every layer must be a LayerSpec"):
        NetworkSpec("n", "image", None, ({"kind": "ReLU"},))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be a LayerSpec"):
        L("Residual", {}, ("ReLU",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown layer kind"):
        L(["Linear"])  # type: ignore[arg-type]


def test_every_palette_kind_has_defaults_or_required_sizes() -> None:
    for kind, info in PALETTE.items():
        layer = default_layer(kind, (16, 14, 14))
        assert layer.kind == kind
        assert set(layer.params) == {p.name for p in info.params}


# --- editing ---------------------------------------------------------------------------------


def test_add_remove_move_and_update() -> None:
    spec = NetworkSpec("edit me", "vector", 4, ())
    spec = append_layer(spec, _linear(4, 8))
    spec = append_layer(spec, L("ReLU"))
    spec = append_layer(spec, _linear(8, 3))
    assert [layer.kind for layer in spec.layers] == ["Linear", "ReLU", "Linear"]
    moved = move_layer(spec, (1,), -1)
    assert [layer.kind for layer in moved.layers] == ["ReLU", "Linear", "Linear"]
    assert move_layer(moved, (0,), -1) == moved  # already first: stays put
    assert move_layer(spec, (2,), +1) == spec
    assert remove_layer(spec, (1,)).layers == (spec.layers[0], spec.layers[2])
    assert update_params(spec, (2,), out_features=5).layers[2].params["out_features"] == 5
    with pytest.raises(ValueError, match="must be from 1"):
        update_params(spec, (2,), out_features=0)
    with pytest.raises(ValueError, match="there is no layer 7"):
        remove_layer(spec, (6,))
    assert spec.layers[1] == L("ReLU")  # specs are values: edits never change the original


def test_edits_inside_a_block() -> None:
    spec = from_preset("skip")
    spec = insert_layer(spec, (3, 3), L("ReLU"))
    assert get_layer(spec, (3,)).children[-1] == L("ReLU")
    spec = move_layer(spec, (3, 3), -1)
    assert [c.kind for c in get_layer(spec, (3,)).children] == ["Conv2d", "ReLU", "ReLU", "Conv2d"]
    spec = remove_layer(spec, (3, 0))
    assert len(get_layer(spec, (3,)).children) == 3
    with pytest.raises(ValueError, match="layer 1 is a Conv2d; only a Residual block"):
        insert_layer(spec, (0, 0), L("ReLU"))
    full = NetworkSpec("full", "image", None, (L("ReLU"),) * MAX_LAYERS)
    with pytest.raises(ValueError, match=f"at most {MAX_LAYERS} layers"):
        append_layer(full, L("ReLU"))
