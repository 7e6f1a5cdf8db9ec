"""SIGTERM and SIGINT reach the daemon's loop whatever its main thread is doing (signals.py)."""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from scheduler.runtime.signals import StopSignals
from tests.conftest import REPO

ROUNDS = 1000

# The daemon's main thread waits on an event that other threads (the timer, idle workers)
# keep setting: here one sets it every few microseconds, so a signal often lands while the
# main thread is inside `Event.wait`, holding the event's lock.
WAIT_LOOP = textwrap.dedent(
    """
    import sys, threading, time
    from scheduler.runtime.signals import StopSignals

    wake = threading.Event()

    def keep_waking():
        while True:
            wake.set()
            time.sleep(0.00002)

    threading.Thread(target=keep_waking, daemon=True).start()
    for _ in range(int(sys.argv[1])):
        stop = threading.Event()

        def on_stop():
            stop.set()
            wake.set()

        with StopSignals(on_stop):
            print("ready", flush=True)
            while not stop.is_set():
                wake.wait()
                wake.clear()
        print("stopped", flush=True)
    """
)


def test_a_stop_signal_is_heard_on_a_thread_other_than_the_main_one() -> None:
    heard_on: list[threading.Thread] = []
    stopped = threading.Event()

    def on_stop() -> None:
        heard_on.append(threading.current_thread())
        stopped.set()

    handler_before = signal.getsignal(signal.SIGTERM)
    with StopSignals(on_stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stopped.wait(timeout=30), "SIGTERM never reached on_stop"
    assert heard_on and heard_on[0] is not threading.main_thread()
    assert signal.getsignal(signal.SIGTERM) is handler_before
    assert signal.set_wakeup_fd(-1) == -1  # and the wakeup socket is given back


@pytest.mark.slow
def test_each_of_a_thousand_signals_stops_the_wait_loop_wherever_it_lands() -> None:
    """A handler that set the loop's event itself hung the process for good when the signal
    landed inside `Event.wait` (test_daemon_identity saw a daemon ignore SIGTERM; py-spy
    showed the handler's `Event.set` waiting on the lock its own thread held). Such a
    handler hung this loop within a few hundred rounds."""
    with subprocess.Popen(
        [sys.executable, "-c", WAIT_LOOP, str(ROUNDS)], cwd=REPO, stdout=subprocess.PIPE, text=True
    ) as child:
        lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        threading.Thread(target=_read_lines, args=(child, lines), daemon=True).start()
        try:
            for round_number in range(ROUNDS):
                assert _next(lines) == "ready", f"round {round_number}"
                time.sleep(random.uniform(0, 0.0005))
                child.send_signal(random.choice((signal.SIGTERM, signal.SIGINT)))
                line = _next(lines)
                assert line == "stopped", f"round {round_number}: the loop didn't stop ({line!r})"
        finally:
            child.kill()


def _read_lines(child: subprocess.Popen[str], lines: queue.SimpleQueue[str]) -> None:
    for line in child.stdout or ():
        lines.put(line.strip())


def _next(lines: queue.SimpleQueue[str]) -> str:
    try:
        return lines.get(timeout=30)
    except queue.Empty:
        return "(nothing within 30 s)"
