"""`scheduler report --format html` (§11): one self-contained page with inline SVG charts.

The report's dict (`queries.report`) is turned into frozen views holding every string and
every coordinate the template prints, so the template only lays out. Charts are drawn
here as lists of SVG shapes, twice: once for a wide card and once for a phone, because
SVG text scales with its drawing and one drawing can't be readable at both widths (CSS
shows the one that fits). In Arabic the page is `dir="rtl"` and every chart is mirrored:
the hours run from the right, labels sit on the right, and text anchors stay logical
(`start` is the right edge in RTL), so one set of anchors serves both directions.

Text from outside (post bodies, authors, tags, even channel names) is cleaned of control
and bidi-override characters here and escaped by Jinja's autoescape in the template, SVG
text included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from ..timeutil import clock_label, local_label, parse_duration
from . import i18n
from .preview import CSP, environment
from .terminal import FSI, PDI, clean, clip

# Drawing widths: a full-width card on a desktop, a half-width card, a phone. A drawing is
# shown at most at its own size (CSS shrinks it, never stretches it), so text stays 11-13 px.
FULL, WIDE, NARROW = 1160, 640, 340
BODY_CHARS = 120  # a top or bottom post's text is cut here (first line only)
TAGS_SHOWN = 12
FOLLOWER_POINTS = 400  # a longer history is thinned to this many points for the line
KINDS = ("core", "entertaining", "repost")


# --- SVG drawing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    label: str  # aria-label: what the chart shows
    size: str  # "full", "wide" or "narrow": the card width it is drawn for; "meter" fits all
    shapes: Markup  # the SVG elements, outside text in them already escaped


class Canvas:
    """Collects SVG elements in left-to-right coordinates and mirrors them for a
    right-to-left page, so each chart is written once.

    Elements are written here rather than by the template: a year's report of twenty
    channels draws tens of thousands of them, and escaping each number in Jinja took most
    of a second. Numbers and class names are ours; text and tooltips, which may quote
    outside text (a tag), are cleaned and escaped with markupsafe, as autoescape would."""

    def __init__(self, width: int, height: float, *, rtl: bool) -> None:
        self.width, self.height, self.rtl = width, height, rtl
        self.shapes: list[str] = []

    def _x(self, x: float) -> float:
        return self.width - x if self.rtl else x

    def rect(self, x: float, y: float, w: float, h: float, css: str, title: str = "") -> None:
        left = self.width - x - w if self.rtl else x
        attrs = {"x": left, "y": y, "width": max(w, 0), "height": max(h, 0)}
        self._add("rect", attrs, css, title=title)

    def line(self, x1: float, y1: float, x2: float, y2: float, css: str) -> None:
        self._add("line", {"x1": self._x(x1), "y1": y1, "x2": self._x(x2), "y2": y2}, css)

    def polyline(self, points: Sequence[tuple[float, float]], css: str) -> None:
        drawn = " ".join(f"{_n(self._x(x))},{_n(y)}" for x, y in points)
        self.shapes.append(f'<polyline points="{drawn}" class="{css}"></polyline>')

    def circle(self, x: float, y: float, r: float, css: str, title: str = "") -> None:
        self._add("circle", {"cx": self._x(x), "cy": y, "r": r}, css, title=title)

    def text(
        self, x: float, y: float, text: str, css: str, *, anchor: str = "start", own: bool = False
    ) -> None:
        """`anchor` is logical: `start` is where the reading direction begins. `own` text
        (a tag) is isolated so it reads in its own direction, whatever the page's."""
        shown = clean(text)
        attrs = {"x": self._x(x), "y": y}
        self._add("text", attrs, css, text=FSI + shown + PDI if own else shown, anchor=anchor)

    def _add(
        self,
        tag: str,
        numbers: Mapping[str, float],
        css: str,
        *,
        text: str = "",
        title: str = "",
        anchor: str | None = None,
    ) -> None:
        attrs = "".join(f' {key}="{_n(value)}"' for key, value in numbers.items())
        attrs += f' class="{css}"' + (f' text-anchor="{anchor}"' if anchor else "")
        tip = f"<title>{escape(clean(title))}</title>" if title else ""
        self.shapes.append(f"<{tag}{attrs}>{tip}{escape(text)}</{tag}>")

    def chart(self, label: str, size: str | None = None) -> Chart:
        size = size or {FULL: "full", WIDE: "wide"}.get(self.width, "narrow")
        shapes = Markup("\n".join(self.shapes))  # every piece is escaped above
        return Chart(self.width, math.ceil(self.height), clean(label), size, shapes)


