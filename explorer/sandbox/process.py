"""Worker processes as seen from the app: start one, hand it a request, collect it, kill it.

``exchange(request, limits, owner, on_queue) -> Outcome``: the bytes the worker wrote and how it
ended. At most ``MAX_CONCURRENT`` workers run at once, shared first come, first served, one run
per owner at a time (``slots``); after each run a spare is started, so that the second a worker
spends importing torch is usually over before a student presses Run again. Every worker serves
one run, in its own session (process group), at a lower CPU priority, sees only ``view.plan``'s
files, and is killed with everything it started when the run ends, however it ends.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

from explorer.sandbox.errors import SandboxError
from explorer.sandbox.limits import Limits
from explorer.sandbox.slots import OnQueue, Slots
from explorer.sandbox.view import ROOT, View, plan
from explorer.sandbox.worker import READY

WORKER = Path(__file__).resolve().with_name("worker.py")
MAX_CONCURRENT = 2  # workers running at once; more runs wait for a slot
_STDERR_KEEP = 16 * 1024
_GRACE = 1.0  # after the worker's own alarm, before the app kills it
_SLOTS = Slots(MAX_CONCURRENT)
_SPARE_LOCK = threading.Lock()


def exchange(
    request: bytes, limits: Limits, owner: Hashable | None = None, on_queue: OnQueue | None = None
) -> Outcome:
    """Run one request in a worker once a slot is free (see ``slots.Slots.take``).

    SandboxError("busy") if no slot comes free within ``limits.start_seconds``, ("own_run")
    if ``owner`` already has a run waiting or going.
    """
    with _SLOTS.take(owner, limits.start_seconds, on_queue):
        worker = _take_worker()
        try:
            return worker.exchange(request, limits)
        finally:
            worker.close()
            # The next spare starts only now: started at once, it would import torch while
            # this run ran, and slow it down on a server with few cores.
            _replenish()


@dataclass
class Outcome:
    """Everything a worker did, as seen from outside."""

    stdout: bytearray  # READY, then the answer frame (or whatever it wrote instead)
    stderr: bytes
    returncode: int | None
    stopped: str = ""  # why the app killed it: "start", "timeout", "too_big"; "" if it did not
    # How the child running their code ended, from the worker's status pipe: "exit 3 cpu 0.2",
    # "signal 9 cpu 6.0"; "" if the worker itself was killed before it could say.
    child: str = ""
    seconds: float = 0.0  # from READY to the end: how long their code had


class _Worker:
    """One worker process: started, given one request, collected, killed."""

    def __init__(self) -> None:
        self.home = tempfile.mkdtemp(prefix="fpe-sandbox-")
        self.status, status_w = os.pipe()
        try:
            self.view = plan(self.home, status_fd=status_w)
            if self.view.uid is not None:  # the fallback user must be able to enter its own
                os.chown(self.home, self.view.uid, self.view.uid)
            self.proc = subprocess.Popen(
                [sys.executable, "-P", str(WORKER), self.view.to_arg()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.home,
                env=_clean_env(self.home),
                start_new_session=True,
                close_fds=True,
                pass_fds=(status_w,),
            )
        except BaseException:
            os.close(self.status)
            shutil.rmtree(self.home, ignore_errors=True)
            raise
        finally:
            os.close(status_w)  # the worker's copy is the only one: EOF once it is gone

    def alive(self) -> bool:
        return self.proc.poll() is None

    def exchange(self, request: bytes, limits: Limits) -> Outcome:
        """Send the request; read the answer until EOF, a deadline or too many bytes."""
        stdin, stdout, stderr = self.proc.stdin, self.proc.stdout, self.proc.stderr
        assert stdin is not None and stdout is not None and stderr is not None  # all PIPEs
        sel = selectors.DefaultSelector()
        os.set_blocking(stdin.fileno(), False)
        sel.register(stdin, selectors.EVENT_WRITE)
        sel.register(stdout, selectors.EVENT_READ)
        sel.register(stderr, selectors.EVENT_READ)
        out, err, sent = bytearray(), bytearray(), 0
        cap = limits.max_result_bytes + len(READY)
        # Starting (importing torch) gets its own allowance; their budget starts at READY.
        deadline = time.monotonic() + limits.start_seconds
        ready = 0.0
        stopped = ""
        try:
            while sel.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    stopped = "timeout" if out.startswith(READY) else "start"
                    break
                for key, _ in sel.select(timeout=min(left, 0.5)):
                    if key.fileobj is stdin:
                        try:
                            sent += os.write(stdin.fileno(), request[sent : sent + 65536])
                        except BlockingIOError:
                            continue
                        except BrokenPipeError:  # it died before reading it all: see below
                            sent = len(request)
                        if sent >= len(request):
                            sel.unregister(stdin)
                            stdin.close()
                        continue
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        sel.unregister(key.fileobj)
                    elif key.fileobj is stdout:
                        if not out.startswith(READY) and (out + chunk).startswith(READY):
                            ready = time.monotonic()
                            deadline = ready + limits.wall_seconds + _GRACE
                        out += chunk
                        if len(out) > cap:
                            stopped = "too_big"
                            break
                    elif len(err) < _STDERR_KEEP:
                        err += chunk[: _STDERR_KEEP - len(err)]
                if stopped:
                    break
        finally:
            sel.close()
        code = self._end(patient=not stopped)
        return Outcome(
            out,
            bytes(err),
            code,
            stopped,
            self._child(),
            time.monotonic() - ready if ready else 0.0,
        )

    def _child(self) -> str:
        """The worker's line on how its child ended; read once the worker has exited."""
        os.set_blocking(self.status, False)
        with contextlib.suppress(OSError):
            return os.read(self.status, 256).decode("ascii", "replace").strip()
        return ""

    def _end(self, patient: bool) -> int | None:
        """Let the worker exit (or stop it), then kill its whole process group."""
        if not patient:  # it kills its child by pid, even one that left the group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.proc.pid, signal.SIGTERM)
        limit = time.monotonic() + (2.0 if patient else 0.5)
        while time.monotonic() < limit and hasattr(os, "waitid"):  # macOS has no waitid
            try:  # WNOWAIT: not reaped yet, so its group id cannot be reused before killpg
                if os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                    break
            except ChildProcessError:
                break
            time.sleep(0.01)
        self.kill()
        return self.proc.wait()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()
        if self.status >= 0:
            os.close(self.status)
            self.status = -1  # closed once: the number may soon belong to another file
        if self.proc.poll() is None:
            self.kill()
            self.proc.wait()
        shutil.rmtree(self.home, ignore_errors=True)


