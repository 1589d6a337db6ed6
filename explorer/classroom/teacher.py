"""The teacher's key: set by whoever runs the server (``FPE_TEACHER_KEY``) or generated when the
server starts, and exchanged once for a token the teacher's browser keeps.

Wrong keys are rate-limited in the shared database (replicas count them together), twice: per
browser, tightly, and per client address, loosely. A class often reaches the server from one
address (the school's router, or deploy/'s nginx in front of the app), so a tight limit per
address would let one student lock the teacher out with five wrong guesses; per browser it holds
only that student. The looser limit per address is for a script that drops its cookies to look
like a new browser each try: it gets 30 guesses in ten minutes, where a classroom mistyping
the key would not come near."""

from __future__ import annotations

import hmac
import math
import os
import secrets
from dataclasses import dataclass

from explorer.classroom.classes import ClassStore, token_hash

KEY_ENV = "FPE_TEACHER_KEY"
MAX_FAILURES = 5  # wrong keys one browser may give ...
FAILURE_WINDOW_S = 60.0  # ... in this window
ADDRESS_MAX_FAILURES = 30  # wrong keys from one client address, every browser behind it ...
ADDRESS_WINDOW_S = 600.0  # ... in this window
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


def exchange_key(store: ClassStore, key: TeacherKey, given: str, address: str, browser: str) -> str:
    """A new teacher token for the right key.

    Args:
        store: the class's store (the tokens and the failures live there).
        key: the server's key.
        given: what was typed or came in ``?key=``.
        address: the client's address, for the loose limit.
        browser: the browser's own token (kept as its hash), for the tight limit.

    Raises:
        ValueError: a wrong or empty key, or too many wrong keys lately from this browser or
            this address (then even the right key waits: the limit must not tell a guesser
            which guess was right).
    """
    mine = f"browser:{token_hash(browser)}"
    theirs = f"address:{address}"
    recent = store.key_failures(mine, FAILURE_WINDOW_S)
    if len(recent) >= MAX_FAILURES:
        wait = math.ceil(recent[-MAX_FAILURES] + FAILURE_WINDOW_S - store.clock())
        raise ValueError(f"Too many wrong keys from this browser: try again in {max(wait, 1)} s.")
    near = store.key_failures(theirs, ADDRESS_WINDOW_S)
    if len(near) >= ADDRESS_MAX_FAILURES:
        wait = math.ceil(near[-ADDRESS_MAX_FAILURES] + ADDRESS_WINDOW_S - store.clock())
        raise ValueError(
            f"{len(near)} wrong keys came from this network in the last "
            f"{ADDRESS_WINDOW_S / 60:g} minutes, so no key is checked from it for "
            f"{max(wait, 1)} s. A teacher already signed in on this browser stays signed in."
        )
    if not hmac.compare_digest(given.strip().encode(), key.value.encode()):
        store.add_key_failure(mine)
        store.add_key_failure(theirs)
        left = MAX_FAILURES - len(recent) - 1
        raise ValueError(
            "That is not the teacher key. "
            + (f"{left} more tries in the next minute." if left else "Wait a minute to try again.")
        )
    token = secrets.token_urlsafe(24)
    store.add_teacher_token(token)
    return token
