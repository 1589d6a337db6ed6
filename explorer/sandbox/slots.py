"""A fair share of the worker slots: first come, first served, one job per owner at a time.

``Slots(size).take(owner, timeout, on_queue)`` is a context manager holding one slot. Jobs
wait in one line in the order they came; ``on_queue(place)`` is called in the waiting thread
(so a Streamlit page can draw it) each time the job's place changes, 1 being next. An owner
(a browser session) with a job already waiting or running is refused at once: a second click
on Run would only hold a second slot that its first run is about to give back.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

from explorer.sandbox.errors import SandboxError

OnQueue = Callable[[int], None]


class Slots:
    """``size`` slots shared first come, first served."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._cond = threading.Condition()
        self._line: deque[object] = deque()  # tickets of the jobs waiting, first in line first
        self._running = 0
        self._owners: set[Hashable] = set()  # with a job waiting or running

    @contextmanager
    def take(
        self, owner: Hashable | None, timeout: float, on_queue: OnQueue | None = None
    ) -> Iterator[None]:
        """Hold a slot for the ``with`` block; SandboxError if refused or not free in time."""
        ticket = object()
        with self._cond:
            if owner is not None and owner in self._owners:
                raise SandboxError(
                    "own_run",
                    "Your previous run is still going: wait for its result before running again.",
                )
            if owner is not None:
                self._owners.add(owner)
            self._line.append(ticket)
        holding = False
        try:
            self._wait(ticket, time.monotonic() + timeout, on_queue)
            holding = True
            yield
        finally:
            with self._cond:
                if holding:
                    self._running -= 1
                elif ticket in self._line:  # gave up waiting, or on_queue raised
                    self._line.remove(ticket)
                self._owners.discard(owner)
                self._cond.notify_all()  # a slot, or a place in line, came free

    def _wait(self, ticket: object, deadline: float, on_queue: OnQueue | None) -> None:
        told = 0
        while True:
            with self._cond:
                place = self._line.index(ticket) + 1
                if place == 1 and self._running < self.size:
                    self._line.popleft()
                    self._running += 1
                    self._cond.notify_all()  # the next in line moves up
                    return
                if place == told:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise SandboxError(
                            "busy",
                            "The server is busy running other students' "
                            "code; try again in a moment.",
                        )
                    self._cond.wait(left)
                    continue
            told = place
            if on_queue is not None:  # outside the lock: it may draw, or raise to stop
                on_queue(place)
