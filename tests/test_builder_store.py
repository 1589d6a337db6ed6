"""Weights in and out (.pt bytes checked against the spec) and the shared SQLite store,
including saves from many threads and processes at once."""

from __future__ import annotations

import io
import multiprocessing
import os
import sqlite3
import threading
import zipfile
from pathlib import Path

import pytest
import torch

from explorer.builder import (
    DATA_DIR_ENV,
    LayerSpec,
    NetworkSpec,
    NetworkStore,
    StoreError,
    build,
    default_data_dir,
    export_weights,
    from_preset,
    import_weights,
    preset_weights,
)
from explorer.builder import weights as weights_module

L = LayerSpec
SMALL = NetworkSpec(
    "small",
    "vector",
    4,
    (
        L("Linear", {"in_features": 4, "out_features": 8}),
        L("ReLU"),
        L("Linear", {"in_features": 8, "out_features": 3}),
    ),
)


def _filled(value: float) -> dict[str, torch.Tensor]:
    """SMALL's weights, every number equal to ``value``: a save is recognisable whole."""
    return {k: torch.full_like(v, value) for k, v in build(SMALL).state_dict().items()}


def _single_value(state: dict[str, torch.Tensor]) -> float:
    values = torch.cat([v.flatten() for v in state.values()]).unique()
    assert len(values) == 1, "a stored network mixes the weights of two saves"
    return values.item()


# --- weights ---------------------------------------------------------------------------------


def test_weights_round_trip_with_buffers() -> None:
    spec = from_preset("bn_cnn")
    state = preset_weights("bn_cnn")
    back = import_weights(spec, export_weights(state))
    assert list(back) == list(state)
    for k in state:
        assert back[k].dtype == state[k].dtype and torch.equal(back[k], state[k])
    build(spec).load_state_dict(back, strict=True)


