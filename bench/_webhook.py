"""What the dispatch and HA benches share: a fake webhook in its own process, its record of
requests, a config of webhook channels, the daemon as a process, and percentiles."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def start_webhook(record: Path) -> tuple[subprocess.Popen[str], str]:
    """A fake webhook in its own process (so it doesn't share the daemon's GIL); its URL.

    It is `tests/benchwebhook.py`, one asyncio loop, not the thread-per-connection
    `FakeWebhook` of the tests, which can't take a burst as fast as it is sent."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.benchwebhook", "--record", str(record)],
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


def write_webhook_config(path: Path, scheduler: str, base_url: str, channels: int) -> Path:
    """A config of `channels` json webhook channels `ch000`… posting to `base_url`/hook/<name>,
    in UTC with no spacing; `scheduler` holds the `[scheduler]` table's lines."""
    tables = "".join(
        textwrap.dedent(
            f"""
            [channels.ch{n:03d}]
            publisher = "webhook"
            url = "{base_url}/hook/ch{n:03d}"
            format = "json"
            """
        )
        for n in range(channels)
    )
    defaults = '\n[defaults]\ntimezone = "UTC"\nmin_spacing = "0s"\n'
    path.write_text(f"[scheduler]\n{scheduler}\n{defaults}{tables}", encoding="utf-8")
    return path


class DaemonProcess:
    """`python -m scheduler run` on `config`, logging to daemon.log beside it; ready once it
    sent READY=1 to its notify socket."""

    def __init__(self, config: Path) -> None:
        self.notify_dir = tempfile.mkdtemp(prefix="bd")
        self.notify_path = os.path.join(self.notify_dir, "notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.log_path = config.parent / "daemon.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scheduler", "--config", str(config), "run"],
            cwd=config.parent,
            env={**os.environ, "PYTHONPATH": str(REPO), "NOTIFY_SOCKET": self.notify_path},
            stdout=self.log,
            stderr=self.log,
        )

    def wait_ready(self) -> None:
        self.notify.settimeout(60)
        while b"READY=1" not in self.notify.recv(4096):
            pass

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        utime, stime = int(fields[11]), int(fields[12])
        return (utime + stime) / CLOCK_TICKS

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> int | None:
        """SIGTERM, then kill after 60 s; the exit status (None if it had to be killed)."""
        code = self.process.poll()
        if code is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()
        self.notify.close()
        os.unlink(self.notify_path)
        os.rmdir(self.notify_dir)
        return code
