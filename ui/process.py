"""The server process's settings, made once however many runs ask: torch's threads, the
interpreter's switch interval, and the start-up objects left out of garbage collection.

Each was measured with many students on one server (bench/classroom_load, bench/follow_load);
the environment variables are for experiments, not for everyday use.
"""

from __future__ import annotations

import gc
import os
import sys
import threading

import torch

THREADS_ENV = "FPE_TORCH_THREADS"
SWITCH_ENV = "FPE_SWITCH_INTERVAL"
DEFAULT_SWITCH_S = 0.0002

_lock = threading.Lock()
_frozen = False


def tune() -> None:
    """Called at the top of every run; does its work on the first."""
    global _frozen
    if _frozen:
        return
    with _lock:
        if _frozen:
            return
        # One intra-op thread per pass: many students' small passes run side by side, and two
        # threads per conv on a 2-core server only fight each other (a lone cnn trace is faster
        # with one, too). FPE_TORCH_THREADS raises it, e.g. for a teacher training alone.
        threads = _number(THREADS_ENV, int, 1)
        if torch.get_num_threads() != max(1, threads):
            torch.set_num_threads(max(1, threads))
        # The server's event loop sends every element a page draws, and it shares the
        # interpreter with every student's script thread: at Python's default 5 ms switch
        # interval it waits behind them (following the teacher: p50 0.72 -> 0.52 s).
        switch = _number(SWITCH_ENV, float, DEFAULT_SWITCH_S)
        if switch > 0 and sys.getswitchinterval() != switch:
            sys.setswitchinterval(switch)
        # A full garbage collection walks every object the process holds and stops every
        # student's run while it does: with torch, plotly and Streamlit loaded that is some
        # 290,000 objects, ~180 ms a collection, one every ~10 s with a class following the
        # teacher. Frozen here, once, they are left out: ~25 ms a collection (the objects made
        # afterwards -- sessions, passes, figures -- are collected as before).
        gc.collect()
        gc.freeze()
        _frozen = True


def _number(name: str, kind: type, default: float) -> float:
    try:
        return kind(os.environ.get(name) or default)
    except ValueError:
        return default
