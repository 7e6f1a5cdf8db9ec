"""Every command says what it did, in the words and times a person reads (issue 14).

The CLI in this process (`invoke`), on a real SQLite file (and as a real process on a
terminal); the config lives in a subdirectory so that only the `--config` given (before or
after the subcommand) can find it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scheduler.cli.context import AppContext
from scheduler.cli.root import config_first
from tests.conftest import NOW, RunCli, invoke_cli, write_config


def _config(tmp_path: Path) -> Path:
    directory = tmp_path / "conf"
    directory.mkdir()
    return write_config(directory)


def test_config_is_accepted_after_the_subcommand(tmp_path: Path, invoke: RunCli) -> None:
    config = _config(tmp_path)
    for args in (
        ("check", "--config", str(config)),
        ("check", f"--config={config}"),
        ("--config", str(config), "check"),
    ):
        done = invoke(*args)
        assert (done.returncode, done.stderr) == (0, ""), args
        assert done.stdout.endswith("ok\n")
    listed = invoke("queue", "list", "--format", "json", "--config", str(config))
    assert (listed.returncode, json.loads(listed.stdout)) == (0, {"posts": []})
    # After `--`, `--config` is a body like any other text.
    assert config_first(["queue", "add", "--", "--config", "x"]) == [
        "queue", "add", "--", "--config", "x",
    ]  # fmt: skip


def test_queue_add_says_what_it_queued(tmp_path: Path, invoke: RunCli) -> None:
    config = _config(tmp_path)
    at = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    done = invoke("queue", "add", "Launch", "-c", "main", "--kind", "core", "--at",
                   at.isoformat(), config=config)  # fmt: skip
    local = at.astimezone(ZoneInfo("Europe/Berlin"))
    offset = local.strftime("%z")
    label = f"{local:%a} {local.day} {local:%b %H:%M} {offset[:3]}:{offset[3:]}"
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"queued post 1 on main; first airing {label}\n"
    floating = invoke("queue", "add", "Later", "-c", "main", "--kind", "core", config=config)
    assert floating.stdout == (
        "queued post 2 on main; floating: the planner gives it the next free slot "
        "(see `scheduler calendar`)\n"
    )


def test_a_channel_typo_gets_a_suggestion(tmp_path: Path, invoke: RunCli) -> None:
    config = _config(tmp_path)
    done = invoke("queue", "add", "hi", "-c", "mian", "--kind", "core", config=config)
    assert (done.returncode, done.stdout) == (1, "")
    assert (
        done.stderr == "error: unknown channel 'mian'; did you mean 'main'? known channels: main\n"
    )
    far = invoke("calendar", "--channel", "zzz", config=config)
    assert far.stderr == "error: unknown channel 'zzz'; known channels: main\n"


def test_edit_help_says_expires_none_removes_the_expiry(invoke: RunCli) -> None:
    done = invoke("queue", "edit", "--help", env={"COLUMNS": "200"})
    assert done.returncode == 0
    assert "or 'none' to remove it." in done.stdout and "to keep it" not in done.stdout


def test_views_agree_after_a_failure(tmp_path: Path, invoke: RunCli) -> None:
    """A pinned post whose airing failed, with a rerun the daemon had planned before: every
    view says it waits for `queue retry`, none says it is queued or will air on its own."""
    from scheduler.store.models import Airing
    from scheduler.store.store import Store

    config = _config(tmp_path)
    at = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    added = invoke("queue", "add", "Webinar", "-c", "main", "--kind", "core", "--at",
                    at.isoformat(), config=config)  # fmt: skip
    assert added.returncode == 0, added.stderr
    cancelled = invoke("queue", "add", "Dropped", "-c", "main", "--kind", "core", config=config)
    assert invoke("queue", "cancel", "2", config=config).returncode == 0, cancelled.stdout
    store = Store(f"sqlite:///{config.parent / 'scheduler.db'}")
    with store.session(write=True) as session:
        first = session.get(Airing, 1)
        assert first is not None and first.post_id == 1
        first.status, first.error = "failed", "HTTP 422: text too long"
        session.add(first)
        rerun = Airing(post_id=1, channel="main", kind="repost", at=at + timedelta(hours=6),
                       updated=datetime.now(UTC))  # fmt: skip
        session.add(rerun)
    store.close()

    status = invoke("status", config=config).stdout
    assert "queued posts:     0" in status  # a failed post is not queued
    assert "needs an editor:  post 1 (failed; `scheduler queue retry 1`)" in status
    listed = invoke("queue", "list", config=config).stdout.splitlines()
    rows = {line.split()[0]: line for line in listed[1:]}
    assert "floating" not in rows["2"] and " - " in rows["2"]  # cancelled: never airs
    # The planned rerun is the next airing, never marked pinned.
    assert "(pinned)" not in rows["1"]
    shown = invoke("queue", "show", "1", config=config).stdout
    assert "core (pinned) failed HTTP 422: text too long" in shown
    assert "repost on hold until `scheduler queue retry 1`" in shown


def test_piped_output_has_no_invisible_isolates(tmp_path: Path, invoke: RunCli) -> None:
    """On a terminal an Arabic cell is wrapped in FSI … PDI so it can't reorder the columns;
    piped into a file or a script, the text arrives as the editor wrote it."""
    import pty
    import subprocess
    import sys

    config = _config(tmp_path)
    body = "مرحبا بالجميع"
    assert (
        invoke("queue", "add", body, "-c", "main", "--kind", "core", config=config).returncode == 0
    )
    piped = invoke("queue", "list", config=config)
    assert body in piped.stdout and "\u2068" not in piped.stdout and "\u2069" not in piped.stdout
    calendar = invoke("calendar", "--days", "1", config=config)
    assert "\u2068" not in calendar.stdout
    # The same command on a pseudo-terminal isolates the cell.
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "scheduler", "--config", str(config), "queue", "list"],
        stdout=follower, stderr=subprocess.DEVNULL, cwd=tmp_path,
    ) as process:  # fmt: skip
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            shown += chunk
        process.wait(timeout=120)
    os.close(leader)
    assert f"\u2068{body}\u2069".encode() in shown


def test_a_bug_gets_one_line_naming_its_type_and_place_never_its_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The console script's last resort: an exception no command expected (a bug) is one line
    and exit status 1, without a traceback or the message, which may quote a secret."""
    import scheduler.cli.app as cli

    def broken(**_: object) -> None:
        raise KeyError("token hunter2-s3cr3t")

    monkeypatch.setattr(cli, "app", broken)  # no command has a known bug: stand one in
    with pytest.raises(SystemExit) as exit:
        cli.main()
    assert exit.value.code == 1
    out, err = capsys.readouterr()
    line = f"test_cli_messages.py:{broken.__code__.co_firstlineno + 1}"
    assert (out, err) == (
        "",
        f"internal error: unexpected KeyError at {line} (a bug; please report it)\n",
    )


