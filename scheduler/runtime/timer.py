"""The daemon's timer: APScheduler, holding jobs in memory, that only wake the main thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

CHANGE_POLL_SECONDS = 1.0  # CLI changes are picked up within 2 s (§5)


class WakeTimer:
    """A wake-up re-armed at each next wake, a short periodic poll, and any other periodic
    job (the watchdog's pings); each runs on APScheduler's threads.

    The wake-up is one interval job re-armed with `modify_job` (its interval is never
    reached: it is re-armed after every pass), not a one-shot job added anew each time.
    APScheduler removes a one-shot job once it has run, and when the daemon shut the timer
    down just as its wake-up fell due (stopping for a removed database file), that removal
    found the scheduler stopped, raised JobLookupError and killed the timer's thread: a
    traceback in the daemon's log (tests/test_timer.py made it happen 57 times in 300).
    """

    def __init__(self, wake: threading.Event, poll: Callable[[], None]) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        self._scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True})
        self._scheduler.add_job(poll, "interval", seconds=CHANGE_POLL_SECONDS, id="poll")
        # However late APScheduler's thread comes to it (a stalled machine, a resumed VM), the
        # wake-up runs: by default a job more than a second late is skipped, and this one's
        # next run would then be a year away, with due airings waiting for a CLI change.
        self._scheduler.add_job(
            wake.set,
            "interval",
            days=365,
            id="wake",
            next_run_time=None,
            misfire_grace_time=None,
        )

    def start(self) -> None:
        self._scheduler.start()

    def wake_at(self, moment: datetime) -> None:
        """Set the wake event at `moment` (at once if it has passed), and not before."""
        self._scheduler.modify_job("wake", next_run_time=moment)

    def every(self, seconds: float, job: Callable[[], None], name: str) -> None:
        self._scheduler.add_job(job, "interval", seconds=seconds, id=name)

    def shutdown(self) -> None:
        self._scheduler.shutdown(wait=False)
