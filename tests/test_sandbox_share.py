"""A fair share of the workers: one line, one run per session, a lower CPU priority, and a
killed worker reported as what happened to it (not as a time limit)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from explorer.sandbox import ENV_VAR, TEMPLATES, Limits, SandboxError, run_user_code
from explorer.sandbox.slots import Slots
from explorer.sandbox.view import NAMESPACES_ENV, NICE

pytestmark = pytest.mark.slow  # worker processes or training: not in the fast lane

SIMPLE = TEMPLATES["simple_nn"]


@pytest.fixture(autouse=True)
def allow_code(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "1")


def _with(body: str) -> str:
    lines = "".join(f"        {line}\n" for line in body.splitlines())
    return SIMPLE.source.replace("        x = self.fc1(x)  #", lines + "        x = self.fc1(x)  #")


# --- the line ----------------------------------------------------------------------------------


def _wait_for(check, seconds: float = 5.0) -> None:
    limit = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < limit, "timed out"
        time.sleep(0.01)


def test_jobs_wait_in_line_and_are_told_their_place() -> None:
    slots = Slots(1)
    order: list[str] = []
    places: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    release = {n: threading.Event() for n in "abc"}

    def job(name: str) -> None:
        with slots.take(name, 10, places[name].append):
            order.append(name)
            release[name].wait(10)

    threads = {n: threading.Thread(target=job, args=(n,)) for n in "abc"}
    threads["a"].start()
    _wait_for(lambda: order == ["a"])
    threads["b"].start()
    _wait_for(lambda: places["b"] == [1])
    threads["c"].start()
    _wait_for(lambda: places["c"] == [2])
    release["a"].set()
    _wait_for(lambda: order == ["a", "b"] and places["c"] == [2, 1])  # c moved up
    release["b"].set()
    release["c"].set()
    for t in threads.values():
        t.join(10)
    assert order == ["a", "b", "c"]  # first come, first served
    assert places == {"a": [], "b": [1], "c": [2, 1]}  # a free slot: no wait, nothing told


def test_an_owner_gets_one_job_at_a_time_and_a_free_slot_means_no_wait() -> None:
    slots = Slots(2)
    told: list[int] = []
    with slots.take("session-1", 1, told.append):
        with pytest.raises(SandboxError) as err, slots.take("session-1", 1):
            pass
        assert err.value.kind == "own_run" and "still going" in err.value.message
        with slots.take("session-2", 1, told.append):  # another session: the second slot
            pass
    with slots.take("session-1", 1):  # its first job is over: it may run again
        pass
    assert told == []


def test_a_job_that_stops_waiting_leaves_the_line() -> None:
    slots = Slots(1)

    def stop(place: int) -> None:  # e.g. Streamlit stopping the script when the page reruns
        raise KeyboardInterrupt

    with slots.take("a", 1):
        with pytest.raises(KeyboardInterrupt), slots.take("b", 5, stop):
            pass
        with pytest.raises(SandboxError) as err, slots.take("c", 0.2):
            pass
        assert err.value.kind == "busy"
    for owner in "bc":  # neither is left holding a place in line
        with slots.take(owner, 0.1):
            pass


def test_a_third_student_waits_in_line_behind_two_workers() -> None:
    """Two slow runs hold both workers; the third run is told its place, then runs."""
    slow = _with("import time\ntime.sleep(2)")
    started = threading.Barrier(3)
    errors: list[BaseException] = []

    def hold(owner: str) -> None:
        started.wait()
        try:
            run_user_code(slow, SIMPLE.default_input(), owner=owner)
        except BaseException as e:
            errors.append(e)

    holders = [threading.Thread(target=hold, args=(f"s{i}",)) for i in (1, 2)]
    for t in holders:
        t.start()
    started.wait()
    time.sleep(0.3)  # both have taken their slots
    places: list[int] = []
    run = run_user_code(
        _with("print('hello')"), SIMPLE.default_input(), owner="s3", on_queue=places.append
    )
    for t in holders:
        t.join()
    assert errors == [] and run.ok and run.printed == "hello\n"
    assert places == [1]


def test_a_session_with_a_run_going_is_refused_a_second() -> None:
    going = threading.Thread(
        target=run_user_code,
        args=(_with("import time\ntime.sleep(2)"), SIMPLE.default_input()),
        kwargs={"owner": "same"},
    )
    going.start()
    time.sleep(0.3)
    with pytest.raises(SandboxError) as err:
        run_user_code(SIMPLE.source, SIMPLE.default_input(), owner="same")
    going.join()
    assert err.value.kind == "own_run"
    assert run_user_code(SIMPLE.source, SIMPLE.default_input(), owner="same").ok


# --- priority ----------------------------------------------------------------------------------


def test_the_worker_runs_at_a_lower_cpu_priority_it_cannot_raise() -> None:
    src = _with(
        "import os\nprint(os.nice(0))\n"
        "try:\n    os.nice(-5)\n    print('raised')\n"
        "except OSError as e:\n    print(type(e).__name__)"
    )
    run = run_user_code(src, SIMPLE.default_input())
    nice, tried = run.printed.split()
    assert int(nice) >= NICE > os.nice(0)
    assert tried == "PermissionError"


# --- a killed worker ---------------------------------------------------------------------------


def _worker_running_code() -> tuple[int, int]:
    """(worker, its child): the worker of this process that has forked its child."""
    kids: dict[int, list[int]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(pid))
    for worker in kids.get(os.getpid(), []):
        with open(f"/proc/{worker}/cmdline", "rb") as f:
            if b"sandbox/worker.py" in f.read() and kids.get(worker):
                return worker, kids[worker][0]
    raise LookupError("no worker is running code")


def _killed_while_sleeping(which: int) -> SandboxError:
    """Run code that sleeps; SIGKILL the worker (0) or its child (1) from outside."""
    caught: list[SandboxError] = []

    def run() -> None:
        try:
            run_user_code(_with("import time\ntime.sleep(8)"), SIMPLE.default_input())
        except SandboxError as e:
            caught.append(e)

    t = threading.Thread(target=run)
    t.start()
    limit = time.monotonic() + 30
    while True:
        try:
            pids = _worker_running_code()
            break
        except LookupError:
            assert time.monotonic() < limit
            time.sleep(0.05)
    time.sleep(0.3)
    os.kill(pids[which], signal.SIGKILL)
    t.join()
    return caught[0]


def test_a_worker_killed_from_outside_is_not_called_a_time_limit() -> None:
    err = _killed_while_sleeping(0)  # e.g. the kernel's OOM killer, or an operator
    assert err.kind == "killed"
    assert err.message.startswith("The worker process running your code was killed (SIGKILL)")
    assert "no time limit" in err.message and "more than" not in err.message


def test_their_process_killed_early_is_not_called_a_time_limit() -> None:
    err = _killed_while_sleeping(1)
    assert err.kind == "killed" and "killed (SIGKILL)" in err.message
    assert "having used 0.0 s of CPU time" in err.message


def test_their_code_killing_its_parent() -> None:
    """The issue's ``os.kill(os.getppid(), 9)``. Inside the walls getppid() is 0 and
    kill(0, ...) reaches only their own process group, which holds only themselves, process 1
    of their PID namespace: the kernel ignores it and their code carries on."""
    run = run_user_code(
        _with("import os\nos.kill(os.getppid(), 9)\nprint('still here')"), SIMPLE.default_input()
    )
    if "processes" not in run.isolation:
        pytest.skip("this kernel gives the worker no PID namespace")
    assert run.ok and run.printed == "still here\n"


def test_their_code_killing_itself_without_the_walls(monkeypatch) -> None:
    monkeypatch.setenv(NAMESPACES_ENV, "0")  # no PID namespace: the signal lands
    with pytest.raises(SandboxError) as err:
        run_user_code(
            _with("import os\nos.kill(os.getpid(), 9)"),
            SIMPLE.default_input(),
            limits=Limits(cpu_seconds=1),
        )
    assert err.value.kind == "killed"
    assert err.value.message.startswith("Your code's process was killed (SIGKILL) after ")
    assert "Did your code send it a signal (os.kill)?" in err.value.message
