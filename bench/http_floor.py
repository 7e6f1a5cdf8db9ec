"""The floor under `bench/dispatch.py`: the same burst sent by bare httpx, with no scheduler.

1,000 JSON POSTs due at one instant across 100 channels, to the same fake webhook process,
sent the way the daemon sends them (one httpx client and one thread per channel, at most 16
requests in flight) but with nothing else: no claims, no retries, no outcomes, no logging.
The daemon can't beat these figures on the same machine; the gap between the two benches is
the daemon's own work. Prints, never fails.

    .venv/bin/python bench/http_floor.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _webhook import percentile, read_record, start_webhook  # noqa: E402

from scheduler.publishers.http import ChannelClients  # noqa: E402

CHANNELS = 100
REQUESTS = 1_000
IN_FLIGHT = 16  # the daemon's default


def burst(base_url: str, record: Path) -> tuple[list[float], float]:
    """Send the burst; returns each request's lateness (received minus due) and the span."""
    clients = ChannelClients()
    channel_clients = [clients.new() for _ in range(CHANNELS)]
    sending = threading.BoundedSemaphore(IN_FLIGHT)
    for n, client in enumerate(channel_clients):  # connections open before the clock starts
        client.post(f"{base_url}/warm/{n}", content=b"{}")
    record.unlink()
    due = datetime.now(UTC) + timedelta(seconds=2)

    def channel(n: int) -> None:
        client = channel_clients[n]
        while (left := (due - datetime.now(UTC)).total_seconds()) > 0:
            time.sleep(min(left, 0.5))
        for i in range(REQUESTS // CHANNELS):
            body = json.dumps({"body": f"airing {n}-{i}"}).encode()
            headers = {"Content-Type": "application/json", "Idempotency-Key": f"{n}-{i}"}
            with sending:
                client.post(f"{base_url}/hook/ch{n:03d}", content=body, headers=headers)

    threads = [threading.Thread(target=channel, args=(n,)) for n in range(CHANNELS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clients.close()
    time.sleep(0.3)  # the server writes its record after answering
    received = [datetime.fromisoformat(str(r["at"])) for r in read_record(record)]
    return [(at - due).total_seconds() for at in received], (max(received) - due).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as name:
        record = Path(name) / "requests.jsonl"
        server, base_url = start_webhook(record)
        try:
            for run in range(1, args.runs + 1):
                lateness, span = burst(base_url, record)
                print(
                    f"run {run}: {len(lateness)} requests, lateness p50 "
                    f"{percentile(lateness, 0.50) * 1000:.0f} ms, p99 "
                    f"{percentile(lateness, 0.99) * 1000:.0f} ms, {len(lateness) / span:.0f}/s"
                )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
