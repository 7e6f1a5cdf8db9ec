"""Starting the daemon for real: logging, publishers with their secrets, their HTTP clients."""

from __future__ import annotations

import gc
import logging
import sys
from datetime import timedelta
from typing import Any

from ..config import Config
from ..render.terminal import escape_controls
from ..store.dbfile import DaemonLock, sqlite_file
from ..store.store import Store
from ..timeutil import utc_now
from .daemon import Daemon

# Due airings are claimed this long before their time and sent exactly at it, so a burst of
# 1,000 due at once is not first held up by its own claim.
CLAIM_AHEAD = timedelta(seconds=2)


class OneLineFormatter(logging.Formatter):
    """Writes control characters in a record as escapes (`\\x1b`, `\\n`, `\\u202e`).

    Messages quote what platforms and editors sent (URLs, errors, bodies): a raw CR LF in
    one would forge a log line of its own and an ESC would reach the terminal reading the
    log. So each record stays one line; only a traceback keeps its own line breaks.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return escape_controls(super().formatException(ei), keep="\n")

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return escape_controls(super().formatStack(stack_info), keep="\n")


class PoolResetNotice(logging.Filter):
    """SQLAlchemy's pool logs an ERROR with a whole traceback when a connection it takes back
    can't be rolled back, as happens to each pooled connection once PostgreSQL has restarted
    or ended its backends. The pool then drops that connection, and the daemon, which says
    "database unavailable" in its own words, goes on: the record becomes one warning line
    naming the error's type."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("sqlalchemy.pool") and record.exc_info:
            error = record.exc_info[1]
            record.msg = "a pooled database connection could not be reset (%s); it is dropped"
            record.args = (type(error).__name__,)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


# httpx logs every request URL at INFO (the Telegram token is part of such URLs);
# APScheduler logs every timer run.
QUIETED_LOGGERS = ("httpx", "apscheduler")


def configure_logging() -> None:
    """One line per decision on stderr (journald adds the time and unit when under systemd)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PoolResetNotice())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # The format names none of the thread, the process or its multiprocessing name, and
    # looking them up was half of what each record cost: the daemon logs a line an airing.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name in QUIETED_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


YOUNG_OBJECTS_PER_COLLECTION = 10_000


def keep_out_of_full_collections() -> None:
    """What the daemon has made by now (modules, config, clients, the store) lives as long as
    the process: the garbage collector's full passes leave it alone from here on. In a
    running daemon a full pass took 50-70 ms, long enough to delay a burst's last airings
    by as much; with this, 2-8 ms (bench/dispatch.py, logged with `gc.callbacks`).

    The youngest generation is collected every 10,000 new objects, not every 700: a burst's
    tasks, futures and answers die young, and of a 1,000-airing burst's 0.5 s the collector
    took 20-34 ms in 37 passes (3 of them of the middle generation), against 4-10 ms in one
    (bench/dispatch.py). At rest, where nothing is made, it changes nothing."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS_PER_COLLECTION, *gc.get_threshold()[1:])


def run_daemon(config: Config, store: Store) -> int:
    """Run the daemon until it is stopped; on SQLite only while no other daemon runs there.

    Raises DaemonAlreadyRunning (naming the running daemon) before anything is planned or sent.
    """
    from ..publishers.http import ChannelClients
    from ..publishers.registry import build_publishers

    database = sqlite_file(store.url)
    lock = DaemonLock.acquire(database, now=utc_now()) if database is not None else None
    configure_logging()
    clients = ChannelClients()
    try:
        publishers = build_publishers(config.channels, clients, now=utc_now)
        daemon = Daemon(config, store, publishers, claim_ahead=CLAIM_AHEAD)
        keep_out_of_full_collections()
        return daemon.run()
    finally:
        clients.close()
        if lock is not None:
            lock.release()
