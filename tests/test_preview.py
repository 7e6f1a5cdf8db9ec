"""Calendar previews (DESIGN §8): the view contexts, the templates, iCalendar, terminal text,
the `calendar` command and the served page. Calendars are built by hand here, so these tests
need neither a database nor the planner."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from subprocess import CompletedProcess
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import icalendar
import jinja2
import pytest

from scheduler.calendar_data import (
    CalendarAiring,
    CalendarChannel,
    CalendarData,
    CalendarGap,
)
from scheduler.cli.context import AppContext
from scheduler.domain import AIRING_KINDS
from scheduler.render import i18n, preview, terminal
from tests.conftest import invoke_cli

RIYADH = ZoneInfo("Asia/Riyadh")
BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # 08:00 in Riyadh, a Monday
EVIL = (
    'Launch day <script>document.title="pwned";alert(1)</script> '
    "<img src=x onerror=\"document.title='pwned'\">"
)
ARABIC = "إطلاق المنتج الجديد اليوم 🚀\nتفاصيل أكثر على موقعنا"
FAMILY = "👨‍👩‍👧"


def airing(
    airing_id: int | None,
    channel: str,
    post_id: int,
    kind: str,
    hours: float,
    status: str = "planned",
    body: str = "Hello",
    tz: ZoneInfo = RIYADH,
    **extra: str,
) -> CalendarAiring:
    at = START + timedelta(hours=hours)
    return CalendarAiring(airing_id, channel, post_id, kind, False, at, tz, status, body, **extra)


def make_calendar(airings: list[CalendarAiring], *, days: int = 7, gaps=()) -> CalendarData:
    channels = (
        CalendarChannel("main", "mastodon", RIYADH, timedelta(hours=3)),
        CalendarChannel("bsky", "bluesky", RIYADH, timedelta(hours=24)),
    )
    airings = sorted(airings, key=lambda a: (a.at, a.channel, a.post_id))
    return CalendarData(
        START, START + timedelta(days=days), START, channels, tuple(airings), tuple(gaps)
    )


@pytest.fixture
def data() -> CalendarData:
    return make_calendar(
        [
            airing(1, "main", 1, "core", 0, "published", ARABIC, remote_url="https://x.example/1"),
            airing(2, "main", 2, "entertaining", 1, "published", f"Quiz time {FAMILY} 🦊"),
            airing(3, "bsky", 1, "core", 1.5, "failed", ARABIC, error="422: text too long"),
            airing(4, "main", 3, "core", 2, "unconfirmed", EVIL),
            airing(None, "main", 1, "repost", 6, body="من الأرشيف: " + ARABIC),
            airing(5, "main", 4, "core", 26, "missed", "Webinar starts now"),
            airing(None, "main", 9, "repost", 27, body="From the archive"),
            airing(None, "main", 10, "core", 50, body="Line one\nline two\nline three\nline four"),
        ],
        gaps=[CalendarGap("main", START + timedelta(hours=6), START + timedelta(hours=26))],
    )


class Page(HTMLParser):
    """The parts of a page the tests look at: every tag with its attributes, and the text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def with_class(self, name: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.tags if name in (a.get("class") or "").split()]


# --- message catalogue -----------------------------------------------------------------------


def test_every_language_has_every_label() -> None:
    english = set(i18n.messages("en"))
    assert set(i18n.messages("ar")) == english
    for key in (*AIRING_KINDS, "planned", "publishing", "published", "failed", "missed"):
        assert key in english
    assert all(i18n.messages("ar")[key] for key in english)
    assert len(i18n.weekday_names("ar")) == 7
    assert i18n.day_label(datetime(2026, 11, 23).date(), "ar") == "الاثنين 23 نوفمبر"
    assert i18n.duration_label(1500, "en") == "1d 1h"
    with pytest.raises(ValueError, match="fr"):
        i18n.messages("fr")


# --- contexts --------------------------------------------------------------------------------


