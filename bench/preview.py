"""Rendering a busy month: 50 channels, one airing an hour for 30 days (36,000 airings),
as the HTML month view and as iCalendar. Target: each within 2 seconds. Prints, never fails.

    .venv/bin/python bench/preview.py
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduler.calendar_data import (
    CalendarAiring,
    CalendarChannel,
    CalendarData,
    CalendarGap,
)
from scheduler.render import preview

CHANNELS = 50
DAYS = 30
ZONES = ("Asia/Riyadh", "Europe/Berlin", "America/New_York", "UTC", "Asia/Dubai")
BODIES = (
    "إطلاق المنتج الجديد اليوم 🚀\nتفاصيل أكثر على موقعنا",
    "Friday quiz 🦊👨‍👩‍👧 which one is our mascot?\nAnswer tomorrow",
    "Webinar at 18:00 — join us! <b>free</b> & open",
)
KINDS = ("core", "core", "entertaining", "core", "repost")
STATUSES = ("published",) * 10 + ("failed", "missed", "unconfirmed") + ("planned",) * 20


def month_of_airings() -> CalendarData:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    channels = tuple(
        CalendarChannel(
            f"ch{n:02d}", "mastodon", ZoneInfo(ZONES[n % len(ZONES)]), timedelta(hours=3)
        )
        for n in range(CHANNELS)
    )
    airings = []
    for hour in range(DAYS * 24):
        at = start + timedelta(hours=hour)
        for n, channel in enumerate(channels):
            i = hour * CHANNELS + n
            kind = KINDS[i % len(KINDS)]
            post = n * 10_000 + (hour // 5 if kind == "repost" else hour)
            status = STATUSES[i % len(STATUSES)] if hour < DAYS * 12 else "planned"
            airings.append(
                CalendarAiring(
                    i + 1 if status != "planned" else None, channel.name, post, kind, False, at,
                    channel.timezone, status, BODIES[i % len(BODIES)],
                    error="500: upstream" if status == "failed" else None,
                )
            )  # fmt: skip
    gaps = tuple(
        CalendarGap(c.name, start + timedelta(days=20), start + timedelta(days=20, hours=5))
        for c in channels[:5]
    )
    return CalendarData(start, start + timedelta(days=DAYS), start, channels, tuple(airings), gaps)


def timed(label: str, render, repeat: int = 3) -> None:
    best = float("inf")
    size = 0
    for _ in range(repeat):
        began = time.perf_counter()
        size = len(render())
        best = min(best, time.perf_counter() - began)
    verdict = "ok" if best <= 2.0 else "SLOWER than the 2 s target"
    print(f"{label:<22} {best:6.2f} s  ({size / 1e6:5.1f} MB)  {verdict}")


def main() -> None:
    data = month_of_airings()
    print(f"{len(data.airings):,} airings on {CHANNELS} channels over {DAYS} days (best of 3)")
    preview.environment()  # template compilation is a one-off, not part of a render
    timed("HTML month view", lambda: preview.render_html(data, view="month"))
    timed("HTML week view", lambda: preview.render_html(data, view="week"))
    timed("iCalendar", lambda: preview.render_ics(data))
    timed("terminal text", lambda: preview.render_text(data))


if __name__ == "__main__":
    main()
