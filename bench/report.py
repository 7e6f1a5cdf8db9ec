"""`scheduler report --days 365` over a year of history: 20 hourly channels, ~175,000
published airings, each with its 1 h, 24 h and 7 d snapshots (~525,000 rows), on SQLite.

Each format runs as a real `scheduler report` process, three times: printed are the median
wall clock, start to exit (the target is under 3 s each), and the largest peak RSS
(`os.wait4`), with the median CPU time (user + system), which varies less than wall time
on a shared machine. HTML is timed once `report` has `--format html`. Only figures are printed;
nothing is asserted. `--keep DIR` fills DIR once and reuses it on later runs (for profiling:
`DIR/config.toml` is the config).

    .venv/bin/python bench/report.py [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _library import compile_package, run_measured  # noqa: E402
from sqlalchemy import text  # noqa: E402

from scheduler.measuring import Counts  # noqa: E402
from scheduler.store.metrics import Snapshot, record_snapshots  # noqa: E402
from scheduler.store.store import Store  # noqa: E402

CHANNELS = 20
DAYS = 365
HOUR = timedelta(hours=1)
POSTS_PER_CHANNEL = 4_000  # the rest of each channel's airings are reruns of these


def fill(store: Store, now: datetime) -> int:
    rng = random.Random(3)
    sql = store._sql
    start = (now - timedelta(days=DAYS)).replace(minute=0, second=0, microsecond=0)
    hours = DAYS * 24
    created = sql.time(start - timedelta(days=1))
    airings = 0
    for channel_number in range(CHANNELS):
        with store.session(write=True) as session:
            channel = f"ch{channel_number:02d}"
            first_post = channel_number * POSTS_PER_CHANNEL + 1
            session.execute(
                text(
                    "INSERT INTO post (id, body, kind, evergreen, editor, created, media, "
                    "cancelled) VALUES (:id, 'bench', :kind, 1, 'bench', :created, '[]', 0)"
                ),
                [
                    {
                        "id": first_post + n,
                        "kind": "core" if n % 3 else "entertaining",
                        "created": created,
                    }
                    for n in range(POSTS_PER_CHANNEL)
                ],
            )
            session.execute(
                text("INSERT INTO post_channel (post_id, channel) VALUES (:p, :c)"),
                [{"p": first_post + n, "c": channel} for n in range(POSTS_PER_CHANNEL)],
            )
            session.execute(
                text("INSERT INTO post_tag (post_id, tag) VALUES (:p, :t)"),
                [
                    {"p": first_post + n, "t": "short" if n % 2 else "long"}
                    for n in range(POSTS_PER_CHANNEL)
                ],
            )
            rows, snapshots = [], []
            for hour in range(hours):
                at = start + hour * HOUR
                fresh = hour < POSTS_PER_CHANNEL and hour % 6 != 5
                post = first_post + (
                    hour if fresh else rng.randrange(min(hour, POSTS_PER_CHANNEL) or 1)
                )
                airing_id = channel_number * hours + hour + 1
                rows.append(
                    {
                        "id": airing_id,
                        "post": post,
                        "channel": channel,
                        "kind": ("core" if (post - first_post) % 3 else "entertaining")
                        if fresh
                        else "repost",
                        "at": sql.time(at),
                        "key": f"bench-{airing_id}",
                    }
                )
                likes = rng.randrange(30)
                for step, after in enumerate((HOUR, 24 * HOUR, 168 * HOUR)):
                    counts = Counts(likes * (step + 1), rng.randrange(5), rng.randrange(4))
                    snapshots.append(Snapshot(airing_id, at + after, counts, step, "platform"))
            session.execute(
                text(
                    "INSERT INTO airing (id, post_id, channel, kind, pinned, at, status, "
                    "idempotency_key, remote_id, published_at, updated) VALUES (:id, :post, "
                    ":channel, :kind, 0, :at, 'published', :key, :key, :at, :at)"
                ),
                rows,
            )
        # Through the write path the measuring loop uses, which keeps each airing's
        # engagement snapshot beside it.
        record_snapshots(store, snapshots)
        airings += len(rows)
    return airings


FORMATS = (
    ("text", []),
    ("json", ["--format", "json"]),
    ("json --compare long short", ["--format", "json", "--compare", "long", "short"]),
    ("html", ["--format", "html"]),
)


def prepare(root: Path) -> Path:
    """The config of a filled year in `root`, filling it unless an earlier run did."""
    database = root / "scheduler.db"
    config = root / "config.toml"
    if config.exists():
        print(f"history: reusing {database}")
        return config
    channels = "".join(
        f'\n[channels.ch{n:02d}]\npublisher = "file"\npath = "out{n}.jsonl"\n'
        f'timezone = "Europe/Berlin"\n'
        for n in range(CHANNELS)
    )
    store = Store(f"sqlite:///{database}")
    store.migrate()
    started = time.perf_counter()
    airings = fill(store, datetime.now(UTC))
    store.close()
    print(
        f"history: {airings} airings, {3 * airings} snapshots, {CHANNELS} channels "
        f"(filled in {time.perf_counter() - started:.1f} s)"
    )
    config.write_text(
        f'[scheduler]\ndatabase = "sqlite:///{database}"\n'
        '[defaults.goals]\nengagement_per_airing = { target = 80, by = "2099-12-31" }\n' + channels
    )
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="fill this directory once and reuse it")
    options = parser.parse_args()
    compile_package()
    with ExitStack() as stack:
        if options.keep:
            root = options.keep
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        config = prepare(root)
        scheduler = [sys.executable, "-m", "scheduler", "--config", str(config), "report"]
        usage = subprocess.run([*scheduler, "--help"], capture_output=True, text=True).stdout
        print(f"report --days 365, median of {options.runs} runs (peak RSS the largest)")
        for label, extra in FORMATS:
            if "html" in extra and "html" not in usage:
                print(f"  --format {label}: not in this version")
                continue
            times, cpus, peaks, size = [], [], [], 0
            for _ in range(options.runs):
                with tempfile.TemporaryFile("w+") as output:
                    run = run_measured(
                        [*scheduler, "--days", "365", *extra], root, 300.0, stdout=output
                    )
                    size = output.seek(0, 2)
                times.append(run.seconds)
                cpus.append(run.cpu_seconds)
                peaks.append(run.rss_mb)
            print(
                f"  --format {label}: {statistics.median(times):.2f} s "
                f"(min {min(times):.2f}, max {max(times):.2f}; "
                f"CPU {statistics.median(cpus):.2f} s), "
                f"peak RSS {max(peaks):.0f} MB, "
                f"{size} bytes"
            )


if __name__ == "__main__":
    main()