def test_week_groups_airings_and_gaps_by_local_day(data: CalendarData) -> None:
    week = preview.build_week(data)
    assert [d.day.isoformat() for d in week.days][:2] == ["2026-11-23", "2026-11-24"]
    assert len(week.days) == 8  # 08:00 Monday to 08:00 the next Monday touches 8 dates
    monday = week.days[0]
    assert [e.time for e in monday.entries] == [
        "08:00",
        "09:00",
        "09:30",
        "10:00",
        "14:00",
        "14:00",
    ]
    gap, repost = monday.entries[4], monday.entries[5]
    assert isinstance(gap, preview.GapView) and gap.minutes == 20 * 60
    assert "20h" in gap.text and "max 3h" in gap.text
    assert isinstance(repost, preview.AiringView) and repost.kind == "repost"
    assert repost.original_href == "#post-1"  # the original on the same channel, this page
    assert monday.silent and week.days[1].silent and not week.days[2].silent
    assert week.page.zone == "Asia/Riyadh"
    flagged = [(item.css, item.channel) for item in week.page.attention]
    assert flagged == [
        ("failed", "bsky"),
        ("unconfirmed", "main"),
        ("gap", "main"),
        ("missed", "main"),
    ]


def test_a_repost_whose_original_aired_earlier_says_so(data: CalendarData) -> None:
    entries = [e for d in preview.build_week(data).days for e in d.entries]
    archive = next(e for e in entries if isinstance(e, preview.AiringView) and e.post_id == 9)
    assert archive.original_href is None
    assert archive.repost_label == "repost of #9"


def test_body_keeps_first_lines_and_whole_graphemes() -> None:
    long_line = FAMILY * 200  # 1,000 code points, 200 graphemes
    data = make_calendar([airing(1, "main", 1, "core", 0, body=f"{long_line}\nb\nc\nd")])
    (view,) = preview.build_week(data).days[0].entries
    assert isinstance(view, preview.AiringView)
    assert len(view.lines) == preview.BODY_LINES and view.truncated
    assert view.lines[0].endswith(FAMILY + "…")  # cut between graphemes, never inside one


def test_only_web_links_are_kept() -> None:
    data = make_calendar([airing(1, "main", 1, "core", 0, remote_url="javascript:alert(1)")])
    (view,) = preview.build_week(data).days[0].entries
    assert isinstance(view, preview.AiringView) and view.remote_url is None


def test_month_is_whole_weeks_and_keeps_alerts_in_sight() -> None:
    busy = [airing(None, "main", n, "core", n) for n in range(10)]
    busy.append(airing(99, "main", 99, "core", 11, "failed"))
    data = make_calendar(busy, days=1)
    month = preview.build_month(data)
    assert all(len(week) == 7 for week in month.weeks)
    assert month.weeks[0][0].day.weekday() == 0 and month.weekdays[0] == "Mon"
    monday = month.weeks[0][0]
    assert not monday.outside and month.weeks[0][2].outside  # 08:00 to 08:00: Mon and Tue
    assert len(monday.entries) == preview.MONTH_INLINE
    assert any(isinstance(e, preview.AiringView) and e.status == "failed" for e in monday.entries)
    assert len(monday.entries) + len(monday.folded) == 11
    assert monday.counts == (("core", "core", 11),)


def test_calendar_window() -> None:
    now = datetime(2026, 3, 14, 21, 30, tzinfo=UTC)  # 15 March 00:30 in Riyadh
    start, end = preview.calendar_window(now, tz=RIYADH, view="month")
    assert start == datetime(2026, 2, 28, 21, tzinfo=UTC)  # 1 March 00:00 +03
    assert end == datetime(2026, 3, 31, 21, tzinfo=UTC)
    assert preview.calendar_window(now, tz=RIYADH, view="week") == (now, now + timedelta(days=7))
    assert preview.calendar_window(now, tz=RIYADH, view="month", days=2)[1] == now + timedelta(2)
    december = preview.calendar_window(datetime(2026, 12, 5, tzinfo=UTC), tz=UTC, view="month")
    assert december == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_page_zone_falls_back_to_utc_for_mixed_zones(data: CalendarData) -> None:
    mixed = make_calendar(
        [airing(1, "main", 1, "core", 0), airing(2, "x", 2, "core", 1, tz=BERLIN)]
    )
    assert preview.page_zone(mixed).key == "UTC"
    assert preview.page_zone(mixed, BERLIN).key == "Europe/Berlin"
    (first, second) = preview.build_week(mixed, tz=RIYADH).days[0].entries
    assert isinstance(second, preview.AiringView) and second.channel_time == "07:00 Europe/Berlin"


