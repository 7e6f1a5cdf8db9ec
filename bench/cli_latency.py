"""How long an editor waits for `scheduler queue add` and `queue list --format json`.

Builds a throwaway config and SQLite database holding 20,000 posts, then times each command
as a real process (the venv's `scheduler` console script) and prints the medians next to a
bare `python -c pass`, plus where the import time of `queue add` goes. It prints figures
and never fails on them: the target (queue add within 300 ms) is for people to read.

    .venv/bin/python bench/cli_latency.py [--posts 20000] [--runs 15]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _library import fill as fill_library

CONFIG = """\
[scheduler]
database = "sqlite:///scheduler.db"

[channels.main]
publisher = "file"
path = "published.jsonl"
timezone = "Europe/Berlin"

[channels.other]
publisher = "file"
path = "other.jsonl"
"""


def fill(config_path: Path, posts: int) -> float:
    """Queue `posts` posts through the library; one in ten pinned (an airing each)."""
    return fill_library(
        config_path,
        posts,
        channels_of=lambda n: ("main",) if n % 4 else ("main", "other"),
        pinned_at=lambda n, first: first + timedelta(hours=n // 10) if n % 10 == 0 else None,
    )


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])}… failed: {result.stderr.strip()}")
    return elapsed


def measure(label: str, make_command, runs: int, cwd: Path) -> tuple[str, list[float]]:  # type: ignore[no-untyped-def]
    timed(make_command(-1), cwd)  # warm the OS file cache and .pyc files
    return label, [timed(make_command(run), cwd) for run in range(runs)]


def import_breakdown(command: list[str], cwd: Path, top: int = 5) -> list[tuple[str, float]]:
    """The top-level imports with the largest cumulative time (ms) in `python -X importtime`."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *command], cwd=cwd, capture_output=True, text=True
    )
    line = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)$")
    totals = []
    for text in result.stderr.splitlines():
        match = line.match(text)
        if match and match.group(3) == "":  # not indented: imported by the program itself
            totals.append((match.group(4), int(match.group(2)) / 1000))
    totals.sort(key=lambda item: item[1], reverse=True)
    return totals[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=15)
    options = parser.parse_args()
    script = Path(sys.executable).with_name("scheduler")
    if not script.exists():
        raise SystemExit(f"{script} not found: install the project first (make install)")

    with tempfile.TemporaryDirectory(prefix="scheduler-bench-") as directory:
        cwd = Path(directory)
        config = cwd / "config.toml"
        config.write_text(CONFIG, encoding="utf-8")
        fill_seconds = fill(config, options.posts)
        print(f"{options.posts} posts queued through the library in {fill_seconds:.1f}s")

        base = [str(script), "--config", str(config)]
        results = [
            measure(
                "python -c pass", lambda run: [sys.executable, "-c", "pass"], options.runs, cwd
            ),
            measure(
                "scheduler queue add",
                lambda run: [*base, "queue", "add", f"bench {run}", "-c", "main", "--kind", "core"],
                options.runs,
                cwd,
            ),
            measure(
                "scheduler queue list --format json",
                lambda run: [*base, "queue", "list", "--format", "json"],
                options.runs,
                cwd,
            ),
        ]
        breakdown = import_breakdown(
            [*base, "queue", "add", "import time", "-c", "main", "--kind", "core"], cwd
        )

    width = max(len(label) for label, _ in results)
    print(f"\n{'command':<{width}}  {'median':>8}  {'min':>8}  {'max':>8}   (runs: {options.runs})")
    for label, samples in results:
        print(
            f"{label:<{width}}  {statistics.median(samples) * 1000:>6.0f}ms  "
            f"{min(samples) * 1000:>6.0f}ms  {max(samples) * 1000:>6.0f}ms"
        )
    print("\nqueue add: largest top-level imports (cumulative, python -X importtime)")
    for name, milliseconds in breakdown:
        print(f"  {name:<40} {milliseconds:>6.0f}ms")


if __name__ == "__main__":
    main()