_spare: _Worker | None = None


def _take_worker() -> _Worker:
    """The spare worker if it is still waiting (and sees what a new one would), else a new one."""
    global _spare
    with _SPARE_LOCK:
        worker, _spare = _spare, None
    if worker is not None and worker.alive() and _same_view(worker.view):
        return worker
    if worker is not None:
        worker.close()
    try:
        return _Worker()
    except OSError as e:  # no more processes or file descriptors on this server
        raise SandboxError(
            "busy",
            "The server could not start a worker process; try again in a moment.",
            detail=repr(e),
        ) from None


def _replenish() -> None:
    """Start a spare worker if none is waiting."""
    global _spare
    with _SPARE_LOCK:
        if _spare is None:
            with contextlib.suppress(OSError):  # the next run will try again
                _spare = _Worker()


def _same_view(view: View) -> bool:
    """Whether a worker started earlier sees what one started now would: the settings it was
    started with (the environment, sys.path) may have changed since."""
    return view == plan(view.home, view.status_fd)


@atexit.register
def _drop_spare() -> None:
    global _spare
    with _SPARE_LOCK:
        if _spare is not None:
            _spare.close()
            _spare = None


def _clean_env(home: str) -> dict[str, str]:
    """Only what Python and torch need: none of the server's own variables (and secrets)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join([str(ROOT), *_kept("PYTHONPATH")]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if _kept("LD_LIBRARY_PATH"):  # some installs find torch's libraries this way
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    return env


def _kept(name: str) -> list[str]:
    return [os.environ[name]] if os.environ.get(name) else []
