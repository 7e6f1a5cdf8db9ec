"""The service loop: APScheduler as the timer, the database as the only truth (docs/design.md §5).

APScheduler (`timer.py`) holds two jobs in memory: a wake-up re-armed at the next due
airing, and a short periodic poll that notices CLI changes and runs the reconcile. Both only
wake the main thread; `Daemon.tick(now)` does one pass and returns when it wants to run
next, so tests drive it directly, with no threads and no sleeping.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from ..config import Config
from ..errors import StoreError
from ..planning.forecast import channel_inputs, match_stored, measured_scores, plan_all
from ..planning.planner import Gap, gap_has_free_slot
from ..publishers.base import Publisher
from ..store.dbfile import DatabaseFile, DatabaseFileChanged, sqlite_file
from ..store.store import PlannerLock, Store
from ..timeutil import format_duration, iso_local, utc_now
from .dispatch import Dispatcher, RetrySettings
from .measuring import Measurer, start_measuring
from .signals import StopSignals
from .timer import WakeTimer

log = logging.getLogger("scheduler.daemon")

SHUTDOWN_BOUND_SECONDS = 20.0  # in-flight requests get this long after SIGTERM
BUSY_CHANNEL_PAUSE = timedelta(milliseconds=250)
DB_RETRY_SECONDS = (1.0, 2.0, 5.0)
LEASE_CHECK_FLOOR = timedelta(seconds=1)


class Daemon:
    def __init__(
        self,
        config: Config,
        store: Store,
        publishers: Mapping[str, Publisher],
        *,
        clock: Callable[[], datetime] = utc_now,
        owner: str | None = None,
        retry: RetrySettings | None = None,
        in_flight: int = 16,
        claim_ahead: timedelta = timedelta(0),
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._wake = threading.Event()  # set by the timer, the listener and idle workers
        self.dispatcher = Dispatcher(
            store,
            config,
            publishers,
            owner=self.owner,
            clock=clock,
            retry=retry or RetrySettings.from_policy(config.scheduler.retry),
            in_flight=in_flight,
            claim_ahead=claim_ahead,
            on_idle=self._wake.set,
        )
        self.planner_lock = PlannerLock(store)
        database = sqlite_file(store.url)
        self._database_file = DatabaseFile.of(database) if database is not None else None
        self._planned_revision: int | None = None
        self._planned_until: datetime | None = None
        self._last_reconcile: datetime | None = None
        self._last_lease_check: datetime | None = None
        # A dead process's leases run out one lease after its last heartbeat; looking this
        # often hands its airings to a live process within 1.125 leases (§5: 30 s), and never
        # more than once a second.
        self._lease_check_every = min(
            config.scheduler.reconcile, max(config.scheduler.lease / 8, LEASE_CHECK_FLOOR)
        )
        self._reported_gaps: set[tuple[str, datetime]] = set()

    # --- one pass --------------------------------------------------------------------------

    def tick(self, now: datetime) -> datetime:
        """Reconcile if due, replan if needed, publish what is due; return the next wake-up.

        Raises DatabaseFileChanged when the SQLite file was removed or replaced meanwhile.
        """
        self.check_database_file()
        scheduler = self.config.scheduler
        needs_plan = self._plan_is_stale(now)
        if self._last_reconcile is None or now - self._last_reconcile >= scheduler.reconcile:
            self._last_reconcile = now
            self.store.beat(
                owner=self.owner,
                pid=os.getpid(),
                host=socket.gethostname(),
                now=now,
                state="running",
            )
            needs_plan |= self.dispatcher.settle_overdue(now)
        if self._last_lease_check is None or now - self._last_lease_check >= (
            self._lease_check_every
        ):
            self._last_lease_check = now
            self.dispatcher.recover_leases(now)
        if needs_plan:
            if self.planner_lock.held():
                self.replan(now)
            else:
                self._follow_plan(now)
        self.dispatcher.publish_due(now)
        wake = now + self._lease_check_every
        next_due = self.store.next_due()
        if next_due is not None:
            # Something already due is waiting for its channel's worker: look again shortly
            # rather than spinning.
            wake = min(wake, max(next_due - self.dispatcher.claim_ahead, now + BUSY_CHANNEL_PAUSE))
        if self._planned_until is not None:
            wake = min(wake, self._planned_until)
        return wake

    def check_database_file(self) -> None:
        """On SQLite, raise DatabaseFileChanged unless the database path still leads to the
        file this daemon started on (§5): never plan or publish from an unlinked file."""
        if self._database_file is not None:
            self._database_file.check()

    def _follow_plan(self, now: datetime) -> None:
        """Another replica holds the planner lock: note the changes it will handle (so the
        poll doesn't wake us for them) and ask for the lock again one reconcile later, which
        is how planning moves on when the planning replica dies."""
        self._planned_revision = self.store.revision()
        self._planned_until = now + self.config.scheduler.reconcile

    def changed_since_plan(self) -> bool:
        """Cheap check the poll job runs every second: did the CLI change posts?"""
        return self.store.revision() != self._planned_revision

    def _plan_is_stale(self, now: datetime) -> bool:
        if self._planned_until is None or now >= self._planned_until:
            return True
        return self.changed_since_plan()

    def replan(self, now: datetime) -> None:
        """Plan every channel up to the horizon and store the result in one transaction."""
        horizon_end = now + self.config.scheduler.horizon
        revision = self.store.revision()
        posts, airings = self.store.planning_rows()
        inputs = channel_inputs(
            posts, airings, self.config, now=now, scores=measured_scores(self.store, self.config)
        )
        plans = plan_all(inputs, start=now, end=horizon_end)
        remove: list[int] = []
        add: list[tuple[str, int, str, datetime]] = []
        for name, plan in plans.items():
            reused = match_stored(plan, inputs[name].replaceable)
            kept = set(reused.values())
            remove += [a.id for a in inputs[name].replaceable if a.id not in kept]
            add += [
                (name, new.post_id, new.kind, new.at)
                for index, new in enumerate(plan.new)
                if index not in reused
            ]
            self._report_gaps(name, plan.gaps)
        if not self.store.write_plan(remove=remove, add=add, now=now, expected_revision=revision):
            log.info("posts changed while planning; planning again")
            self._planned_revision = None
            return
        self._planned_revision = revision
        # Replan when the horizon has moved by the smallest cadence, so new slots get filled.
        step = min((c.cadence for c in self.config.channels.values()), default=timedelta(hours=1))
        self._planned_until = now + step
        if add or remove:
            log.info(
                "planned %s airings up to %s (%s new, %s removed)",
                sum(len(p.airings) for p in plans.values()),
                iso_local(horizon_end, self.config.zone()),
                len(add),
                len(remove),
            )

    def _report_gaps(self, channel: str, gaps: Sequence[Gap]) -> None:
        settings = self.config.channels[channel]
        for gap in gaps:
            key = (channel, gap.start)
            if key not in self._reported_gaps:
                self._reported_gaps.add(key)
                advice = (
                    "queue more posts"
                    if gap_has_free_slot(settings, gap)
                    else "no slot in it is free (quiet hours, spacing around pinned posts): "
                    "pin a post inside it or change the channel's rules"
                )
                log.warning(
                    "gap forecast on %s: no airing from %s to %s (%s, over max_gap %s); %s",
                    channel,
                    iso_local(gap.start, settings.timezone),
                    iso_local(gap.end, settings.timezone),
                    format_duration(gap.end - gap.start),
                    format_duration(settings.max_gap),
                    advice,
                )

    def close(self, *, timeout: float = SHUTDOWN_BOUND_SECONDS) -> bool:
        """Stop publishing (requests in flight finish within `timeout`) and give up the
        planner lock; True when nothing was left in flight."""
        finished = self.dispatcher.stop(timeout=timeout)
        self.planner_lock.release()
        return finished

    # --- the service -----------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT (exit status 0), or until the SQLite database file is
        removed or replaced (1: systemd's `Restart=on-failure` then starts on the new file)."""
        stop = threading.Event()

        def on_stop() -> None:
            stop.set()
            self._wake.set()

        with StopSignals(on_stop):
            return self._serve(stop)

    def _serve(self, stop: threading.Event) -> int:
        wake = self._wake

        def poll() -> None:
            try:
                self.check_database_file()
                if self.changed_since_plan():
                    wake.set()
            except DatabaseFileChanged:
                wake.set()  # the loop's next tick finds it too, and stops
            except StoreError:
                pass  # the loop reports an unreachable database; no need to say it every second

        timer = WakeTimer(wake, poll)
        timer.start()
        listener = None
        if self.store.dialect == "postgresql":
            from ..store.changes import ChangeListener

            listener = ChangeListener(self.store.url, on_change=wake.set)
            listener.start()
        listening = self._start_listening(stop)
        measuring = start_measuring(
            Measurer(self.config, self.store, self.dispatcher.publishers), self.clock, stop
        )
        log.info(
            "daemon %s started: %s channels, database %s",
            self.owner,
            len(self.config.channels),
            _database_label(self.store),
        )
        ready = False
        status = 0
        try:
            outage = 0
            while not stop.is_set():
                try:
                    next_wake = self.tick(self.clock())
                except DatabaseFileChanged as exc:
                    log.error("%s", exc)
                    status = 1
                    break
                except StoreError as exc:
                    # A database restart or a killed connection: keep the process, try again.
                    self.dispatcher.note_store_failure(self.clock())
                    pause = DB_RETRY_SECONDS[min(outage, len(DB_RETRY_SECONDS) - 1)]
                    outage += 1
                    log.warning("database unavailable (%s); trying again in %ss", exc, pause)
                    next_wake = self.clock() + timedelta(seconds=pause)
                else:
                    if outage:
                        log.info("database reachable again")
                    outage = 0
                if not ready:
                    _notify("READY=1")
                    ready = True
                    # Pings start once the daemon serves: a first pass slower than the ping
                    # interval (a loaded machine) must not say WATCHDOG before READY.
                    watchdog = _watchdog_interval()
                    if watchdog is not None:
                        timer.every(watchdog, lambda: _notify("WATCHDOG=1"), "watchdog")
                delay = max((next_wake - self.clock()).total_seconds(), 0.0)
                timer.wake_at(self.clock() + timedelta(seconds=delay))
                wake.wait()
                wake.clear()
        finally:
            _notify("STOPPING=1")
            log.info("stopping: no new claims, finishing requests in flight")
            finished = self.close()
            timer.shutdown()
            if listener is not None:
                listener.stop()
            if listening is not None:
                stop.set()  # also when leaving for a replaced database file
                listening.join(timeout=SHUTDOWN_BOUND_SECONDS)
            stop.set()
            if measuring is not None:
                measuring.join(timeout=5)
            if status == 0:  # a replaced database file must not get our last heartbeat
                with contextlib.suppress(StoreError):
                    self.store.beat(
                        owner=self.owner,
                        pid=os.getpid(),
                        host=socket.gethostname(),
                        now=self.clock(),
                        state="stopped",
                    )
            log.info("stopped%s", "" if finished else " (some requests were still in flight)")
        return status

    def _start_listening(self, stop: threading.Event) -> threading.Thread | None:
        """The inbox listener's thread (§10), when some channel's platform can be read."""
        from ..store.inbox import InboxStore
        from .listener import Listener, readers_of

        readers = readers_of(self.dispatcher.publishers)
        if not readers:
            return None
        listener = Listener(self.config, InboxStore(self.store), readers, clock=self.clock)
        thread = threading.Thread(target=listener.run, args=(stop,), name="listen", daemon=True)
        thread.start()
        return thread


def _database_label(store: Store) -> str:
    from ..store.store import redact_url

    return redact_url(store.url)


def _notify(message: str) -> None:
    """sd_notify(3): one datagram to $NOTIFY_SOCKET, when systemd gave us one."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError as exc:
            log.warning("could not notify systemd (%s): %s", message, exc)


def _watchdog_interval() -> float | None:
    """Half of systemd's WatchdogSec (given in microseconds), or None without a watchdog."""
    value = os.environ.get("WATCHDOG_USEC")
    if not value or not value.isdigit():
        return None
    return int(value) / 2_000_000
