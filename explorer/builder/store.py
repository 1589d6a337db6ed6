"""The class's shared shelf of saved networks, each with its owner.

``NetworkStore(directory)`` keeps ``networks.sqlite3`` in ``directory`` (default: the
``FPE_DATA_DIR`` environment variable, else ``./data``); ``NetworkStore(database=db)`` uses any
``explorer.classroom.db`` database -- PostgreSQL when several replicas share one class. Every
save is one write transaction (queued behind the others: see ``explorer.classroom.db``), so each
is either wholly stored or not at all. One store object may be shared by every session.

A network belongs to whoever saved it (an ``Owner``): nobody else can replace or delete it,
and the teacher can remove any.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import torch

from explorer.builder.build import check_buildable
from explorer.builder.shapes import Shape, analyse
from explorer.builder.spec import NetworkSpec, clean_name
from explorer.builder.spec_json import export_spec_json, import_spec_json
from explorer.builder.weights import check_state_dict, export_weights, import_weights
from explorer.classroom.db import (
    DATA_DIR_ENV,
    DB_NAME,
    Database,
    SQLiteDatabase,
    StoreError,
    default_data_dir,
)

__all__ = [
    "DATA_DIR_ENV",
    "DB_NAME",
    "NetworkStore",
    "Owner",
    "SavedNetwork",
    "StoreError",
    "default_data_dir",
]

Role = Literal["teacher", "student", "nobody"]


@dataclass(frozen=True)
class Owner:
    """Who saves: the teacher, or one student's browser (``id``: a hash of its token)."""

    role: Role
    id: str = ""

    @classmethod
    def teacher(cls) -> Owner:
        return cls("teacher", "teacher")

    @classmethod
    def browser(cls, token: str) -> Owner:
        """A student's browser, known by the random token it keeps in a cookie."""
        return cls("student", hashlib.sha256(token.encode()).hexdigest()[:32])

    def may_replace(self, saved: SavedNetwork) -> bool:
        """One's own; the teacher also what was saved before owners existed."""
        mine = saved.owner_role == self.role and saved.owner == self.id
        return mine or (self.role == "teacher" and saved.owner_role == "nobody")

    def may_delete(self, saved: SavedNetwork) -> bool:
        """One's own; the teacher anything."""
        return self.role == "teacher" or self.may_replace(saved)

    def whose(self, saved: SavedNetwork) -> str:
        """Whose ``saved`` is, said to this owner: "yours", "the teacher's", ..."""
        if saved.owner_role == self.role and saved.owner == self.id:
            return "yours"
        return {"teacher": "the teacher's", "student": "another student's"}.get(
            saved.owner_role, "saved before networks had owners: only the teacher can replace it"
        )


NOBODY = Owner("nobody")


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
    owner_role: Role = "nobody"
    owner: str = ""