def _n(value: float) -> str:
    """A coordinate with at most one decimal, without a trailing `.0`."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _nice_max(value: float) -> float:
    """The smallest round number at or above `value` whose quarters are round too (4, 6,
    8, 10, 12, 16, 20, 30, … × 10^k): the gridlines of a chart."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.6, 2, 2.4, 3, 4, 6, 8, 10):
        if value <= step * power + 1e-9:
            return float(step * power)
    return float(10 * power)  # pragma: no cover (the loop always returns)


def _nice_range(low: float, high: float) -> tuple[float, float]:
    """`[low, high]` widened to four round steps, for an axis that need not start at 0."""
    step = _nice_step(max(high - low, 4.0) / 4)
    start = math.floor(low / step) * step
    while start + 4 * step < high:
        step = _nice_step(step * 1.01)
        start = math.floor(low / step) * step
    return start, start + 4 * step


def _nice_step(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above `value`."""
    power = 10 ** math.floor(math.log10(value))
    return float(next(step * power for step in (1, 2, 2.5, 5, 10) if value <= step * power))


# --- views ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """A chart card: one drawing per card width, or an empty state."""

    title: str
    note: str
    charts: tuple[Chart, ...]
    empty: str | None  # the sentence shown instead of charts
    legend: tuple[tuple[str, str], ...] = ()  # (css, label)
    summary: str = ""


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    detail: str


@dataclass(frozen=True)
class PostRow:
    label: str  # "post #7"
    body: str
    kind: str
    kind_label: str
    when: str
    engagement: str


@dataclass(frozen=True)
class GoalRow:
    name: str
    target: str
    facts: tuple[str, ...]
    verdict: str
    verdict_css: str


@dataclass(frozen=True)
class InboxView:
    tiles: tuple[Tile, ...]
    meter: Chart | None  # the share answered in time against the goal's share
    meter_label: str
    done: str
    waiting: tuple[tuple[str, str], ...]  # (author, since)
    empty: str | None


@dataclass(frozen=True)
class ChannelView:
    anchor: str
    name: str
    publisher: str
    zone: str
    tiles: tuple[Tile, ...]
    notice: str | None  # not measured / no airings: said once, above the cards
    engagement: bool  # draw the engagement cards (the notice says why not)
    hours: Figure
    kinds: Figure
    reruns: Figure
    tags: Figure
    followers: Figure
    top: tuple[PostRow, ...]
    bottom: tuple[PostRow, ...]
    goals: tuple[GoalRow, ...]
    inbox: InboxView | None


@dataclass(frozen=True)
class CompareView:
    title: str
    rows: tuple[tuple[str, str, str, str], ...]  # tag, n, median, mean
    verdict: str
    verdict_css: str


@dataclass(frozen=True)
class ReportView:
    lang: str
    dir: str
    t: Mapping[str, str]
    heading: str
    window: str
    generated: str
    zone: str
    channels: tuple[ChannelView, ...]
    compare: CompareView | None
    csp: str = CSP


# --- building the views -----------------------------------------------------------------------


def render_report_html(
    report: Mapping[str, Any],
    *,
    zones: Mapping[str, ZoneInfo],
    page_zone: ZoneInfo,
    now: datetime,
    lang: str = "en",
) -> str:
    """The report as one HTML page; `zones` are the channels' timezones (hours of day and
    times are shown in each channel's own), `page_zone` the one the window is shown in."""
    view = build_report_view(report, zones=zones, page_zone=page_zone, now=now, lang=lang)
    return environment().get_template("report.html.j2").render(page=view, t=view.t)


def build_report_view(
    report: Mapping[str, Any],
    *,
    zones: Mapping[str, ZoneInfo],
    page_zone: ZoneInfo,
    now: datetime,
    lang: str = "en",
) -> ReportView:
    t = i18n.messages(lang)  # ValueError for an unknown language
    start, end = _parse(report["from"]), _parse(report["to"])
    window = f"{_when(start, page_zone, lang)} – {_when(end, page_zone, lang)}"
    channels = tuple(
        _channel(name, channel, zones.get(name, page_zone), t, lang, start=start, end=end)
        for name, channel in report["channels"].items()
    )
    return ReportView(
        lang=lang,
        dir=i18n.DIRECTION[lang],
        t=t,
        heading=t["r_title"],
        window=window,
        generated=_when(now, page_zone, lang),
        zone=str(page_zone.key),
        channels=channels,
        compare=_compare(report.get("compare"), t),
    )


def _channel(
    name: str,
    channel: Mapping[str, Any],
    zone: ZoneInfo,
    t: Mapping[str, str],
    lang: str,
    *,
    start: datetime,
    end: datetime,
) -> ChannelView:
    rtl = i18n.DIRECTION[lang] == "rtl"
    measured = channel["measured"]
    notice = None
    if not measured:
        notice = t["r_not_measured"]
    elif channel["airings"] == 0:
        notice = t["r_no_airings"]
    empty = t["r_not_measured"] if not measured else t["r_no_measured"]
    has_measured = measured and channel["measured_airings"] > 0
    return ChannelView(
        anchor=f"channel-{_slug(name)}",
        name=clean(name),
        publisher=channel["publisher"],
        zone=str(zone.key),
        tiles=_tiles(channel, t, lang, start=start, end=end),
        notice=notice,
        engagement=notice is None,
        hours=_hours_figure(channel["by_hour"], zone, t, lang, rtl, empty, has_measured),
        kinds=_rows_figure(
            t["r_by_kind"],
            [(t[k], k, channel["by_kind"][k]) for k in KINDS if k in channel["by_kind"]],
            t,
            lang,
            rtl,
            empty,
        ),
        reruns=_reruns_figure(channel["reruns"], t, rtl, empty if not has_measured else None),
        tags=_rows_figure(
            t["r_by_tag"],
            [
                (tag, "tag", row)
                for tag, row in sorted(
                    channel["by_tag"].items(), key=lambda pair: (-pair[1]["airings"], pair[0])
                )[:TAGS_SHOWN]
            ],
            t,
            lang,
            rtl,
            empty if not has_measured else t["r_no_tags"],
        ),
        followers=_followers_figure(channel, t, lang, rtl),
        top=tuple(_post(row, zone, t, lang) for row in channel["top"]),
        bottom=tuple(_post(row, zone, t, lang) for row in channel["bottom"]),
        goals=tuple(_goal(goal, t, lang) for goal in channel["goals"]),
        inbox=_inbox(channel["inbox"], _answer_share(channel["goals"]), zone, t, lang, rtl),
    )


def _tiles(
    channel: Mapping[str, Any], t: Mapping[str, str], lang: str, *, start: datetime, end: datetime
) -> tuple[Tile, ...]:
    measured = channel["measured_airings"]
    total = sum(row["total"] for row in channel["by_kind"].values())
    per_airing = _num(total / measured) if measured else "–"
    tiles = [
        Tile(
            t["r_airings"],
            str(channel["airings"]),
            t["r_measured_of"].format(measured=measured),
        ),
        Tile(t["r_engagement_per_airing"], per_airing, t["r_total"].format(value=_num(total))),
    ]
    followers = channel["followers"]
    if followers["now"] is not None:
        inside = [
            row["followers"] for row in followers["history"] if start <= _parse(row["at"]) < end
        ]
        change = inside[-1] - inside[0] if len(inside) > 1 else 0
        tiles.append(
            Tile(
                t["r_followers"],
                _num(followers["now"]),
                t["r_change_in_window"].format(change=f"{change:+,}"),
            )
        )
    inbox = channel["inbox"]
    if inbox is not None and inbox["received"]:
        minutes = inbox["median_response_minutes"]
        response = "–" if minutes is None else i18n.duration_label(round(minutes), lang)
        tiles.append(
            Tile(
                t["r_answered"],
                _share(inbox["answered_share"]),
                f"{t['r_median_response']}: {response}",
            )
        )
    return tuple(tiles)


# --- charts -----------------------------------------------------------------------------------


def _hours_figure(
    by_hour: Mapping[str, Mapping[str, Any]],
    zone: ZoneInfo,
    t: Mapping[str, str],
    lang: str,
    rtl: bool,
    empty: str,
    has_measured: bool,
) -> Figure:
    title, note = t["r_by_hour"], t["r_by_hour_note"].format(zone=zone.key)
    if not has_measured or not by_hour:
        return Figure(title, note, (), empty)
    charts = tuple(_hours_chart(by_hour, width, t, lang, rtl) for width in (FULL, WIDE, NARROW))
    best_hour, best = max(by_hour.items(), key=lambda pair: (pair[1]["median"], -int(pair[0])))
    summary = t["r_best_hour"].format(
        hour=f"{int(best_hour):02d}:00",
        median=_num(best["median"]),
        airings=i18n.airing_count(best["airings"], lang),
    )
    return Figure(title, note, charts, None, summary=summary)


def _hours_chart(
    by_hour: Mapping[str, Mapping[str, Any]],
    width: int,
    t: Mapping[str, str],
    lang: str,
    rtl: bool,
) -> Chart:
    counted = width == FULL  # room for each hour's airings under its label
    left, right, top, bottom = 40, 10, 30, 56 if counted else 40
    height = {FULL: 266, WIDE: 250}.get(width, 220)
    canvas = Canvas(width, height, rtl=rtl)
    plot_w, plot_h = width - left - right, height - top - bottom
    base = top + plot_h
    peak = _nice_max(max(row["median"] for row in by_hour.values()))
    _value_axis(canvas, left, width - right, top, plot_h, 0.0, peak)
    canvas.text(4, 14, t["r_median_axis"], "axis-title")
    slot = plot_w / 24
    best = max(by_hour, key=lambda hour: (by_hour[hour]["median"], -int(hour)))
    for hour in range(24):
        row = by_hour.get(str(hour))
        x = left + hour * slot
        if row is not None:
            bar = max(plot_h * row["median"] / peak, 2.0)  # a measured 0 still shows
            tip = (
                f"{hour:02d}:00 · {t['r_median']} {_num(row['median'])} · "
                f"{i18n.airing_count(row['airings'], lang)} · "
                f"{t['r_total'].format(value=_num(row['total']))}"
            )
            css = "bar best" if str(hour) == best else "bar"
            canvas.rect(x + slot * 0.15, base - bar, slot * 0.7, bar, css, title=tip)
            if str(hour) == best:
                canvas.text(
                    x + slot / 2, base - bar - 5, _num(row["median"]), "value", anchor="middle"
                )
        every = {FULL: 1, WIDE: 3}.get(width, 6)
        if hour % every == 0:
            canvas.line(x + slot / 2, base, x + slot / 2, base + 4, "axis")
            canvas.text(x + slot / 2, base + 17, f"{hour:02d}", "tick", anchor="middle")
        if counted:
            airings = "–" if row is None else str(row["airings"])
            canvas.text(x + slot / 2, base + 32, airings, "count", anchor="middle")
    axis = t["r_hour_axis_counted"] if counted else t["r_hour_axis"]
    canvas.text(left + plot_w / 2, height - 6, axis, "axis-title", anchor="middle")
    return canvas.chart(t["r_by_hour"])


def _value_axis(
    canvas: Canvas, left: float, right: float, top: float, height: float, low: float, high: float
) -> None:
    """Five gridlines from `low` (the axis itself) to `high`, each labelled at the start."""
    for step in range(5):
        y = top + height * (1 - step / 4)
        canvas.line(left, y, right, y, "grid" if step else "axis")
        canvas.text(left - 6, y + 4, _num(low + (high - low) * step / 4), "tick", anchor="end")


def _rows_figure(
    title: str,
    rows: Sequence[tuple[str, str, Mapping[str, Any]]],
    t: Mapping[str, str],
    lang: str,
    rtl: bool,
    empty: str | None,
) -> Figure:
    """Horizontal bars of median engagement, one row per kind or tag, each labelled with
    its median and airings (the total in its tooltip)."""
    if not rows:
        return Figure(title, "", (), empty or t["r_no_measured"])
    charts = tuple(_rows_chart(title, rows, width, t, lang, rtl) for width in (WIDE, NARROW))
    return Figure(title, t["r_median_axis"], charts, None)


def _rows_chart(
    title: str,
    rows: Sequence[tuple[str, str, Mapping[str, Any]]],
    width: int,
    t: Mapping[str, str],
    lang: str,
    rtl: bool,
) -> Chart:
    side, row_h = 8, 44
    canvas = Canvas(width, 8 + row_h * len(rows), rtl=rtl)
    peak = max(max(row["median"] for _, _, row in rows), 1e-9)
    for index, (label, css, row) in enumerate(rows):
        y = 8 + index * row_h
        value = t["r_row_value"].format(
            median=_num(row["median"]), airings=i18n.airing_count(row["airings"], lang)
        )
        shown = clip(label, 40 if width == WIDE else 18)
        canvas.text(side, y + 13, shown, "label", own=css == "tag")
        canvas.text(width - side, y + 13, value, "value", anchor="end")
        canvas.rect(side, y + 20, width - 2 * side, 14, "track")
        bar = (width - 2 * side) * row["median"] / peak
        tip = f"{label}: {value} · {t['r_total'].format(value=_num(row['total']))}"
        canvas.rect(side, y + 20, max(bar, 2.0), 14, f"bar {css}", title=tip)
    return canvas.chart(title)


def _reruns_figure(
    reruns: Mapping[str, Mapping[str, Any]], t: Mapping[str, str], rtl: bool, empty: str | None
) -> Figure:
    title, note = t["r_reruns"], t["r_reruns_note"]
    if empty is not None or not reruns:
        return Figure(title, note, (), empty or t["r_no_reruns"])
    charts = tuple(_reruns_chart(reruns, width, t, rtl) for width in (WIDE, NARROW))
    legend = (("first", t["r_first_airing"]), ("repost", t["r_rerun"]))
    return Figure(title, note, charts, None, legend=legend)


def _reruns_chart(
    reruns: Mapping[str, Mapping[str, Any]], width: int, t: Mapping[str, str], rtl: bool
) -> Chart:
    side, row_h, value_room = 8, 58, 44
    canvas = Canvas(width, 8 + row_h * len(reruns), rtl=rtl)
    values = [v for row in reruns.values() for v in (row["median"], row["first_median"])]
    peak = max(max(values), 1e-9)
    span = width - 2 * side - value_room
    for index, (shift, row) in enumerate(reruns.items()):
        y = 8 + index * row_h
        key = "r_shift_one" if row["reruns"] == 1 else "r_shift"
        canvas.text(side, y + 13, t[key].format(hours=shift, reruns=row["reruns"]), "label")
        for offset, css, value, name in (
            (20, "bar first", row["first_median"], t["r_first_airing"]),
            (36, "bar repost", row["median"], t["r_rerun"]),
        ):
            bar = max(span * value / peak, 2.0)
            canvas.rect(side, y + offset, bar, 13, css, title=f"{name}: {_num(value)}")
            canvas.text(side + bar + 5, y + offset + 11, _num(value), "value")
    return canvas.chart(t["r_reruns"])


def _followers_figure(
    channel: Mapping[str, Any], t: Mapping[str, str], lang: str, rtl: bool
) -> Figure:
    title = t["r_followers_trend"]
    history = channel["followers"]["history"]
    if not history:
        return Figure(title, "", (), t["r_no_followers"])
    goal = next((g for g in channel["goals"] if g["goal"] == "followers"), None)
    points = [(_parse(row["at"]), float(row["followers"])) for row in history]
    charts = tuple(_followers_chart(points, goal, width, t, lang, rtl) for width in (WIDE, NARROW))
    legend: tuple[tuple[str, str], ...] = (("line", t["r_followers"]),)
    if goal is not None:
        legend += (("goal", t["r_goal_line"].format(target=_num(goal["target"]))),)
        legend += (("projection", t["r_projection"]),)
    return Figure(title, "", charts, None, legend=legend)


def _followers_chart(
    points: Sequence[tuple[datetime, float]],
    goal: Mapping[str, Any] | None,
    width: int,
    t: Mapping[str, str],
    lang: str,
    rtl: bool,
) -> Chart:
    left, right, top, bottom = 52, 16, 24, 34
    height = 240 if width == WIDE else 220
    canvas = Canvas(width, height, rtl=rtl)
    plot_w, plot_h = width - left - right, height - top - bottom
    first, last = points[0][0], points[-1][0]
    by = None
    if goal is not None:
        by = datetime.fromisoformat(goal["by"] + "T23:59:59+00:00")
    end = max(last, by) if by is not None else last
    if end <= first:  # one reading so far: a day's width to draw it in
        end = first + timedelta(days=1)
    values = [value for _, value in points]
    if goal is not None:
        values.append(float(goal["target"]))
        if goal["projected"] is not None:
            values.append(float(goal["projected"]))
    low, high = _nice_range(min(values), max(values))
    seconds = (end - first).total_seconds()

    def x_of(moment: datetime) -> float:
        return left + plot_w * (moment - first).total_seconds() / seconds

    def y_of(value: float) -> float:
        return top + plot_h * (1 - (value - low) / (high - low))

    _value_axis(canvas, left, width - right, top, plot_h, low, high)
    stride = max(1, math.ceil(len(points) / FOLLOWER_POINTS))
    drawn = [*points[::stride], points[-1]] if (len(points) - 1) % stride else points[::stride]
    canvas.polyline([(x_of(at), y_of(value)) for at, value in drawn], "line")
    now_at, now_value = points[-1]
    canvas.circle(x_of(now_at), y_of(now_value), 4, "dot", title=f"{_num(now_value)}")
    # At the right end (no goal date beyond it), "now" is labelled leftwards of its point.
    now_anchor = "end" if x_of(now_at) > width - right - 30 else "middle"
    canvas.text(x_of(now_at), y_of(now_value) - 9, _num(now_value), "value", anchor=now_anchor)
    labels = [(first, "start"), (now_at, now_anchor)]
    if goal is not None and by is not None:
        target_y = y_of(float(goal["target"]))
        canvas.line(left, target_y, width - right, target_y, "goal")
        canvas.text(
            left + 4,
            target_y - 5,
            t["r_goal_line"].format(target=_num(goal["target"])),
            "goal-label",
        )
    if goal is not None and by is not None and by >= first:  # a date already behind: no line
        canvas.line(x_of(by), top, x_of(by), top + plot_h, "goal")
        if goal["projected"] is not None:
            canvas.polyline(
                [(x_of(now_at), y_of(now_value)), (x_of(by), y_of(float(goal["projected"])))],
                "projection",
            )
        labels.append((by, "end"))
    placed: list[float] = []
    for moment, anchor in labels:
        x = x_of(moment)
        if any(abs(x - other) < 70 for other in placed):
            continue  # two dates this close would overlap: the earlier one stays
        placed.append(x)
        canvas.text(x, height - 10, _date_label(moment.date(), lang), "tick", anchor=anchor)
    return canvas.chart(t["r_followers_trend"])


# --- tables and lists -------------------------------------------------------------------------


def _post(row: Mapping[str, Any], zone: ZoneInfo, t: Mapping[str, str], lang: str) -> PostRow:
    lines = str(row.get("body") or "").strip().splitlines()
    body = clean(lines[0]).strip() if lines else ""
    return PostRow(
        label=t["r_post"].format(id=row["post_id"]),
        body=clip(body, BODY_CHARS),
        kind=row["kind"],
        kind_label=t.get(row["kind"], row["kind"]),
        when=_when(_parse(row["at"]), zone, lang),
        engagement=_num(row["engagement"]),
    )


_VERDICTS = {
    "on track": ("v_on_track", "on-track"),
    "behind": ("v_behind", "behind"),
    "unrealistic at the current trend": ("v_unrealistic", "unrealistic"),
    "not measured": ("v_not_measured", "not-measured"),
}


def _goal(goal: Mapping[str, Any], t: Mapping[str, str], lang: str) -> GoalRow:
    key, css = _VERDICTS.get(goal["verdict"], ("v_not_measured", "not-measured"))
    name = t.get(f"r_goal_{goal['goal']}", goal["goal"])
    if goal["goal"] == "replies_answered":
        within = _duration(goal["within"], lang)
        target = t["r_target_within"].format(share=_share(goal["target"]), within=within)
        facts = [t["r_value_now"].format(value=_share(goal["value"]))]
        facts.append(t["r_due"].format(answered=goal["answered_within"], due=goal["due"]))
    else:
        target = t["r_target_by"].format(target=_num(goal["target"]), by=goal["by"])
        facts = [t["r_value_now"].format(value=_num(goal["value"]))]
        for label, value in (
            ("r_needed", goal["needed_per_day"]),
            ("r_trend", goal["trend_per_day"]),
            ("r_projected", goal["projected"]),
        ):
            if value is not None:
                facts.append(t[label].format(value=_num(value)))
    return GoalRow(name, target, tuple(facts), t[key], css)


def _answer_share(goals: Sequence[Mapping[str, Any]]) -> float | None:
    """The replies_answered goal's share, marked on the inbox's meter."""
    return next((g["target"] for g in goals if g["goal"] == "replies_answered"), None)


def _inbox(
    inbox: Mapping[str, Any] | None,
    goal_share: float | None,
    zone: ZoneInfo,
    t: Mapping[str, str],
    lang: str,
    rtl: bool,
) -> InboxView | None:
    if inbox is None:
        return None
    if not inbox["received"]:
        return InboxView((), None, "", "", (), t["r_no_inbox"])
    minutes = inbox["median_response_minutes"]
    response = "–" if minutes is None else i18n.duration_label(round(minutes), lang)
    tiles = (
        Tile(t["r_received"], str(inbox["received"]), ""),
        Tile(t["r_answered"], str(inbox["answered"]), _share(inbox["answered_share"])),
        Tile(t["r_median_response"], response, ""),
        Tile(t["r_open"], str(inbox["open"]), ""),
    )
    within = _duration(inbox["within"], lang)
    meter_label = t["r_within_meter"].format(within=within)
    meter = None
    if inbox["due"]:
        meter = _meter(inbox["answered_within"] / inbox["due"], goal_share, t, rtl)
        meter_label += " · " + t["r_due"].format(
            answered=inbox["answered_within"], due=inbox["due"]
        )
    waiting = tuple(
        (clean(item["author"]), t["r_since"].format(when=_when(_parse(item["at"]), zone, lang)))
        for item in inbox["waiting"]
    )
    done = t["r_done"].format(n=inbox["done"]) if inbox["done"] else ""
    return InboxView(tiles, meter, meter_label, done, waiting, None)


def _meter(share: float, goal: float | None, t: Mapping[str, str], rtl: bool) -> Chart:
    """A bar of the share answered in time, with the goal's share marked when there is one."""
    width = NARROW
    canvas = Canvas(width, 46, rtl=rtl)
    span = width - 16
    canvas.rect(8, 8, span, 16, "track")
    canvas.rect(8, 8, max(span * share, 2.0), 16, "bar meter", title=_share(share))
    canvas.text(8, 40, _share(share), "value")
    if goal is not None:
        x = 8 + span * goal
        canvas.line(x, 4, x, 28, "goal")
        canvas.text(
            x, 40, t["r_goal_marker"].format(share=_share(goal)), "goal-label", anchor="middle"
        )
    return canvas.chart(t["r_answered"], size="meter")


def _compare(result: Mapping[str, Any] | None, t: Mapping[str, str]) -> CompareView | None:
    if result is None:
        return None
    first, second = (clean(tag) for tag in result["tags"])
    rows = tuple(
        (
            clean(tag),
            str(result["n"][index]),
            _num(result["median"][index]),
            _num(result["mean"][index]),
        )
        for index, tag in enumerate(result["tags"])
    )
    p_value = result["p_value"]
    if p_value is None:
        from ..measuring import MIN_COMPARE_N

        verdict, css = t["c_not_enough"].format(n=MIN_COMPARE_N), "not-measured"
    elif p_value < 0.05:
        verdict, css = t["c_more_than_noise"].format(p=f"{p_value:.3f}"), "on-track"
    else:
        verdict, css = t["c_noise"].format(p=f"{p_value:.3f}"), "behind"
    return CompareView(t["r_compare"].format(a=first, b=second), rows, verdict, css)


# --- small helpers ----------------------------------------------------------------------------


def _when(moment: datetime, zone: ZoneInfo, lang: str) -> str:
    """`Sun 29 Nov 02:00 +01:00`, with the day and month named in the page's language."""
    if lang == "en":
        return local_label(moment, zone)
    local = moment.astimezone(zone)
    return f"{i18n.day_label(local.date(), lang)} {clock_label(local)}"


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _duration(text: str, lang: str) -> str:
    return i18n.duration_label(int(parse_duration(text).total_seconds() // 60), lang)


def _date_label(day: date, lang: str) -> str:
    month = i18n.month_name(day.month, lang)
    return f"{day.day} {month[:3] if lang == 'en' else month} {day.year}"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
