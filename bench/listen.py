"""Listening under load: 10,000 notifications over 20 Mastodon channels ingested. Prints,
never fails.

Each channel has its own fake Mastodon (`tests.fakeplatforms.FakeMastodon`, pages of 40, as
Mastodon's largest), served by threads of this process; `Listener.poll` reads them all into
an SQLite inbox, in four rounds of 2,500 notifications, so the figures show whether memory
stays flat as the inbox grows. Prints items/s of the whole ingestion and the peak RSS of
the process (which also holds the fakes' own notifications) after each round.
Target: at least 2,000 items/s, memory flat.

    .venv/bin/python bench/listen.py [--notifications 10000] [--channels 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scheduler.config import load_config  # noqa: E402
from scheduler.publishers import ChannelClients, build_publishers  # noqa: E402
from scheduler.runtime.listener import Listener, readers_of  # noqa: E402
from scheduler.store.inbox import InboxStore  # noqa: E402
from scheduler.store.store import Store  # noqa: E402
from tests.fakeplatforms import FakeMastodon  # noqa: E402

ROUNDS = 4


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notifications", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=20)
    args = parser.parse_args()
    per_round = args.notifications // args.channels // ROUNDS
    with tempfile.TemporaryDirectory() as directory, ExitStack() as stack:
        fakes = [stack.enter_context(FakeMastodon()) for _ in range(args.channels)]
        os.environ["BENCH_TOKEN"] = fakes[0].token
        config_path = Path(directory) / "config.toml"
        config_path.write_text(
            f'[scheduler]\ndatabase = "sqlite:///{directory}/scheduler.db"\n\n'
            + "".join(
                f'[channels.c{n}]\npublisher = "mastodon"\nbase_url = "{fake.base_url}"\n'
                'token = { env = "BENCH_TOKEN" }\n\n'
                for n, fake in enumerate(fakes)
            ),
            encoding="utf-8",
        )
        config = load_config(config_path)
        store = Store(config.scheduler.database)
        store.migrate()
        clients = ChannelClients()
        publishers = build_publishers(config.channels, clients, now=lambda: datetime.now(UTC))
        inbox = InboxStore(store)
        readers = readers_of(publishers)
        spent = 0.0
        for round_number in range(1, ROUNDS + 1):
            for n, fake in enumerate(fakes):
                for i in range(per_round):
                    fake.mention(f"reply {i} of round {round_number} to channel {n} 🚀 مرحبا")
            # A fresh listener reads every channel now, as a restarted daemon does.
            listener = Listener(config, inbox, readers, clock=lambda: datetime.now(UTC))
            started = time.perf_counter()
            listener.poll(datetime.now(UTC))
            spent += time.perf_counter() - started
            stored = sum(w.open for w in inbox.waiting().values())
            print(f"round {round_number}: {stored} items stored, peak RSS {peak_rss_mb():.0f} MB")
        total = sum(w.open for w in inbox.waiting().values())
        expected = per_round * ROUNDS * args.channels
        print(
            f"listen: {total} of {expected} notifications over {args.channels} channels in "
            f"{spent:.2f}s = {total / spent:.0f} items/s (target >= 2000); "
            f"peak RSS {peak_rss_mb():.0f} MB"
        )
        clients.close()
        store.close()


if __name__ == "__main__":
    main()
