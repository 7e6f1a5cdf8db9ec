"""The listening loop (DESIGN §10): every `[scheduler].listen`, each readable channel's new
replies, mentions and quotes go into the inbox.

It runs on its own thread and asks the platforms with the publishers' clients, never
through the dispatcher: a slow or rate-limited read delays only the next read of that
channel, never a post. Errors follow the publishing rules: a transient one (timeout, 5xx,
429) ends the pass and the channel is read again after the platform's `Retry-After` /
`X-RateLimit-Reset` or the next interval, whichever is later; a permanent one is logged and
tried again next interval. Pages are stored as they arrive, each with its cursor, so what
was stored before an error is never read again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from ..config import Config
from ..errors import PublishError, StoreError, TransientPublishError
from ..publishers.notices import Readable
from ..render.terminal import clean
from ..store.inbox import InboxStore
from ..timeutil import format_duration

log = logging.getLogger("scheduler.listen")


class Listener:
    def __init__(
        self,
        config: Config,
        inbox: InboxStore,
        readers: Mapping[str, Readable],
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.config = config
        self.inbox = inbox
        self.readers = readers
        self.clock = clock
        self._next: dict[str, datetime] = {}  # channel -> earliest next read

    def poll(self, now: datetime) -> datetime:
        """Read every channel that is due, report items newly late; the next wake-up."""
        every = self.config.scheduler.listen
        for channel, reader in self.readers.items():
            if now >= self._next.get(channel, now):
                self._next[channel] = now + every
                wait = self._read(channel, reader)
                if wait is not None:
                    self._next[channel] = max(self._next[channel], self.clock() + wait)
        self._report_late(now)
        return min(self._next.values(), default=now + every)

    def _read(self, channel: str, reader: Readable) -> timedelta | None:
        """Read one channel to its newest notice; how long the platform asked us to wait."""
        stored = new = 0
        try:
            for page in reader.notices(self.inbox.cursor(channel)):
                new += self.inbox.ingest(channel, page.notices, page.cursor, now=self.clock())
                stored += len(page.notices)
        except TransientPublishError as exc:
            asked = exc.retry_after or 0.0
            log.warning(
                "listening on %s paused%s: %s",
                channel,
                f" for {format_duration(timedelta(seconds=asked))}" if asked else "",
                exc,
            )
            return timedelta(seconds=asked)
        except PublishError as exc:
            log.error("listening on %s failed: %s", channel, exc)
        if new:
            log.info("inbox: %s new on %s", new, channel)
        return None

    def _report_late(self, now: datetime) -> None:
        times = {name: self.config.channels[name].response_time for name in self.readers}
        for item in self.inbox.newly_late(times, now=now):
            log.warning(
                "inbox item %s on %s from %s has waited %s, over response_time %s",
                item.id,
                item.channel,
                clean(item.author),
                format_duration(now - item.at),
                format_duration(times[item.channel]),
            )

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set; a database outage waits and tries again."""
        while not stop.is_set():
            try:
                wake = self.poll(self.clock())
            except StoreError as exc:
                log.warning("listening paused, database unavailable: %s", exc)
                wake = self.clock() + timedelta(seconds=5)
            stop.wait(max((wake - self.clock()).total_seconds(), 0.05))


def readers_of(publishers: Mapping[str, object]) -> dict[str, Readable]:
    """The channels whose publisher can read its platform."""
    return {name: p for name, p in publishers.items() if isinstance(p, Readable)}