class NetworkStore:
    """Saved networks (spec + weights) by name; names ignore upper/lower case."""

    def __init__(
        self, directory: str | os.PathLike | None = None, *, database: Database | None = None
    ):
        self.db = (
            database
            if database is not None
            else SQLiteDatabase(directory if directory is not None else default_data_dir())
        )

    @property
    def path(self):
        """The SQLite file (None on PostgreSQL)."""
        return getattr(self.db, "path", None)

    def save(
        self,
        name: str,
        spec: NetworkSpec,
        state_dict: Mapping[str, torch.Tensor],
        *,
        overwrite: bool = False,
        owner: Owner = NOBODY,
    ) -> SavedNetwork:
        """Store a network under ``name`` (the spec is renamed to match), owned by ``owner``.

        Raises:
            ValueError: a bad name, a spec with a layer error, weights that do not fit the
                spec, the name is taken and ``overwrite`` is False, or it is taken by a
                network ``owner`` may not replace (the message says whose it is). Nothing is
                changed then.
        """
        name = clean_name(name)
        if not isinstance(spec, NetworkSpec):
            raise ValueError(f"expected a NetworkSpec, not {type(spec).__name__}")
        spec = dataclasses.replace(spec, name=name)
        check_buildable(spec)
        blob = export_weights(check_state_dict(spec, state_dict))
        report = analyse(spec)
        entry = SavedNetwork(
            name,
            datetime.now(UTC),
            report.parameters,
            spec.layer_count,
            spec.input_kind,
            spec.input_features,
            report.output_shape or (),
            owner.role,
            owner.id,
        )
        row = (
            name,
            export_spec_json(spec),
            blob,
            hashlib.sha256(blob).hexdigest(),
            entry.saved_at.timestamp(),
            entry.parameter_count,
            entry.layer_count,
            entry.input_kind,
            entry.input_features,
            json.dumps(list(entry.output_shape)),
            owner.role,
            owner.id,
        )
        with self.db.write() as con:
            taken = self._entry(con, name)
            if taken is not None:
                if not owner.may_replace(taken):
                    raise ValueError(
                        f"the name “{taken.name}” is taken: that network is "
                        f"{owner.whose(taken)} (names ignore upper/lower case); "
                        "choose another name"
                    )
                if not overwrite:
                    raise ValueError(
                        f"a network called “{taken.name}” is already saved "
                        f"({owner.whose(taken)}; names ignore upper/lower case): "
                        "choose another name, or replace it"
                    )
                con.execute("DELETE FROM networks WHERE lower(name) = lower(?)", (name,))
            con.execute(
                "INSERT INTO networks (name, spec, weights, weights_sha256, saved_at, "
                "parameter_count, layer_count, input_kind, input_features, "
                "output_shape, owner_role, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        return entry

    def load(self, name: str) -> tuple[NetworkSpec, dict[str, torch.Tensor]]:
        """The saved spec and its weights, checked against each other."""
        name = clean_name(name)
        with self.db.read() as con:
            rows = con.execute(
                "SELECT name, spec, weights, weights_sha256 FROM networks "
                "WHERE lower(name) = lower(?)",
                (name,),
            )
        if not rows:
            raise ValueError(f"no network called {name!r} is saved")
        stored_name, spec_json, blob, digest = rows[0]
        blob = bytes(blob)
        if hashlib.sha256(blob).hexdigest() != digest:
            raise StoreError(f"the saved weights of {stored_name!r} are damaged")
        try:
            spec = import_spec_json(spec_json)
            return spec, import_weights(spec, blob)
        except ValueError as e:
            raise StoreError(f"the saved network {stored_name!r} is damaged: {e}") from None

    def list(self) -> list[SavedNetwork]:
        """Every saved network, by name."""
        with self.db.read() as con:
            rows = con.execute(f"SELECT {_ENTRY} FROM networks ORDER BY lower(name)")
        return [_saved(r) for r in rows]

    def get(self, name: str) -> SavedNetwork | None:
        """The entry saved under ``name`` (any case), or None."""
        with self.db.read() as con:
            return self._entry(con, clean_name(name))

    def exists(self, name: str) -> bool:
        return self.get(name) is not None

    def delete(self, name: str, *, owner: Owner = NOBODY) -> None:
        """Remove a saved network: one's own, or any for the teacher.

        Raises:
            ValueError: there is none by that name, or it is someone else's.
        """
        name = clean_name(name)
        with self.db.write() as con:
            taken = self._entry(con, name)
            if taken is None:
                raise ValueError(f"no network called {name!r} is saved")
            if not owner.may_delete(taken):
                raise ValueError(
                    f"“{taken.name}” is {owner.whose(taken)}: only its owner or "
                    "the teacher can remove it"
                )
            con.execute("DELETE FROM networks WHERE lower(name) = lower(?)", (name,))

    @staticmethod
    def _entry(con, name: str) -> SavedNetwork | None:
        rows = con.execute(f"SELECT {_ENTRY} FROM networks WHERE lower(name) = lower(?)", (name,))
        return _saved(rows[0]) if rows else None


_ENTRY = (
    "name, saved_at, parameter_count, layer_count, input_kind, input_features, "
    "output_shape, owner_role, owner"
)


def _saved(row: tuple) -> SavedNetwork:
    n, t, p, c, k, f, shape, role, owner = row
    return SavedNetwork(
        n, datetime.fromtimestamp(t, UTC), p, c, k, f, tuple(json.loads(shape)), role, owner
    )
