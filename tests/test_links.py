"""Shareable links: state -> query parameters -> the same state; bad values are ignored."""

from __future__ import annotations

import pytest

from explorer.links import DEFAULTS, Ignored, from_params, share_url, to_params, typed_problem
from explorer.selection import DEFAULTS as SESSION_DEFAULTS
from explorer.selection import LINK_KEYS
from explorer.sources import Source
from explorer.zoo import PRESETS


def test_defaults_make_an_empty_query() -> None:
    assert to_params(DEFAULTS) == {}
    assert share_url("http://host:8501", "/forward", DEFAULTS) == "http://host:8501/forward"
    assert (
        share_url("http://host:8501/", "/", {**DEFAULTS, "model": "mlp"})
        == "http://host:8501/?model=mlp"
    )


def test_a_state_survives_the_round_trip() -> None:
    state = {
        **DEFAULTS,
        "model": "conditional",
        "source": Source.RANDOM,
        "random_seed": 42,
        "train": True,
        "dropout_seed": 7,
        "path": "Deep path",
        "step": 4,
    }
    params = to_params(state)
    assert params == {
        "model": "conditional",
        "input": "random",
        "rseed": "42",
        "mode": "train",
        "seed": "7",
        "path": "deep",
        "step": "4",
    }
    back, ignored = from_params(params)
    assert ignored == []
    assert {k: back.get(k, DEFAULTS[k]) for k in DEFAULTS} == state


def test_typed_numbers_travel_in_the_link() -> None:
    state = {
        **DEFAULTS,
        "model": "simple_nn",
        "source": Source.TYPED,
        "typed": [[0.5, 0.3, 0.2], [1.0, -2.0, 3.25]],
    }
    params = to_params(state)
    assert params["x"] == "0.5,0.3,0.2;1,-2,3.25"
    back, _ = from_params(params)
    assert back["typed"] == ((0.5, 0.3, 0.2), (1.0, -2.0, 3.25))


@pytest.mark.parametrize(
    "params, bad, why",
    [
        ({"model": "resnet152"}, "model", "no model has that name; the models are simple_nn, "),
        ({"input": "webcam"}, "input", "must be draw, sample, upload, typed or random"),
        ({"sample": "-1"}, "sample", "must be a whole number from 0 to 10,000"),
        ({"seed": "1e99"}, "seed", "must be a whole number from 0 to 2,147,483,647"),
        ({"step": "two"}, "step", "must be a whole number"),
        ({"mode": "TRAINING"}, "mode", "must be train or eval"),
        ({"x": "1,nan,2"}, "x", "NaN and infinity cannot go through a network"),
        ({"x": "1,2;3"}, "x", "every row must have the same count of numbers"),
        ({"x": ",".join(["1"] * 100)}, "x", "at most 64 numbers"),
        ({"x": "1,two"}, "x", "numbers separated by commas, rows by semicolons"),
    ],
)
def test_bad_values_are_ignored_and_named_with_the_reason(params, bad, why) -> None:
    state, ignored = from_params({**params, "model": params.get("model", "mlp")})
    assert [i.name for i in ignored] == [bad]
    assert why in ignored[0].reason, ignored[0].reason
    assert set(state) <= {"model"}


def test_numbers_float32_cannot_hold_are_refused_with_the_reason() -> None:
    """1e308 is finite as float64 but infinity in float32: it used to get through."""
    for big in ("1e308", "-3.5e38", "1e39"):
        state, ignored = from_params({"x": f"1,{big},2"})
        assert "typed" not in state
        assert ignored == [
            Ignored(
                "x",
                f"{big} is too large for float32, the type the network "
                "computes in: numbers up to about 3.4e38 fit",
            )
        ]
    state, ignored = from_params({"x": "3.4e38,1e-60,0"})  # the largest fit; tiny ones too
    assert state["typed"] == ((3.4e38, 1e-60, 0.0),) and not ignored


def test_typed_numbers_must_fit_the_model() -> None:
    simple = PRESETS["simple_nn"]
    assert typed_problem(((1.0, 2.0, 3.0),), simple) is None
    assert (
        typed_problem(((1.0, 2.0),), simple)
        == "SimpleNN (3-4-1) takes 3 numbers per row; the link has 2"
    )
    assert (
        typed_problem(((1.0,),), PRESETS["cnn"])
        == "MNIST CNN takes a 28x28 image, not typed numbers"
    )


def test_a_link_may_name_a_network_saved_for_the_class() -> None:
    state, ignored = from_params({"model": "yours:Class  CNN"})
    assert state == {"model": "yours:Class CNN"} and not ignored  # the name tidied, as saved
    for bad in ("yours:../../etc/passwd", "yours:", "resnet50", "yours:" + "x" * 41):
        state, ignored = from_params({"model": bad})
        assert "model" not in state and [i.name for i in ignored] == ["model"], bad
    _, ignored = from_params({"model": "yours:Réseau"})
    assert "'é'" in ignored[0].reason
    assert to_params({**DEFAULTS, "model": "yours:Class CNN"})["model"] == "yours:Class CNN"


def test_the_backward_view_travels_in_the_link() -> None:
    state = {
        **DEFAULTS,
        "target": 6.0,
        "grad_step": 3,
        "lr": 1.0,
        "sgd": ((1.0, 6.0), (0.05, None)),
    }
    params = to_params(state)
    assert params == {"target": "6", "gstep": "3", "lr": "1", "sgd": "1:6,0.05:x"}
    back, ignored = from_params(params)
    assert ignored == [] and {k: back.get(k, DEFAULTS[k]) for k in DEFAULTS} == state
    assert from_params({"target": "true"})[0] == {"target": "True label"}


@pytest.mark.parametrize(
    "params, bad",
    [
        ({"lr": "11"}, "lr"),
        ({"lr": "nan"}, "lr"),
        ({"target": "cat"}, "target"),
        ({"sgd": "0.1"}, "sgd"),
        ({"sgd": ",".join(["0.1:3"] * 21)}, "sgd"),
        ({"gstep": "-2"}, "gstep"),
    ],
)
def test_bad_backward_values_are_ignored(params, bad) -> None:
    state, ignored = from_params(params)
    assert state == {} and [i.name for i in ignored] == [bad]


def test_the_branch_choice_travels_only_for_a_preset_whose_forward_has_one() -> None:
    from explorer.zoo import PRESETS

    assert [n for n, p in PRESETS.items() if p.branch_argument] == ["conditional"]
    deep = {"model": "conditional", "path": "Deep path"}
    assert to_params(deep)["path"] == "deep"
    assert "path" not in to_params({**deep, "model": "cnn"})


def test_links_leave_out_exactly_what_a_new_session_starts_with() -> None:
    """One table: the sidebar's first-run values are the ones a link does not write."""
    assert {name: DEFAULTS[name] for name in LINK_KEYS} == {
        name: SESSION_DEFAULTS[key] for name, key in LINK_KEYS.items()
    }
    assert DEFAULTS["source"] is Source.SAMPLE and DEFAULTS["target"] == "Predicted class"
    assert to_params({**DEFAULTS, "lr": 0.2}) == {"lr": "0.2"}
