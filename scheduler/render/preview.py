"""Calendar previews (docs/design.md §8): HTML week and month views, iCalendar, terminal text.

Everything is rendered from a `CalendarData`. The HTML views first turn it into frozen
dataclasses (`WeekView`, `MonthView`) holding every string the templates print, so the
templates only lay out, the contexts can be tested on their own, and Jinja's
`StrictUndefined` turns a missing field into an error instead of an empty cell.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import wcwidth

from ..calendar_data import CalendarAiring, CalendarData, CalendarGap
from ..domain import AIRING_KINDS, AiringKind
from ..text import UNSAFE
from ..timeutil import local_label, local_midnight
from . import i18n
from .terminal import clean, clip, display_width, first_line, isolate

if TYPE_CHECKING:
    import jinja2

# Jinja2 and icalendar are imported by the HTML and iCalendar renderers that use them: the
# terminal text and JSON of `calendar` need neither (some 40 ms of every such command).


def _templates_dir() -> Path:
    """Where the Jinja2 templates are: inside the package once installed from a wheel
    (pyproject maps the project's top-level `templates/` to `scheduler/templates`), beside
    the package in a checkout or an editable install."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


TEMPLATES_DIR = _templates_dir()
CALENDAR_VIEWS = ("week", "month")
VIEWS = (*CALENDAR_VIEWS, "inbox")
ALERT_STATUSES = frozenset({"failed", "missed", "unconfirmed"})
BODY_LINES = 3  # lines of a body shown in the HTML views
BODY_LINE_CHARS = 280  # a longer line is cut (by grapheme) and marked with an ellipsis
MONTH_INLINE = 6  # a month cell shows this many airings, the rest fold under <details>
REFRESH_SECONDS = 60  # the served page reloads itself, so a tab left open stays current
ICS_DURATION = timedelta(minutes=10)  # an airing is an instant; clients need a visible block
# Every page forbids scripts and network loads: a body that slipped past escaping still
# could not run or phone home, and the file stays self-contained.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)


# --- contexts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AiringView:
    is_gap: ClassVar[bool] = False
    anchor: str  # element id; `post-<id>` on the first airing of a post in the page
    time: str  # in the page's timezone
    channel_time: str | None  # the channel's wall clock, when its zone differs from the page's
    channel: str
    kind: str
    kind_label: str
    status: str
    status_label: str
    alert: bool  # failed, missed or unconfirmed: an editor has to look
    pinned: bool
    post_id: int
    lines: tuple[str, ...]
    truncated: bool
    original_href: str | None  # a repost's link to its original's airing in this page
    repost_label: str | None
    error: str | None
    remote_url: str | None  # http(s) only
    hour: int  # local hour of day in the page's zone: the week grid's row


@dataclass(frozen=True)
class GapView:
    is_gap: ClassVar[bool] = True
    anchor: str
    channel: str
    time: str
    text: str
    minutes: int
    hour: int


Entry = AiringView | GapView


@dataclass(frozen=True)
class HourView:
    """One cell of the week grid: a local hour of one day."""

    label: str  # "09:00"
    entries: tuple[Entry, ...]
    silent: bool  # inside a gap over max_gap
    now: int | None  # the now-line's place in this hour, in percent of it; None elsewhere


@dataclass(frozen=True)
class DayView:
    day: date
    label: str
    outside: bool  # a month-grid day that is not part of the window
    silent: bool  # part of a gap over max_gap
    entries: tuple[Entry, ...]  # gaps and airings in time order; all shown in the week view
    folded: tuple[Entry, ...]  # month view only: the rest of a busy day, under <details>
    counts: tuple[tuple[str, str, int], ...]  # (kind, label, airings) for kinds present
    count_label: str  # "1 airing", "3 airings"
    folded_label: str  # "+2 airings" on the month cell's <details>
    hours: tuple[HourView, ...] = ()  # week view only: the 24 local hours of the day


@dataclass(frozen=True)
class AttentionItem:
    href: str | None  # None: not on this page (the inbox view of a saved file)
    css: str  # the status, or "gap"
    label: str
    when: str
    channel: str
    detail: str


@dataclass(frozen=True)
class Link:
    href: str
    label: str
    current: bool


@dataclass(frozen=True)
class PageView:
    lang: str
    dir: str
    t: Mapping[str, str]
    view: str
    heading: str
    window: str
    generated: str
    zone: str
    channels: tuple[str, ...]
    kinds: tuple[tuple[str, str], ...]
    attention: tuple[AttentionItem, ...]
    switch: tuple[Link, ...]  # view and language links, only on the served page
    refresh: int | None  # seconds between reloads of the served page; None in a saved file
    csp: str = CSP


@dataclass(frozen=True)
class WeekView:
    page: PageView
    days: tuple[DayView, ...]
    hour_labels: tuple[str, ...]  # the grid's row headings, 00:00 to 23:00


@dataclass(frozen=True)
class MonthView:
    page: PageView
    weekdays: tuple[str, ...]
    weeks: tuple[tuple[DayView, ...], ...]


# --- building the contexts -------------------------------------------------------------------


def page_zone(data: CalendarData, tz: ZoneInfo | None = None) -> ZoneInfo:
    """The zone days are cut in: `tz` if given, else the channels' common zone, else UTC."""
    if tz is not None:
        return tz
    zones = {channel.timezone.key for channel in data.channels}
    zones.update(airing.timezone.key for airing in data.airings)
    return ZoneInfo(zones.pop()) if len(zones) == 1 else ZoneInfo("UTC")


def calendar_window(
    start: datetime,
    *,
    tz: ZoneInfo,
    view: str = "week",
    end: datetime | None = None,
    days: int | None = None,
) -> tuple[datetime, datetime]:
    """The window `scheduler calendar` shows: `[start, end)`, or `days` from start, or, for
    the month view with neither, the calendar month (in `tz`) that contains `start`."""
    if end is not None:
        return start, end
    if days is None and view == "month":
        local = start.astimezone(tz).date()
        first = local.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return local_midnight(first, tz), local_midnight(following, tz)
    return start, start + timedelta(days=7 if days is None else days)


def build_week(
    data: CalendarData, *, lang: str = "en", tz: ZoneInfo | None = None, switch: bool = False
) -> WeekView:
    """An hour grid: one column per local day of the window, one row per local hour, every
    airing and gap in its hour's cell, and a now-line across the current hour of today."""
    zone = page_zone(data, tz)
    by_day = _entries_by_day(data, zone, lang)
    silent = _silent_days(data.gaps, zone)
    silent_hours = _silent_hours(data.gaps, zone)
    now = data.generated.astimezone(zone)
    days = []
    for day in _days(data, zone):
        entries = by_day.get(day, ())
        hours = tuple(
            HourView(
                label=f"{hour:02d}:00",
                entries=tuple(e for e in entries if e.hour == hour),
                silent=(day, hour) in silent_hours,
                now=now.minute * 100 // 60 if (now.date(), now.hour) == (day, hour) else None,
            )
            for hour in range(24)
        )
        view = _day(day, entries, lang, outside=False, silent=day in silent, fold=False)
        days.append(dataclasses.replace(view, hours=hours))
    return WeekView(
        page=_page(data, zone, lang, "week", by_day, switch),
        days=tuple(days),
        hour_labels=tuple(f"{hour:02d}:00" for hour in range(24)),
    )


@dataclass(frozen=True)
class InboxRow:
    when: str
    channel: str
    kind: str
    author: str
    text: str
    url: str | None  # only an http(s) URL
    late: bool


@dataclass(frozen=True)
class InboxView:
    page: PageView
    items: tuple[InboxRow, ...]


def build_inbox(
    data: CalendarData, *, lang: str = "en", tz: ZoneInfo | None = None, switch: bool = False
) -> InboxView:
    """The open inbox items, oldest first, with the calendar's needs-attention list."""
    zone = page_zone(data, tz)
    by_day = _entries_by_day(data, zone, lang)
    items = tuple(
        InboxRow(
            when=_when(note.at.astimezone(zone).date(), f"{note.at.astimezone(zone):%H:%M}", lang),
            channel=note.channel,
            kind=note.kind,
            author=clean(note.author),
            text=clean(note.text, keep_newlines=True),
            url=_safe_url(note.url),
            late=note.late,
        )
        for note in data.inbox
    )
    page = _page(data, zone, lang, "inbox", by_day, switch)
    # Gaps and airings are anchors of the week view: served, link there; saved, no link.
    attention = tuple(
        replace(a, href=f"?view=week&lang={lang}{a.href}" if switch else None)
        if a.href and a.href.startswith("#")
        else a
        for a in page.attention
    )
    return InboxView(page=replace(page, attention=attention), items=items)


def build_month(
    data: CalendarData, *, lang: str = "en", tz: ZoneInfo | None = None, switch: bool = False
) -> MonthView:
    """Whole weeks (Monday first) covering the window; days outside it are shown dimmed."""
    zone = page_zone(data, tz)
    by_day = _entries_by_day(data, zone, lang)
    silent = _silent_days(data.gaps, zone)
    window = _days(data, zone)
    inside = set(window)
    first = window[0] - timedelta(days=window[0].weekday())
    last = window[-1] + timedelta(days=6 - window[-1].weekday())
    grid = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    cells = [
        _day(day, by_day.get(day, ()), lang, day not in inside, day in silent, fold=True)
        for day in grid
    ]
    weeks = tuple(tuple(cells[n : n + 7]) for n in range(0, len(cells), 7))
    page = _page(data, zone, lang, "month", by_day, switch)
    return MonthView(page=page, weekdays=i18n.weekday_names(lang), weeks=weeks)


def _page(
    data: CalendarData,
    zone: ZoneInfo,
    lang: str,
    view: str,
    by_day: Mapping[date, tuple[Entry, ...]],
    switch: bool,
) -> PageView:
    t = i18n.messages(lang)
    start, end = data.start.astimezone(zone), data.end.astimezone(zone)
    heading = t["title"]
    if view == "month":
        heading = f"{t['title']} · {i18n.month_label(start.date(), lang)}"
    last = (end - timedelta(microseconds=1)).date()
    window = f"{i18n.day_label(start.date(), lang)} {start:%H:%M} – {i18n.day_label(last, lang)}"
    attention = []
    for day in sorted(by_day):
        for entry in by_day[day]:
            if isinstance(entry, GapView):
                attention.append(
                    AttentionItem(
                        f"#{entry.anchor}", "gap", t["gap"], _when(day, entry.time, lang),
                        entry.channel, entry.text,
                    )
                )  # fmt: skip
            elif entry.alert:
                detail = _cut(entry.error or (entry.lines[0] if entry.lines else ""), 80)
                attention.append(
                    AttentionItem(
                        f"#{entry.anchor}", entry.status, entry.status_label,
                        _when(day, entry.time, lang), entry.channel, detail,
                    )
                )  # fmt: skip
    for late in (note for note in data.inbox if note.late):  # past response_time (§10)
        local = late.at.astimezone(zone)
        attention.append(
            AttentionItem(
                _safe_url(late.url) or "#", "inbox",
                t["inbox_late"], _when(local.date(), f"{local:%H:%M}", lang), late.channel,
                _cut(clean(f"{late.author}: {first_line(late.text)}"), 80),
            )
        )  # fmt: skip
    links: tuple[Link, ...] = ()
    if switch:
        other = "ar" if lang == "en" else "en"
        links = tuple(Link(f"?view={v}&lang={lang}", t[v], v == view) for v in VIEWS) + (
            Link(f"?view={view}&lang={other}", "العربية" if other == "ar" else "English", False),
        )
    return PageView(
        lang=lang,
        dir=i18n.DIRECTION[lang],
        t=t,
        view=view,
        heading=heading,
        window=window,
        generated=data.generated.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        zone=zone.key,
        channels=tuple(channel.name for channel in data.channels),
        kinds=tuple((kind, t[kind]) for kind in AIRING_KINDS),
        attention=tuple(attention),
        switch=links,
        refresh=REFRESH_SECONDS if switch else None,
    )


def _when(day: date, clock: str, lang: str) -> str:
    return f"{i18n.day_label(day, lang)} {clock}"


def _day(
    day: date,
    entries: tuple[Entry, ...],
    lang: str,
    outside: bool,
    silent: bool,
    fold: bool,
) -> DayView:
    counts: dict[str, int] = {}
    for entry in entries:
        if isinstance(entry, AiringView):
            counts[entry.kind] = counts.get(entry.kind, 0) + 1
    t = i18n.messages(lang)
    shown: tuple[Entry, ...] = entries
    folded: tuple[Entry, ...] = ()
    if fold and len(entries) > MONTH_INLINE:
        # Gaps and alerts always stay in sight; ordinary airings fill the rest of the cell.
        flagged = [e for e in entries if _flagged(e)]
        room = max(MONTH_INLINE - len(flagged), 0)
        ordinary = [e for e in entries if not _flagged(e)]
        keep = {id(e) for e in flagged + ordinary[:room]}
        shown = tuple(e for e in entries if id(e) in keep)
        folded = tuple(e for e in entries if id(e) not in keep)
    return DayView(
        day=day,
        label=i18n.day_label(day, lang),
        outside=outside,
        silent=silent,
        entries=shown,
        folded=folded,
        counts=tuple((k, t[k], counts[k]) for k in AIRING_KINDS if k in counts),
        count_label=i18n.airing_count(sum(counts.values()), lang),
        folded_label=f"+{i18n.airing_count(len(folded), lang)}",
    )


def _flagged(entry: Entry) -> bool:
    return isinstance(entry, GapView) or entry.alert


def _days(data: CalendarData, zone: ZoneInfo) -> list[date]:
    first = data.start.astimezone(zone).date()
    last = max((data.end - timedelta(microseconds=1)).astimezone(zone).date(), first)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _silent_days(gaps: Iterable[CalendarGap], zone: ZoneInfo) -> set[date]:
    days = set()
    for gap in gaps:
        day, last = gap.start.astimezone(zone).date(), gap.end.astimezone(zone).date()
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    return days


def _silent_hours(gaps: Iterable[CalendarGap], zone: ZoneInfo) -> set[tuple[date, int]]:
    """The local (day, hour) cells a gap over max_gap covers, for the week grid."""
    cells = set()
    for gap in gaps:
        moment = gap.start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        while moment < gap.end:
            cells.add((moment.date(), moment.hour))
            moment = (moment + timedelta(hours=1)).astimezone(zone)  # UTC steps: DST-safe
    return cells


def _entries_by_day(data: CalendarData, zone: ZoneInfo, lang: str) -> dict[date, tuple[Entry, ...]]:
    t = i18n.messages(lang)
    anchors = _anchors(data.airings)
    originals = _originals(data.airings)
    views = []
    for airing in data.airings:
        view = _airing_view(airing, zone, t, anchors, originals)
        views.append((airing.at.astimezone(zone).date(), airing.at, view))
    return _by_day(views, _gap_views(data, zone, lang))


def _gap_views(
    data: CalendarData, zone: ZoneInfo, lang: str
) -> list[tuple[date, datetime, GapView]]:
    """Each gap over max_gap as (local day, start, its marker)."""
    t = i18n.messages(lang)
    max_gaps = {channel.name: channel.max_gap for channel in data.channels}
    markers = []
    for n, gap in enumerate(data.gaps):
        local = gap.start.astimezone(zone)
        until = gap.end.astimezone(zone)
        max_gap = max_gaps.get(gap.channel)
        text = t["gap_detail"].format(
            channel=gap.channel,
            duration=i18n.duration_label(gap.minutes, lang),
            max_gap=i18n.duration_label(int(max_gap.total_seconds() // 60), lang)
            if max_gap
            else "?",
            until=_when(until.date(), f"{until:%H:%M}", lang),
        )
        marker = GapView(
            f"gap-{n}", gap.channel, f"{local:%H:%M}", text, gap.minutes, hour=local.hour
        )
        markers.append((local.date(), gap.start, marker))
    return markers


_E = TypeVar("_E")


def _by_day(
    airings: Iterable[tuple[date, datetime, _E]], gaps: Iterable[tuple[date, datetime, GapView]]
) -> dict[date, tuple[_E | GapView, ...]]:
    """Airings and gaps grouped by local day, in time order within each day. A gap sorts
    before an airing at the same instant (it is what led up to it); airings keep their order
    (the calendar's: time, channel, post)."""
    timed: dict[date, list[tuple[datetime, int, _E | GapView]]] = {}
    for day, at, entry in airings:
        timed.setdefault(day, []).append((at, 1, entry))
    for day, at, marker in gaps:
        timed.setdefault(day, []).append((at, 0, marker))
    return {
        day: tuple(entry for _, _, entry in sorted(items, key=lambda item: item[:2]))
        for day, items in timed.items()
    }


def _airing_view(
    airing: CalendarAiring,
    zone: ZoneInfo,
    t: Mapping[str, str],
    anchors: Mapping[int, str],
    originals: Mapping[tuple[str | None, int], CalendarAiring],
) -> AiringView:
    local = airing.at.astimezone(zone)
    channel_time = None
    if airing.timezone.key != zone.key:
        channel_time = f"{airing.local:%H:%M} {airing.timezone.key}"
    lines, truncated = _first_lines(airing.body)
    original_href = repost_label = None
    if airing.kind == AiringKind.repost:
        original = originals.get((airing.channel, airing.post_id)) or originals.get(
            (None, airing.post_id)
        )
        repost_label = t["repost_of"].format(post_id=airing.post_id)
        if original is not None:
            original_href = f"#{anchors[id(original)]}"
    return AiringView(
        anchor=anchors[id(airing)],
        time=f"{local:%H:%M}",
        channel_time=channel_time,
        channel=airing.channel,
        kind=airing.kind,
        kind_label=t.get(airing.kind, airing.kind),
        status=airing.status,
        status_label=t.get(airing.status, airing.status),
        alert=airing.status in ALERT_STATUSES,
        pinned=airing.pinned,
        post_id=airing.post_id,
        lines=lines,
        truncated=truncated,
        original_href=original_href,
        repost_label=repost_label,
        error=airing.error,
        remote_url=_safe_url(airing.remote_url),
        hour=local.hour,
    )


def _anchors(airings: Iterable[CalendarAiring]) -> dict[int, str]:
    """Element ids, keyed by `id(airing)`: the first airing of each post in the page is
    `post-<id>` (so `#post-7` is a link editors can share), the others are unique too."""
    anchors: dict[int, str] = {}
    seen: set[int] = set()
    for airing in airings:
        if airing.post_id not in seen:
            seen.add(airing.post_id)
            anchors[id(airing)] = f"post-{airing.post_id}"
        elif airing.id is not None:
            anchors[id(airing)] = f"airing-{airing.id}"
        else:
            stamp = int(airing.at.timestamp())
            anchors[id(airing)] = f"plan-{airing.channel}-{airing.post_id}-{stamp}"
    return anchors


def _originals(
    airings: Iterable[CalendarAiring],
) -> dict[tuple[str | None, int], CalendarAiring]:
    """The first non-repost airing of each post, per channel and (key None) on any channel:
    a repost links to its original on its own channel, else wherever the post first aired."""
    found: dict[tuple[str | None, int], CalendarAiring] = {}
    for airing in airings:
        if airing.kind != "repost":
            found.setdefault((airing.channel, airing.post_id), airing)
            found.setdefault((None, airing.post_id), airing)
    return found


def _first_lines(body: str) -> tuple[tuple[str, ...], bool]:
    lines = [line.strip() for line in body.strip().splitlines()]
    lines = [line for line in lines if line]
    shown = [_cut(line, BODY_LINE_CHARS) for line in lines[:BODY_LINES]]
    truncated = len(lines) > BODY_LINES or any(
        s != line for s, line in zip(shown, lines, strict=False)
    )
    return tuple(shown), truncated


def _cut(line: str, limit: int) -> str:
    """`line` cut to about `limit` characters without splitting a grapheme."""
    if len(line) <= limit:
        return line
    graphemes = list(wcwidth.iter_graphemes(line))
    kept, count = [], 0
    for grapheme in graphemes:
        count += len(grapheme)
        if count > limit:
            break
        kept.append(grapheme)
    return "".join(kept) + "…"


def _safe_url(url: str | None) -> str | None:
    """Only http(s) links without spaces or control characters: autoescaping does not stop
    a `javascript:` URL, and a CR LF would end an ICS property."""
    if not url or UNSAFE.search(url) or " " in url:
        return None
    try:
        scheme = urlsplit(url).scheme
    except ValueError:  # e.g. an unbalanced "[" where an IPv6 host would be
        return None
    return url if scheme in ("http", "https") else None


# --- HTML ------------------------------------------------------------------------------------


@functools.cache
def environment() -> jinja2.Environment:
    """The one Jinja environment: autoescaped, and strict so a missing variable fails."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_view(context: WeekView | MonthView | InboxView) -> str:
    template = {WeekView: "week.html.j2", MonthView: "month.html.j2", InboxView: "inbox.html.j2"}
    return environment().get_template(template[type(context)]).render(v=context, page=context.page)


def render_html(
    data: CalendarData,
    *,
    view: str = "week",
    lang: str = "en",
    tz: ZoneInfo | None = None,
    switch: bool = False,
) -> str:
    """One self-contained HTML page. `switch` adds the view and language links of the
    served page (they would lead nowhere in a saved file)."""
    i18n.messages(lang)  # ValueError for an unknown language, before any work
    if view == "week":
        return render_view(build_week(data, lang=lang, tz=tz, switch=switch))
    if view == "month":
        return render_view(build_month(data, lang=lang, tz=tz, switch=switch))
    if view == "inbox":
        return render_view(build_inbox(data, lang=lang, tz=tz, switch=switch))
    raise ValueError(f"{view!r} is not a view ({', '.join(VIEWS)})")


# --- iCalendar -------------------------------------------------------------------------------


def ics_uid(airing: CalendarAiring) -> str:
    """Stable across exports: the stored id, else what identifies a planned airing."""
    if airing.id is not None:
        return f"{airing.id}@content-scheduler"
    return f"{airing.uid_key}@content-scheduler"


def ics_summary(airing: CalendarAiring) -> str:
    """`[failed] core · main: first line`: the kind first, as calendar clients truncate."""
    lines, _ = _first_lines(airing.body)
    flag = f"[{airing.status}] " if airing.status in ALERT_STATUSES else ""
    return f"{flag}{airing.kind} · {airing.channel}: {lines[0] if lines else ''}".rstrip()


def ics_start(airing: CalendarAiring) -> datetime:
    """The channel's wall clock, except the second pass of a repeated hour (DST ending):
    RFC 5545 reads a repeated local time as its first occurrence, so that one goes in UTC."""
    local = airing.local
    if local.fold and local.utcoffset() != local.replace(fold=0).utcoffset():
        return airing.at.astimezone(UTC)
    return local


_ICS_STATUS = {"published": "CONFIRMED", "publishing": "CONFIRMED", "cancelled": "CANCELLED"}


def render_ics(data: CalendarData) -> str:
    """RFC 5545: one VEVENT per airing, DTSTART in the channel's zone with its VTIMEZONE.

    The `icalendar` library builds the calendar and its VTIMEZONE components (the daylight
    saving transitions of each zone over the window). The events themselves are written by
    `_vevent`: the library's generic serializer costs about 180 µs an event, 6.6 s for a
    month of 50 channels against a 2 s target, while these few fixed properties need only
    RFC 5545 text escaping and line folding. Tests parse the result back with `icalendar`.
    DTSTAMP is when the data was generated, so two exports of the same data are identical.
    """
    import icalendar

    cal = icalendar.Calendar()
    cal.add("prodid", "-//content-scheduler//calendar preview//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", "Content calendar")
    zones = {a.timezone.key: a.timezone for a in data.airings if a.timezone.key != "UTC"}
    for key in sorted(zones):
        cal.add_component(
            icalendar.Timezone.from_tzinfo(
                zones[key],
                first_date=datetime.combine(data.start.date() - timedelta(days=1), time()),
                last_date=datetime.combine(data.end.date() + timedelta(days=2), time()),
            )
        )
    head: str = cal.to_ical().decode("utf-8")
    closing = "END:VCALENDAR\r\n"
    assert head.endswith(closing)
    originals = _originals(data.airings)
    stamp = f"{data.generated.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    duration: str = icalendar.vDuration(ICS_DURATION).to_ical().decode()  # type: ignore[no-untyped-call]
    events = "".join(_vevent(airing, stamp, duration, originals) for airing in data.airings)
    return head[: -len(closing)] + events + closing


def _vevent(
    airing: CalendarAiring,
    stamp: str,
    duration: str,
    originals: Mapping[tuple[str | None, int], CalendarAiring],
) -> str:
    start = ics_start(airing)
    if start.tzinfo is UTC or airing.timezone.key == "UTC":
        dtstart = f"DTSTART:{start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    else:
        dtstart = f"DTSTART;TZID={airing.timezone.key}:{start:%Y%m%dT%H%M%S}"
    lines = [
        "BEGIN:VEVENT",
        f"UID:{_ics_text(ics_uid(airing))}",
        f"DTSTAMP:{stamp}",
        dtstart,
        f"DURATION:{duration}",
        f"SUMMARY:{_ics_text(ics_summary(airing))}",
        f"DESCRIPTION:{_ics_text(airing.body)}",
        f"CATEGORIES:{_ics_text(airing.kind)}",
        f"STATUS:{_ICS_STATUS.get(airing.status, 'TENTATIVE')}",
    ]
    if url := _safe_url(airing.remote_url):
        lines.append(f"URL:{url}")
    original = originals.get((airing.channel, airing.post_id))
    if airing.kind == AiringKind.repost and original is not None:
        lines.append(f"RELATED-TO:{_ics_text(ics_uid(original))}")
    lines.append("END:VEVENT")
    return "".join(_ics_fold(line) + "\r\n" for line in lines)


def _ics_text(text: str) -> str:
    """RFC 5545 §3.3.11 TEXT: backslash, semicolon and comma escaped, newlines as \\n, and
    no control character left (RFC 5545 forbids them in TEXT; a raw CR LF would end the
    property and start a forged one)."""
    escaped = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return clean(escaped, keep_newlines=True).replace("\n", "\\n")


def _ics_fold(line: str) -> str:
    """RFC 5545 §3.1: at most 75 octets a line, never inside a UTF-8 sequence, and (as the
    `icalendar` library does for old clients) never right after a backslash."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts, begin, room = [], 0, 75
    while len(raw) - begin > room:
        cut = begin + room
        while raw[cut] & 0xC0 == 0x80:  # a continuation byte: back off to the character
            cut -= 1
        while cut - begin > 1 and raw[cut - 1] == 0x5C:
            cut -= 1
        parts.append(raw[begin:cut])
        begin, room = cut, 74  # a continuation line starts with one space
    parts.append(raw[begin:])
    return b"\r\n ".join(parts).decode("utf-8")


# --- terminal text ---------------------------------------------------------------------------


class TextRow(NamedTuple):
    """One line of the terminal calendar (a named tuple: a week of 100 channels makes
    17,000, and a frozen dataclass took five times as long to make)."""

    flag: str  # "!" for a gap or an airing that needs attention
    time: str
    channel: str
    kind: str
    status: str
    post: str
    body: str
    error: str = ""  # shown on a line of its own under the body, so it is never clipped


def text_rows(
    data: CalendarData, *, lang: str = "en", tz: ZoneInfo | None = None
) -> Iterator[tuple[date, list[TextRow]]]:
    """Each local day of the window with its rows, in time order (gaps included).

    Rows are made from the airings directly, not through the HTML views' `AiringView`
    (anchors, links, three body lines): a terminal shows a line of each, and a week of 100
    channels is some 17,000 of them."""
    zone = page_zone(data, tz)
    t = i18n.messages(lang)
    airing_rows = []
    # Airings share their times (100 channels on the hour): each is localized and
    # formatted once.
    local_of: dict[datetime, tuple[date, str]] = {}
    for airing in data.airings:
        local = local_of.get(airing.at)
        if local is None:
            moment = airing.at.astimezone(zone)
            local = local_of[airing.at] = (moment.date(), f"{moment:%H:%M}")
        day, clock = local
        airing_rows.append((day, airing.at, _text_row(airing, clock, t)))
    rows_of = _by_day(airing_rows, _gap_views(data, zone, lang))
    for day in _days(data, zone):
        rows = []
        for entry in rows_of.get(day, ()):
            if isinstance(entry, GapView):
                rows.append(TextRow("!", entry.time, entry.channel, t["gap"], "", "", entry.text))
            else:
                rows.append(entry)
        yield day, rows


def _text_row(airing: CalendarAiring, clock: str, t: Mapping[str, str]) -> TextRow:
    """An airing's row at local `clock` (HH:MM): what its `AiringView` would show of it in
    one line."""
    error = f"{t['error']}: {airing.error}" if airing.error else ""
    return TextRow(
        "!" if airing.status in ALERT_STATUSES else " ",
        clock,
        airing.channel,
        t.get(airing.kind, airing.kind),
        t.get(airing.status, airing.status),
        f"↻#{airing.post_id}" if airing.kind == AiringKind.repost else f"#{airing.post_id}",
        _cut(first_line(airing.body), BODY_LINE_CHARS),  # the first of `_first_lines`
        error,
    )


def render_text(
    data: CalendarData, *, lang: str = "en", tz: ZoneInfo | None = None, width: int = 100
) -> str:
    """A compact terminal view, one block per local day; columns are padded by display
    width (wcwidth), so emoji and Arabic keep them aligned. The body comes last and is
    clipped to what is left of `width`."""
    zone = page_zone(data, tz)
    t = i18n.messages(lang)
    days = list(text_rows(data, lang=lang, tz=zone))
    # A column's cells repeat (100 channels, a few kinds and statuses): each distinct text is
    # cleaned, isolated and measured once.
    shown: dict[str, tuple[str, int]] = {}

    def column_cell(text: str) -> tuple[str, int]:
        found = shown.get(text)
        if found is None:
            cleaned = clean(text)
            found = shown[text] = (isolate(cleaned), display_width(cleaned))
        return found

    cells = [
        (column_cell(r.channel), column_cell(r.kind), column_cell(r.status), column_cell(r.post))
        for _, rows in days
        for r in rows
    ]
    widths = [max((c[i][1] for c in cells), default=0) for i in range(4)]
    start, end = data.start.astimezone(zone), data.end.astimezone(zone)
    window = f"{local_label(start, zone)} – {local_label(end, zone)}"
    out = [f"{isolate(t['title'])}: {window} ({zone.key})"]
    index = 0
    for day, rows in days:
        out.append("")
        out.append(isolate(i18n.day_label(day, lang)))
        if not rows:
            out.append(f"  ({isolate(t['no_airings'])})")
        for row in rows:
            columns = [
                text + " " * (w - used)
                for (text, used), w in zip(cells[index], widths, strict=True)
            ]
            index += 1
            prefix = f"{row.flag} {row.time}  " + "  ".join(columns)
            room = max(width - display_width(prefix) - 2, 10)
            body = clip(clean(row.body), room)
            out.append(f"{prefix}  {isolate(body)}".rstrip())
            if row.error:
                indent = " " * (display_width(prefix) + 2)
                out.append(f"{indent}{isolate(clip('↳ ' + clean(row.error), room))}")
    return "\n".join(out) + "\n"


# --- the served page -------------------------------------------------------------------------


def make_server(
    render: Callable[[str, str], str],
    *,
    port: int = 8765,
    view: str = "week",
    lang: str = "en",
) -> ThreadingHTTPServer:
    """A read-only preview server on 127.0.0.1. `render(view, lang)` is called on every
    GET / so the page always shows the current plan; `?view=` and `?lang=` switch.

    Only GET exists (anything else is 405), and a request whose Host is not this loopback
    address is refused, so a web page can't read the unpublished plan by DNS rebinding.
    """
    defaults = {"view": view, "lang": lang}

    class Handler(BaseHTTPRequestHandler):
        server_version = "content-scheduler-preview"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlsplit(self.path)
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
            if host not in ("127.0.0.1", "localhost"):
                self._reply(403, "text/plain", "only local requests are served\n")
                return
            if url.path != "/":
                self._reply(404, "text/plain", "not found\n")
                return
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            chosen = {key: query.get(key, value) for key, value in defaults.items()}
            if chosen["view"] not in VIEWS or chosen["lang"] not in i18n.LANGS:
                self._reply(400, "text/plain", "view must be week, month or inbox, lang en or ar\n")
                return
            try:
                page = render(chosen["view"], chosen["lang"])
            except Exception as exc:  # the page reports it; the server keeps serving
                self.log_error("rendering failed: %s", exc)
                self._reply(500, "text/plain", f"the calendar could not be built: {exc}\n")
                return
            self._reply(200, "text/html", page)

        def __getattr__(self, name: str) -> Any:
            # http.server looks up do_<METHOD>; every method but GET is "not allowed".
            if name.startswith("do_"):
                return self._not_allowed
            raise AttributeError(name)

        def _not_allowed(self) -> None:
            self._reply(405, "text/plain", "read-only: only GET is allowed\n", allow="GET")

        def _reply(self, status: int, kind: str, text: str, allow: str | None = None) -> None:
            payload = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            if allow:
                self.send_header("Allow", allow)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass  # a page kept open would flood the terminal; errors are still logged

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server