# --- HTML ------------------------------------------------------------------------------------


def test_templates_fail_loudly_on_a_missing_variable(data: CalendarData) -> None:
    week = preview.build_week(data)
    page = {f.name: getattr(week.page, f.name) for f in fields(week.page)}
    del page["heading"]
    template = preview.environment().get_template("week.html.j2")
    with pytest.raises(jinja2.UndefinedError, match="heading"):
        template.render(v=week, page=SimpleNamespace(**page))
    assert preview.environment().undefined is jinja2.StrictUndefined
    assert preview.environment().autoescape is True


@pytest.mark.parametrize("view", preview.CALENDAR_VIEWS)
def test_bodies_are_text_never_markup(data: CalendarData, view: str) -> None:
    html = preview.render_html(data, view=view)
    page = Page(html)
    assert not [tag for tag, _ in page.tags if tag in ("script", "img", "iframe", "object")]
    assert not [a for _, a in page.tags if any(k.startswith("on") for k in a)]
    text = "".join(page.text)
    assert '<script>document.title="pwned";alert(1)</script>' in text
    assert "onerror=\"document.title='pwned'\">" in text
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize("view", preview.CALENDAR_VIEWS)
def test_every_body_is_dir_auto(data: CalendarData, view: str) -> None:
    page = Page(preview.render_html(data, view=view))
    bodies = page.with_class("body")
    assert len(bodies) == len(data.airings)
    assert all(body.get("dir") == "auto" for body in bodies)
    lines = [a for tag, a in page.tags if tag == "p" and "more" not in (a.get("class") or "")]
    lines = [a for a in lines if a.get("dir") is not None]
    assert lines and all(a["dir"] == "auto" for a in lines)


@pytest.mark.parametrize("view", preview.VIEWS)
def test_page_is_self_contained_and_links_resolve(data: CalendarData, view: str) -> None:
    page = Page(preview.render_html(data, view=view))
    ids = [a["id"] for _, a in page.tags if a.get("id")]
    assert len(ids) == len(set(ids))
    for tag, attrs in page.tags:
        href = attrs.get("href") or ""
        if href.startswith("#"):
            assert href[1:] in ids
        assert not attrs.get("src")  # nothing is loaded
        if tag == "link":
            assert attrs.get("rel") == "icon" and href == "data:,"
        elif href and not href.startswith("#"):
            assert tag == "a" and href == "https://x.example/1"  # a published post, on click
    csp = [a for tag, a in page.tags if tag == "meta" and a.get("http-equiv")]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")


def test_airings_show_time_channel_kind_and_status(data: CalendarData) -> None:
    page = Page(preview.render_html(data, view="week"))
    cards = page.with_class("airing")
    assert len(cards) == len(data.airings)
    classes = [set((c["class"] or "").split()) for c in cards]
    assert {"core", "published"} <= classes[0] and {"failed"} <= classes[2]
    chips = [a for a in page.with_class("chip") if "repost" in (a["class"] or "")]
    assert chips  # the kind is a text label as well as a colour
    text = "".join(page.text)
    for label in ("08:00", "main", "bsky", "entertaining", "unconfirmed", "missed", "gap"):
        assert label in text


def test_arabic_view_is_right_to_left(data: CalendarData) -> None:
    html = preview.render_html(data, view="week", lang="ar")
    assert '<html lang="ar" dir="rtl">' in html
    assert "تقويم المحتوى" in html and "فشل" in html and "إعادة نشر" in html
    assert '<html lang="en" dir="ltr">' in preview.render_html(data, view="month")


