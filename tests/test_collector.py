"""Pausing the cyclic collector for a piece of work never leaves it paused, and the cached
labels of `CalendarAiring.to_json` stay right for the same instant in different forms."""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scheduler.calendar_data import CalendarAiring
from scheduler.planning.collector import cycle_collection_paused
from tests.conftest import RunCli, write_config

BERLIN, TOKYO = ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Tokyo")


def test_the_collector_is_paused_inside_and_resumed_after_even_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cycle_collection_paused():
        assert not gc.isenabled()
        with cycle_collection_paused():  # nested: the inner one leaves it to the outer
            assert not gc.isenabled()
        assert not gc.isenabled()
        raise RuntimeError("the work failed")
    assert gc.isenabled()


def test_a_collector_paused_by_the_caller_stays_paused() -> None:
    gc.disable()
    try:
        with cycle_collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def airing(at: datetime, tz: ZoneInfo) -> CalendarAiring:
    return CalendarAiring(1, "main", 1, "core", False, at, tz, "planned", "text")


def test_one_instant_reads_the_same_in_utc_and_in_each_zone_whatever_form_it_comes_in() -> None:
    # 01:30 UTC on the night Berlin falls back: 02:30 local, the first of two 02:30s.
    in_utc = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    in_berlin = in_utc.astimezone(BERLIN)
    an_hour_later = datetime(2026, 10, 25, 1, 30, tzinfo=UTC).astimezone(BERLIN)  # fold=1
    assert (in_berlin.hour, an_hour_later.hour) == (2, 2)
    labels = [
        {k: v for k, v in airing(at, tz).to_json().items() if k in ("at", "local")}
        for at, tz in [
            (in_utc, BERLIN),
            (in_berlin, BERLIN),
            (in_utc, TOKYO),
            (an_hour_later, BERLIN),
        ]
    ]
    assert labels == [
        {"at": "2026-10-25T00:30:00Z", "local": "2026-10-25T02:30:00+02:00"},
        {"at": "2026-10-25T00:30:00Z", "local": "2026-10-25T02:30:00+02:00"},
        {"at": "2026-10-25T00:30:00Z", "local": "2026-10-25T09:30:00+09:00"},
        {"at": "2026-10-25T01:30:00Z", "local": "2026-10-25T02:30:00+01:00"},
    ]


def test_the_one_off_views_run_with_the_collector_paused_and_leave_it_running(
    tmp_path: Path, invoke: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`status`, `calendar`, `queue list` and `simulate` end within seconds, so they skip the
    collector's passes over their rows; an in-process caller (a test, `CliRunner`) finds it
    running again afterwards, whatever the command did."""
    from scheduler.render import terminal

    config = write_config(tmp_path)
    seen: list[bool] = []
    real_json_text = terminal.json_text

    def json_text(value: object) -> str:
        seen.append(gc.isenabled())
        return real_json_text(value)

    monkeypatch.setattr(terminal, "json_text", json_text)
    for args in (
        ("status", "--format", "json"),
        ("calendar", "--days", "1", "--format", "json"),
        ("simulate", "--days", "1", "--format", "json"),
    ):
        done = invoke("--config", str(config), *args)
        assert done.returncode == 0, (args, done.stderr)
        assert gc.isenabled(), args
    listed = invoke("--config", str(config), "queue", "list", "--format", "json")
    assert (listed.returncode, gc.isenabled()) == (0, True)
    # status writes its JSON after the pause; calendar and simulate inside it.
    assert seen == [True, False, False]
