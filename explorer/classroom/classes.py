"""A class in the database: who leads it, the view its followers mirror, the question put to
it and the answers. Every replica of the app reads and writes the same rows, so a teacher on one
replica leads students on another.

``ClassStore(db)`` works on any ``explorer.classroom.db`` database. Reads a follower makes twice
a second go through a small per-process cache (``get(code, max_age=...)``): thirty followers on
one replica cost the database a few reads a second, not sixty.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from explorer.classroom.db import Database

CODE_ALPHABET = "ACDEFHJKLMNPQRTUVWXY34679"  # no 0/O, 1/I, 2/Z, 5/S, 8/B: read off a projector
CODE_LENGTH = 4
FOLLOW_TTL_S = 8.0
HEARTBEAT_FLUSH_S = 1.0  # a follower not heard from for this long no longer counts
MAX_CHANGES = 3  # a student may change an answer this many times
MIN_ANSWER_GAP_S = 1.0  # and not more than once a second
MAX_ANSWERS = 500  # per question: a flood of fresh browsers stops here
MAX_ANSWER_CHARS = 100
MAX_NICKNAME_CHARS = 30


def token_hash(token: str) -> str:
    """What the database keeps of a browser's or teacher's token: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class AskedQuestion:
    """A step's question put to the class (see ``explorer.questions``)."""

    id: int
    code: str
    step: int
    kind: str
    prompt: str  # Markdown
    options: tuple[str, ...]
    pass_id: str  # which forward pass it is about: followers answer only on that pass
    answer: str  # the truth, as an answer label
    asked_at: float
    revealed: bool = False


@dataclass(frozen=True)
class ClassInfo:
    code: str
    leader: str  # token_hash of the leading teacher's browser
    started_at: float
    ended: bool
    version: int  # bumped by every change of the view
    view: dict[str, Any] = field(default_factory=dict)
    drawing: bytes | None = None  # the teacher's drawing, PNG
    question: AskedQuestion | None = None


@dataclass(frozen=True)
class Answer:
    question_id: int
    browser: str  # token_hash of the student's browser
    nickname: str
    answer: str  # an answer label: what the distribution groups by
    correct: bool
    changes: int
    answered_at: float


class ClassStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._cache: dict[str, tuple[float, ClassInfo | None]] = {}
        self._cache_lock = threading.Lock()
        self._beats: dict[tuple[str, str], float] = {}
        self._beat_lock = threading.Lock()
        self._flushed = float("-inf")

    # --- teachers --------------------------------------------------------------------------

    def add_teacher_token(self, token: str) -> None:
        with self.db.write() as con:
            con.execute(
                "INSERT INTO teacher_tokens VALUES (?, ?)", (token_hash(token), self.clock())
            )

    def is_teacher_token(self, token: str | None) -> bool:
        if not token:
            return False
        with self.db.read() as con:
            return bool(
                con.execute(
                    "SELECT 1 FROM teacher_tokens WHERE token_hash = ?", (token_hash(token),)
                )
            )

    def key_failures(self, who: str, within_s: float) -> list[float]:
        """When ``who`` gave a wrong key in the last ``within_s`` seconds, oldest first."""
        with self.db.read() as con:
            rows = con.execute(
                "SELECT at FROM key_failures WHERE who = ? AND at > ? ORDER BY at",
                (who, self.clock() - within_s),
            )
        return [r[0] for r in rows]

    def add_key_failure(self, who: str) -> None:
        now = self.clock()
        with self.db.write() as con:
            con.execute("DELETE FROM key_failures WHERE at < ?", (now - 3600,))
            con.execute("INSERT INTO key_failures VALUES (?, ?)", (who, now))

    # --- classes ---------------------------------------------------------------------------

    def start(self, leader: str) -> ClassInfo:
        """A new class led by ``leader`` (a token hash), under a fresh code."""
        now = self.clock()
        with self.db.write() as con:
            taken = {r[0] for r in con.execute("SELECT code FROM classes")}
            code = _new_code(taken)
            con.execute(
                "INSERT INTO classes (code, leader, started_at) VALUES (?, ?, ?)",
                (code, leader, now),
            )
        self._forget(code)
        return ClassInfo(code, leader, now, False, 0)

    def get(self, code: str, *, max_age: float = 0.0) -> ClassInfo | None:
        """The class under ``code`` (any case), or None; at most ``max_age`` seconds old."""
        code = code.strip().upper()
        if max_age > 0:
            with self._cache_lock:
                hit = self._cache.get(code)
            if hit is not None and time.monotonic() - hit[0] <= max_age:
                return hit[1]
        with self.db.read() as con:
            rows = con.execute(
                "SELECT code, leader, started_at, ended_at, version, view, "
                "drawing, question_id FROM classes WHERE code = ?",
                (code,),
            )
            info = None
            if rows:
                c, leader, started, ended, version, view, drawing, qid = rows[0]
                question = self._question(con, qid) if qid is not None else None
                info = ClassInfo(
                    c,
                    leader,
                    started,
                    ended is not None,
                    version,
                    json.loads(view),
                    bytes(drawing) if drawing else None,
                    question,
                )
        with self._cache_lock:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[code] = (time.monotonic(), info)
        return info

    def running(self) -> list[ClassInfo]:
        """Classes not ended, newest first."""
        with self.db.read() as con:
            codes = [
                r[0]
                for r in con.execute(
                    "SELECT code FROM classes WHERE ended_at IS NULL ORDER BY started_at DESC"
                )
            ]
        return [c for c in map(self.get, codes) if c is not None]

    def take_over(self, code: str, leader: str) -> None:
        """``leader`` leads ``code`` from now on (a second teacher, or a new browser)."""
        self._change(
            code,
            "UPDATE classes SET leader = ? WHERE code = ? AND ended_at IS NULL",
            (leader, code),
            None,
        )

    def end(self, code: str, leader: str) -> None:
        self._change(
            code,
            "UPDATE classes SET ended_at = ? WHERE code = ? AND leader = ? AND ended_at IS NULL",
            (self.clock(), code, leader),
            leader,
        )

    def publish(self, code: str, leader: str, view: dict[str, Any], drawing: bytes | None) -> None:
        """The leader's view, for the followers: they apply it within their next poll."""
        self._change(
            code,
            "UPDATE classes SET view = ?, drawing = ?, version = version + 1 "
            "WHERE code = ? AND leader = ? AND ended_at IS NULL",
            (json.dumps(view, sort_keys=True), drawing, code, leader),
            leader,
        )

    def _change(self, code: str, sql: str, params: tuple, leader: str | None) -> None:
        with self.db.write() as con:
            con.execute(sql, params)
            changed = con.rowcount
        self._forget(code)
        if not changed:
            raise ValueError(self._why_not(code, leader))

    def _why_not(self, code: str, leader: str | None) -> str:
        info = self.get(code)
        if info is None:
            return f"there is no class {code}"
        if info.ended:
            return f"class {code} has ended"
        if leader is not None and info.leader != leader:
            return (
                f"another teacher now leads class {code}: take it over on the Teach page "
                "to lead it again"
            )
        return f"class {code} could not be changed"

    def _forget(self, code: str) -> None:
        with self._cache_lock:
            self._cache.pop(code, None)

    # --- followers -------------------------------------------------------------------------

    def heartbeat(self, code: str, session: str) -> None:
        """``session`` follows ``code`` (call every few seconds while it does).

        Heartbeats are gathered in memory and written together, at most once per
        ``HEARTBEAT_FLUSH_S``: thirty followers cost the database one write a second, and
        another replica counts them at most that much later."""
        now = self.clock()
        with self._beat_lock:
            self._beats[(code, session)] = now
            if now - self._flushed < HEARTBEAT_FLUSH_S:
                return
        self.flush_heartbeats()

    def flush_heartbeats(self) -> None:
        """Write the gathered heartbeats now."""
        with self._beat_lock:
            beats, self._beats, self._flushed = self._beats, {}, self.clock()
        if not beats:
            return
        try:
            with self.db.write() as con:
                for (c, s), at in beats.items():
                    con.execute(
                        "INSERT INTO followers VALUES (?, ?, ?) ON CONFLICT (code, "
                        "session) DO UPDATE SET seen_at = excluded.seen_at",
                        (c, s, at),
                    )
        except Exception:
            with self._beat_lock:  # not lost: the next flush writes them
                self._beats = {**beats, **self._beats}
            raise

    def leave(self, code: str, session: str) -> None:
        with self._beat_lock:
            self._beats.pop((code, session), None)
        with self.db.write() as con:
            con.execute("DELETE FROM followers WHERE code = ? AND session = ?", (code, session))

    def follower_count(self, code: str) -> int:
        self.flush_heartbeats()
        with self.db.read() as con:
            return con.execute(
                "SELECT count(*) FROM followers WHERE code = ? AND seen_at > ?",
                (code, self.clock() - FOLLOW_TTL_S),
            )[0][0]

    # --- questions and answers -------------------------------------------------------------

    def ask(
        self,
        code: str,
        leader: str,
        *,
        step: int,
        kind: str,
        prompt: str,
        options: tuple[str, ...],
        pass_id: str,
        answer: str,
    ) -> AskedQuestion:
        """Put a question to the class; it replaces the open one (whose answers stay)."""
        now = self.clock()
        with self.db.write() as con:
            rows = con.execute(
                "INSERT INTO questions (code, asked_at, step, kind, prompt, "
                "options, pass_id, answer) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (code, now, step, kind, prompt, json.dumps(list(options)), pass_id, answer),
            )
            qid = rows[0][0]
            con.execute(
                "UPDATE classes SET question_id = ?, version = version + 1 "
                "WHERE code = ? AND leader = ? AND ended_at IS NULL",
                (qid, code, leader),
            )
            if not con.rowcount:
                raise ValueError(self._why_not(code, leader))  # rolls the question back
        self._forget(code)
        return AskedQuestion(qid, code, step, kind, prompt, tuple(options), pass_id, answer, now)

    def reveal(self, code: str, leader: str, question_id: int) -> None:
        with self.db.write() as con:
            ok = con.execute(
                "SELECT 1 FROM classes WHERE code = ? AND leader = ? AND ended_at IS NULL",
                (code, leader),
            )
            if ok:
                con.execute(
                    "UPDATE questions SET revealed_at = ? WHERE id = ? AND code = ?",
                    (self.clock(), question_id, code),
                )
                con.execute("UPDATE classes SET version = version + 1 WHERE code = ?", (code,))
        self._forget(code)
        if not ok:
            raise ValueError(self._why_not(code, leader))

    def answer(
        self, question_id: int, browser: str, answer: str, correct: bool, nickname: str = ""
    ) -> Answer:
        """Record a student's answer (one per browser per question).

        Raises:
            ValueError: the question is closed (revealed, or replaced by a newer one), the
                student has changed the answer ``MAX_CHANGES`` times or answers faster than
                once a second, or the question has ``MAX_ANSWERS`` answers. The answer
                already recorded stays as it was.
        """
        answer = " ".join(str(answer).split())[:MAX_ANSWER_CHARS]
        nickname = " ".join(str(nickname).split())[:MAX_NICKNAME_CHARS]
        now = self.clock()
        with self.db.write() as con:
            q = con.execute(
                "SELECT q.revealed_at, c.question_id, c.ended_at FROM questions q "
                "JOIN classes c ON c.code = q.code WHERE q.id = ?",
                (question_id,),
            )
            if not q or q[0][0] is not None or q[0][1] != question_id or q[0][2] is not None:
                raise ValueError("this question is closed: the teacher has revealed it or moved on")
            mine = con.execute(
                "SELECT answer, changes, answered_at FROM answers WHERE "
                "question_id = ? AND browser = ?",
                (question_id, browser),
            )
            if mine:
                given, changes, at = mine[0]
                if changes >= MAX_CHANGES:
                    raise ValueError(
                        f"you have changed your answer {MAX_CHANGES} times; “{given}” stands"
                    )
                if now - at < MIN_ANSWER_GAP_S:
                    raise ValueError(f"one answer a second, please; “{given}” is recorded")
                con.execute(
                    "UPDATE answers SET answer = ?, correct = ?, nickname = ?, "
                    "changes = changes + 1, answered_at = ? WHERE question_id = ? AND "
                    "browser = ?",
                    (answer, int(correct), nickname, now, question_id, browser),
                )
                return Answer(question_id, browser, nickname, answer, correct, changes + 1, now)
            count = con.execute(
                "SELECT count(*) FROM answers WHERE question_id = ?", (question_id,)
            )[0][0]
            if count >= MAX_ANSWERS:
                raise ValueError(
                    f"this question already has {MAX_ANSWERS} answers; yours was not counted"
                )
            con.execute(
                "INSERT INTO answers VALUES (?, ?, ?, ?, ?, 0, ?)",
                (question_id, browser, nickname, answer, int(correct), now),
            )
        return Answer(question_id, browser, nickname, answer, correct, 0, now)

    def answers(self, question_id: int) -> list[Answer]:
        with self.db.read() as con:
            rows = con.execute(
                "SELECT question_id, browser, nickname, answer, correct, changes, "
                "answered_at FROM answers WHERE question_id = ? "
                "ORDER BY answered_at",
                (question_id,),
            )
        return [Answer(q, b, n, a, bool(c), ch, t) for q, b, n, a, c, ch, t in rows]

    def questions(self, code: str) -> list[AskedQuestion]:
        """Every question put to ``code``, oldest first."""
        with self.db.read() as con:
            ids = [
                r[0]
                for r in con.execute("SELECT id FROM questions WHERE code = ? ORDER BY id", (code,))
            ]
            return [self._question(con, i) for i in ids]

    @staticmethod
    def _question(con, qid: int) -> AskedQuestion:
        ((i, code, step, kind, prompt, options, pass_id, answer, asked, revealed),) = con.execute(
            "SELECT id, code, step, kind, prompt, options, pass_id, answer, asked_at, "
            "revealed_at FROM questions WHERE id = ?",
            (qid,),
        )
        return AskedQuestion(
            i,
            code,
            step,
            kind,
            prompt,
            tuple(json.loads(options)),
            pass_id,
            answer,
            asked,
            revealed is not None,
        )


def _new_code(taken: set[str]) -> str:
    for _ in range(1000):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if code not in taken:
            return code
    raise ValueError("no free class code is left: end some classes first")