def test_switch_links_only_on_the_served_page(data: CalendarData) -> None:
    assert "?view=month" not in preview.render_html(data)
    html = preview.render_html(data, switch=True)
    assert 'href="?view=month&amp;lang=en"' in html and 'aria-current="page"' in html


def test_unknown_view_or_language_is_refused(data: CalendarData) -> None:
    with pytest.raises(ValueError, match="year"):
        preview.render_html(data, view="year")
    with pytest.raises(ValueError, match="fr"):
        preview.render_html(data, lang="fr")


def test_empty_calendar_renders(data: CalendarData) -> None:
    empty = make_calendar([], days=2)
    html = preview.render_html(empty)
    assert html.count("no airings") == 3 and "No gaps, failures" in html
    assert "no airings" in preview.render_html(empty, view="month")


# --- iCalendar -------------------------------------------------------------------------------


def test_ics_round_trips_airing_by_airing(data: CalendarData) -> None:
    text = preview.render_ics(data)
    assert "\r\n" in text
    cal = icalendar.Calendar.from_ical(text)
    events = list(cal.walk("VEVENT"))
    assert len(events) == len(data.airings)
    assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Asia/Riyadh"]
    for event, expected in zip(events, data.airings, strict=True):
        start = event.decoded("DTSTART")
        assert start == expected.at
        assert start.tzinfo.key == "Asia/Riyadh"
        assert start.replace(tzinfo=None) == expected.local.replace(tzinfo=None)
        assert str(event["UID"]) == preview.ics_uid(expected)
        assert str(event["DESCRIPTION"]) == expected.body
        assert event.decoded("DURATION") == preview.ICS_DURATION
        assert str(event["CATEGORIES"].cats[0]) == expected.kind
    summaries = [str(e["SUMMARY"]) for e in events]
    assert summaries[0] == "core · main: إطلاق المنتج الجديد اليوم 🚀"
    assert summaries[2] == "[failed] core · bsky: إطلاق المنتج الجديد اليوم 🚀"
    assert str(events[0]["UID"]) == "1@content-scheduler"
    assert str(events[4]["UID"]) == f"{data.airings[4].uid_key}@content-scheduler"
    assert str(events[4]["RELATED-TO"]) == "1@content-scheduler"  # the original airing
    assert str(events[0]["STATUS"]) == "CONFIRMED" and str(events[4]["STATUS"]) == "TENTATIVE"


def test_ics_uids_are_stable_across_exports(data: CalendarData) -> None:
    later = CalendarData(
        data.start, data.end, data.generated + timedelta(hours=1), data.channels,
        data.airings, data.gaps,
    )  # fmt: skip
    uids = [
        [str(e["UID"]) for e in icalendar.Calendar.from_ical(preview.render_ics(d)).walk("VEVENT")]
        for d in (data, data, later)
    ]
    assert uids[0] == uids[1] == uids[2]
    assert len(set(uids[0])) == len(uids[0])
    assert preview.render_ics(data) == preview.render_ics(data)


def test_ics_escapes_and_folds_any_body() -> None:
    body = "a,b;c\\d\r\nسطر ثانٍ " + "طويل 🚀👨‍👩‍👧\\, " * 30 + "\nend"
    utc = ZoneInfo("UTC")
    data = make_calendar(
        [
            airing(1, "main", 1, "core", 0, body=body),
            airing(2, "u", 2, "core", 1, body=body, tz=utc),
        ]
    )
    text = preview.render_ics(data)
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert "\n" not in text.replace("\r\n", "")
    events = list(icalendar.Calendar.from_ical(text).walk("VEVENT"))
    assert [str(e["DESCRIPTION"]) for e in events] == [body.replace("\r\n", "\n")] * 2
    assert "DTSTART:20261123T060000Z" in text  # a UTC channel needs no VTIMEZONE
    assert events[1].decoded("DTSTART") == data.airings[1].at