def test_every_command_reads_the_one_clock_of_its_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock is injected through the `AppContext`, never patched: at a fixed now, a
    relative `--at`, the projection's start and the calendar's "today" all agree."""
    config = _config(tmp_path)
    monkeypatch.chdir(tmp_path)

    def at_now(*args: str) -> str:
        done = invoke_cli(*args, config=config, context=AppContext(clock=lambda: NOW))
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        return done.stdout

    added = at_now("queue", "add", "Launch", "-c", "main", "--kind", "core", "--at", "+2h")
    assert added == "queued post 1 on main; first airing Mon 23 Nov 15:00 +01:00\n"
    projected = json.loads(at_now("simulate", "--days", "1", "--format", "json"))
    assert (projected["from"], projected["to"]) == ("2026-11-23T12:00:00Z", "2026-11-24T12:00:00Z")
    shown = json.loads(at_now("calendar", "--days", "1", "--format", "json"))
    pinned = [(a["at"], a["local"]) for a in shown["airings"] if a["pinned"]]
    assert pinned == [("2026-11-23T14:00:00Z", "2026-11-23T15:00:00+01:00")]


@pytest.mark.parametrize("value", ["abc", "-1", "\x1b[2J"])
def test_a_bad_plan_wait_is_refused_before_anything_is_queued(
    tmp_path: Path, invoke: RunCli, value: str
) -> None:
    config = _config(tmp_path)
    done = invoke(
        "queue", "add", "Later", "-c", "main", "--kind", "core",
        config=config, env={"SCHEDULER_PLAN_WAIT": value},
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("error: SCHEDULER_PLAN_WAIT=")
    assert "\x1b" not in done.stderr
    listed = invoke("queue", "list", "--format", "json", config=config)
    assert json.loads(listed.stdout) == {"posts": []}
