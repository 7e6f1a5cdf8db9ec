"""How long editors wait for the commands they run every day, at agency scale.

Builds a throwaway config of 100 hourly webhook channels (UTC, no spacing) and an SQLite
database of 20,000 queued posts (one in fifty pinned into the next month), then times each
command as a real process (the venv's `scheduler` console script): the median wall time of
a few runs, the median CPU time (user + system, steadier than wall time on a loaded machine)
and the largest peak RSS among them (`os.wait4`), next to `scheduler --help`.
`--large` adds a second row of 100,000 posts. It prints figures and never fails on them;
the targets (issue 13) are for people to read: at 20,000 posts each under 1 s except
`simulate --days 30` under 5 s; at 100,000 posts each under 3 s; memory under 300 MB.

A run longer than `--timeout` is stopped and shown as `>N s`; `--simulate-days` shortens the
simulated window when the full month would take minutes (the label says which was run).
`--history-days N` also gives every channel N days of published hourly history before now
(the library's first posts aired and re-aired, as after months of running), to show that
the views read their window, not all of history.

    .venv/bin/python bench/editor_commands.py [--runs 3] [--large] [--simulate-days 30]
        [--history-days 0]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _library import compile_package, run_measured  # noqa: E402
from _library import fill as fill_library  # noqa: E402
from _webhook import write_webhook_config  # noqa: E402

CHANNELS = 100


def fill(config_path: Path, posts: int) -> float:
    """Queue `posts` posts spread over the channels; one in fifty pinned (an airing each)."""
    return fill_library(
        config_path,
        posts,
        channels_of=lambda n: (f"ch{n % CHANNELS:03d}",),
        pinned_at=lambda n, first: first + timedelta(minutes=17 + n // 50) if n % 50 == 0 else None,
    )


def add_history(database: Path, days: int) -> int:
    """`days` of hourly published airings per channel before now, each channel airing its
    own posts in id order and starting over (reposts) when it has aired them all, as
    rows written straight into the database (the daemon is not what is measured here)."""
    if days <= 0:
        return 0
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    connection = sqlite3.connect(database)
    with connection:
        posts: dict[str, list[tuple[int, str]]] = {}
        for post_id, channel, kind in connection.execute(
            "SELECT p.id, pc.channel, p.kind FROM post p JOIN post_channel pc "
            "ON pc.post_id = p.id WHERE p.at IS NULL ORDER BY p.id"
        ):
            posts.setdefault(channel, []).append((post_id, kind))
        rows = []
        for channel, library in posts.items():
            hours = days * 24
            for hour in range(hours):
                post_id, kind = library[hour % len(library)]
                at = now - timedelta(hours=hours - hour)
                stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f")
                rows.append(
                    (post_id, channel, kind if hour < len(library) else "repost", stamp, stamp)
                )
        connection.executemany(
            "INSERT INTO airing (post_id, channel, kind, pinned, at, status, updated, "
            "published_at) VALUES (?, ?, ?, 0, ?, 'published', ?, ?)",
            [(*row, row[3]) for row in rows],
        )
    connection.close()
    return len(rows)


def commands(base: list[str], simulate_days: int) -> list[tuple[str, list[str]]]:
    return [
        ("scheduler --help", [*base, "--help"]),
        ("status", [*base, "status"]),
        ("calendar --days 7", [*base, "calendar", "--days", "7"]),
        ("calendar --days 7 --format json", [*base, "calendar", "--days", "7", "--format", "json"]),
        ("queue list --format json", [*base, "queue", "list", "--format", "json"]),
        (
            f"simulate --days {simulate_days} --format json",
            [*base, "simulate", "--days", str(simulate_days), "--format", "json"],
        ),
    ]


def bench(
    posts: int, runs: int, timeout: float, simulate_days: int, history_days: int, script: Path
) -> None:
    with tempfile.TemporaryDirectory(prefix="scheduler-bench-") as directory:
        cwd = Path(directory)
        scheduler = 'database = "sqlite:///scheduler.db"\ntimezone = "UTC"'
        config = write_webhook_config(
            cwd / "config.toml", scheduler, "http://127.0.0.1:9", CHANNELS
        )
        seconds = fill(config, posts)
        history = add_history(cwd / "scheduler.db", history_days)
        print(f"\n{posts:,} posts on {CHANNELS} hourly channels, queued in {seconds:.1f}s")
        if history:
            print(f"history: {history:,} published airings over {history_days} days")
        print(f"{'command':<36} {'median':>9} {'min':>9} {'max':>9} {'CPU':>9} {'peak RSS':>9}")
        base = [str(script), "--config", str(config)]
        for label, command in commands(base, simulate_days):
            results = []
            for _ in range(runs):
                result = run_measured(command, cwd, timeout)
                results.append(result)
                if not result.finished:
                    break  # one stopped run says enough
            if not all(r.finished for r in results):
                print(f"{label:<36} {'>' + format(timeout, '.0f') + 's':>9}")
                continue
            times = [r.seconds for r in results]
            print(
                f"{label:<36} {statistics.median(times):>8.2f}s {min(times):>8.2f}s "
                f"{max(times):>8.2f}s {statistics.median(r.cpu_seconds for r in results):>8.2f}s "
                f"{max(r.rss_mb for r in results):>6.0f} MB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--large", action="store_true", help="add a row of 100,000 posts")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--simulate-days", type=int, default=30)
    parser.add_argument("--history-days", type=int, default=0, help="published history")
    options = parser.parse_args()
    script = Path(sys.executable).with_name("scheduler")
    if not script.exists():
        raise SystemExit(f"{script} not found: install the project first (make install)")
    compile_package()
    print(f"editor commands: median of {options.runs} runs each, real processes")
    sizes = [options.posts, 100_000] if options.large else [options.posts]
    for posts in sizes:
        bench(
            posts,
            options.runs,
            options.timeout,
            options.simulate_days,
            options.history_days,
            script,
        )


if __name__ == "__main__":
    main()
