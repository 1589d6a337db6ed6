"""What a worker may see of the server: computed here, in the app, and built by the worker.

``plan(home) -> View``. Where the kernel gives the worker a mount namespace, it builds a fresh
root from the view and pivots into it: the Python installation, the packages on ``sys.path``,
the ``explorer`` package and the shared libraries, all read-only at their usual paths, plus its
own empty directory ``home`` -- nothing else of the server's files exists for the student's
code (not the app's data, not anyone's home directory, not the rest of /tmp). Where it does not
and the app runs as root, the student's code runs as ``FALLBACK_UID`` instead, which can read
only what everyone may read. ``worker.WALLS`` names which of the two held.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from explorer.builder.store import default_data_dir

ROOT = Path(__file__).resolve().parents[2]  # the folder holding the explorer package
NAMESPACES_ENV = "FPE_SANDBOX_NAMESPACES"  # "0": no kernel namespaces (tests the fallback)
FALLBACK_UID = 65534  # "nobody": owns no files, so it reads only what is world-readable
NICE = 10  # the worker's CPU priority: a student's loop yields to the app (nice 0) ~10:1
# What Python, torch and the dynamic loader read, besides the installation itself. Without
# /proc/cpuinfo and the CPU list torch cannot tell which vector instructions the CPU has and
# silently runs its slowest kernels; the child later mounts its own /proc over /proc/cpuinfo.
_SYSTEM = (
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/lib",
    "/lib32",
    "/lib64",
    "/etc/ld.so.cache",
    "/proc/cpuinfo",
    "/sys/devices/system/cpu",
)
_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom")


@dataclass(frozen=True)
class View:
    """The worker's filesystem and priority, handed to it as one JSON argument."""

    home: str  # its own empty directory: working directory, HOME and TMPDIR
    binds: tuple[str, ...]  # read-only, each at its own path (files or directories)
    links: tuple[tuple[str, str], ...]  # top-level symlinks such as /lib -> usr/lib
    devices: tuple[str, ...] = _DEVICES
    namespaces: bool = True  # False: skip the kernel walls and use the fallback user
    uid: int | None = None  # the fallback user, where the app may switch to one (root)
    nice: int = NICE
    status_fd: int = -1  # the worker's private pipe for how its child ended; -1: none

    def to_arg(self) -> str:
        return json.dumps(asdict(self))


def plan(home: str, status_fd: int = -1) -> View:
    """The view for a worker whose own directory is ``home``."""
    private = [
        ROOT,
        Path.home(),
        default_data_dir().resolve(),
    ]  # never bind these or a folder holding them
    wanted = [
        sys.base_prefix,
        sys.prefix,
        os.path.realpath(sys.executable),
        str(ROOT / "explorer"),
        *sys.path,
        *_SYSTEM,
    ]
    binds, links = [], []
    for p in wanted:
        if not p or not os.path.isabs(p) or not os.path.exists(p):
            continue  # '' (the current directory), zip files that are absent, other systems
        path = Path(p)
        if path.parent == Path("/") and path.is_symlink():
            links.append((str(path), os.readlink(path)))  # /lib -> usr/lib: the link itself
            continue
        path = path.resolve()
        if any(path == q or path in q.parents for q in private):
            continue
        binds.append(path)
    binds = sorted(set(binds))
    # Binding a folder brings everything inside it: keep only the outermost.
    outer = [b for b in binds if not any(a in b.parents for a in binds)]
    return View(
        home,
        tuple(map(str, outer)),
        tuple(sorted(set(links))),
        namespaces=os.environ.get(NAMESPACES_ENV, "1").strip() != "0",
        uid=FALLBACK_UID if _is_root() else None,
        nice=NICE,
        status_fd=status_fd,
    )


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0
