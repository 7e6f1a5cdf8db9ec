"""`scheduler report` (§11): what worked, per channel over a window, as one JSON-ready dict.

Reads the store once per source (measured airings, tags, followers) as narrow rows and
makes one pass over them; the statistics themselves are the pure ones of `measures`.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..config import ChannelSettings, Config
from ..planning.measures import (
    AnswerStats,
    GoalPace,
    answer_stats,
    answer_verdict,
    compare,
    goal_pace,
    hour_shift,
    median,
)
from ..platforms.spec import Read
from ..store.inbox import InboxStore, Received
from ..store.metrics import (
    MeasuredAiring,
    airing_texts,
    follower_history,
    measured_airings,
    tags_by_post,
)
from ..store.store import Store
from ..timeutil import format_duration, iso_utc

TOP_AND_BOTTOM = 5
WAITING_SHOWN = 5  # the oldest open items a report names
STATUS_WINDOW = timedelta(days=30)


def build_report(
    config: Config,
    store: Store,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    channel: str | None = None,
    compare_tags: tuple[str, str] | None = None,
) -> dict[str, Any]:
    names = [name for name in config.channels if channel is None or name == channel]
    weights = config.metrics.weights
    history: dict[str, list[tuple[MeasuredAiring, float | None]]] = defaultdict(list)
    for item in measured_airings(store, channel=channel):
        c = item.counts
        value = None if c is None else weights.engagement(c.likes, c.shares, c.replies)
        history[item.channel].append((item, value))
    tags = tags_by_post(store)
    inbox = _inbox_by_channel(store, start=start, end=end, channel=channel)
    report: dict[str, Any] = {"from": iso_utc(start), "to": iso_utc(end), "channels": {}}
    compared: dict[str, list[float]] = {tag: [] for tag in compare_tags or ()}
    for name in names:
        settings = config.channels[name]
        rows = history.get(name, [])
        first_ts, last_ts = start.timestamp(), end.timestamp()
        window = [(a, v) for a, v in rows if first_ts <= a.aired_ts < last_ts]
        for airing, value in window:
            for tag in tags.get(airing.post_id, ()):
                if tag in compared and value is not None:
                    compared[tag].append(value)
        report["channels"][name] = _channel_report(
            settings, rows, window, tags, follower_history(store, name), now=now
        )
        _add_inbox(report["channels"][name], settings, inbox.get(name, []), now=now)
    _add_bodies(report, store)
    if compare_tags is not None:
        first, second = compare_tags
        result = compare(compared[first], compared[second])
        report["compare"] = {
            "tags": [first, second],
            "n": list(result.n),
            "median": list(result.median),
            "mean": list(result.mean),
            "p_value": result.p_value,
            "verdict": result.verdict,
        }
    return report


def _channel_report(
    settings: ChannelSettings,
    rows: Sequence[tuple[MeasuredAiring, float | None]],
    window: Sequence[tuple[MeasuredAiring, float | None]],
    tags: dict[int, list[str]],
    followers: Sequence[tuple[datetime, int]],
    *,
    now: datetime,
) -> dict[str, Any]:
    measured = [(a, v) for a, v in window if v is not None]
    local = _LocalTimes(settings.timezone)
    readable = Read.counts in settings.platform.reads  # the daemon reads them (§11)
    by_kind: dict[str, list[float]] = defaultdict(list)
    by_hour: dict[int, list[float]] = defaultdict(list)
    by_tag: dict[str, list[float]] = defaultdict(list)
    for airing, value in measured:
        by_kind[airing.kind].append(value)
        by_hour[local.minute_of_day(airing.aired_ts) // 60].append(value)
        for tag in tags.get(airing.post_id, ()):
            by_tag[tag].append(value)
    ranked = sorted(measured, key=lambda pair: (-pair[1], pair[0].id))
    return {
        "publisher": settings.publisher,
        "measured": bool(measured) or readable,
        "airings": len(window),
        "measured_airings": len(measured),
        "by_kind": {kind: _summary(values) for kind, values in sorted(by_kind.items())},
        "by_hour": {str(hour): _summary(by_hour[hour]) for hour in sorted(by_hour)},
        "reruns": _reruns(rows, window, local),
        "by_tag": {tag: _summary(values) for tag, values in sorted(by_tag.items())},
        "top": [_ranked(a, v) for a, v in ranked[:TOP_AND_BOTTOM]],
        "bottom": [_ranked(a, v) for a, v in reversed(ranked[-TOP_AND_BOTTOM:])]
        if len(ranked) > TOP_AND_BOTTOM
        else [],
        "inbox": None,  # filled by `_add_inbox`
        "followers": _followers(followers),
        "goals": [_goal_json(pace) for pace in _goals(settings, measured, followers, now=now)],
    }


def _summary(values: Sequence[float]) -> dict[str, Any]:
    return {"airings": len(values), "median": median(values), "total": sum(values)}


def _ranked(airing: MeasuredAiring, value: float) -> dict[str, Any]:
    return {
        "airing_id": airing.id,
        "post_id": airing.post_id,
        "kind": airing.kind,
        "at": iso_utc(airing.aired),
        "engagement": value,
    }


def _reruns(
    rows: Sequence[tuple[MeasuredAiring, float | None]],
    window: Sequence[tuple[MeasuredAiring, float | None]],
    local: _LocalTimes,
) -> dict[str, Any]:
    """Each measured rerun in the window against its post's first airing on the channel
    (wherever that fell), grouped by the hour shift between their local times of day."""
    first: dict[int, tuple[MeasuredAiring, float | None]] = {}
    for airing, value in rows:  # oldest first
        first.setdefault(airing.post_id, (airing, value))
    shifts: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for airing, value in window:
        original, first_value = first[airing.post_id]
        if airing.kind != "repost" or value is None or first_value is None:
            continue
        shift = hour_shift(
            local.minute_of_day(original.aired_ts), local.minute_of_day(airing.aired_ts)
        )
        shifts[shift].append((value, first_value))
    return {
        str(shift): {
            "reruns": len(pairs),
            "median": median([rerun for rerun, _ in pairs]),
            "first_median": median([original for _, original in pairs]),
        }
        for shift, pairs in sorted(shifts.items())
    }


class _LocalTimes:
    """Local minute of day of POSIX times in one timezone, converted once per UTC quarter
    hour (every offset in use is a whole number of quarter hours): a year of hourly airings
    costs 35,000 conversions, not one per airing."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._offsets: dict[int, int] = {}  # quarter hour since the epoch → offset in minutes

    def minute_of_day(self, ts: float) -> int:
        quarter = int(ts // 900)
        offset = self._offsets.get(quarter)
        if offset is None:
            moment = datetime.fromtimestamp(quarter * 900, self.tz)
            delta = moment.utcoffset()
            offset = int(delta.total_seconds() // 60) if delta is not None else 0
            self._offsets[quarter] = offset
        return int((ts // 60 + offset) % 1440)


def _followers(history: Sequence[tuple[datetime, int]]) -> dict[str, Any]:
    return {
        "now": history[-1][1] if history else None,
        "history": [{"at": iso_utc(at), "followers": count} for at, count in history],
    }


def _add_bodies(report: dict[str, Any], store: Store) -> None:
    """Each top and bottom post's text, so the report says which post it was."""
    rows = [
        row
        for channel in report["channels"].values()
        for row in (*channel["top"], *channel["bottom"])
    ]
    texts = airing_texts(store, (row["airing_id"] for row in rows))
    for row in rows:
        row["body"] = texts.get(row["airing_id"], "")


def _inbox_by_channel(
    store: Store, *, start: datetime, end: datetime, channel: str | None
) -> dict[str, list[Received]]:
    found: dict[str, list[Received]] = defaultdict(list)
    for item in InboxStore(store).received(start=start, end=end, channel=channel):
        found[item.channel].append(item)
    return found


def _add_inbox(
    report: dict[str, Any], settings: ChannelSettings, items: Sequence[Received], *, now: datetime
) -> None:
    """The channel's inbox over the window (§11), and its replies_answered goal. Answers
    are counted against the goal's `within`, else the channel's `response_time`."""
    goal = settings.goals.replies_answered
    within = settings.response_time if goal is None else goal.within
    stats = answer_stats(((i.at, i.status, i.answered_at) for i in items), within=within, now=now)
    if not items and Read.notices not in settings.platform.reads:
        report["inbox"] = None  # nothing is read from its platform: not "0 answered"
    else:
        report["inbox"] = _inbox_json(stats, items, within)
    if goal is not None:
        report["goals"].append(
            {
                "goal": "replies_answered",
                "target": goal.share,
                "within": format_duration(goal.within),
                "by": None,
                "value": stats.within_share,
                "due": stats.due,
                "answered_within": stats.answered_within,
                "trend_per_day": None,
                "needed_per_day": None,
                "projected": None,
                "verdict": answer_verdict(stats, goal.share),
            }
        )


def _inbox_json(stats: AnswerStats, items: Sequence[Received], within: timedelta) -> dict[str, Any]:
    waiting = [item for item in items if item.status == "open"][:WAITING_SHOWN]
    seconds = stats.median_response_seconds
    return {
        "received": stats.received,
        "answered": stats.answered,
        "done": stats.done,
        "open": stats.open,
        "answered_share": stats.answered_share,
        "median_response_minutes": None if seconds is None else round(seconds / 60, 1),
        "within": format_duration(within),
        "due": stats.due,
        "answered_within": stats.answered_within,
        "waiting": [
            {"id": item.id, "author": item.author, "at": iso_utc(item.at)} for item in waiting
        ],
    }


def goals_behind(config: Config, store: Store, *, now: datetime) -> dict[str, list[str]]:
    """Per channel, its goals that are behind or unrealistic at the current trend, as
    `status` names them; engagement per airing and replies answered are judged over the
    last `STATUS_WINDOW`."""
    behind = _dated_goals_behind(config, store, now=now)
    answering = {name for name, c in config.channels.items() if c.goals.replies_answered}
    if answering:
        items = _inbox_by_channel(store, start=now - STATUS_WINDOW, end=now, channel=None)
        for name in sorted(answering):
            goal = config.channels[name].goals.replies_answered
            assert goal is not None
            rows = ((i.at, i.status, i.answered_at) for i in items.get(name, []))
            if (
                answer_verdict(answer_stats(rows, within=goal.within, now=now), goal.share)
                == "behind"
            ):
                behind[name].append("replies_answered behind")
    return behind


def _dated_goals_behind(config: Config, store: Store, *, now: datetime) -> dict[str, list[str]]:
    behind: dict[str, list[str]] = {name: [] for name in config.channels}
    if not any(channel.goals.dated() for channel in config.channels.values()):
        return behind  # no goal: nothing to read
    weights = config.metrics.weights
    measured: dict[str, list[tuple[MeasuredAiring, float]]] = defaultdict(list)
    for item in measured_airings(store):
        if (c := item.counts) is not None and item.aired_ts >= (now - STATUS_WINDOW).timestamp():
            measured[item.channel].append((item, weights.engagement(c.likes, c.shares, c.replies)))
    for name, settings in config.channels.items():
        if not settings.goals.dated():
            continue
        paces = _goals(settings, measured[name], follower_history(store, name), now=now)
        behind[name] = [
            f"{pace.name} {pace.verdict}"
            for pace in paces
            if pace.verdict in ("behind", "unrealistic at the current trend")
        ]
    return behind


def _goals(
    settings: ChannelSettings,
    measured: Sequence[tuple[MeasuredAiring, float]],
    followers: Sequence[tuple[datetime, int]],
    *,
    now: datetime,
) -> list[GoalPace]:
    goals = settings.goals
    paces = []
    if goals.followers is not None:
        goal = goals.followers
        points = [(at, float(count)) for at, count in followers]
        paces.append(goal_pace("followers", goal.target, _end_of(goal.by), points, now=now))
    if goals.engagement_per_airing is not None:
        goal = goals.engagement_per_airing
        points = [(airing.aired, value) for airing, value in measured]
        mean = statistics.fmean(v for _, v in points) if points else None
        paces.append(
            goal_pace(
                "engagement_per_airing", goal.target, _end_of(goal.by), points, now=now, value=mean
            )
        )
    return paces


def _end_of(day: Any) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def _goal_json(pace: GoalPace) -> dict[str, Any]:
    return {
        "goal": pace.name,
        "target": pace.target,
        "by": pace.by.date().isoformat(),
        "value": pace.value,
        "trend_per_day": pace.trend_per_day,
        "needed_per_day": pace.needed_per_day,
        "projected": pace.projected,
        "verdict": pace.verdict,
    }
