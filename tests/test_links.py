"""Shareable links: state -> query parameters -> the same state; bad values are ignored."""

from __future__ import annotations

import pytest

from explorer.links import DEFAULTS, from_params, share_url, to_params


def test_defaults_make_an_empty_query() -> None:
    assert to_params(DEFAULTS) == {}
    assert share_url("http://host:8501", "/forward", DEFAULTS) == "http://host:8501/forward"
    assert share_url("http://host:8501/", "/", {**DEFAULTS, "model": "mlp"}) == \
        "http://host:8501/?model=mlp"


def test_a_state_survives_the_round_trip() -> None:
    state = {**DEFAULTS, "model": "conditional", "source": "Random", "random_seed": 42,
             "train": True, "dropout_seed": 7, "path": "Deep path", "step": 4}
    params = to_params(state)
    assert params == {"model": "conditional", "input": "random", "rseed": "42", "mode": "train",
                      "seed": "7", "path": "deep", "step": "4"}
    back, ignored = from_params(params)
    assert ignored == []
    assert {k: back.get(k, DEFAULTS[k]) for k in DEFAULTS} == state


def test_typed_numbers_travel_in_the_link() -> None:
    state = {**DEFAULTS, "model": "simple_nn", "source": "Typed numbers",
             "typed": [[0.5, 0.3, 0.2], [1.0, -2.0, 3.25]]}
    params = to_params(state)
    assert params["x"] == "0.5,0.3,0.2;1,-2,3.25"
    back, _ = from_params(params)
    assert back["typed"] == ((0.5, 0.3, 0.2), (1.0, -2.0, 3.25))


@pytest.mark.parametrize("params, bad", [
    ({"model": "resnet152"}, "model"), ({"input": "webcam"}, "input"),
    ({"sample": "-1"}, "sample"), ({"seed": "1e99"}, "seed"), ({"step": "two"}, "step"),
    ({"mode": "TRAINING"}, "mode"), ({"x": "1,nan,2"}, "x"), ({"x": "1,2;3"}, "x"),
    ({"x": ",".join(["1"] * 100)}, "x"),
])
def test_bad_values_are_ignored_and_named(params, bad) -> None:
    state, ignored = from_params({**params, "model": params.get("model", "mlp")})
    assert ignored == [bad]
    assert set(state) <= {"model"}


def test_a_link_may_name_a_network_saved_for_the_class() -> None:
    state, ignored = from_params({"model": "yours:Class  CNN"})
    assert state == {"model": "yours:Class CNN"} and not ignored  # the name tidied, as saved
    for bad in ("yours:../../etc/passwd", "yours:", "resnet50", "yours:" + "x" * 41):
        state, ignored = from_params({"model": bad})
        assert "model" not in state and ignored == ["model"], bad
    assert to_params({**DEFAULTS, "model": "yours:Class CNN"})["model"] == "yours:Class CNN"
