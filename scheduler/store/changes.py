"""LISTEN/NOTIFY on PostgreSQL: CLI changes reach every replica at once (docs/design.md §5, §9).

Every write to posts sends `NOTIFY scheduler_changes` in its transaction (see the store).
Each daemon keeps one extra connection listening, reconnecting by itself after a server
restart or a killed backend. The daemon still polls the change counter every second, so a
lost notification costs at most that second.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("scheduler.listen")

RECONNECT_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0)


def libpq_url(sqlalchemy_url: str) -> str:
    """The SQLAlchemy URL as libpq understands it (query options such as search_path kept)."""
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class ChangeListener:
    def __init__(self, url: str, on_change: Callable[[], None]) -> None:
        from .post_sql import CHANGES_CHANNEL

        self._conninfo = libpq_url(url)
        self._channel = CHANGES_CHANNEL
        self._on_change = on_change
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        failures = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {self._channel}")
                    if failures:
                        log.info("listening for changes again")
                    failures = 0
                    self._on_change()  # something may have changed while we were away
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._on_change()
            except psycopg.Error as exc:
                pause = RECONNECT_BACKOFF_SECONDS[min(failures, len(RECONNECT_BACKOFF_SECONDS) - 1)]
                failures += 1
                log.warning("change listener lost the database (%s); retrying in %ss", exc, pause)
                self._stop.wait(pause)
