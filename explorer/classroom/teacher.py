"""The teacher's key: set by whoever runs the server (``FPE_TEACHER_KEY``) or generated when the
server starts, and exchanged once for a token the teacher's browser keeps. Wrong keys are
rate-limited per client address, in the shared database, so replicas count them together."""

from __future__ import annotations

import hmac
import math
import os
import secrets
from dataclasses import dataclass

from explorer.classroom.classes import ClassStore

KEY_ENV = "FPE_TEACHER_KEY"
MAX_FAILURES = 5  # wrong keys allowed ...
FAILURE_WINDOW_S = 60.0  # ... per client address in this window
MIN_KEY_CHARS = 8


@dataclass(frozen=True)
class TeacherKey:
    value: str
    generated: bool  # not set by whoever runs the server: print it where they will see it


def configured_key(environ: dict[str, str] | None = None) -> TeacherKey:
    """``$FPE_TEACHER_KEY``, or a fresh random key (ValueError if the set one is too short)."""
    env = os.environ if environ is None else environ
    value = (env.get(KEY_ENV) or "").strip()
    if not value:
        return TeacherKey(secrets.token_urlsafe(12), True)
    if len(value) < MIN_KEY_CHARS:
        raise ValueError(
            f"{KEY_ENV} is shorter than {MIN_KEY_CHARS} characters: students could guess it"
        )
    return TeacherKey(value, False)


def exchange_key(store: ClassStore, key: TeacherKey, given: str, who: str) -> str:
    """A new teacher token for the right key.

    Args:
        store: the class's store (the tokens and the failures live there).
        key: the server's key.
        given: what was typed or came in ``?key=``.
        who: the client's address, for the rate limit.

    Raises:
        ValueError: a wrong or empty key, or too many wrong keys from ``who`` lately (then
            even the right key waits).
    """
    recent = store.key_failures(who, FAILURE_WINDOW_S)
    if len(recent) >= MAX_FAILURES:
        wait = math.ceil(recent[-MAX_FAILURES] + FAILURE_WINDOW_S - store.clock())
        raise ValueError(f"Too many wrong keys from this address: try again in {max(wait, 1)} s.")
    if not hmac.compare_digest(given.strip().encode(), key.value.encode()):
        store.add_key_failure(who)
        left = MAX_FAILURES - len(recent) - 1
        raise ValueError(
            "That is not the teacher key. "
            + (f"{left} more tries in the next minute." if left else "Wait a minute to try again.")
        )
    token = secrets.token_urlsafe(24)
    store.add_teacher_token(token)
    return token
