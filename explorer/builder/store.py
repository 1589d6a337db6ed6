"""The class's shared shelf of saved networks: one SQLite file, safe for many sessions at once.

``NetworkStore(directory)`` keeps ``networks.sqlite3`` in ``directory`` (default: the
``FPE_DATA_DIR`` environment variable, else ``./data``). Every save is one transaction taken
with ``BEGIN IMMEDIATE``, so concurrent saves from threads or processes queue up (WAL mode and a
busy timeout) and each is either wholly stored or not at all. Each call opens its own
connection, so one store object may be shared by every session of a server.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch

from explorer.builder.build import check_buildable
from explorer.builder.shapes import Shape, analyse
from explorer.builder.spec import NetworkSpec, clean_name
from explorer.builder.spec_json import export_spec_json, import_spec_json
from explorer.builder.weights import check_state_dict, export_weights, import_weights

DATA_DIR_ENV = "FPE_DATA_DIR"
DB_NAME = "networks.sqlite3"
BUSY_TIMEOUT_S = 30.0  # how long a save waits for another session's save to finish

_SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (
    name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
    spec TEXT NOT NULL,
    weights BLOB NOT NULL,
    weights_sha256 TEXT NOT NULL,
    saved_at REAL NOT NULL,
    parameter_count INTEGER NOT NULL,
    layer_count INTEGER NOT NULL,
    input_kind TEXT NOT NULL,
    input_features INTEGER,
    output_shape TEXT NOT NULL
)
"""


class StoreError(ValueError):
    """The store itself failed (busy for too long, disk full, a damaged entry)."""


@dataclass(frozen=True)
class SavedNetwork:
    """One entry of the shelf, without its weights."""

    name: str
    saved_at: datetime  # UTC
    parameter_count: int
    layer_count: int
    input_kind: str
    input_features: int | None
    output_shape: Shape


def default_data_dir() -> Path:
    """``$FPE_DATA_DIR`` if set, else ``./data``."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data")


class NetworkStore:
    """Saved networks (spec + weights) by name; names ignore upper/lower case."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory) if directory is not None else default_data_dir()
        try:
            # The server user's alone: students' code run as another user cannot read it.
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:  # students read this: the server's paths stay in the log
            raise StoreError("the folder for the class's saved networks cannot be created "
                             f"({e.strerror}); ask whoever runs the server to check "
                             f"{DATA_DIR_ENV}") from e
        self.path = self.directory / DB_NAME
        with self._connect() as con:
            # WAL: readers never block the one writer, and a crash mid-write leaves the last
            # committed state. The mode is stored in the file, so this only matters once.
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(_SCHEMA)

    def save(self, name: str, spec: NetworkSpec, state_dict: Mapping[str, torch.Tensor], *,
             overwrite: bool = False) -> SavedNetwork:
        """Store a network under ``name`` (the spec is renamed to match).

        Raises:
            ValueError: a bad name, a spec with a layer error, weights that do not fit the
                spec, or the name is taken and ``overwrite`` is False. Nothing is changed then.
        """
        name = clean_name(name)
        if not isinstance(spec, NetworkSpec):
            raise ValueError(f"expected a NetworkSpec, not {type(spec).__name__}")
        spec = dataclasses.replace(spec, name=name)
        check_buildable(spec)
        blob = export_weights(check_state_dict(spec, state_dict))
        report = analyse(spec)
        entry = SavedNetwork(name, datetime.now(UTC), report.parameters, spec.layer_count,
                             spec.input_kind, spec.input_features, report.output_shape or ())
        row = (name, export_spec_json(spec), blob, hashlib.sha256(blob).hexdigest(),
               entry.saved_at.timestamp(), entry.parameter_count, entry.layer_count,
               entry.input_kind, entry.input_features, json.dumps(list(entry.output_shape)))
        with self._transaction() as con:
            taken = con.execute("SELECT name FROM networks WHERE name = ?", (name,)).fetchone()
            if taken and not overwrite:
                raise ValueError(f"a network called {taken[0]!r} is already saved (names ignore "
                                 f"upper/lower case): choose another name, or overwrite it")
            if taken:
                con.execute("DELETE FROM networks WHERE name = ?", (name,))
            con.execute("INSERT INTO networks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        return entry

    def load(self, name: str) -> tuple[NetworkSpec, dict[str, torch.Tensor]]:
        """The saved spec and its weights, checked against each other."""
        name = clean_name(name)
        with self._connect() as con:
            row = con.execute("SELECT name, spec, weights, weights_sha256 FROM networks "
                              "WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ValueError(f"no network called {name!r} is saved")
        stored_name, spec_json, blob, digest = row
        if hashlib.sha256(blob).hexdigest() != digest:
            raise StoreError(f"the saved weights of {stored_name!r} are damaged")
        try:
            spec = import_spec_json(spec_json)
            return spec, import_weights(spec, blob)
        except ValueError as e:
            raise StoreError(f"the saved network {stored_name!r} is damaged: {e}") from None

    def list(self) -> list[SavedNetwork]:
        """Every saved network, by name."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT name, saved_at, parameter_count, layer_count, input_kind, "
                "input_features, output_shape FROM networks ORDER BY name COLLATE NOCASE"
            ).fetchall()
        return [SavedNetwork(n, datetime.fromtimestamp(t, UTC), p, c, k, f,
                             tuple(json.loads(shape)))
                for n, t, p, c, k, f, shape in rows]

    def exists(self, name: str) -> bool:
        with self._connect() as con:
            return con.execute("SELECT 1 FROM networks WHERE name = ?",
                               (clean_name(name),)).fetchone() is not None

    def delete(self, name: str) -> None:
        """Remove a saved network; ValueError if there is none by that name."""
        name = clean_name(name)
        with self._transaction() as con:
            if con.execute("DELETE FROM networks WHERE name = ?", (name,)).rowcount == 0:
                raise ValueError(f"no network called {name!r} is saved")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            # isolation_level=None: we write BEGIN/COMMIT ourselves
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"the class's saved networks cannot be opened ({e}); ask whoever "
                             f"runs the server to check {DATA_DIR_ENV}") from e
        try:
            yield con
        except sqlite3.Error as e:
            raise StoreError(f"the class's saved networks could not be read or written ({e}); "
                             "nothing was changed, try again") from e
        finally:
            con.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: taken at once (IMMEDIATE), committed whole or rolled back."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
