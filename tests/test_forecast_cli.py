"""`simulate`, `calendar` and `status` through the real CLI, before any daemon ran."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import RunCli, queued_id, write_config

START = "2030-01-07T00:00:00Z"  # a Monday, far enough ahead to pin posts in it

BERLIN_EXTRA = """
max_gap = "3h"

[channels.main.repost]
max_per_day = 2
min_interval = "4h"
hour_shift = "3h"
max_airings = 6
"""


def _queue(invoke: RunCli, config: Path, *args: str) -> int:
    done = invoke("queue", "add", *args, config=config)
    assert done.returncode == 0, done.stderr
    return int(queued_id(done.stdout))


def _library(invoke: RunCli, config: Path) -> dict[str, int]:
    return {
        "core": _queue(invoke, config, "Core news", "-c", "main", "--kind", "core"),
        "fun": _queue(invoke, config, "A light joke", "-c", "main", "--kind", "entertaining"),
        "pinned": _queue(
            invoke,
            config,
            "Launch at ten",
            "-c",
            "main",
            "--kind",
            "core",
            "--at",
            "2030-01-07T10:00:00+01:00",
        ),
    }


def _json(invoke: RunCli, config: Path, *args: str) -> dict:  # type: ignore[type-arg]
    done = invoke(*args, "--format", "json", config=config)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_simulate_json_has_the_design_shape_and_reports_the_rules(
    tmp_path: Path, invoke: RunCli
) -> None:
    config = write_config(tmp_path, BERLIN_EXTRA)
    ids = _library(invoke, config)
    result = _json(invoke, config, "simulate", "--from", START, "--days", "2", "--audit")

    assert result["from"] == START
    assert result["to"] == "2030-01-09T00:00:00Z"
    channel = result["channels"]["main"]
    assert set(channel) >= {"airings", "by_kind", "worst_gap_minutes", "gaps", "violations"}
    assert channel["violations"] == []
    assert channel["airings"] == len(result["airings"])
    assert sum(channel["by_kind"].values()) == channel["airings"]
    # Three posts can't fill 48 hourly slots: the reruns run out and gaps are reported.
    assert channel["by_kind"]["core"] == 2 and channel["by_kind"]["entertaining"] == 1
    assert channel["by_kind"]["repost"] > 0
    assert channel["gaps"], "a scarce library must show its gaps"
    assert channel["worst_gap_minutes"] == max(g["minutes"] for g in channel["gaps"])
    last_gap = channel["gaps"][-1]
    assert last_gap["to"] == result["to"]  # the silence up to the window's end is shown

    first = result["airings"][0]
    assert set(first) >= {"id", "channel", "post_id", "kind", "pinned", "at", "local", "status"}
    pinned = [a for a in result["airings"] if a["post_id"] == ids["pinned"] and a["pinned"]]
    assert [(a["at"], a["local"]) for a in pinned] == [
        ("2030-01-07T09:00:00Z", "2030-01-07T10:00:00+01:00")
    ]
    reposts = [a for a in result["airings"] if a["kind"] == "repost"]
    assert all(a["post_id"] in ids.values() for a in reposts)


def test_simulate_json_is_byte_identical_for_the_same_inputs(
    tmp_path: Path, invoke: RunCli
) -> None:
    config = write_config(tmp_path, BERLIN_EXTRA)
    _library(invoke, config)
    args = ("simulate", "--from", START, "--days", "3", "--format", "json")
    first = invoke(*args, config=config)
    second = invoke(*args, config=config)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout


def test_simulate_text_is_a_readable_report(tmp_path: Path, invoke: RunCli) -> None:
    config = write_config(tmp_path, 'max_gap = "3h"\n')
    _library(invoke, config)
    done = invoke("simulate", "--from", START, "--days", "2", "--audit", config=config)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "main: " in text and "airings (core 2, entertaining 1, repost" in text
    assert "gaps over max_gap 3h:" in text
    # Times as a person reads them: the channel's wall clock with its offset.
    assert text.startswith("simulation from Mon 7 Jan 01:00 +01:00 to Wed 9 Jan 01:00 +01:00\n")
    assert "fresh content runs out: Mon 7 Jan 03:00 +01:00" in text
    # Gaps are listed above; "none" alone would read as a contradiction.
    assert (
        "rule violations: none (the gaps above are left by missing content, not by the planner)"
        in text
    )


def test_simulate_runs_the_audit_only_when_asked(tmp_path: Path, invoke: RunCli) -> None:
    """Without --audit the plan's own gaps and mix are reported and violations are null (not
    checked), never an empty list that would claim the rules were judged."""
    config = write_config(tmp_path, 'max_gap = "3h"\n')
    _library(invoke, config)
    channel = _json(invoke, config, "simulate", "--from", START, "--days", "2")["channels"]["main"]
    assert channel["violations"] is None
    assert channel["gaps"] and channel["by_kind"]["core"] == 2
    done = invoke("simulate", "--from", START, "--days", "2", config=config)
    assert done.returncode == 0, done.stderr
    assert "gaps over max_gap 3h:" in done.stdout
    assert "rule violations" not in done.stdout


def test_calendar_shows_the_plan_before_the_daemon_ever_ran(tmp_path: Path, invoke: RunCli) -> None:
    config = write_config(tmp_path)
    floating = _queue(invoke, config, "Core news", "-c", "main", "--kind", "core")
    pinned = _queue(invoke, config, "Pinned", "-c", "main", "--kind", "core", "--at", "+2d")
    calendar = _json(invoke, config, "calendar", "--days", "7")
    airings = calendar["airings"]
    (stored,) = [a for a in airings if a["post_id"] == pinned and a["pinned"]]
    assert stored["id"] is not None and stored["status"] == "planned"  # stored at queue time
    (proposed,) = [a for a in airings if a["post_id"] == floating and a["kind"] == "core"]
    assert proposed["id"] is None and proposed["status"] == "planned"  # not stored yet
    assert [a["at"] for a in airings] == sorted(a["at"] for a in airings)


def test_status_forecasts_the_first_gap_and_when_fresh_content_runs_out(
    tmp_path: Path, invoke: RunCli
) -> None:
    config = write_config(tmp_path, 'max_gap = "3h"\n')
    _queue(invoke, config, "Only post", "-c", "main", "--kind", "core", "--no-evergreen")
    report = _json(invoke, config, "status")
    assert report["daemon"] == {"state": "never ran"}
    main = report["channels"]["main"]
    assert main["queued_posts"] == 1
    assert main["needs_editor"] == []
    assert main["next_airing"] is not None
    assert main["first_gap"] is not None and main["first_gap"]["minutes"] > 180
    assert main["fresh_runs_out"] is not None

    text = invoke("status", config=config)
    assert text.returncode == 0, text.stderr
    assert "daemon: never ran" in text.stdout
    assert "first gap:" in text.stdout and "none forecast" not in text.stdout


def test_simulate_refuses_an_unknown_channel(tmp_path: Path, invoke: RunCli) -> None:
    config = write_config(tmp_path)
    done = invoke("simulate", "--channel", "nope", config=config)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == "error: unknown channel 'nope'; known channels: main"


def test_a_busy_serve_port_is_one_error_line(tmp_path: Path, invoke: RunCli) -> None:
    import socket

    config = write_config(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = invoke("calendar", "--serve", "--port", str(port), config=config)
    assert done.returncode == 1
    assert done.stderr == (
        f"error: --port {port}: the port is already in use (another `calendar --serve`?); "
        "give another --port, or --port 0 for any free one\n"
    )
    assert done.stdout == ""


def test_text_calendar_is_as_wide_as_the_terminal(tmp_path: Path, invoke: RunCli) -> None:
    config = write_config(tmp_path, 'max_gap = "3h"\n')
    _library(invoke, config)
    args = ("calendar", "--from", START, "--days", "2")
    for columns in (60, 160):
        done = invoke(*args, config=config, env={"COLUMNS": str(columns)})
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        gaps = [line for line in lines if line.startswith("!")]
        assert gaps and all(len(line) <= columns for line in lines[1:])
        # Wide enough, the gap's sentence is whole; narrow, it is cut with an ellipsis.
        assert all(line.endswith("…") != (columns == 160) for line in gaps)
