"""The shipped unit passes `systemd-analyze verify` (DESIGN §9), where the tool exists.

Verify checks that ExecStart's binary exists, so the test verifies a copy whose ExecStart
points at an executable stand-in in a temporary directory; nothing else is changed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "content-scheduler.service"
INSTALLED_BINARY = "/opt/content-scheduler/venv/bin/scheduler"


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if match:
            found.setdefault(match.group(1), []).append(match.group(2))
    return found


def test_the_unit_asks_for_what_the_daemon_needs() -> None:
    unit = directives(UNIT.read_text(encoding="utf-8"))
    assert unit["Type"] == ["notify"]
    assert unit["NotifyAccess"] == ["main"]
    assert unit["Restart"] == ["on-failure"]
    # A static user and group, so editors in the group reach the database without sudo.
    assert "DynamicUser" not in unit
    assert (unit["User"], unit["Group"]) == (["content-scheduler"], ["content-scheduler"])
    assert unit["StateDirectory"] == ["content-scheduler"]
    assert unit["StateDirectoryMode"] == ["2770"] and unit["UMask"] == ["0007"]
    assert unit["ConfigurationDirectory"] == ["content-scheduler"]
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["LoadCredential"]
    assert int(unit["WatchdogSec"][0]) > 0
    # Longer than the daemon's own 20 s bound for requests in flight after SIGTERM.
    assert int(unit["TimeoutStopSec"][0]) > 20
    assert unit["ExecStart"] == [
        f"{INSTALLED_BINARY} --config /etc/content-scheduler/config.toml run"
    ]


def test_the_install_guide_creates_what_the_unit_names() -> None:
    """`Documentation=` points at a file the guide installs; the user and group the unit
    runs as are the ones the guide creates and adds editors to."""
    unit = directives(UNIT.read_text(encoding="utf-8"))
    guide = (UNIT.parent / "INSTALL.md").read_text(encoding="utf-8")
    (documentation,) = unit["Documentation"]
    path = documentation.removeprefix("file://")
    assert f"systemd/INSTALL.md {path}" in guide
    assert "useradd --system --user-group" in guide and "content-scheduler" in guide
    assert "usermod -aG content-scheduler" in guide
    for step in ("## 6. Upgrade", "## 7. Back up and restore", "## 8. Change the config"):
        assert step in guide


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here"
)
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    binary = tmp_path / "scheduler"
    binary.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    binary.chmod(0o755)
    unit = tmp_path / "content-scheduler.service"
    text = UNIT.read_text(encoding="utf-8")
    assert text.count(INSTALLED_BINARY) == 1
    unit.write_text(text.replace(INSTALLED_BINARY, str(binary)), encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "content-scheduler.service" not in result.stderr, result.stderr
