"""Durations, `WHEN` parsing and timezone helpers.

Nothing here reads the clock: `now` is passed in.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DURATION_PART = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RELATIVE = re.compile(r"^([+-])(\d+)([smhd])$")

DURATION_HINT = "a duration such as 90s, 15m, 2h, 1h30m or 3d"
# No rule, window or wait of the product is longer than a year; anything longer is a typo
# (and a few more digits would overflow `timedelta`).
MAX_DURATION = timedelta(days=365)
# Every time the product reads or plans lies here: outside it is a typo, and near year 1 or
# 9999 date arithmetic overflows.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
TIME_RANGE_HINT = "a time between 2000-01-01 and 2100-01-01"
WHEN_HINT = (
    "an ISO 8601 time (e.g. 2026-11-24T09:00 or 2026-11-24T08:00:00Z), now, today, "
    "or +90s/+15m/+2h/+3d/-1h"
)


def parse_duration(text: str) -> timedelta:
    """Parse `90s`, `15m`, `2h`, `1h30m`, `3d`, at most `MAX_DURATION`; raise ValueError
    naming the text otherwise."""
    cleaned = str(text).strip().lower()
    if not cleaned or _DURATION_PART.sub("", cleaned) != "":
        raise ValueError(f"{text!r} is not {DURATION_HINT}")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(cleaned))
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is longer than {format_duration(MAX_DURATION)}")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """`1d 2h 30m`: the one way a duration is shown to a person, in every command, log line
    and view (the HTML views' `i18n.duration_label` writes the same form)."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0m"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + " ".join(parts)


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; ValueError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA timezone (e.g. UTC, Europe/Berlin)") from None


def parse_when(text: str, *, now: datetime, tz: ZoneInfo) -> datetime:
    """Parse a `WHEN` (§4) into an aware UTC datetime. A time without offset is in `tz`.

    A local time that does not exist (skipped by a daylight-saving change) is refused rather
    than silently shifted, because a pinned post must air when the editor meant. A time
    outside `EARLIEST`..`LATEST` is refused too (ValueError, naming the text).
    """
    value = text.strip()
    if value.lower() == "now":
        return now.astimezone(UTC)
    if value.lower() == "today":  # the start of today in `tz`
        return local_midnight(now.astimezone(tz).date(), tz)
    relative = _RELATIVE.match(value.lower())
    if relative:
        sign, amount, unit = relative.groups()
        seconds = int(amount) * _UNIT_SECONDS[unit]
        if sign == "-":
            if seconds > (now - EARLIEST).total_seconds():
                raise ValueError(f"{text!r} lands before 2000-01-01; give {TIME_RANGE_HINT}")
            return now.astimezone(UTC) - timedelta(seconds=seconds)
        if seconds > (LATEST - now).total_seconds():
            raise ValueError(f"{text!r} lands after 2100-01-01; give {TIME_RANGE_HINT}")
        return now.astimezone(UTC) + timedelta(seconds=seconds)
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"{text!r} is not {WHEN_HINT}") from None
    # Checked before any zone arithmetic, which overflows near year 1 and 9999.
    if not EARLIEST.year - 1 <= parsed.year <= LATEST.year:
        raise ValueError(f"{text!r} is not {TIME_RANGE_HINT}")
    if parsed.tzinfo is None:
        local = localize(parsed, tz)
        if local is None:
            raise ValueError(f"{text!r} does not exist in {tz.key} (skipped by a clock change)")
        parsed = local
    moment = parsed.astimezone(UTC)
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(f"{text!r} is not {TIME_RANGE_HINT}")
    return moment


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The start of local `day` in `tz`, in UTC. Midnight is skipped by a clock change in
    some zones; the day then starts at its first existing minute."""
    moment = datetime.combine(day, time())
    for _ in range(24 * 60):
        aware = localize(moment, tz)
        if aware is not None:
            return aware.astimezone(UTC)
        moment += timedelta(minutes=1)
    raise ValueError(f"no local time on {day} in {tz.key}")  # pragma: no cover


def localize(naive: datetime, tz: ZoneInfo) -> datetime | None:
    """Attach `tz` to a naive local time; None if that wall time is skipped by a DST change.

    For a repeated wall time the first occurrence (fold=0) is returned.
    """
    aware = naive.replace(tzinfo=tz, fold=0)
    round_trip = aware.astimezone(UTC).astimezone(tz)
    if round_trip.replace(tzinfo=None) != naive:
        return None
    return aware


def utc_now() -> datetime:
    """The wall clock, read only where a process starts (the CLI, the daemon) and injected
    from there into everything else."""
    return datetime.now(UTC)


def utc(dt: datetime) -> datetime:
    """`dt` as aware UTC; a naive value is taken to already be UTC (how the store keeps it)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def naive_utc(moment: datetime) -> datetime:
    """How the database holds a time: naive UTC (portable across SQLite and PostgreSQL).
    A naive `moment` is refused: the store can't know which zone it meant."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the store; pass aware UTC")
    return moment.astimezone(UTC).replace(tzinfo=None)


def iso_utc(dt: datetime) -> str:
    """`2026-11-24T08:00:00Z`: the one form times are exchanged in."""
    return _utc_text(utc(dt))


# The JSON of a listing or a calendar writes the same few instants over and over (a week's
# hours across 100 channels, the `created` of posts imported together), and strftime costs
# microseconds, so each is formatted once. The key is the instant in UTC: two local times
# that differ only by `fold` (the repeated hour of a DST change) compare equal in their own
# zone, never in UTC.
@functools.lru_cache(maxsize=8192)
def _utc_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def local_label(dt: datetime, tz: ZoneInfo) -> str:
    """`Sun 29 Nov 02:00 +01:00`: how a time is shown to a person, in `tz` with its offset,
    so the same instant reads the same in every command."""
    local = dt.astimezone(tz)
    return f"{local:%a} {local.day} {local:%b} {clock_label(local)}"


def clock_label(local: datetime) -> str:
    """`02:00 +01:00`: the wall-clock time of an aware datetime and its UTC offset."""
    offset = local.strftime("%z")
    return f"{local:%H:%M} {offset[:3]}:{offset[3:]}"


def iso_local(dt: datetime, tz: ZoneInfo) -> str:
    """`2026-11-24T09:00:00+01:00`: the channel's wall clock, with its offset."""
    return _local_text(utc(dt), tz)


@functools.lru_cache(maxsize=8192)
def _local_text(moment: datetime, tz: ZoneInfo) -> str:
    """`iso_local` of a UTC instant, formatted once (see `_utc_text`)."""
    return moment.astimezone(tz).isoformat(timespec="seconds")
