"""The server process's settings (ui/process.py), each in a fresh interpreter: freezing the
start-up objects out of garbage collection cannot be undone in this one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import gc, json, sys, torch
from ui import process
before = gc.get_freeze_count()
process.tune()
first = gc.get_freeze_count()
junk = [[i] for i in range(10_000)]  # made after: not frozen by a second call
process.tune()
print(json.dumps({
    "before": before, "first": first, "second": gc.get_freeze_count(),
    "threads": torch.get_num_threads(), "switch": sys.getswitchinterval(),
}))
"""


def _probe(**env: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_first_run_freezes_the_start_up_objects_once() -> None:
    got = _probe()
    assert got["before"] == 0
    assert got["first"] > 50_000  # torch and Streamlit's modules, at least
    assert got["second"] == got["first"]  # later runs change nothing
    assert got["threads"] == 1
    assert got["switch"] == pytest.approx(0.0002)


def test_the_environment_sets_threads_and_switch_and_bad_values_fall_back() -> None:
    got = _probe(FPE_TORCH_THREADS="2", FPE_SWITCH_INTERVAL="0.001")
    assert (got["threads"], got["switch"]) == (2, pytest.approx(0.001))
    got = _probe(FPE_TORCH_THREADS="many", FPE_SWITCH_INTERVAL="fast")
    assert (got["threads"], got["switch"]) == (1, pytest.approx(0.0002))
