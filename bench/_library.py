"""Filling a benchmark's database with a library of queued posts, shared by the CLI benches."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scheduler.cli.queue_commands import spacing_by_channel
from scheduler.config import load_config
from scheduler.domain import PostDraft
from scheduler.store.store import Store

BATCH = 1_000
BODY = "A post of ordinary length for the benchmark, with a link https://example.org/a and "


def fill(
    config_path: Path,
    posts: int,
    *,
    channels_of: Callable[[int], tuple[str, ...]],
    pinned_at: Callable[[int, datetime], datetime | None],
) -> float:
    """Queue `posts` posts through the library, in batches; returns the seconds it took.

    Post `n` goes to `channels_of(n)` and is pinned at `pinned_at(n, first_pin)` (None: it
    floats), where `first_pin` is the top of the hour a day from now.
    """
    config = load_config(config_path)
    store = Store(config.scheduler.database)
    store.migrate()
    now = datetime.now(UTC)
    first_pin = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    started = time.perf_counter()
    for start in range(0, posts, BATCH):
        drafts = [
            PostDraft(
                body=f"{BODY}number {n}.",
                kind="core" if n % 3 else "entertaining",
                channels=channels_of(n),
                editor="bench",
                at=pinned_at(n, first_pin),
            )
            for n in range(start, min(start + BATCH, posts))
        ]
        store.add_posts(drafts, now=now, spacing=spacing_by_channel(config))
    store.close()
    return time.perf_counter() - started
