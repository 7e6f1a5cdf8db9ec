"""`scheduler report` (§11): what worked, per channel over a window, as one JSON-ready dict.

Reads each channel's published airings of the window (one narrow row each, engagement
included), the first airings of the posts it reruns, tags and followers, and makes one pass
over them; the statistics themselves are the pure ones of `measures`.
"""

from __future__ import annotations

import heapq
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..config import ChannelSettings, Config
from ..domain import InboxStatus
from ..measuring import Weights
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
from ..store.reads import Aired, Received
from ..store.view_store import ViewStore
from ..timeutil import format_duration, iso_utc

TOP_AND_BOTTOM = 5
WAITING_SHOWN = 5  # the oldest open items a report names
STATUS_WINDOW = timedelta(days=30)


def build_report(
    config: Config,
    store: ViewStore,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    channel: str | None = None,
    compare_tags: tuple[str, str] | None = None,
    reported: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The report of the window; `reported` is called after each channel (a progress bar)."""
    names = [name for name in config.channels if channel is None or name == channel]
    weights = config.metrics.weights
    tags = store.tags_by_post()
    inbox = _inbox_by_channel(store, start=start, end=end, channel=channel)
    report: dict[str, Any] = {"from": iso_utc(start), "to": iso_utc(end), "channels": {}}
    compared: dict[str, list[float]] = {tag: [] for tag in compare_tags or ()}
    clocks: dict[ZoneInfo, _LocalTimes] = {}  # channels in one timezone share conversions
    for name in names:
        settings = config.channels[name]
        window = store.published_airings(name, weights, start=start, end=end)
        if compared:
            for _, post_id, _, _, value in window:
                if value is not None:
                    for tag in tags.get(post_id, ()):
                        if tag in compared:
                            compared[tag].append(value)
        firsts = _first_airings(store, name, weights, window, start=start)
        local = clocks.setdefault(settings.timezone, _LocalTimes(settings.timezone))
        report["channels"][name] = _channel_report(
            settings, window, firsts, tags, store.follower_history(name), local=local, now=now
        )
        _add_inbox(report["channels"][name], settings, inbox.get(name, []), now=now)
        if reported is not None:
            reported()
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


def _first_airings(
    store: ViewStore, channel: str, weights: Weights, window: Sequence[Aired], *, start: datetime
) -> dict[int, Aired]:
    """The first airing on the channel of each post rerun in the window: before the window
    when there is one, else its first in the window."""
    reposted = {post_id for _, post_id, kind, _, _ in window if kind == "repost"}
    firsts: dict[int, Aired] = {}
    if not reposted:
        return firsts
    # The history before the window in one read (the channel's index is scanned whichever
    # posts are asked for), oldest first.
    for airing in (*store.published_airings(channel, weights, end=start), *window):
        if airing[1] in reposted:
            firsts.setdefault(airing[1], airing)
    return firsts


def _channel_report(
    settings: ChannelSettings,
    window: Sequence[Aired],
    firsts: dict[int, Aired],
    tags: dict[int, list[str]],
    followers: Sequence[tuple[datetime, int]],
    *,
    local: _LocalTimes,
    now: datetime,
) -> dict[str, Any]:
    minute_of_day = local.minute_of_day
    # Each rerun is set against its post's first airing on the channel (§11), grouped by the
    # hour shift between their local times of day.
    first_of = {
        post: (minute_of_day(aired_ts), value) for post, (*_, aired_ts, value) in firsts.items()
    }
    times: list[float] = []  # the measured airings' times and engagement, in time order
    values: list[float] = []
    ranks: list[tuple[float, int, int]] = []  # (−engagement, airing id, index in window)
    by_kind: dict[str, list[float]] = defaultdict(list)
    by_hour: dict[int, list[float]] = defaultdict(list)
    by_tag: dict[str, list[float]] = defaultdict(list)
    shifts: dict[int, list[tuple[float, float]]] = defaultdict(list)
    no_tags: list[str] = []
    # One pass over up to a year of airings: unpacking and appends, nothing per row that
    # could be done once.
    for index, (airing_id, post_id, kind, aired_ts, value) in enumerate(window):
        if value is None:
            continue
        minute = minute_of_day(aired_ts)
        times.append(aired_ts)
        values.append(value)
        ranks.append((-value, airing_id, index))
        by_kind[kind].append(value)
        by_hour[minute // 60].append(value)
        for tag in tags.get(post_id, no_tags):
            by_tag[tag].append(value)
        if kind == "repost":
            first_minute, first_value = first_of[post_id]
            if first_value is not None:
                shifts[_SHIFT_OF[(minute - first_minute) % 1440]].append((value, first_value))
    # Best first, ties by id (unique keys): the two ends, without sorting the whole order.
    top = [window[index] for *_, index in heapq.nsmallest(TOP_AND_BOTTOM, ranks)]
    bottom = [window[index] for *_, index in heapq.nlargest(TOP_AND_BOTTOM, ranks)]
    return {
        "publisher": settings.publisher,
        "measured": bool(values) or Read.counts in settings.platform.reads,  # read (§11)
        "airings": len(window),
        "measured_airings": len(values),
        "by_kind": {kind: _summary(group) for kind, group in sorted(by_kind.items())},
        "by_hour": {str(hour): _summary(by_hour[hour]) for hour in sorted(by_hour)},
        "reruns": _reruns(shifts),
        "by_tag": {tag: _summary(group) for tag, group in sorted(by_tag.items())},
        "top": [_ranked(a) for a in top],
        "bottom": [_ranked(a) for a in bottom] if len(values) > TOP_AND_BOTTOM else [],
        "inbox": None,  # filled by `_add_inbox`
        "followers": _followers(followers),
        "goals": [_goal_json(p) for p in _goals(settings, times, values, followers, now=now)],
    }


# Hour shift by the minutes from a first airing's local time of day to a rerun's (mod 1440).
_SHIFT_OF = tuple(hour_shift(0, minutes) for minutes in range(1440))


def _summary(values: Sequence[float]) -> dict[str, Any]:
    return {"airings": len(values), "median": median(values), "total": sum(values)}


def _ranked(airing: Aired) -> dict[str, Any]:
    airing_id, post_id, kind, aired_ts, value = airing
    return {
        "airing_id": airing_id,
        "post_id": post_id,
        "kind": kind,
        "at": iso_utc(datetime.fromtimestamp(aired_ts, UTC)),
        "engagement": value,
    }


def _reruns(shifts: dict[int, list[tuple[float, float]]]) -> dict[str, Any]:
    """Reruns by hour shift: (rerun, first airing) engagement pairs, as counts and medians."""
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
    costs 35,000 conversions, not one per airing, however many channels share the zone."""

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


def _add_bodies(report: dict[str, Any], store: ViewStore) -> None:
    """Each top and bottom post's text, so the report says which post it was."""
    rows = [
        row
        for channel in report["channels"].values()
        for row in (*channel["top"], *channel["bottom"])
    ]
    texts = store.airing_texts(row["airing_id"] for row in rows)
    for row in rows:
        row["body"] = texts.get(row["airing_id"], "")


def _inbox_by_channel(
    store: ViewStore, *, start: datetime, end: datetime, channel: str | None
) -> dict[str, list[Received]]:
    found: dict[str, list[Received]] = defaultdict(list)
    for item in store.inbox_received(start=start, end=end, channel=channel):
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
    waiting = [item for item in items if item.status == InboxStatus.open][:WAITING_SHOWN]
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


def goals_behind(config: Config, store: ViewStore, *, now: datetime) -> dict[str, list[str]]:
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


def _dated_goals_behind(config: Config, store: ViewStore, *, now: datetime) -> dict[str, list[str]]:
    behind: dict[str, list[str]] = {name: [] for name in config.channels}
    weights = config.metrics.weights
    for name, settings in config.channels.items():
        if not settings.goals.dated():
            continue  # no goal: nothing to read
        recent = store.published_airings(name, weights, start=now - STATUS_WINDOW)
        measured = [(aired_ts, value) for *_, aired_ts, value in recent if value is not None]
        times, values = [t for t, _ in measured], [v for _, v in measured]
        paces = _goals(settings, times, values, store.follower_history(name), now=now)
        behind[name] = [
            f"{pace.name} {pace.verdict}"
            for pace in paces
            if pace.verdict in ("behind", "unrealistic at the current trend")
        ]
    return behind


def _goals(
    settings: ChannelSettings,
    times: Sequence[float],
    values: Sequence[float],
    followers: Sequence[tuple[datetime, int]],
    *,
    now: datetime,
) -> list[GoalPace]:
    """Each dated goal's pace: engagement per airing from the measured airings' `times`
    (POSIX seconds) and engagement `values`, followers from their history."""
    goals = settings.goals
    paces = []
    if goals.followers is not None:
        goal = goals.followers
        paces.append(
            goal_pace(
                "followers",
                goal.target,
                _end_of(goal.by),
                [at.timestamp() for at, _ in followers],
                [float(count) for _, count in followers],
                now=now,
            )
        )
    if goals.engagement_per_airing is not None:
        goal = goals.engagement_per_airing
        mean = statistics.fmean(values) if values else None
        paces.append(
            goal_pace(
                "engagement_per_airing",
                goal.target,
                _end_of(goal.by),
                times,
                values,
                now=now,
                value=mean,
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
