"""`WHEN` forms beyond ISO 8601 (DESIGN §4): relative times both ways and `today`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.timeutil import iso_local, iso_utc, parse_when

NOW = datetime(2026, 11, 29, 0, 30, tzinfo=UTC)  # 01:30 on Sunday in Berlin
BERLIN = ZoneInfo("Europe/Berlin")


def test_relative_times_go_back_as_well_as_forward() -> None:
    assert parse_when("-1h", now=NOW, tz=BERLIN) == NOW - timedelta(hours=1)
    assert parse_when("+90s", now=NOW, tz=BERLIN) == NOW + timedelta(seconds=90)
    assert parse_when("-3d", now=NOW, tz=BERLIN) == NOW - timedelta(days=3)
    with pytest.raises(ValueError, match=r"'-10000d' lands before 2000-01-01"):
        parse_when("-10000d", now=NOW, tz=BERLIN)
    with pytest.raises(ValueError, match=r"'-1x' is not an ISO 8601 time"):
        parse_when("-1x", now=NOW, tz=BERLIN)


def test_today_is_the_start_of_the_local_day() -> None:
    # 00:30 UTC is already Sunday in Berlin, still Saturday in New York.
    assert parse_when("today", now=NOW, tz=BERLIN) == datetime(2026, 11, 28, 23, tzinfo=UTC)
    new_york = ZoneInfo("America/New_York")
    assert parse_when("Today", now=NOW, tz=new_york) == datetime(2026, 11, 28, 5, tzinfo=UTC)
    # A day whose midnight a clock change skips starts at its first minute.
    havana = ZoneInfo("America/Havana")  # 2026-03-08 00:00 jumps to 01:00
    march = datetime(2026, 3, 8, 12, tzinfo=UTC)
    assert parse_when("today", now=march, tz=havana) == datetime(2026, 3, 8, 5, tzinfo=UTC)


def test_the_repeated_hour_of_a_dst_change_is_two_instants_in_iso_text() -> None:
    # The two 02:30s of 25 Oct 2026 in Berlin compare equal in their own zone (and hash
    # alike): formatting, remembered per instant, must still tell them apart.
    berlin = ZoneInfo("Europe/Berlin")
    first = datetime(2026, 10, 25, 2, 30, tzinfo=berlin)
    second = first.replace(fold=1)
    assert first == second
    assert (iso_utc(first), iso_utc(second)) == ("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z")
    assert [iso_local(moment, berlin) for moment in (second, first)] == [
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T02:30:00+02:00",
    ]
    naive = datetime(2026, 10, 25, 0, 30)  # naive is UTC, as the store keeps it
    assert iso_utc(naive) == iso_utc(first)
