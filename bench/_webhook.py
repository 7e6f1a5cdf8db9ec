"""What the dispatch and HA benches share: a fake webhook in its own process, its record of
requests, and percentiles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def start_webhook(record: Path) -> tuple[subprocess.Popen[str], str]:
    """A fake webhook in its own process (so it doesn't share the daemon's GIL); its URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fakeplatforms", "webhook", "--record", str(record)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


def read_record(record: Path) -> list[dict[str, Any]]:
    """The requests the webhook recorded so far (a line still being written is left out)."""
    if not record.exists():
        return []
    lines = record.read_text(encoding="utf-8").split("\n")[:-1]  # whole lines only
    return [json.loads(line) for line in lines if line]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]
