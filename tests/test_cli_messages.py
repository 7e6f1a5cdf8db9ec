"""Every command says what it did, in the words and times a person reads (issue 14).

Real CLI processes on a real SQLite file; the config lives in a subdirectory so that only
the `--config` given (before or after the subcommand) can find it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from scheduler.cli.app import config_first
from tests.conftest import RunCli, write_config


def _config(tmp_path: Path) -> Path:
    directory = tmp_path / "conf"
    directory.mkdir()
    return write_config(directory)


def test_config_is_accepted_after_the_subcommand(tmp_path: Path, run_cli: RunCli) -> None:
    config = _config(tmp_path)
    for args in (
        ("check", "--config", str(config)),
        ("check", f"--config={config}"),
        ("--config", str(config), "check"),
    ):
        done = run_cli(*args)
        assert (done.returncode, done.stderr) == (0, ""), args
        assert done.stdout.endswith("ok\n")
    listed = run_cli("queue", "list", "--format", "json", "--config", str(config))
    assert (listed.returncode, json.loads(listed.stdout)) == (0, {"posts": []})
    # After `--`, `--config` is a body like any other text.
    assert config_first(["queue", "add", "--", "--config", "x"]) == [
        "queue", "add", "--", "--config", "x",
    ]  # fmt: skip


def test_queue_add_says_what_it_queued(tmp_path: Path, run_cli: RunCli) -> None:
    config = _config(tmp_path)
    at = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    done = run_cli("queue", "add", "Launch", "-c", "main", "--kind", "core", "--at",
                   at.isoformat(), config=config)  # fmt: skip
    local = at.astimezone(ZoneInfo("Europe/Berlin"))
    offset = local.strftime("%z")
    label = f"{local:%a} {local.day} {local:%b %H:%M} {offset[:3]}:{offset[3:]}"
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"queued post 1 on main; first airing {label}\n"
    floating = run_cli("queue", "add", "Later", "-c", "main", "--kind", "core", config=config)
    assert floating.stdout == (
        "queued post 2 on main; floating: the planner gives it the next free slot "
        "(see `scheduler calendar`)\n"
    )


def test_a_channel_typo_gets_a_suggestion(tmp_path: Path, run_cli: RunCli) -> None:
    config = _config(tmp_path)
    done = run_cli("queue", "add", "hi", "-c", "mian", "--kind", "core", config=config)
    assert (done.returncode, done.stdout) == (1, "")
    assert (
        done.stderr == "error: unknown channel 'mian'; did you mean 'main'? known channels: main\n"
    )
    far = run_cli("calendar", "--channel", "zzz", config=config)
    assert far.stderr == "error: unknown channel 'zzz'; known channels: main\n"


def test_edit_help_says_expires_none_removes_the_expiry(run_cli: RunCli) -> None:
    done = run_cli("queue", "edit", "--help", env={"COLUMNS": "200"})
    assert done.returncode == 0
    assert "or 'none' to remove it." in done.stdout and "to keep it" not in done.stdout
