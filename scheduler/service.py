"""Starting the daemon for real: logging, publishers with their secrets, their HTTP clients."""

from __future__ import annotations

import logging
import sys
from datetime import timedelta

from .config import Config
from .daemon import Daemon, utc_now
from .store import Store

# Due airings are claimed this long before their time and sent exactly at it, so a burst of
# 1,000 due at once is not first held up by its own claim.
CLAIM_AHEAD = timedelta(seconds=2)


def configure_logging() -> None:
    """One line per decision on stderr (journald adds the time and unit when under systemd)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # httpx logs every request URL at INFO; the Telegram token is part of such URLs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def run_daemon(config: Config, store: Store) -> int:
    from .publishers.http import ChannelClients
    from .publishers.registry import build_publishers

    configure_logging()
    clients = ChannelClients()
    try:
        publishers = build_publishers(config.channels, clients, now=utc_now)
        return Daemon(config, store, publishers, claim_ahead=CLAIM_AHEAD).run()
    finally:
        clients.close()
