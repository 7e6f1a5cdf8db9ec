"""What every command is handed: the clock, the config and the store (docs/architecture.md).

One `AppContext` rides on the root Click context (`ctx.obj`) through every command. The
config and the store are loaded on first use, so `--help` loads nothing and `queue add` on
SQLite never opens the SQLAlchemy store (the fast path). The clock is the one "now" of the
command line: tests hand in an `AppContext` with a fixed clock (`CliRunner.invoke(...,
obj=AppContext(clock=...))`) instead of patching time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..timeutil import utc_now

if TYPE_CHECKING:
    from ..config import Config
    from ..domain import PostDraft
    from ..store.store import Store
    from .calendar_commands import CalendarSource


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

    def calendar(self) -> CalendarSource:
        from .calendar_commands import ForecastSource

        if self.calendar_source is not None:
            return self.calendar_source
        return ForecastSource(self.config, self.store)

    def add_posts(self, drafts: list[PostDraft], now: datetime) -> list[int]:
        """Store drafts; on SQLite without loading the database layer (see post_sql)."""
        from ..store.post_sql import add_posts_sqlite
        from .queue_commands import spacing_by_channel

        spacing = spacing_by_channel(self.config)
        url = self.config.scheduler.database
        if self._store is None and url.startswith("sqlite:///"):
            ids = add_posts_sqlite(url.removeprefix("sqlite:///"), drafts, now=now, spacing=spacing)
            if ids is not None:
                return ids
        return self.store.add_posts(drafts, now=now, spacing=spacing)

    def close(self) -> None:
        """Release the store's connections (the root context calls this when a command ends,
        so a test running many commands in one process leaves no pool behind)."""
        if self._store is not None:
            self._store.close()
            self._store = None


def context(ctx: typer.Context) -> AppContext:
    """The command's `AppContext`, set up by the root callback."""
    obj = ctx.find_root().obj
    assert isinstance(obj, AppContext)
    return obj
