"""Fair share of /code's workers: two students' endless loops against a third student and the app.

    python -m bench.sandbox_fairness [--nice 10] [--rounds 5]

Measures, in one run, idle floors and the same under contention:

* a third student's ``print('hello')`` run: its latency idle (a spare worker ready), and while
  two ``while True: pass`` runs hold both workers (it waits in line for one to be stopped by
  its CPU limit, then for a worker to start);
* the app's own CPU work (a batch of CNN forwards in this process, with one torch thread as
  app.py sets by default), idle and while those two loops spin.

``--nice`` sets the workers' CPU priority (``view.NICE``); ``--nice 0`` shows what it buys.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import torch

from explorer import example_input, load_model
from explorer.sandbox import ENV_VAR, TEMPLATES, SandboxError, run_user_code, view

SIMPLE = TEMPLATES["simple_nn"]


def student(body: str) -> str:
    lines = "".join(f"        {line}\n" for line in body.splitlines())
    return SIMPLE.source.replace("        x = self.fc1(x)  #", lines + "        x = self.fc1(x)  #")


HELLO, LOOP = student("print('hello')"), student("while True:\n    pass")


def app_work_seconds(model: torch.nn.Module, x: torch.Tensor, forwards: int = 40) -> float:
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(forwards):
            model(x)
    return time.perf_counter() - t0


def hello_seconds(**kwargs) -> float:
    t0 = time.perf_counter()
    run = run_user_code(HELLO, SIMPLE.default_input(), **kwargs)
    assert run.printed == "hello\n", run.printed
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nice", type=int, default=view.NICE)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the app")
    args = parser.parse_args()
    os.environ[ENV_VAR] = "1"
    torch.set_num_threads(args.threads)
    view.NICE = args.nice
    model, x = load_model("cnn", pretrained=False).eval(), example_input("cnn")
    print(
        f"{os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} "
        f"threads in the app, workers at nice {args.nice}"
    )

    # Floors: a warm spare worker, nothing else running.
    hello_seconds()
    idle_hello = []
    for _ in range(3):
        time.sleep(3)  # the spare finishes importing torch
        idle_hello.append(hello_seconds())
    time.sleep(3)
    idle_app = statistics.median(app_work_seconds(model, x) for _ in range(args.rounds))

    # Contention: two loops hold both workers.
    stopped: list[str] = []

    def loop(owner: str) -> None:
        try:
            run_user_code(LOOP, SIMPLE.default_input(), owner=owner)
        except SandboxError as e:
            stopped.append(f"{e.kind} after {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    loops = [threading.Thread(target=loop, args=(f"loop{i}",)) for i in (1, 2)]
    for t in loops:
        t.start()
    time.sleep(2.5)  # both workers have started their loops
    places: list[int] = []
    waited: list[float] = []
    third = threading.Thread(
        target=lambda: waited.append(hello_seconds(owner="third", on_queue=places.append))
    )
    third.start()
    busy_app = []
    while any(t.is_alive() for t in loops):  # the app keeps working while the loops spin
        busy_app.append(app_work_seconds(model, x))
    third.join()
    for t in loops:
        t.join()

    floor_hello = statistics.median(idle_hello)
    busy = statistics.median(busy_app)
    print(
        f"loops stopped: {', '.join(stopped)} (from their start); the third student asked at 2.5 s"
    )
    print(
        f"third student's print('hello'): idle {floor_hello:.2f} s, behind two loops "
        f"{waited[0]:.2f} s ({waited[0] / floor_hello:.1f}x), places told {places}"
    )
    print(
        f"app's 40 CNN forwards: idle {idle_app * 1e3:.0f} ms, while the loops spin "
        f"{busy * 1e3:.0f} ms median, {max(busy_app) * 1e3:.0f} ms worst "
        f"({busy / idle_app:.2f}x median, {max(busy_app) / idle_app:.2f}x worst, "
        f"{len(busy_app)} batches)"
    )


if __name__ == "__main__":
    main()
