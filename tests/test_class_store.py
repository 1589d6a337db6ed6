"""The class's database on both backends (SQLite, and a real PostgreSQL server): migrations,
saved networks with owners, classes, followers, questions and answers, the teacher's key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from explorer.builder import LayerSpec, NetworkSpec, NetworkStore, build
from explorer.builder.store import Owner
from explorer.classroom import answers as class_answers
from explorer.classroom.classes import (
    MAX_CHANGES,
    ClassStore,
    token_hash,
)
from explorer.classroom.db import StoreError, migrations, open_database
from explorer.classroom.teacher import (
    ADDRESS_MAX_FAILURES,
    MAX_FAILURES,
    TeacherKey,
    configured_key,
    exchange_key,
)

SMALL = NetworkSpec(
    "small", "vector", 4, (LayerSpec("Linear", {"in_features": 4, "out_features": 3}),)
)


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def _weights(value: float) -> dict[str, torch.Tensor]:
    return {k: torch.full_like(v, value) for k, v in build(SMALL).state_dict().items()}


def test_migrations_run_once_and_every_dialect_has_the_same_numbers(database) -> None:
    with database.read() as con:
        applied = [
            r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY version")
        ]
    assert applied == [n for n, _, _ in migrations(database.dialect)]
    assert [n for n, _, _ in migrations("sqlite")] == [n for n, _, _ in migrations("postgresql")]
    # opening again (a second replica, a restart) applies nothing twice
    store = NetworkStore(database=database)
    store.save("kept", SMALL, _weights(1.0))
    assert [s.name for s in NetworkStore(database=database).list()] == ["kept"]


def test_a_saved_network_belongs_to_whoever_saved_it(database) -> None:
    store = NetworkStore(database=database)
    alice, bob, teacher = Owner.browser("alice-token"), Owner.browser("bob-token"), Owner.teacher()
    store.save("Class CNN", SMALL, _weights(1.0), owner=teacher)
    store.save("mine", SMALL, _weights(2.0), owner=alice)

    with pytest.raises(ValueError, match="that network is the teacher's"):
        store.save("CLASS cnn", SMALL, _weights(9.0), owner=alice, overwrite=True)
    with pytest.raises(ValueError, match="that network is another student's"):
        store.save("Mine", SMALL, _weights(9.0), owner=bob, overwrite=True)
    with pytest.raises(
        ValueError, match="“mine” is another student's: only its owner or the teacher can remove it"
    ):
        store.delete("mine", owner=bob)
    with pytest.raises(ValueError, match=r"already saved \(yours;"):
        store.save("MINE", SMALL, _weights(3.0), owner=alice)
    assert store.load("mine")[1]["fc1.weight"].unique().item() == 2.0  # nothing was lost

    store.save("mine", SMALL, _weights(3.0), owner=alice, overwrite=True)  # one's own: yes
    assert store.load("mine")[1]["fc1.weight"].unique().item() == 3.0
    with pytest.raises(ValueError, match="that network is another student's"):
        store.save("mine", SMALL, _weights(4.0), owner=teacher, overwrite=True)  # removes, only
    store.delete("mine", owner=teacher)  # the teacher can remove any
    entries = store.list()
    assert [(s.name, s.owner_role) for s in entries] == [("Class CNN", "teacher")]
    assert alice.whose(entries[0]) == "the teacher's" and teacher.whose(entries[0]) == "yours"


def test_two_replicas_share_one_class(database) -> None:
    a, b = ClassStore(database), ClassStore(database)  # two app processes, one database
    lead = token_hash("teacher-token")
    c = a.start(lead)
    assert len(c.code) == 4 and c.code.isupper()
    assert b.get(c.code.lower()).leader == lead
    a.publish(c.code, lead, {"model": "mlp", "step": 3}, b"\x89PNG...")
    seen = b.get(c.code)
    assert seen.version == 1 and seen.view == {"model": "mlp", "step": 3}
    assert seen.drawing == b"\x89PNG..."
    b.heartbeat(c.code, "s1")
    b.heartbeat(c.code, "s2")
    b.heartbeat(c.code, "s2")
    b.flush_heartbeats()  # (gathered for up to a second, then written together)
    assert a.follower_count(c.code) == 2
    b.leave(c.code, "s1")
    assert a.follower_count(c.code) == 1
    assert [r.code for r in b.running()] == [c.code]


def test_a_second_teacher_takes_over_and_the_first_is_told(database) -> None:
    store = ClassStore(database)
    first, second = token_hash("t1"), token_hash("t2")
    c = store.start(first)
    store.take_over(c.code, second)
    with pytest.raises(ValueError, match="another teacher now leads class"):
        store.publish(c.code, first, {"step": 1}, None)
    store.publish(c.code, second, {"step": 2}, None)
    store.end(c.code, second)
    with pytest.raises(ValueError, match=f"class {c.code} has ended"):
        store.publish(c.code, second, {"step": 3}, None)
    assert store.get(c.code).view == {"step": 2} and store.get(c.code).ended
    assert store.running() == []
    with pytest.raises(ValueError, match="there is no class"):
        store.take_over("ZZZZ", first)


def test_followers_who_went_quiet_stop_counting(database) -> None:
    clock = Clock()
    store = ClassStore(database, clock=clock)
    c = store.start("lead")
    store.heartbeat(c.code, "s1")
    clock.t += 5
    store.heartbeat(c.code, "s2")
    assert store.follower_count(c.code) == 2
    clock.t += 5  # s1 last seen 10 s ago
    assert store.follower_count(c.code) == 1


def test_answers_one_per_browser_flood_refused_nothing_lost(database) -> None:
    clock = Clock()
    store = ClassStore(database, clock=clock)
    c = store.start("lead")
    q = store.ask(
        c.code,
        "lead",
        step=2,
        kind="zeros",
        prompt="What fraction?",
        options=(),
        pass_id="p",
        answer="about 40%",
    )
    assert store.get(c.code).question.id == q.id
    store.answer(q.id, "b1", "about 40%", True, nickname="Ada")
    store.answer(q.id, "b2", "about 90%", False)
    with pytest.raises(ValueError, match="one answer a second"):
        store.answer(q.id, "b2", "about 50%", False)
    for n in range(MAX_CHANGES):
        clock.t += 2
        store.answer(q.id, "b2", f"about {n}0%", False)
    clock.t += 2
    with pytest.raises(
        ValueError, match=f"changed your answer {MAX_CHANGES} times; “about 20%” stands"
    ):
        store.answer(q.id, "b2", "about 40%", True)
    got = {a.browser: a for a in store.answers(q.id)}
    assert got["b1"].nickname == "Ada" and got["b2"].answer == "about 20%"
    shares = class_answers.distribution(store.answers(q.id))
    assert [(s.label, s.count, s.correct) for s in shares] == [
        ("about 40%", 1, True),
        ("about 20%", 1, False),
    ]
    store.reveal(c.code, "lead", q.id)
    assert store.get(c.code).question.revealed
    with pytest.raises(ValueError, match="this question is closed"):
        store.answer(q.id, "b3", "about 40%", True)
    text = class_answers.answers_csv(store.questions(c.code), {q.id: store.answers(q.id)})
    assert "Ada" in text and "student 2" in text and "b1" not in text and "b2" not in text


def test_a_new_question_closes_the_last_and_an_ended_class_takes_none(database) -> None:
    store = ClassStore(database)
    c = store.start("lead")
    q1 = store.ask(
        c.code, "lead", step=0, kind="shape", prompt="?", options=(), pass_id="p", answer="(1, 10)"
    )
    q2 = store.ask(
        c.code, "lead", step=1, kind="shape", prompt="?", options=(), pass_id="p", answer="(1, 10)"
    )
    with pytest.raises(ValueError, match="closed"):
        store.answer(q1.id, "b", "(1, 10)", True)
    store.answer(q2.id, "b", "(1, 10)", True)
    store.end(c.code, "lead")
    with pytest.raises(ValueError, match="has ended"):
        store.ask(
            c.code, "lead", step=1, kind="shape", prompt="?", options=(), pass_id="p", answer="x"
        )
    assert [q.id for q in store.questions(c.code)] == [q1.id, q2.id]  # nothing half-asked


def test_the_teacher_key_is_exchanged_once_and_wrong_keys_are_rate_limited(database) -> None:
    clock = Clock()
    store = ClassStore(database, clock=clock)
    key = TeacherKey("correct horse battery", generated=False)
    token = exchange_key(store, key, " correct horse battery ", "10.0.0.1", "teacher-browser")
    assert store.is_teacher_token(token) and not store.is_teacher_token("guess")
    for n in range(MAX_FAILURES):
        with pytest.raises(ValueError, match="not the teacher key"):
            exchange_key(store, key, f"guess {n}", "10.0.0.2", "student")
    with pytest.raises(
        ValueError, match="Too many wrong keys from this browser: try again in 60 s"
    ):
        exchange_key(store, key, "correct horse battery", "10.0.0.2", "student")  # even right
    # The teacher behind the same router is not held by the student's guesses.
    assert exchange_key(store, key, "correct horse battery", "10.0.0.2", "teacher-browser")
    clock.t += 61
    assert exchange_key(store, key, "correct horse battery", "10.0.0.2", "student")
    # What the store keeps of a browser is its token's hash, never the token.
    with database.read() as con:
        kept = {r[0] for r in con.execute("SELECT who FROM key_failures")}
    assert kept == {"address:10.0.0.2", f"browser:{token_hash('student')}"}


def test_a_script_posing_as_new_browsers_is_held_per_address(database) -> None:
    """Dropping cookies makes a new browser each try: the looser limit per address holds it,
    and the message says so; another address, and the same one later, are not held."""
    clock = Clock()
    store = ClassStore(database, clock=clock)
    key = TeacherKey("correct horse battery", generated=False)
    for n in range(ADDRESS_MAX_FAILURES):
        clock.t += 1
        with pytest.raises(ValueError, match="not the teacher key"):
            exchange_key(store, key, f"guess {n}", "10.0.0.9", f"fresh-{n}")
    with pytest.raises(ValueError, match=r"30 wrong keys came from this network .* for 571 s"):
        exchange_key(store, key, "correct horse battery", "10.0.0.9", "teacher-browser")
    assert exchange_key(store, key, "correct horse battery", "10.0.0.8", "teacher-browser")
    clock.t += 571
    assert exchange_key(store, key, "correct horse battery", "10.0.0.9", "teacher-browser")


def test_configured_key() -> None:
    assert configured_key({"FPE_TEACHER_KEY": "a-long-key"}) == TeacherKey("a-long-key", False)
    made = configured_key({})
    assert made.generated and len(made.value) >= 16
    with pytest.raises(ValueError, match="shorter than 8"):
        configured_key({"FPE_TEACHER_KEY": "abc"})


@pytest.mark.postgres
def test_a_database_that_goes_away_fails_into_a_message_and_comes_back(tmp_path) -> None:
    from pg_server import binaries, postgres_server

    if binaries() is None:
        pytest.skip("PostgreSQL is not installed")
    with postgres_server() as url:
        db = open_database(url=url)
        store, classes = NetworkStore(database=db), ClassStore(db)
        store.save("kept", SMALL, _weights(5.0), owner=Owner.teacher())
        c = classes.start("lead")
        server = _server_of(url)
        server.stop()
        with pytest.raises(StoreError, match="cannot be reached") as err:
            classes.get(c.code)
        assert "127.0.0.1" not in str(err.value) and "postgres" not in str(err.value).lower()
        with pytest.raises(StoreError):
            store.save("lost", SMALL, _weights(6.0), owner=Owner.teacher())
        server.start()
        assert _eventually(lambda: classes.get(c.code)).code == c.code  # the pool reconnects
        assert [s.name for s in store.list()] == ["kept"]
        db.close()


def _eventually(fn, seconds: float = 60):
    """fn()'s result once it stops raising StoreError (the pool reconnects with a back-off)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class _server_of:
    """pg_ctl stop/start for the server behind ``url`` (its data directory is the one
    postgres_server made: found from the running postmaster)."""

    def __init__(self, url: str) -> None:
        import glob

        port = url.rsplit(":", 1)[1].split("/")[0]
        pids = glob.glob("/tmp/fpe-pg-*/data/postmaster.pid")
        self.data = next(
            os.path.dirname(p) for p in pids if Path(p).read_text().splitlines()[3] == port
        )
        self.port = port

    def _ctl(self, *args: str) -> None:
        import subprocess

        from pg_server import RUN_AS, binaries

        prefix = ["runuser", "-u", RUN_AS, "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, f"{binaries()}/pg_ctl", "-D", self.data, *args],
            check=True,
            capture_output=True,
            cwd=os.path.dirname(self.data),
        )

    def stop(self) -> None:
        self._ctl("-m", "immediate", "-w", "stop")

    def start(self) -> None:
        tmp = os.path.dirname(self.data)
        self._ctl(
            "-l",
            f"{tmp}/server.log",
            "-o",
            f"-p {self.port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off",
            "-w",
            "start",
        )
