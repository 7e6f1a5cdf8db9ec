"""Claim → publish with retries → record: the exactly-once part of the daemon (docs/design.md §5).

Sending runs on one asyncio event loop, in a thread of its own: each channel's claimed
airings go through one task at a time, in order, so a channel that is rate-limited waits
alone: its backoff holds neither another channel's task nor their retry budget. Retries
live in one place (`RetrySettings` feeding tenacity's `AsyncRetrying`).

The database stays synchronous and never runs on the loop: claims are made by the daemon's
thread, outcomes are written by one recorder thread in batches, and the few reads and
writes a task needs on its way (the change counter before a send, a lease renewal, the
"sending" mark) go to worker threads (`asyncio.to_thread`). A claim reads everything
sending needs for the whole batch, so the database costs a few transactions per batch
rather than several per airing.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from ..config import Config, RetryPolicy
from ..domain import AiringStatus, AttemptOutcome
from ..errors import (
    InterruptedPublishError,
    PublishError,
    StoreError,
    TransientPublishError,
)
from ..publishers.base import Delivery, Publisher, Receipt
from ..publishers.http import prepare_async_sending
from ..store.store import Claimed, Outcome, Store
from ..text import airing_body
from ..timeutil import format_duration, iso_local

log = logging.getLogger("scheduler.dispatch")

# An airing taken back this many times from processes that died sending it is not sent
# again automatically: something in it keeps killing the daemon.
MAX_RECOVERIES = 3
RECORD_EVERY_SECONDS = 0.02  # outcomes wait at least this long to be written together
# ... and while more keep coming (a burst), up to this long: the recorder's writes would take
# the interpreter from the sending loop mid-burst. A held outcome's airing keeps its lease
# (`_keep_leases`), so holding changes only when its row says what the platform knows.
RECORD_HOLD_SECONDS = 2.0
RECORD_RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)  # while the database is unreachable
SHARED_BATCH = 200  # most airings one claim takes where other replicas may share the work
# The heartbeat extends the leases of airings in flight this many times a lease, and a queued
# airing whose lease has less than RENEW_BELOW of a lease left is renewed before it is sent:
# so the lease of a request that starts has at least half a lease of margin left for a beat
# that a busy machine delays (with 3 s leases a third, 0.5 s, was not always enough).
BEATS_PER_LEASE = 6
RENEW_BELOW = 2 / 3
WIND_DOWN_SECONDS = 5.0  # at stop, for tasks past the bound to end and clients to close
REVISION_READS_APART = 0.01  # seconds, at least, between the starts of two revision reads


@dataclass(frozen=True)
class RetrySettings:
    attempts: int = 6
    initial: float = 2.0  # seconds before the second attempt
    multiplier: float = 2.0
    maximum: float = 300.0  # longest backoff of our own
    longest_platform_wait: float = 3600.0  # a Retry-After beyond this is not waited for

    @classmethod
    def from_policy(cls, policy: RetryPolicy) -> RetrySettings:
        return cls(
            attempts=policy.attempts,
            initial=policy.initial.total_seconds(),
            maximum=policy.maximum.total_seconds(),
        )


class Dispatcher:
    """Publishes due airings of the channels it has publishers for."""

    def __init__(
        self,
        store: Store,
        config: Config,
        publishers: Mapping[str, Publisher],
        *,
        owner: str,
        clock: Callable[[], datetime],
        retry: RetrySettings = RetrySettings(),
        in_flight: int = 16,
        batch: int = 1000,
        claim_ahead: timedelta = timedelta(0),
        on_idle: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.config = config
        self.publishers = publishers
        self.owner = owner
        self.clock = clock
        self.retry = retry
        # Replicas on one PostgreSQL database wake for the same due airings at the same moment:
        # a claim of the whole burst would leave the others idle while its own workers queue.
        # A smaller claim shares it; a replica claims again as soon as a channel of its own
        # goes idle (`on_idle`), or a moment later while anything due is left.
        self.batch = min(batch, SHARED_BATCH) if store.dialect == "postgresql" else batch
        # Claiming a little early takes the claim itself off the critical path when many
        # airings fall due at once; workers still send nothing before its time.
        self.claim_ahead = claim_ahead
        self.key_prefix = store.key_prefix()
        # Asked before every send: the platform's spec answers it once, here.
        self._deduplicating = frozenset(
            name for name, channel in config.channels.items() if channel.deduplication is not None
        )
        # One task per busy channel, waiting costs nothing; at most `in_flight` requests
        # are under way at once, which is what bounds the contention.
        self._sending = asyncio.Semaphore(in_flight)
        self._loop: asyncio.AbstractEventLoop | None = None  # started at the first claim
        self._loop_thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._sleepers: set[asyncio.Future[bool]] = set()  # waits that a stop cuts short
        # Tasks waiting for a read of the change counter that has not started yet.
        self._revision_waiters: list[asyncio.Future[int]] | None = None
        self._reading_revision = False
        self._revision_read_started = float("-inf")  # the event loop's time
        self._on_idle = on_idle  # a channel finished while due airings were left unclaimed
        self._due_left = False  # the last claim was full and more were due
        self._queues: dict[str, deque[Claimed]] = {}
        self._active: set[int] = set()  # airings claimed here and not yet recorded
        # SQLite has one writer at a time, and a writer that finds the lock taken sleeps in
        # SQLite's busy handler (up to 100 ms a try), so with many workers finishing at once
        # most time went to those sleeps. This process's writers queue here instead.
        self._writing: AbstractContextManager[Any] = (
            threading.Lock() if store.dialect == "sqlite" else nullcontext()
        )
        self._lock = threading.Lock()  # never held over I/O: the loop takes it too
        self._stopping = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._outcomes: queue.SimpleQueue[_Recordable | None] = queue.SimpleQueue()
        self._store_failed_at: datetime | None = None  # see note_store_failure
        self._unrecorded = 0
        self._recorder = threading.Thread(target=self._record_loop, name="record", daemon=True)
        self._recorder.start()
        self._in_flight: set[int] = set()  # airings whose request (or retry wait) is under way
        self._recording: set[int] = set()  # airings whose outcome waits for the recorder
        self._closed = threading.Event()
        self._lease_keeper = threading.Thread(target=self._keep_leases, name="leases", daemon=True)
        self._lease_keeper.start()
        prepare_async_sending()

    # --- the loop's calls ------------------------------------------------------------------

    def publish_due(self, now: datetime) -> int:
        """Claim what is due on idle channels and hand it to the workers; returns the count.

        Channels still busy are left out of the claim, so their airings stay `planned` (and
        claimable by another replica) rather than waiting under a lease that could lapse.
        """
        if self._stopping.is_set():
            return 0
        with self._lock:
            idle = [name for name in self.publishers if name not in self._queues]
        if not idle:
            return 0
        with self._writing:
            claimed = self._claim(now, idle)
        self._due_left = len(claimed) >= self.batch and self._more_due(now)
        by_channel: dict[str, deque[Claimed]] = {}
        for airing in claimed:
            by_channel.setdefault(airing.channel, deque()).append(airing)
        if not by_channel:
            return 0
        loop = self._running_loop()
        with self._lock:
            self._active.update(a.id for a in claimed)
            for channel, queue in by_channel.items():
                self._queues[channel] = queue
                loop.call_soon_threadsafe(self._start_drain, channel)
        return len(claimed)

    def _more_due(self, now: datetime) -> bool:
        """After a full claim: is anything left that is due? A burst the size of the batch
        leaves nothing, and waking the daemon as each channel ends would only have it ask."""
        left = self.store.next_due()
        return left is not None and left <= now + self.claim_ahead

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The sending loop, started in its own thread the first time something is claimed
        (a dispatcher that never sends, as in lease-recovery tests, starts none)."""
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._loop_thread = threading.Thread(
                target=loop.run_forever, name="publish", daemon=True
            )
            self._loop_thread.start()
            self._loop = loop
        return self._loop

    def _start_drain(self, channel: str) -> None:
        task = asyncio.get_running_loop().create_task(self._drain(channel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _claim(self, now: datetime, channels: list[str]) -> list[Claimed]:
        return self.store.claim_due(
            owner=self.owner,
            now=now + self.claim_ahead,
            lease=self.config.scheduler.lease,
            limit=self.batch,
            key_prefix=self.key_prefix,
            channels=channels,
            render=self._render,
        )

    def _render(self, claimed: Claimed) -> str:
        """The text an airing sends, made once at its first claim and kept for life."""
        channel = self.config.channels[claimed.channel]
        return airing_body(claimed.body, claimed.kind, channel, first_at=claimed.first_at)

    def busy(self) -> bool:
        """Airings are queued or in flight here, or outcomes wait to be recorded."""
        with self._lock:
            return bool(self._queues) or self._unrecorded > 0

    def stop(self, *, timeout: float) -> bool:
        """Stop claiming, cut retry waits short, let requests in flight finish.

        Returns True when every channel's task finished within `timeout` seconds. One still
        sending then is cancelled: its airing keeps its lease and key, and is recovered by
        the next daemon like one of a process that died (§5).
        """
        self._stopping.set()
        loop, self._loop = self._loop, None  # a second stop finds nothing to end
        if loop is not None:
            loop.call_soon_threadsafe(self._wake_sleepers)
        with self._idle:
            finished = self._idle.wait_for(lambda: not self._queues, timeout=timeout)
        if loop is not None:
            ending = asyncio.run_coroutine_threadsafe(self._wind_down(), loop)
            try:
                ending.result(timeout=WIND_DOWN_SECONDS * 2)
            except Exception as exc:  # noqa: BLE001 - the process is ending either way
                log.warning("the sending loop did not wind down cleanly: %r", exc)
            loop.call_soon_threadsafe(loop.stop)
            assert self._loop_thread is not None
            self._loop_thread.join(timeout=WIND_DOWN_SECONDS)
            if not self._loop_thread.is_alive():
                loop.close()
        self._outcomes.put(None)  # the recorder writes what is left, then ends
        self._recorder.join(timeout=max(timeout, 1.0))
        self._closed.set()
        self._lease_keeper.join(timeout=max(timeout, 1.0))
        return finished and not self._recorder.is_alive()

    async def _wind_down(self) -> None:
        """On the loop, at stop: cancel the tasks still running, close every publisher's
        async client (its connections belong to this loop)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=WIND_DOWN_SECONDS)
        for publisher in self.publishers.values():
            try:
                await publisher.close_async()
            except Exception as exc:  # noqa: BLE001 - closing must not stop the others
                log.warning("could not close a publisher's client: %r", exc)

    # --- downtime and dead processes -------------------------------------------------------

    def note_store_failure(self, now: datetime) -> None:
        """The database failed this process (a restart, a killed connection). No replica
        could extend a lease meanwhile, so a live one's may have run out: lease recovery
        waits one lease after the last failure seen here, time for every live owner to
        extend its leases again, and takes back only what a dead process left."""
        self._store_failed_at = now

    def recover_leases(self, now: datetime) -> int:
        """Take back airings whose owner died mid-publish (§5): re-send only when it is safe."""
        failed = self._store_failed_at
        if failed is not None and now - failed < self.config.scheduler.lease:
            return 0
        recovered = 0
        with self._lock:
            ours = set(self._active)
        for airing in self.store.expired_leases(now=now):
            if airing.id in ours:
                continue  # still queued or in flight here: this process is alive
            sent_maybe = airing.maybe_sent or (
                airing.attempted
                and (
                    airing.last_outcome == AttemptOutcome.sending
                    or not self._marks_sending(airing.channel)
                )
            )
            platform = self._platform(airing.channel)
            if airing.recoveries + 1 >= MAX_RECOVERIES:
                status = AiringStatus.unconfirmed if sent_maybe else AiringStatus.failed
                detail = (
                    f"{MAX_RECOVERIES} processes stopped while sending it, so it is not sent "
                    "again automatically; "
                    + (
                        self._advice(airing.post_id, airing.channel, airing.first_due, now)
                        if sent_maybe
                        else f"nothing reached {platform}: `scheduler queue retry "
                        f"{airing.post_id}` sends it"
                    )
                )
            elif not sent_maybe or self._dedupes(airing.channel, airing.first_due, now):
                status, detail = AiringStatus.planned, "taken back from a process that stopped"
            else:
                status = AiringStatus.unconfirmed
                detail = "interrupted by a process that stopped while sending it; " + self._advice(
                    airing.post_id, airing.channel, airing.first_due, now
                )
            if self.store.recover_lease(
                airing.id,
                dead_owner=airing.owner,
                status=status,
                now=now,
                detail=detail,
                maybe_sent=sent_maybe,
            ):
                recovered += 1
                log.warning(
                    "recovered airing %s on %s from %s: %s",
                    airing.id,
                    airing.channel,
                    airing.owner,
                    "will re-send with the same idempotency key"
                    if status == AiringStatus.planned
                    else f"{status}: {detail}",
                )
        return recovered

    def _platform(self, channel_name: str) -> str:
        channel = self.config.channels.get(channel_name)
        return channel.publisher if channel is not None else channel_name

    def _can_dedupe(self, channel_name: str) -> bool:
        """Can the channel's platform recognise a repeat by its key at all (its spec says)?"""
        return channel_name in self._deduplicating

    def _marks_sending(self, channel_name: str) -> bool:
        """Channels whose platform can't deduplicate record "sending" before each request."""
        channel = self.config.channels.get(channel_name)
        return channel is not None and channel.deduplication is None

    def _dedupes(self, channel_name: str, first_due: datetime | None, now: datetime) -> bool:
        """Would the platform recognise a re-send of this airing now, by its key?

        Key memory (the spec's) is counted from the due time it was first sent with, which
        is never later than its first request: an estimate on the safe side.
        """
        channel = self.config.channels.get(channel_name)
        dedupe = channel.deduplication if channel is not None else None
        if dedupe is None:
            return False
        memory = dedupe.memory
        return memory is None or first_due is None or now - first_due < memory

    def _advice(
        self, post_id: int, channel_name: str, first_due: datetime | None, now: datetime
    ) -> str:
        """What an editor should do about an airing that may be on the platform, truthfully
        for this platform: a retry is harmless where the platform deduplicates."""
        platform = self._platform(channel_name)
        retry = f"`scheduler queue retry {post_id}`"
        if self._dedupes(channel_name, first_due, now):
            return f"{platform} recognises its idempotency key, so {retry} can't post it twice"
        if self._can_dedupe(channel_name):
            why = f"{platform} has forgotten its idempotency key by now"
        else:
            why = f"{platform} can't recognise a repeat"
        return f"{why}: check the channel, and if it isn't there, {retry} sends it"

    def settle_overdue(self, now: datetime) -> bool:
        """Apply the downtime policy to planned airings whose time has passed (§5).

        Within `misfire_grace`: published now, keeping `min_spacing` after the channel's last
        airing. Later: a pinned airing is `missed` (time-critical posts never go out late), a
        floating one is removed so the planner gives its post the next free slot. An airing
        that was already claimed once keeps its time and key: it may be on the platform.
        Returns True when the plan needs to be made again.
        """
        grace = self.config.scheduler.misfire_grace
        last = self.store.last_on_air()
        missed: list[int] = []
        replan: list[int] = []
        moved: list[tuple[int, datetime]] = []
        for airing in self.store.overdue(now=now):
            channel = self.config.channels.get(airing.channel)
            if channel is None or airing.keyed:
                continue
            if now - airing.at > grace:
                (missed if airing.pinned else replan).append(airing.id)
                log.warning(
                    "%s airing %s on %s (post %s, due %s): %s",
                    "missed" if airing.pinned else "replanning",
                    airing.id,
                    airing.channel,
                    airing.post_id,
                    iso_local(airing.at, channel.timezone),
                    "pinned posts are never sent late"
                    if airing.pinned
                    else f"more than {format_duration(grace)} late, it gets the next free slot",
                )
                continue
            earliest = last.get(airing.channel)
            when = max(airing.at, earliest + channel.min_spacing) if earliest else airing.at
            if when != airing.at:
                moved.append((airing.id, when))
            # An overdue airing goes out now, not at its past time: the next one keeps
            # min_spacing from when this one really airs.
            last[airing.channel] = max(when, now)
        if missed or replan or moved:
            self.store.settle_overdue(missed=missed, replan=replan, moved=moved, now=now)
        return bool(replan or moved)

    # --- one channel's worker --------------------------------------------------------------

    async def _drain(self, channel: str) -> None:
        try:
            await self._connect_ahead(channel)
            while True:
                with self._lock:
                    pending = self._queues[channel]
                    done = not pending or self._stopping.is_set()
                    if not done:
                        claimed = pending.popleft()
                if done:
                    for unsent in pending:  # claimed but never started: hand back
                        self._release(unsent)
                    with self._lock:
                        self._active.difference_update(unsent.id for unsent in pending)
                        del self._queues[channel]
                        self._idle.notify_all()
                    break
                try:
                    if not await self._wait_until_due(claimed):
                        self._release(claimed)
                    elif await self._cancelled(claimed):  # before the lease: it may wait
                        self._end_cancelled(claimed, _Sent(claimed.maybe_sent))
                    elif await self._still_ours(claimed):
                        with self._lock:  # its lease is kept alive from here (_keep_leases)
                            self._in_flight.add(claimed.id)
                        await self._deliver(claimed)
                finally:
                    with self._lock:
                        self._in_flight.discard(claimed.id)
                        self._active.discard(claimed.id)
        except Exception:  # a task must never die silently with a channel marked busy
            log.exception("worker for channel %s failed", channel)
            with self._lock:
                self._queues.pop(channel, None)
                self._idle.notify_all()
        if self._due_left:
            self._on_idle()

    async def _connect_ahead(self, channel: str) -> None:
        """While the channel's first airing waits for its time (it was claimed ahead), open
        the connection it goes out on, for no longer than that wait: opening a hundred at
        the due second held up the first requests of a burst (bench/dispatch.py)."""
        with self._lock:
            first = self._queues[channel][0]
        left = (first.at - self.clock()).total_seconds()
        if left <= 0 or self._stopping.is_set():
            return
        try:
            await asyncio.wait_for(self.publishers[channel].connect_async(), timeout=left)
        except TimeoutError:
            pass  # due now: the request opens its own
        except Exception as exc:  # noqa: BLE001 - a head start is never worth an airing
            log.warning("could not connect ahead on channel %s: %r", channel, exc)

    async def _wait_until_due(self, claimed: Claimed) -> bool:
        """Hold an early-claimed airing until its time; False if asked to stop meanwhile.

        The clock is asked again at least every half second: tests move theirs by hand."""
        while (left := (claimed.at - self.clock()).total_seconds()) > 0:
            if await self._stop_within(min(left, 0.5)):
                return False
        return True

    async def _stop_within(self, seconds: float) -> bool:
        """Wait up to `seconds`; True as soon as the dispatcher is asked to stop.

        A timer and a future, which the stop request resolves early: `wait_for` on an event
        made a task of each wait and cancelled it at the time-out, and when a burst's hundred
        channels came to their due time together that took the first milliseconds of it.
        """
        if self._stopping.is_set():
            return True
        loop = asyncio.get_running_loop()
        sleeper: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(seconds, _resolve, sleeper, False)
        self._sleepers.add(sleeper)
        try:
            return await sleeper
        finally:
            timer.cancel()
            self._sleepers.discard(sleeper)

    def _wake_sleepers(self) -> None:
        """On the loop, at stop: end every `_stop_within` wait at once."""
        for sleeper in self._sleepers:
            _resolve(sleeper, True)

    async def _still_ours(self, claimed: Claimed) -> bool:
        """Renew the lease of an airing that waited in its channel's queue, and say whether it
        is still ours: one whose lease ran out meanwhile may have been taken back by another
        replica, and sending it here as well could post it twice."""
        lease = self.config.scheduler.lease
        now = self.clock()
        if claimed.lease_until - now > lease * RENEW_BELOW:
            return True  # freshly claimed: no write needed
        try:
            if await asyncio.to_thread(self._extend_lease, claimed.id, now + lease):
                return True
        except StoreError as exc:
            # Unknown whether it is still ours: not sending it is the safe side. Nothing was
            # sent, so whoever takes it back once the lease runs out sends it, once.
            self.note_store_failure(now)
            log.warning(
                "airing %s on %s not sent now, database unavailable (%s); it is sent once its "
                "lease runs out",
                claimed.id,
                claimed.channel,
                exc,
            )
            return False
        log.warning(
            "airing %s on %s was taken back while it waited; not sending it from here",
            claimed.id,
            claimed.channel,
        )
        return False

    def _extend_lease(self, airing_id: int, until: datetime) -> bool:
        with self._writing:
            return self.store.extend_lease(airing_id, owner=self.owner, until=until)

    # --- the lease heartbeat ---------------------------------------------------------------

    def _keep_leases(self) -> None:
        """Every sixth of a lease, extend the leases of the airings being sent here, or whose
        outcome waits to be written (§5).

        Leases stay short, so another replica takes over a dead process's airings within
        seconds, and yet a request, a retry wait or a slow write of its outcome longer than a
        lease is never taken back while this process lives. Runs until the dispatcher stops.
        """
        lease = self.config.scheduler.lease
        while not self._closed.wait(timeout=lease.total_seconds() / BEATS_PER_LEASE):
            with self._lock:
                sending = sorted(self._in_flight | self._recording)
            if not sending:
                continue
            try:
                with self._writing:
                    self.store.extend_leases(sending, owner=self.owner, until=self.clock() + lease)
            except StoreError as exc:  # the next beat tries again, well within the lease
                self.note_store_failure(self.clock())
                log.warning("could not extend the leases of %s airings: %s", len(sending), exc)

    async def _deliver(self, claimed: Claimed) -> None:
        """Send one airing and record how it ended, whatever the publisher raises (§5).

        Every attempt goes out under the airing's identity: its key, its text and the due
        time it was first sent with. Once any attempt may have reached the platform, the
        airing can no longer end `failed` or `cancelled`: it is `unconfirmed` unless published.
        """
        delivery = Delivery(
            airing_id=claimed.id,
            channel=claimed.channel,
            post_id=claimed.post_id,
            kind=claimed.kind,
            body=claimed.body,
            media=claimed.media,
            idempotency_key=claimed.idempotency_key,
            due=claimed.due,
            reply_to=claimed.reply_to,
        )
        sent = _Sent(claimed.maybe_sent)
        try:
            receipt = await self._send_with_retries(
                self.publishers[claimed.channel],
                delivery,
                sent,
                cancelled=lambda: self._cancelled(claimed),
            )
        except _Cancelled:
            self._end_cancelled(claimed, sent)
        except TransientPublishError as exc:
            if self._stopping.is_set():
                self._release(claimed, detail=f"stopped while retrying: {exc}", sent=sent)
                return
            self._end_unsent(claimed, sent, f"gave up after {self.retry.attempts} attempts: {exc}")
        except InterruptedPublishError as exc:
            self._end_unsent(claimed, sent, f"interrupted mid-request ({exc})")
        except PublishError as exc:  # a refusal (4xx) or any other publisher error: final
            self._end_unsent(claimed, sent, str(exc))
        except Exception as exc:  # a bug or a value no request can carry: never a lost worker
            sent.maybe = True  # where it broke is unknown, so the request may have left
            self._end_unsent(claimed, sent, _unexpected(exc))
        else:
            published = Outcome(
                delivery.airing_id,
                AiringStatus.published,
                AttemptOutcome.published,
                self.clock(),
                remote_id=receipt.remote_id,
                remote_url=receipt.remote_url,
                maybe_sent=True,
            )
            # Logged by the recorder once written: a log line on the loop costs as much as
            # a tenth of the request, and a burst is sent faster without it.
            self._put(published, announce=lambda: self._log_published(delivery, receipt))

    def _log_published(self, delivery: Delivery, receipt: Receipt) -> None:
        log.info(
            "published airing %s on %s (post %s, %s, due %s): %s",
            delivery.airing_id,
            delivery.channel,
            delivery.post_id,
            delivery.kind,
            iso_local(delivery.due, self.config.channels[delivery.channel].timezone),
            receipt.remote_url or receipt.remote_id or "ok",
        )

    def _end_unsent(self, claimed: Claimed, sent: _Sent, problem: str) -> None:
        """The last attempt failed: `failed` if no attempt can have reached the platform,
        else `unconfirmed` with the advice that is true for this platform."""
        if sent.maybe:
            advice = self._advice(claimed.post_id, claimed.channel, claimed.due, self.clock())
            detail = f"{problem}; an attempt may have reached {self._platform(claimed.channel)}: "
            self._finish(
                claimed, AiringStatus.unconfirmed, AttemptOutcome.interrupted, detail + advice, sent
            )
            log.error("unconfirmed airing %s on %s: %s", claimed.id, claimed.channel, detail)
        else:
            self._finish(claimed, AiringStatus.failed, AttemptOutcome.failed, problem, sent)
            log.error("failed airing %s on %s: %s", claimed.id, claimed.channel, problem)

    def _end_cancelled(self, claimed: Claimed, sent: _Sent) -> None:
        """The post was cancelled before this attempt; an airing that never left is
        `cancelled`, one an earlier attempt may have delivered is `unconfirmed`."""
        if sent.maybe:
            detail = (
                "cancelled after an attempt that may have reached "
                f"{self._platform(claimed.channel)}; not sent again: check the channel"
            )
            self._finish(claimed, AiringStatus.unconfirmed, AttemptOutcome.cancelled, detail, sent)
        else:
            detail = "cancelled before it was sent"
            self._finish(claimed, AiringStatus.cancelled, AttemptOutcome.cancelled, detail, sent)
        log.warning("airing %s on %s: %s", claimed.id, claimed.channel, detail)

    async def _send_with_retries(
        self,
        publisher: Publisher,
        delivery: Delivery,
        sent: _Sent,
        *,
        cancelled: Callable[[], Awaitable[bool]],
    ) -> Receipt:
        """Send with retries; `sent.maybe` becomes true once an attempt may have left.

        Before each retry `cancelled` is asked (the first attempt was checked by the worker,
        after the due time), so `queue cancel` stops every send not yet started.
        """
        settings = self.retry
        deduplicates = self._can_dedupe(delivery.channel)

        def retryable(exc: BaseException) -> bool:
            if self._stopping.is_set():
                return False
            if isinstance(exc, InterruptedPublishError):
                return deduplicates
            return isinstance(exc, TransientPublishError)

        def wait(state: RetryCallState) -> float:
            backoff = min(
                settings.initial * settings.multiplier ** (state.attempt_number - 1),
                settings.maximum,
            )
            exc = state.outcome.exception() if state.outcome else None
            asked = getattr(exc, "retry_after", None) or 0.0
            if asked > settings.longest_platform_wait:
                asked = settings.longest_platform_wait
            return max(backoff, asked)

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            pause = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "retrying airing %s on %s in %.1fs (attempt %s of %s): %s",
                delivery.airing_id,
                delivery.channel,
                pause,
                state.attempt_number + 1,
                settings.attempts,
                exc,
            )
            # No lease write here: the airing is in flight, so `_keep_leases` keeps it alive.

        tries = 0

        async def send() -> Receipt:
            nonlocal tries
            tries += 1
            if tries > 1 and await cancelled():
                raise _Cancelled
            if not deduplicates:
                await asyncio.to_thread(self._note_sending, delivery.airing_id)
            async with self._sending:
                try:
                    return await publisher.publish_async(delivery)
                except InterruptedPublishError:
                    sent.maybe = True
                    raise

        # Most airings go out at the first attempt: that one is made here, and tenacity's
        # machinery (costly per call on a busy loop) is entered only after a failure worth
        # retrying, which it is handed as its own first attempt's outcome.
        try:
            return await send()
        except Exception as exc:
            if settings.attempts <= 1 or not retryable(exc):
                raise
            first_failure = exc

        replayed = False

        async def retry() -> Receipt:
            nonlocal replayed
            if not replayed:
                replayed = True
                raise first_failure
            return await send()

        retrying = AsyncRetrying(
            retry=retry_if_exception(retryable),
            stop=stop_after_attempt(settings.attempts),
            wait=wait,
            sleep=self._backoff,
            before_sleep=before_sleep,
            reraise=True,
        )
        return await retrying(retry)

    def _note_sending(self, airing_id: int) -> None:
        with self._writing:
            self.store.note_sending(airing_id, owner=self.owner)

    async def _cancelled(self, claimed: Claimed) -> bool:
        """Has the airing's post been cancelled since it was claimed?

        Every cancel moves the change counter, so while it stands where it stood at the
        claim (a burst with no editor at work) no airing needs a read of its own, and
        tasks asking at the same moment share one read of the counter.
        """
        try:
            if await self._revision() == claimed.revision:
                return False
            return await asyncio.to_thread(self.store.is_cancelled, claimed.id)
        except StoreError as exc:  # the send goes ahead, as it would have before the cancel
            log.warning("could not check airing %s for cancellation: %s", claimed.id, exc)
            return False

    async def _revision(self) -> int:
        """The change counter as read after this call began, never an older reading.

        At most one read runs at a time, in a worker thread, and reads start at least
        `REVISION_READS_APART` apart. Every task that asks while none is waiting to start
        joins the next one: it starts on the loop's next turn (after all the tasks woken
        together, as when a burst falls due, have asked), or once the one under way has
        ended and the gap has passed. So a burst costs a few reads, not one an airing: read
        back to back, they took a tenth of the loop's time in a burst (the worker thread
        takes the interpreter from it), for a wait of a few milliseconds per airing.
        """
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[int] = loop.create_future()
        if self._revision_waiters is None:
            self._revision_waiters = [answer]
            if not self._reading_revision:
                self._start_revision_read(loop)
        else:
            self._revision_waiters.append(answer)
        # A future of its own for each task (not one shared and shielded): a cancelled task
        # cancels only its own, and the read costs each waiter one wake-up.
        return await answer

    def _start_revision_read(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.call_at(
            max(loop.time(), self._revision_read_started + REVISION_READS_APART),
            self._read_revision,
        )

    def _read_revision(self) -> None:
        waiters, self._revision_waiters = self._revision_waiters, None  # later: a later read
        if waiters is None:
            return
        loop = asyncio.get_running_loop()
        self._reading_revision = True
        self._revision_read_started = loop.time()
        reading = loop.run_in_executor(None, self.store.revision)
        reading.add_done_callback(lambda done: self._revision_read(done, waiters))

    def _revision_read(self, done: asyncio.Future[int], waiters: list[asyncio.Future[int]]) -> None:
        """Hand a finished read to the tasks that asked for it; start the next if asked."""
        for waiter in waiters:
            if waiter.done():  # its task was cancelled
                continue
            if done.cancelled():  # the loop is ending
                waiter.cancel()
            elif (exc := done.exception()) is not None:
                waiter.set_exception(exc)  # handed to every task that asked
            else:
                waiter.set_result(done.result())
        self._reading_revision = False
        if self._revision_waiters is not None:  # asked meanwhile
            self._start_revision_read(asyncio.get_running_loop())

    async def _backoff(self, seconds: float) -> None:
        """Backoff that a stop request cuts short (the next attempt then sees the flag)."""
        if await self._stop_within(seconds):
            raise TransientPublishError("stopping")

    def _finish(
        self, claimed: Claimed, status: str, outcome: str, detail: str, sent: _Sent
    ) -> None:
        self._put(Outcome(claimed.id, status, outcome, self.clock(), detail, maybe_sent=sent.maybe))

    def _release(
        self, claimed: Claimed, *, detail: str = "released at shutdown", sent: _Sent | None = None
    ) -> None:
        """Give a claimed airing back as planned; its key stays, so a re-send is deduplicated."""
        maybe_sent = sent.maybe if sent is not None else claimed.maybe_sent
        self._put(
            Outcome(
                claimed.id,
                AiringStatus.planned,
                AttemptOutcome.released,
                self.clock(),
                detail,
                maybe_sent=maybe_sent,
            )
        )

    def _put(self, outcome: Outcome, *, announce: Callable[[], None] | None = None) -> None:
        """Hand an outcome to the recorder; `announce` is called once it is written."""
        with self._lock:
            self._unrecorded += 1
            self._recording.add(outcome.airing_id)
        self._outcomes.put(_Recordable(outcome, announce))

    # --- the recorder ----------------------------------------------------------------------

    def _record_loop(self) -> None:
        """Write outcomes in batches until told to stop (a None in the queue).

        While the database is unreachable (a PostgreSQL restart) the batch is kept and tried
        again: an outcome that never lands would leave its airing to lease recovery, which
        re-sends it (deduplicated by its key, but a needless request).
        """
        ending = False
        while not ending:
            first = self._outcomes.get()
            batch = [] if first is None else [first]
            ending = first is None
            held_until = time.monotonic() + RECORD_HOLD_SECONDS
            while not ending:
                time.sleep(RECORD_EVERY_SECONDS)
                waiting = len(batch)
                ending = self._take_waiting(batch)
                if len(batch) == waiting or time.monotonic() >= held_until:
                    break  # a quiet moment: the burst, if any, is over
            self._write([item.outcome for item in batch])
            with self._lock:
                self._unrecorded -= len(batch)
                self._recording.difference_update(item.outcome.airing_id for item in batch)
            for item in batch:
                if item.announce is not None:
                    item.announce()

    def _take_waiting(self, batch: list[_Recordable]) -> bool:
        """Move the outcomes waiting in the queue into `batch`; True if told to stop."""
        ending = False
        while True:
            try:
                item = self._outcomes.get_nowait()
            except queue.Empty:
                return ending
            if item is None:
                ending = True
            else:
                batch.append(item)

    def _write(self, batch: list[Outcome]) -> None:
        for attempt, pause in enumerate((*RECORD_RETRY_SECONDS, None)):
            try:
                with self._writing:
                    recorded = self.store.record_outcomes(batch, owner=self.owner)
            except StoreError as exc:
                if pause is None:
                    log.error("could not record %s outcomes: %s", len(batch), exc)
                    return
                log.warning("recording outcomes failed (try %s): %s", attempt + 1, exc)
                time.sleep(pause)
                continue
            if recorded < len(batch):
                log.warning(
                    "%s of %s airings were taken back before their outcome was recorded",
                    len(batch) - recorded,
                    len(batch),
                )
            return


@dataclass(frozen=True)
class _Recordable:
    """An outcome waiting for the recorder, and what to do once it is written."""

    outcome: Outcome
    announce: Callable[[], None] | None


class _Cancelled(Exception):
    """The airing's post was cancelled before an attempt started."""


class _Sent:
    """Whether any attempt of one airing may have reached the platform, this run or before."""

    def __init__(self, maybe: bool) -> None:
        self.maybe = maybe


def _resolve(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


def _unexpected(exc: Exception) -> str:
    """One line naming an unexpected error and where it was raised. Its message is left out:
    it may quote a secret (a token's character that a header can't encode)."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    return f"unexpected {type(exc).__name__}{where} while sending"
