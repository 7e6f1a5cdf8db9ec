"""The measuring loop (§11): counts of published airings about 1 h, 24 h and 7 d after they
aired, and each channel's followers every `followers_every`.

It runs beside dispatch, in its own thread, and never in its way: reads are bounded per pass
(`READS_PER_PASS`, well under Mastodon's 300 requests per 5 minutes), and a 429 or an
unreachable platform backs off only this loop's reads of that one channel. `tick(now)` does
one pass and returns when the next is due, so tests drive it with an injected clock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from ..config import Config
from ..errors import PublishError, SchedulerError, TransientPublishError
from ..publishers.base import Publisher, Readable
from ..store.metrics import (
    DueRead,
    Snapshot,
    due_reads,
    followers_read_at,
    record_followers,
    record_snapshots,
)
from ..store.store import Store
from ..timeutil import iso_local

log = logging.getLogger("scheduler.measuring")

PASS_EVERY = timedelta(minutes=1)
READS_PER_PASS = 40  # airings per channel per pass: 200 per 5 minutes at most
BACKOFF = timedelta(minutes=5)  # after an error without Retry-After
REFUSED_BACKOFF = timedelta(hours=1)  # after a 4xx: credentials, most likely


class Measurer:
    def __init__(self, config: Config, store: Store, publishers: Mapping[str, Publisher]) -> None:
        self.config = config
        self.store = store
        self.readers = {
            name: publisher
            for name, publisher in publishers.items()
            if isinstance(publisher, Readable)
        }
        self._paused_until: dict[str, datetime] = {}

    def tick(self, now: datetime) -> datetime:
        """One pass: every due read of every readable channel not backing off. Returns when
        the next pass is due."""
        metrics = self.config.metrics
        ready = [name for name in self.readers if self._paused_until.get(name, now) <= now]
        due_by_channel: dict[str, list[DueRead]] = {}
        for read in due_reads(self.store, ready, metrics.read_after, now=now):
            due_by_channel.setdefault(read.channel, []).append(read)
        followers_at = followers_read_at(self.store)
        for name in ready:
            reader = self.readers[name]
            try:
                self._read_counts(reader, due_by_channel.get(name, [])[:READS_PER_PASS], now)
                last = followers_at.get(name)
                if last is None or last + metrics.followers_every <= now:
                    followers = reader.read_followers()
                    if followers is not None:
                        record_followers(self.store, name, followers, at=now)
            except TransientPublishError as exc:
                wait = timedelta(seconds=exc.retry_after) if exc.retry_after else BACKOFF
                self._pause(name, now + max(wait, PASS_EVERY), exc)
            except PublishError as exc:
                self._pause(name, now + REFUSED_BACKOFF, exc)
        wakes = [now + PASS_EVERY, *(t for t in self._paused_until.values() if t > now)]
        return min(wakes)

    def _read_counts(self, reader: Readable, batch: list[DueRead], now: datetime) -> None:
        if not batch:
            return
        counts = reader.read_counts([read.remote_id for read in batch])
        snapshots = [
            Snapshot(read.airing_id, now, counts[read.remote_id], read.step, "platform")
            for read in batch
            if read.remote_id in counts
        ]
        record_snapshots(self.store, snapshots)

    def _pause(self, channel: str, until: datetime, error: Exception) -> None:
        self._paused_until[channel] = until
        until_local = iso_local(until, self.config.zone(channel))
        log.warning("measuring %s paused until %s: %s", channel, until_local, error)


def start_measuring(
    measurer: Measurer, clock: Callable[[], datetime], stop: threading.Event
) -> threading.Thread | None:
    """Run `measurer` in a thread of its own until `stop` is set; None when no channel can
    be read (files, webhooks, Telegram: `report` says "not measured")."""
    if not measurer.readers:
        return None

    def loop() -> None:
        while not stop.is_set():
            try:
                next_pass = measurer.tick(clock())
            except SchedulerError as exc:  # a database outage: the main loop reports it
                log.warning("measuring skipped a pass: %s", exc)
                next_pass = clock() + PASS_EVERY
            stop.wait(max((next_pass - clock()).total_seconds(), 1.0))

    thread = threading.Thread(target=loop, name="measuring", daemon=True)
    thread.start()
    return thread