def test_ics_across_a_daylight_saving_change() -> None:
    # Berlin leaves summer time on 25 October 2026: 02:30 happens twice. RFC 5545 reads a
    # repeated local time as its first occurrence, so the second one must be given in UTC.
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    airings = tuple(
        CalendarAiring(
            n, "de", n, "core", False, first + timedelta(hours=n), BERLIN, "planned", "x"
        )
        for n in range(3)
    )
    data = CalendarData(
        first, first + timedelta(days=1), first,
        (CalendarChannel("de", "file", BERLIN, timedelta(hours=3)),), airings, (),
    )  # fmt: skip
    cal = icalendar.Calendar.from_ical(preview.render_ics(data))
    starts = [e.decoded("DTSTART") for e in cal.walk("VEVENT")]
    assert [s.astimezone(UTC) for s in starts] == [a.at for a in airings]
    offsets = {str(c["TZOFFSETTO"].to_ical()) for c in cal.walk("VTIMEZONE")[0].subcomponents}
    assert len(offsets) == 2  # summer and winter time both described
    assert [getattr(s.tzinfo, "key", None) for s in starts] == [
        "Europe/Berlin",
        "UTC",
        "Europe/Berlin",
    ]


# --- terminal text ---------------------------------------------------------------------------


def test_text_columns_line_up_with_arabic_and_emoji(
    data: CalendarData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(terminal, "ISOLATE_RTL", True)  # as on a terminal
    for lang in i18n.LANGS:
        t = i18n.messages(lang)
        text = preview.render_text(data, lang=lang, width=90)
        rows = [line for line in text.splitlines() if line[2:7].replace(":", "").isdigit()]
        assert len(rows) == len(data.airings) + len(data.gaps)
        body_starts, status_starts = set(), set()
        for row in rows:
            assert terminal.display_width(row) <= 90
            status = next(
                t[s]
                for s in ("planned", "published", "failed", "missed", "unconfirmed", "gap")
                if t[s] in row
            )
            status_starts.add(terminal.display_width(row[: row.index(status)]))
            # The body is the last column: whatever follows the last run of two spaces.
            cut = row.rstrip().rfind("  ")
            body_starts.add(terminal.display_width(row[: cut + 2]))
        assert len(body_starts) == 1, f"{lang}: bodies start at {body_starts}"
        assert len(status_starts) <= 2  # the kind column (gap rows) and the status column
        arabic = [r for r in rows if "إطلاق" in r]
        assert arabic and all(
            terminal.FSI + "إطلاق" in r or terminal.FSI + "من" in r for r in arabic
        )


@pytest.mark.parametrize(("lang", "tz"), [("en", None), ("ar", BERLIN)])
def test_each_text_row_says_what_the_week_view_says(
    data: CalendarData, lang: str, tz: ZoneInfo | None
) -> None:
    # Text rows are made from the airings directly (a week of 100 channels is ~17,000 rows);
    # each must still show what the week view's entry shows: its time, channel, labels, alert
    # and the body's first line as the views cut it.
    long_line = "🦊" * (preview.BODY_LINE_CHARS // 2 + 5) + " end"
    calendar = make_calendar(
        [
            *data.airings,
            airing(11, "bsky", 5, "core", 30, "failed", f"\n  \n  {long_line}  \nnext", BERLIN),
            airing(12, "main", 6, "entertaining", 30, body="", error="\x1b[31m500"),
            airing(None, "bsky", 5, "repost", 75, body="x" * (preview.BODY_LINE_CHARS + 1)),
        ],
        gaps=data.gaps,
    )
    t = i18n.messages(lang)
    week = preview.build_week(calendar, lang=lang, tz=tz)
    expected = []
    for day in week.days:
        rows = []
        for entry in day.entries:
            if isinstance(entry, preview.GapView):
                rows.append(
                    preview.TextRow("!", entry.time, entry.channel, t["gap"], "", "", entry.text)
                )
                continue
            rows.append(
                preview.TextRow(
                    "!" if entry.alert else " ",
                    entry.time,
                    entry.channel,
                    entry.kind_label,
                    entry.status_label,
                    f"↻#{entry.post_id}" if entry.kind == "repost" else f"#{entry.post_id}",
                    entry.lines[0] if entry.lines else "",
                    f"{t['error']}: {entry.error}" if entry.error else "",
                )
            )
        expected.append((day.day, rows))
    assert list(preview.text_rows(calendar, lang=lang, tz=tz)) == expected
    assert sum(len(rows) for _, rows in expected) == len(calendar.airings) + len(calendar.gaps)


def test_text_keeps_control_characters_out(data: CalendarData) -> None:
    hostile = make_calendar(
        [airing(1, "main", 1, "core", 0, body="\x1b[31mred\x1b[0m \u202eevil\u2069 done")]
    )
    text = preview.render_text(hostile)
    assert "\x1b" not in text and "\u202e" not in text and "\u2069" not in text
    assert "[31mred[0m evil done" in text


def test_ics_carries_no_control_character_from_a_body_or_url() -> None:
    forged = "\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:forged\x1b[31m\x07\x00"
    hostile = make_calendar(
        [
            airing(1, "main", 1, "core", 0, body=f"first line{forged}\nsecond"),
            airing(2, "main", 2, "core", 1, status="published", remote_url=f"https://x.example/1{forged}"),
        ]
    )  # fmt: skip
    ics = preview.render_ics(hostile)
    events = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    assert len(events) == 2 and "URL" not in events[1]
    assert not any(c in ics.replace("\r\n", "") for c in "\r\n\x1b\x07\x00")
    # The body's own line breaks stay, escaped; what a control character held is plain text.
    assert str(events[0]["DESCRIPTION"]).startswith("first line\nEND:VEVENT\nBEGIN:VEVENT")


def test_text_shows_days_without_airings_and_alerts(data: CalendarData) -> None:
    text = preview.render_text(data)
    # The day's header names it once ("Mon 30 November", not "… 2026-11-30" again).
    assert "\n\nMon 30 November\n  (no airings)" in text
    assert text.startswith(
        "Content calendar: Mon 23 Nov 08:00 +03:00 – Mon 30 Nov 08:00 +03:00 (Asia/Riyadh)\n"
    )
    flagged = [line for line in text.splitlines() if line.startswith("!")]
    assert len(flagged) == 4  # failed, unconfirmed, gap, missed
    failed = text.splitlines().index(next(r for r in flagged if "failed" in r))
    assert text.splitlines()[failed + 1].endswith("↳ error: 422: text too long")


def test_text_lines_fit_the_width_they_are_given(data: CalendarData) -> None:
    """Gap lines are cut at the terminal's width, not at a fixed one: narrow, every line
    fits; wide, the whole gap sentence is shown."""
    narrow = preview.render_text(data, width=60).splitlines()
    assert all(terminal.display_width(line) <= 60 for line in narrow[1:])
    gap_line = next(line for line in narrow if line.startswith("!") and " gap " in line)
    assert gap_line.endswith("…")
    wide = preview.render_text(data, width=200).splitlines()
    gap_line = next(line for line in wide if line.startswith("!") and " gap " in line)
    assert gap_line.endswith("until Tue 24 November 10:00")


# --- the command -----------------------------------------------------------------------------


class StubSource:
    def __init__(self, data: CalendarData) -> None:
        self.data = data
        self.calls: list[tuple[datetime, datetime, str | None]] = []

    def zone(self, channel: str | None) -> ZoneInfo:
        return RIYADH

    def calendar(self, *, start, end, channel, now) -> CalendarData:
        self.calls.append((start, end, channel))
        return self.data


@pytest.fixture
def cli(data: CalendarData) -> tuple[Callable[..., CompletedProcess[str]], StubSource]:
    """The real `scheduler calendar`, in this process, drawing from a stub at a fixed now."""
    source = StubSource(data)

    def run(*args: str) -> CompletedProcess[str]:
        return invoke_cli(*args, context=AppContext(clock=lambda: START, calendar_source=source))

    return run, source


def test_command_formats(cli, tmp_path: Path, data: CalendarData) -> None:
    run, source = cli
    result = run("calendar", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["airings"]) == len(data.airings)
    # The window starts at the start of today (in the channel's zone), so what was already
    # published today stays in sight.
    today = datetime(2026, 11, 22, 21, tzinfo=UTC)  # 23 November 00:00 in Riyadh
    assert source.calls == [(today, today + timedelta(days=7), None)]
    result = run("calendar", "--format", "json", "--from", "-1h")
    assert source.calls[-1][0] == START - timedelta(hours=1)
    target = tmp_path / "plan.ics"
    result = run("calendar", "--format", "ics", "--output", str(target))
    assert result.returncode == 0 and result.stdout == ""
    assert result.stderr == (
        f"wrote {len(data.airings)} airings and 1 gap, Mon 23 Nov 08:00 +03:00 – "
        f"Mon 30 Nov 08:00 +03:00, to {target}\n"
    )
    assert target.read_bytes().startswith(b"BEGIN:VCALENDAR\r\n")
    result = run("calendar", "--format", "html", "--lang", "ar", "--days", "2")
    assert 'dir="rtl"' in result.stdout and source.calls[-1][1] == today + timedelta(days=2)
    assert "08:00" in run("calendar").stdout
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_command_month_view_takes_the_month_of_from(cli) -> None:
    run, source = cli
    result = run("calendar", "--format", "html", "--view", "month", "--from", "2026-11-15T10:00")
    assert result.returncode == 0, result.stderr
    assert source.calls[-1][:2] == (
        datetime(2026, 10, 31, 21, tzinfo=UTC),
        datetime(2026, 11, 30, 21, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--to", "+1d", "--days", "2"], "not both"),
        (["--format", "pdf"], "pdf"),
        (["--days", "0"], "--days"),
    ],
)
def test_command_usage_errors(cli, args: list[str], message: str) -> None:
    run, source = cli
    result = run("calendar", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert source.calls == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from", "yesterday"], "--from: 'yesterday' is not an ISO 8601 time"),
        (["--from", "+2d", "--to", "+1d"], "--to '+1d' is not after --from '+2d'"),
    ],
)
def test_command_bad_values_are_project_errors(cli, args: list[str], message: str) -> None:
    run, source = cli
    result = run("calendar", *args)
    assert result.returncode == 1  # a project error: one line on stderr, exit status 1
    assert result.stderr.startswith(f"error: {message}")
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert source.calls == []


# --- the served page -------------------------------------------------------------------------


@pytest.fixture
def served(data: CalendarData) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    calls: list[tuple[str, str]] = []

    def render(view: str, lang: str) -> str:
        calls.append((view, lang))
        return preview.render_html(data, view=view, lang=lang, switch=True)

    server = preview.make_server(render, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", calls
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def fetch(url: str, method: str = "GET", host: str | None = None) -> tuple[int, str, dict]:
    request = urllib.request.Request(url, method=method)
    if host:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode(), dict(error.headers)


def test_served_page_renders_on_every_request(served) -> None:
    base, calls = served
    status, body, headers = fetch(base + "/")
    assert status == 200 and "<html" in body
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert fetch(base + "/?view=month&lang=ar")[0] == 200
    assert calls == [("week", "en"), ("month", "ar")]


def test_served_page_is_read_only(served) -> None:
    base, calls = served
    for method in ("POST", "PUT", "DELETE", "PATCH", "HEAD"):
        status, _, headers = fetch(base + "/", method)
        assert (status, headers.get("Allow")) == (405, "GET"), method
    assert fetch(base + "/other")[0] == 404
    assert fetch(base + "/?view=year")[0] == 400
    assert fetch(base + "/", host="attacker.example")[0] == 403
    assert calls == []
