"""Students' code sees only Python, torch, the explorer package and its own empty directory.

Files planted where the server keeps things -- a temporary directory, the server user's home,
the app's data directory -- must not be readable from a run, while torch still works there.
"""

from __future__ import annotations

import ast
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from explorer.builder.store import NetworkStore
from explorer.sandbox import ENV_VAR, TEMPLATES, run_user_code
from explorer.sandbox.view import NAMESPACES_ENV, plan

pytestmark = pytest.mark.slow  # worker processes or training: not in the fast lane

SIMPLE = TEMPLATES["simple_nn"]


@pytest.fixture(autouse=True)
def allow_code(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "1")


@pytest.fixture
def planted(monkeypatch) -> Iterator[list[Path]]:
    """Secrets in an open temporary directory, in $HOME, and in the app's data directory."""
    outside = Path(tempfile.mkdtemp(prefix="fpe-planted-"))
    outside.chmod(0o755)  # so only the walls keep their code out, not this folder's mode
    (outside / "secret.txt").write_text("hunter2")
    home_file = Path.home() / f".fpe-planted-{uuid.uuid4().hex}"
    home_file.write_text("hunter2")
    data = outside / "data"
    monkeypatch.setenv("FPE_DATA_DIR", str(data))
    store = NetworkStore()  # creates the data directory and its database, as the app does
    try:
        yield [outside / "secret.txt", home_file, store.path]
    finally:
        home_file.unlink()
        shutil.rmtree(outside)


def _reads(paths: list[Path]) -> str:
    """SimpleNN whose forward() tries to read each path and find it in its folder."""
    body = (
        "import os\n"
        f"for p in {[str(p) for p in paths]!r}:\n"
        "    try:\n"
        "        open(p).read()\n"
        "        print('read', p, 'WORKED')\n"
        "    except OSError as e:\n"
        "        print('read', p, type(e).__name__)\n"
        "    try:\n"
        "        seen = os.path.basename(p) in os.listdir(os.path.dirname(p))\n"
        "        print('list', p, 'SEEN' if seen else 'unseen')\n"
        "    except OSError as e:\n"
        "        print('list', p, type(e).__name__)\n"
        "print('root', sorted(os.listdir('/')))"
    )
    lines = "".join(f"        {line}\n" for line in body.splitlines())
    return SIMPLE.source.replace("        x = self.fc1(x)  #", lines + "        x = self.fc1(x)  #")


def test_the_servers_files_do_not_exist_for_their_code(planted: list[Path]) -> None:
    run = run_user_code(_reads(planted), SIMPLE.default_input())
    if "private files" not in run.isolation and os.geteuid() != 0:
        pytest.skip("this kernel gives a non-root server no mount namespace for the worker")
    assert "private files" in run.isolation  # as root the kernel always can
    assert run.ok and run.trace.output.shape == (1, 1)  # torch works in there
    lines = run.printed.splitlines()
    for p in planted:
        assert f"read {p} FileNotFoundError" in lines
        # its folder is missing too, or (a folder on the way to Python) holds only that
        assert f"list {p} FileNotFoundError" in lines or f"list {p} unseen" in lines
    # Only the top of what the worker needs: no home directories, data, /etc/passwd...
    view = plan("/tmp/x")
    needed = {Path(p).parts[1] for p in (*view.binds, *view.devices, "/proc", "/tmp/x")}
    needed |= {Path(link).parts[1] for link, _ in view.links}
    shown = ast.literal_eval(lines[-1].removeprefix("root "))  # the list it printed
    assert set(shown) == needed and "home" not in shown


def test_without_namespaces_a_root_server_runs_their_code_as_nobody(
    planted: list[Path], monkeypatch
) -> None:
    """The fallback where the kernel refuses namespaces (e.g. Docker's default seccomp
    profile): only a server running as root can switch users, so only that is tested here."""
    if os.geteuid() != 0:
        pytest.skip("only a server running as root can run their code as another user")
    monkeypatch.setenv(NAMESPACES_ENV, "0")  # as a kernel without namespaces would
    private = planted[0].parent / "private"
    private.mkdir(mode=0o700)
    (private / "secret.txt").write_text("hunter2")
    run = run_user_code(
        _reads([private / "secret.txt", planted[1], planted[2]]), SIMPLE.default_input()
    )
    assert run.isolation == ("other user",)
    assert run.ok and run.trace.output.shape == (1, 1)
    lines = run.printed.splitlines()
    # The home directory and the app's data directory are the server user's alone (the
    # store creates its directory 0700): "nobody" may neither read nor list them.
    for p in (private / "secret.txt", planted[1], planted[2]):
        assert f"read {p} PermissionError" in lines
        assert f"list {p} PermissionError" in lines
