"""Filling a benchmark's database with a library of queued posts, shared by the CLI benches."""

from __future__ import annotations

import compileall
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Run:
    seconds: float
    rss_mb: float
    finished: bool
    cpu_seconds: float = float("nan")  # user + system: steadier than wall time under load


def compile_package() -> None:
    """Write the package's bytecode before timing, as an installed program has it: where the
    environment sets PYTHONDONTWRITEBYTECODE (this machine does), every measured process
    would otherwise compile the modules it imports anew, 0.1-0.15 s a command."""
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "scheduler", quiet=1)


def run_measured(
    command: Sequence[str], cwd: Path, timeout: float, stdout: Any = subprocess.DEVNULL
) -> Run:
    """One process, reaped with os.wait4 so its own peak RSS is known; its output goes to
    `stdout` (an open file, or nowhere)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=stdout, stderr=subprocess.DEVNULL)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            process.kill()
            os.wait4(process.pid, 0)
            process.returncode = -9
            return Run(time.perf_counter() - started, float("nan"), finished=False)
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[3:7])}… exited {process.returncode}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(elapsed, usage.ru_maxrss / 1024, finished=True, cpu_seconds=cpu)