def _saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_files_that_are_not_weights_are_refused_clearly() -> None:
    good = export_weights(_filled(0.5))
    for data in [
        b"",
        b"hello",
        os.urandom(5000),
        good[: len(good) // 2],
        good[:-30],
        b'{"fc1.weight": [1, 2]}',
    ]:
        with pytest.raises(ValueError, match="not a .pt file saved by torch.save, or it was cut"):
            import_weights(SMALL, data)
    with pytest.raises(ValueError, match="expected the bytes of a .pt file"):
        import_weights(SMALL, "fc1.weight")  # type: ignore[arg-type]


def test_pickled_code_is_refused_by_weights_only() -> None:
    for hostile in [{"fc1.weight": os.system}, {"fc1.weight": zipfile.ZipFile}, threading.Lock]:
        with pytest.raises(
            ValueError, match="could not be read .* not a PyTorch .pt file of plain tensors"
        ):
            import_weights(SMALL, _saved(hostile))


def test_weights_that_do_not_fit_the_network_are_refused() -> None:
    good = _filled(0.5)
    cases = [
        (list(good.values()), "must be a dictionary of tensors"),
        (
            preset_weights("mlp"),
            "'fc1.weight' has shape 128×784 but this network needs 8×4: "
            "these weights belong to a different network",
        ),
        (
            {**good, "fc1.weight": torch.zeros(8, 5)},
            "'fc1.weight' has shape 8×5 but this network needs 8×4",
        ),
        ({**good, "extra": torch.zeros(1)}, "has 'extra', which this network does not"),
        (
            {**good, "fc2.bias": good["fc2.bias"].double()},
            "'fc2.bias' holds float64 values but this network needs float32",
        ),
        ({**good, "fc2.bias": torch.tensor([0.0, float("nan"), 1.0])}, "NaN or infinite"),
        ({**good, "fc2.bias": torch.tensor([0.0, float("inf"), 1.0])}, "NaN or infinite"),
        ({**good, "fc2.bias": [0.0, 1.0, 2.0]}, "'fc2.bias' must be a tensor, not list"),
        ({**good, 3: torch.zeros(1)}, "named by text keys"),
    ]
    for state, says in cases:
        with pytest.raises(ValueError) as e:
            import_weights(SMALL, _saved(state))
        assert says in str(e.value)


def test_weights_saved_from_a_meta_device_model_are_refused_clearly() -> None:
    """They load as shapes with no numbers; copying them used to raise NotImplementedError."""
    meta = {k: torch.empty_like(v, device="meta") for k, v in _filled(0.5).items()}
    with pytest.raises(ValueError, match="'fc1.weight' holds no values.*'meta' device"):
        import_weights(SMALL, _saved(meta))


def test_other_networks_weights_name_what_is_missing_and_extra() -> None:
    with pytest.raises(ValueError) as e:
        import_weights(SMALL, export_weights(preset_weights("skip")))
    assert str(e.value) == (
        "these weights belong to a different network: they are missing "
        "'fc2.weight', 'fc2.bias' and has 'conv1.weight', 'conv1.bias', "
        "'block1.conv1.weight' and 3 more, which this network does not"
    )


def test_batchnorm_statistics_are_checked() -> None:
    spec = from_preset("bn_cnn")
    state = preset_weights("bn_cnn")
    state["bn1.running_var"] = -state["bn1.running_var"]
    with pytest.raises(ValueError, match="'bn1.running_var' has negative variances"):
        import_weights(spec, export_weights(state))
    state = preset_weights("bn_cnn")
    state["bn1.num_batches_tracked"] = torch.tensor(3.0)
    with pytest.raises(ValueError, match="holds float32 values but this network needs int64"):
        import_weights(spec, _saved(state))


def test_compressed_or_oversized_archives_are_refused(monkeypatch) -> None:
    good = export_weights(_filled(0.5))
    squeezed = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(good)) as src,
        zipfile.ZipFile(squeezed, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    with pytest.raises(ValueError, match="compressed"):
        import_weights(SMALL, squeezed.getvalue())
    monkeypatch.setattr(weights_module, "MAX_WEIGHTS_BYTES", 1000)
    with pytest.raises(ValueError, match="the limit is"):
        import_weights(SMALL, good)


# --- the store -------------------------------------------------------------------------------


def test_save_load_list_delete(tmp_path: Path) -> None:
    store = NetworkStore(tmp_path)
    entry = store.save("  My  net ", SMALL, _filled(0.25))
    assert entry.name == "My net" and entry.parameter_count == 67 and entry.layer_count == 3
    assert entry.input_kind == "vector" and entry.input_features == 4
    assert entry.output_shape == (3,)
    spec, state = store.load("my NET")  # names ignore case and extra spaces
    assert spec.name == "My net" and spec.layers == SMALL.layers
    assert _single_value(state) == 0.25
    store.save("cnn", from_preset("cnn"), preset_weights("cnn"))
    assert [(e.name, e.parameter_count) for e in store.list()] == [("cnn", 421_642), ("My net", 67)]
    assert store.exists("CNN") and not store.exists("rnn")
    store.delete("My Net")
    assert [e.name for e in store.list()] == ["cnn"]
    with pytest.raises(ValueError, match="no network called 'My net' is saved"):
        store.load("My net")
    with pytest.raises(ValueError, match="no network called"):
        store.delete("My net")


def test_saves_survive_a_restart_and_use_wal(tmp_path: Path) -> None:
    NetworkStore(tmp_path).save("kept", SMALL, _filled(1.5))
    reopened = NetworkStore(tmp_path)  # a new server process opens the same file
    assert _single_value(reopened.load("kept")[1]) == 1.5
    with sqlite3.connect(reopened.path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert reopened.path == tmp_path / "networks.sqlite3"


def test_the_data_directory_comes_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "class"))
    assert NetworkStore().path == tmp_path / "class" / "networks.sqlite3"
    monkeypatch.delenv(DATA_DIR_ENV)
    assert default_data_dir() == Path("data")


