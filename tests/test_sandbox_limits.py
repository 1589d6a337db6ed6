"""Whatever the student's code does, the worker takes the blow and the app keeps serving.

Endless loops, sleeping, huge allocations, ``os._exit``, a segfault, garbage on the result pipe,
a result too large: each ends as a ``SandboxError`` with a message for the student, and the next
run (or one running at the same time) works.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
import torch

from explorer.sandbox import (
    ENV_VAR,
    TEMPLATES,
    Limits,
    SandboxError,
    run_user_code,
)

pytestmark = pytest.mark.slow  # worker processes or training: not in the fast lane

SIMPLE = TEMPLATES["simple_nn"]
FAST = Limits(cpu_seconds=1, wall_seconds=1.5)


@pytest.fixture(autouse=True, scope="module")
def allow_code():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_VAR, "1")
        yield


def _with(body: str) -> str:
    """SimpleNN whose forward() runs ``body`` (indented lines) before its first layer."""
    lines = "".join(f"        {line}\n" for line in body.splitlines())
    return SIMPLE.source.replace("        x = self.fc1(x)  #", lines + "        x = self.fc1(x)  #")


def _line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


def _fails(source: str, limits: Limits = FAST) -> SandboxError:
    with pytest.raises(SandboxError) as err:
        run_user_code(source, SIMPLE.default_input(), limits=limits)
    return err.value


def _still_serving() -> None:
    run = run_user_code(SIMPLE.source, SIMPLE.default_input())
    assert run.ok and run.trace.output.shape == (1, 1)


def test_an_endless_loop_is_stopped_at_its_line() -> None:
    src = _with("while True:\n    pass")
    err = _fails(src, Limits(cpu_seconds=1, wall_seconds=10))  # the CPU limit comes first
    assert err.kind == "cpu" and err.line == _line_of(src, "while True:")
    assert err.message.startswith("Your code ran for more than 1 second (an endless loop?)")
    _still_serving()


def test_a_loop_that_swallows_the_stop_is_killed() -> None:
    src = _with(
        "while True:\n    try:\n        while True:\n            pass\n"
        "    except BaseException:\n        pass"
    )
    err = _fails(src)
    # whichever comes first: the CPU limit's SIGKILL, or the app's wall-clock kill
    assert err.kind in ("cpu", "timeout") and "(an endless loop?)" in err.message


def test_the_cpu_limits_hard_stop_is_reported_as_such() -> None:
    """A loop that swallows the CPU limit's warning dies of its SIGKILL a second later, well
    before the wall clock: that must read as the CPU limit, not as a crash of the worker."""
    src = _with(
        "while True:\n    try:\n        while True:\n            pass\n"
        "    except BaseException:\n        pass"
    )
    # a wide wall clock: the worker runs at a lower priority, and on a loaded machine its two
    # CPU seconds can take more than ten seconds of wall time
    err = _fails(src, Limits(cpu_seconds=1, wall_seconds=30))
    assert err.kind == "cpu" and "(an endless loop?)" in err.message
    _still_serving()


def test_sleeping_counts_against_the_wall_clock() -> None:
    src = _with("import time\ntime.sleep(60)")
    started = time.monotonic()
    err = _fails(src)
    assert err.kind == "timeout" and err.line == _line_of(src, "time.sleep(60)")
    assert "more than 1.5 seconds" in err.message
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    "bomb",
    [
        "big = torch.zeros(10**10)",
        "big = [0] * 10**10",
        "big = torch.ones(3 * 10**8, dtype=torch.float64)",
    ],
)
def test_a_huge_allocation_is_refused(bomb: str) -> None:
    src = _with(bomb)
    err = _fails(src, Limits(cpu_seconds=5, wall_seconds=5))
    assert err.kind == "memory" and err.line == _line_of(src, bomb)
    assert err.message.startswith("Your code tried to use more than 2 GB of memory")


def test_os_exit_is_a_crash_message() -> None:
    err = _fails(_with("import os\nos._exit(3)"))
    assert err.kind == "crash"
    assert err.message == "The worker process exited unexpectedly (code 3)."
    _still_serving()


def test_a_segfault_is_a_crash_message_with_its_line() -> None:
    src = _with("import ctypes\nctypes.string_at(0)")
    err = _fails(src)
    assert err.kind == "crash" and "signal 11" in err.message
    assert err.line == _line_of(src, "ctypes.string_at(0)")  # from the crash dump


def test_garbage_on_the_result_pipe_is_thrown_away() -> None:
    # Find the worker's private result pipe and write nonsense into it, then leave quietly.
    src = _with(
        "import os, stat\n"
        "for fd in range(3, 64):\n"
        "    try:\n"
        "        if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
        "            os.write(fd, b'FPE1 not really a frame')\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(0)"
    )
    err = _fails(src)
    assert err.kind == "protocol" and "not a valid result" in err.message


def test_a_result_over_the_size_limit_is_refused() -> None:
    with pytest.raises(SandboxError) as err:
        run_user_code(
            TEMPLATES["image_classifier"].source,
            TEMPLATES["image_classifier"].default_input(),
            limits=Limits(max_result_bytes=200_000),
        )
    assert err.value.kind == "too_big"
    assert "larger than 195.3 KB" in err.value.message


def test_printing_a_hundred_megabytes_is_capped() -> None:
    run = run_user_code(_with("print('x' * 10**8)"), SIMPLE.default_input())
    assert run.ok and run.printed_truncated and len(run.printed) == Limits().max_print_chars


def test_one_students_endless_loop_does_not_hold_up_another() -> None:
    errors: list[SandboxError] = []

    def stuck() -> None:
        try:
            run_user_code(
                _with("while True:\n    pass"),
                SIMPLE.default_input(),
                limits=Limits(cpu_seconds=4, wall_seconds=10),
            )
        except SandboxError as e:
            errors.append(e)

    loop = threading.Thread(target=stuck)
    loop.start()
    time.sleep(0.5)
    _still_serving()
    assert loop.is_alive()  # served while the loop was still spinning in its own worker
    loop.join()
    assert [e.kind for e in errors] in (["cpu"], ["timeout"])  # "timeout" on a busy machine


def test_the_walls_hold_where_the_kernel_grants_them(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    target = tmp_path / "written.txt"
    src = _with(
        "import os, signal, socket\n"
        "tries = []\n"
        f"for name, act in [('write', lambda: open({str(target)!r}, 'w')),\n"
        f"                  ('signal', lambda: os.kill({os.getpid()}, signal.SIGTERM)),\n"
        f"                  ('connect', lambda: socket.create_connection("
        f"('127.0.0.1', {server.getsockname()[1]}), timeout=1)),\n"
        "                  ('environ', lambda: os.environ['SECRET_FOR_TEST'])]:\n"
        "    try:\n"
        "        act()\n"
        "        tries.append(name + ' worked')\n"
        "    except Exception as e:\n"
        "        tries.append(name + ' failed')\n"
        "print(', '.join(tries), sum(p.isdigit() for p in os.listdir('/proc')) == 1)"
    )
    os.environ["SECRET_FOR_TEST"] = "hunter2"
    try:
        run = run_user_code(src, SIMPLE.default_input())
    finally:
        del os.environ["SECRET_FOR_TEST"]
        server.close()
    walls = set(run.isolation)
    if not walls:
        pytest.skip("this kernel grants no namespaces to this user")
    printed = run.printed
    assert "environ failed" in printed  # the worker's environment is built from scratch
    assert ("connect failed" in printed) == ("network" in walls)
    assert ("signal failed" in printed) == ("processes" in walls)
    assert ("write failed" in printed) == ("read-only files" in walls)
    assert printed.strip().endswith(str("private /proc" in walls))
    assert not target.exists()


def test_no_worker_outlives_its_run() -> None:
    # Code that tries hard to stay: a forked child, then leaving the process group, dropping
    # the "die with the parent" signal and ignoring the alarm.
    src = _with(
        "import ctypes, os, signal, time\n"
        "signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "if os.fork() == 0:\n"
        "    time.sleep(600)\n"
        "try:\n"
        "    os.setsid()\n"
        "except OSError:\n"  # the walls already put it alone in its own group
        "    pass\n"
        "ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)\n"
        "time.sleep(600)"
    )
    assert _fails(src, Limits(wall_seconds=1)).kind == "timeout"
    time.sleep(0.3)
    me = os.getpid()
    workers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if b"sandbox/worker.py" in cmd:
            workers.append((int(pid), int(stat.rsplit(")", 1)[1].split()[1])))
    # Only the spare is left, waiting for the next run; nothing was orphaned to init.
    assert len([pid for pid, ppid in workers if ppid == me]) <= 1
    assert [pid for pid, ppid in workers if ppid == 1] == []
    assert torch.ones(1).item() == 1.0  # and this process is fine
