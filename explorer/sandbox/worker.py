"""The worker process: runs one student's code, walled off from the app, and sends back data.

``runner`` starts it as ``python -P .../explorer/sandbox/worker.py VIEW`` -- by path, so that
nothing (not even torch) is imported before the first lines of ``main`` -- with a clean
environment, an empty temporary directory as its working directory, pipes for
stdin/stdout/stderr, and a private status pipe. ``VIEW`` (``view.View`` as JSON) lists what it
may see of the server's files, and its CPU priority.

1. It lowers its CPU priority, so that a student's endless loop yields to the app. While it is
   still single-threaded, it asks the kernel for walls (``at_start``).
2. It imports torch (the slow second) and waits for the request on stdin. The app starts a
   worker ahead of time, so that this wait is where a run begins.
3. It writes ``R`` (ready) on the result pipe and forks. The child -- process 1 of the new PID
   namespace -- raises the rest of the walls (``in_child``), sets its limits and runs the
   student's code (``execute.py``), writes one frame, and exits without running anything else.
   The parent only waits, tells the app on the status pipe how the child ended and with how
   much CPU time (the child closed its copy of that pipe first, so their code cannot forge
   it), and exits as the child did; on SIGTERM it kills the child. A worker that ends without
   that line was itself killed: by the server, or by their code where no wall stopped it.

The result pipe is a private copy of stdout; fd 1 itself points at /dev/null and ``print``
goes to a capped buffer, so nothing the student writes is mistaken for a result -- and the app
checks whatever the worker sends anyway.

The walls, on top of the resource limits, each skipped if the kernel refuses it (it needs root
or unprivileged user namespaces); their names travel back with the result:

* new network, PID and mount namespaces: no network, no other process to see or signal, and
  a private mount table that never reaches the host's. In it, a fresh root (a tmpfs) holding
  only the view's read-only binds and its own empty directory, pivoted into, so the rest of
  the server's files do not exist for the student's code; then all of it read-only;
* in the child, its own process group (``kill(0, ...)`` reaches only itself), a fresh /proc
  showing only the worker's own processes, then a new user namespace, which drops every
  capability the server had, locks those mounts as they are, and makes the CPU and memory
  limits impossible to raise;
* without a private root, where the app runs as root: the child switches to the view's
  unprivileged user, which cannot read files kept from other users (nor signal the app).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import struct
import sys
import traceback

READY = b"R"  # the first byte on the result pipe: the request is in, their time starts
# What each wall is called in CodeRun.isolation, in the order they go up.
WALLS = (
    "network",
    "processes",
    "private files",
    "read-only files",
    "private /proc",
    "no privileges",
    "other user",
)

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 1 << 18
_MNT_DETACH = 2
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}  # no libc wrapper; numbers differ by CPU
_SYS_MOUNT_SETATTR = 442  # the same number on every architecture (added in Linux 5.12)
_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000
_MOUNT_ATTR_RDONLY = 1
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_SIGKILL = 9


def main() -> None:
    view = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    status = view.get("status_fd", -1)
    with contextlib.suppress(OSError):  # nice() only counts up: lower it to view["nice"]
        os.nice(max(0, view.get("nice", 0) - os.nice(0)))
    walls = at_start(view)  # first: a user namespace can only be made while single-threaded

    # Imported here, after the namespaces: torch starts a thread as it loads.
    import faulthandler
    import signal

    import torch

    from explorer.sandbox import execute

    faulthandler.enable()  # a crash in their code leaves a traceback on stderr, for the log
    out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    torch.set_num_threads(1)
    request = sys.stdin.buffer.read()
    os.dup2(devnull, 0)
    if not request:  # the app went away before giving this worker a run
        os._exit(0)
    out.write(READY)
    out.flush()
    child = os.fork()
    if child == 0:
        if status >= 0:
            os.close(status)
        code = 0
        try:
            out.write(execute.run(request, in_child(walls, view)))
            out.flush()
        except BaseException:  # a fault of the worker itself: say so on stderr, for the log
            os.write(2, traceback.format_exc().encode(errors="replace"))
            code = 70
        finally:
            os._exit(code)  # their objects' __del__ and atexit hooks never run here
    out.close()

    # Asked to stop (the app's deadline), kill the child by its pid: safe, since an unreaped
    # child's pid is never reused, and it reaches a child that left the process group.
    def stop(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone and reaped: nothing to do
            os.kill(child, signal.SIGKILL)

    signal.signal(signal.SIGTERM, stop)
    _, ended, usage = os.wait4(child, 0)
    if status >= 0:  # "signal 9 cpu 6.02": the app tells a CPU-limit kill from any other
        how = (
            f"signal {os.WTERMSIG(ended)}"
            if os.WIFSIGNALED(ended)
            else f"exit {os.waitstatus_to_exitcode(ended)}"
        )
        with contextlib.suppress(OSError):
            os.write(status, f"{how} cpu {usage.ru_utime + usage.ru_stime:.3f}\n".encode())
    status = ended
    if os.WIFSIGNALED(status):  # die of the same signal, so the app reads the same cause
        sig = os.WTERMSIG(status)
        if sig != signal.SIGKILL:  # (the CPU limit's hard stop) cannot be handled, so it needs
            signal.signal(sig, signal.SIG_DFL)  # no reset -- and asking for one raises OSError
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def at_start(view: dict) -> list[str]:
    """Namespaces for the worker and its next child; call it while single-threaded."""
    libc = _libc()
    if libc is None:
        return []
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # setuid programs gain nothing
    if not view.get("namespaces", True):
        return []
    walls = _CLONE_NEWNET | _CLONE_NEWPID | _CLONE_NEWNS
    # As root the namespaces come directly; otherwise a user namespace first grants the right.
    if libc.unshare(walls) != 0 and libc.unshare(_CLONE_NEWUSER | walls) != 0:
        return ["network"] if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0 else []
    granted = ["network", "processes"]
    # Private first, so that nothing done to this mount table reaches the host's.
    if libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) == 0:
        if _private_root(libc, view):
            granted.append("private files")
        attr = ctypes.create_string_buffer(struct.pack("QQQQ", _MOUNT_ATTR_RDONLY, 0, 0, 0))
        if libc.syscall(_SYS_MOUNT_SETATTR, _AT_FDCWD, b"/", _AT_RECURSIVE, attr, 32) == 0:
            granted.append("read-only files")
    return granted


def _private_root(libc: ctypes.CDLL, view: dict) -> bool:
    """Pivot into a fresh root holding only the view: False if any step fails."""
    home, pivot = view.get("home"), _SYS_PIVOT_ROOT.get(os.uname().machine)
    if not home or not view.get("binds") or pivot is None:
        return False
    # The new root is a tmpfs over its own empty directory: gone with the mount table.
    if libc.mount(b"fpe-root", home.encode(), b"tmpfs", _MS_NOSUID, b"mode=0755,size=1m") != 0:
        return False
    try:
        for path in [*view["binds"], *view.get("devices", [])]:
            _bind(libc, path, home + path)
        for link, target in view.get("links", []):
            os.symlink(target, home + link)
        for mountpoint in ("/proc", home):
            os.makedirs(home + mountpoint, exist_ok=True)
        os.chdir(home)
        # pivot_root(".", ".") stacks the old root on the new one; detaching it leaves the new.
        _check(libc.syscall(pivot, b".", b"."), "pivot_root")
        _check(libc.umount2(b".", _MNT_DETACH), "umount the old root")
        os.chdir(home)
    except OSError as e:
        os.write(2, f"worker: no private root: {e}\n".encode())
        return False
    return True


def _bind(libc: ctypes.CDLL, source: str, target: str) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:  # a file is mounted on a file
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()  # noqa: SIM115 -- created empty, closed at once
    _check(
        libc.mount(source.encode(), target.encode(), None, _MS_BIND | _MS_REC, None),
        f"bind {source}",
    )


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def in_child(granted: list[str], view: dict) -> list[str]:
    """In the first process of the new PID namespace: its own /proc, then no privileges."""
    libc = _libc()
    if libc is None:
        return granted
    libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)  # dies with the worker, even out of group
    granted = list(granted)
    if "processes" in granted:
        # Out of the worker's process group: getppid() is 0 here, and kill(0, SIGKILL) would
        # otherwise kill the worker. Leaving is safe only here: when process 1 of a PID
        # namespace dies, everything it started dies too.
        os.setsid()
        if (
            "read-only files" in granted
            and libc.mount(
                b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC | _MS_RDONLY, None
            )
            == 0
        ):
            granted.append("private /proc")
    if "private files" not in granted and view.get("uid") is not None:
        uid = view["uid"]
        try:  # groups first: after setuid there is no right left to drop them
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            granted.append("other user")
        except OSError:
            pass
    # Mounts copied into a namespace owned by a new user namespace are locked as they are.
    if "processes" in granted and libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS) == 0:
        granted.append("no privileges")
    return granted


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        for name in ("prctl", "unshare", "mount", "umount2", "syscall"):
            getattr(libc, name)
        return libc
    except (OSError, AttributeError):  # not Linux: no walls, only the limits
        return None


if __name__ == "__main__":
    main()