def test_nothing_saved_is_lost_by_bad_saves(tmp_path: Path) -> None:
    store = NetworkStore(tmp_path)
    store.save("mine", SMALL, _filled(0.5))
    with pytest.raises(
        ValueError,
        match="a network called “mine” is already saved \\(yours; "
        "names ignore upper/lower case\\): choose another "
        "name, or replace it",
    ):
        store.save("MINE", SMALL, _filled(9.0))
    with pytest.raises(ValueError, match="shape"):
        store.save("mine", SMALL, {**_filled(9.0), "fc1.weight": torch.zeros(2, 2)}, overwrite=True)
    broken = NetworkSpec("b", "vector", 5, SMALL.layers)
    with pytest.raises(ValueError, match="layer 1 \\(fc1\\): Linear expects 5"):
        store.save("mine", broken, _filled(9.0), overwrite=True)
    for odd in ["", "a/b", "x" * 41, "Robert'); DROP TABLE networks;--"]:
        with pytest.raises(ValueError, match="name"):
            store.save(odd, SMALL, _filled(9.0))
    assert [e.name for e in store.list()] == ["mine"]
    assert _single_value(store.load("mine")[1]) == 0.5
    store.save("Mine", SMALL, _filled(2.0), overwrite=True)
    assert [e.name for e in store.list()] == ["Mine"]
    assert _single_value(store.load("mine")[1]) == 2.0


def test_a_damaged_entry_is_reported_not_loaded(tmp_path: Path) -> None:
    store = NetworkStore(tmp_path)
    store.save("hit", SMALL, _filled(0.5))
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE networks SET weights = substr(weights, 1, 100)")
    with pytest.raises(StoreError, match="the saved weights of 'hit' are damaged"):
        store.load("hit")
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE networks SET spec = '{}'")
    with pytest.raises(ValueError, match="damaged"):
        store.load("hit")


def test_concurrent_saves_from_threads(tmp_path: Path) -> None:
    store = NetworkStore(tmp_path)
    errors: list[BaseException] = []
    refused: list[str] = []
    barrier = threading.Barrier(8)

    def work(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(4):
                store.save(f"w{worker} n{i}", SMALL, _filled(worker + i / 10))
                store.save("shared", SMALL, _filled(100 + worker), overwrite=True)
            try:  # all race for one new name without overwrite: exactly one wins
                store.save("first", SMALL, _filled(200 + worker))
            except ValueError as e:
                refused.append(str(e))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(refused) == 7 and all("already saved" in r for r in refused)
    names = [e.name for e in store.list()]
    assert len(names) == 8 * 4 + 2
    for w in range(8):
        for i in range(4):
            assert _single_value(store.load(f"w{w} n{i}")[1]) == pytest.approx(w + i / 10)
    assert _single_value(store.load("shared")[1]) in {100.0 + w for w in range(8)}
    assert _single_value(store.load("first")[1]) in {200.0 + w for w in range(8)}


def _save_from_process(directory: str, worker: int, barrier) -> None:
    store = NetworkStore(directory)
    barrier.wait()  # start together, so the saves really contend for the file
    for i in range(3):
        store.save(f"p{worker} n{i}", SMALL, _filled(worker + i / 10))
        store.save("shared", SMALL, _filled(100 + worker), overwrite=True)


def test_concurrent_saves_from_processes(tmp_path: Path) -> None:
    # fork, not spawn: a spawned child spends seconds importing torch. Each process still
    # opens its own connections (the store opens one per call), as separate servers would.
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(3)
    processes = [
        context.Process(target=_save_from_process, args=(str(tmp_path), w, barrier))
        for w in range(3)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    store = NetworkStore(tmp_path)
    assert len(store.list()) == 3 * 3 + 1
    for w in range(3):
        for i in range(3):
            assert _single_value(store.load(f"p{w} n{i}")[1]) == pytest.approx(w + i / 10)
    assert _single_value(store.load("shared")[1]) in {100.0, 101.0, 102.0}
    with sqlite3.connect(store.path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
