"""What every command is handed: the clock, the config and the store (docs/architecture.md).

One `AppContext` rides on the root Click context (`ctx.obj`) through every command. The
config and the store are loaded on first use, so `--help` loads nothing, and on SQLite
`queue add` and the read-only views (`views`: status, calendar, queue list, simulate,
report) never open the SQLAlchemy store (the fast path). The clock is the one "now" of the
command line: tests hand in an `AppContext` with a fixed clock (`CliRunner.invoke(...,
obj=AppContext(clock=...))`) instead of patching time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..errors import InputError, PinnedConflict
from ..timeutil import utc_now

if TYPE_CHECKING:
    from ..config import Config
    from ..domain import PostDraft
    from ..store.post_sql import PlannedFirst
    from ..store.store import Store
    from ..store.view_store import ViewStore
    from .calendar_commands import CalendarSource

# How long `queue add` waits for a running daemon to plan a floating post (it polls for CLI
# changes every second, §5); past it the post is still queued and the sentence says so.
# `SCHEDULER_PLAN_WAIT` (seconds) changes it, e.g. 0 in scripts that add many posts.
PLAN_WAIT_SECONDS = 5.0


@dataclass
class AppContext:
    """The clock, `--config` and what it leads to, each loaded once when first asked for."""

    config_path: Path | None = None
    clock: Callable[[], datetime] = utc_now
    # Where `calendar` gets its data; None: the planner's forecast over the store. Tests of
    # the calendar's options hand in a stub that records the windows asked for.
    calendar_source: CalendarSource | None = None
    _config: Config | None = None
    _store: Store | None = None
    _views: ViewStore | None = None

    def now(self) -> datetime:
        return self.clock()

    @property
    def config(self) -> Config:
        if self._config is None:
            from ..config import load_config

            self._config = load_config(self.config_path)
        return self._config

    @property
    def store(self) -> Store:
        if self._store is None:
            from ..store.store import Store

            store = Store(self.config.scheduler.database)
            try:
                store.ensure_schema()
            except BaseException:
                store.close()
                raise
            self._store = store
        return self._store

    @property
    def views(self) -> ViewStore:
        """What the read-only commands read through: on an SQLite file at the latest schema
        the standard driver, read-only, without loading the database layer (`view_store`);
        anywhere else the store's own connection, once it has created or migrated it."""
        if self._views is None:
            from ..store.view_store import open_sqlite

            path = self._fast_path_file()
            views = open_sqlite(path) if path is not None else None
            self._views = views if views is not None else self.store.view()
        return self._views

    def calendar(self) -> CalendarSource:
        from .calendar_commands import ForecastSource

        if self.calendar_source is not None:
            return self.calendar_source
        return ForecastSource(self.config, self.views)

    def add_posts(self, drafts: list[PostDraft], now: datetime) -> list[int]:
        """Store drafts; on SQLite without loading the database layer (see post_sql)."""
        from ..store.post_sql import add_posts_sqlite
        from .queue_commands import spacing_by_channel

        spacing = spacing_by_channel(self.config)
        path = self._fast_path_file()
        with self.local_refusals():
            if path is not None:
                ids = add_posts_sqlite(path, drafts, now=now, spacing=spacing)
                if ids is not None:
                    return ids
            return self.store.add_posts(drafts, now=now, spacing=spacing)

    def _fast_path_file(self) -> str | None:
        """The SQLite file `queue add` and the views may use with the stdlib driver (see
        post_sql, view_store), while the database layer is not loaded yet."""
        url = self.config.scheduler.database
        if self._store is None and url.startswith("sqlite:///"):
            return url.removeprefix("sqlite:///")
        return None

    def wait_for_plan(self, post_id: int, now: datetime, *, wait: float) -> PlannedFirst:
        """A floating post's slot is the daemon's to give, and a running daemon plans a CLI
        change within seconds (§5): wait up to `wait` seconds for the post's first airing, so
        `queue add` can say when it airs. With no daemon running, don't wait."""
        from ..domain import LIVE_STATUSES
        from ..store.post_sql import PlannedFirst, planned_first_sqlite

        beat_since = now - self.config.scheduler.heartbeat_fresh
        path = self._fast_path_file()

        def read() -> PlannedFirst:
            if path is not None:
                return planned_first_sqlite(path, post_id, beat_since=beat_since)
            beats = self.store.heartbeats()
            running = any(b.state == "running" and b.beat >= beat_since for b in beats)
            airings = self.store.get_post(post_id).airings
            times = [a.at for a in airings if a.status in LIVE_STATUSES]
            return PlannedFirst(daemon_running=running, at=min(times, default=None))

        deadline = time.monotonic() + wait
        planned = read()
        while planned.daemon_running and planned.at is None and time.monotonic() < deadline:
            time.sleep(0.1)
            planned = read()
        return planned

    @contextmanager
    def local_refusals(self) -> Iterator[None]:
        """The store refuses a pinned-spacing conflict in UTC; an editor reads it in the
        channel's own time, as every other time they see."""
        try:
            yield
        except PinnedConflict as conflict:
            raise conflict.shown_in(self.config.zone(conflict.channel)) from None

    def close(self) -> None:
        """Release the store's connections (the root context calls this when a command ends,
        so a test running many commands in one process leaves no pool behind)."""
        if self._views is not None:
            self._views.close()
            self._views = None
        if self._store is not None:
            self._store.close()
            self._store = None


def context(ctx: typer.Context) -> AppContext:
    """The command's `AppContext`, set up by the root callback."""
    obj = ctx.find_root().obj
    assert isinstance(obj, AppContext)
    return obj


def plan_wait() -> float:
    """`SCHEDULER_PLAN_WAIT`, read before anything is stored, so a bad value queues nothing."""
    import os

    text = os.environ.get("SCHEDULER_PLAN_WAIT", "")
    try:
        seconds = float(text) if text else PLAN_WAIT_SECONDS
    except ValueError:
        raise InputError(
            f"SCHEDULER_PLAN_WAIT={text[:20]!r} is not a number of seconds; use e.g. 5 or 0"
        ) from None
    if not 0 <= seconds <= 3600:
        raise InputError(f"SCHEDULER_PLAN_WAIT={text[:20]!r} must be 0 to 3600 seconds")
    return seconds
