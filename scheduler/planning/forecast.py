"""From stored posts and airings to the planner and back: what calendar, simulate, status and
the daemon share.

The planner is pure; this module decides what it is given. Per channel it passes every post
that may still air there and the airings that must stay where they are (history, pinned
airings, airings inside the freeze window); every other planned airing is the planner's to
place again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, Protocol

from ..calendar_data import (
    CalendarAiring,
    CalendarChannel,
    CalendarData,
    CalendarGap,
    InboxNote,
    airing_json,
)
from ..config import ChannelSettings, Config
from ..domain import (
    AIRING_KINDS,
    NEEDS_EDITOR,
    ON_AIR,
    AiringRow,
    AiringStatus,
    ChannelWindow,
    PostRow,
    WindowRows,
)
from ..measuring import Weights
from ..text import airing_body
from ..timeutil import iso_utc
from .collector import cycle_collection_paused
from .measures import repost_scores
from .planner import ChannelPlan, Gap, PlanAiring, PlanPost, plan_channel


class StoredPlan(Protocol):
    """What forecasting reads from the store (`scheduler.store.Store` is one, and the
    editors' `store.view_store.ViewStore`): planning stays free of the database layer, and
    is handed its reads as it is handed `now`."""

    def window_rows(
        self,
        channels: Sequence[ChannelWindow],
        *,
        start: datetime,
        end: datetime,
        history_from: datetime,
    ) -> WindowRows: ...

    def bodies(self, post_ids: Iterable[int]) -> dict[int, str]: ...

    def sent_bodies(self, airing_ids: Iterable[int]) -> dict[int, str]: ...

    def engagements(self, weights: Weights) -> list[tuple[int, str, float]]: ...

    def open_inbox_items(self) -> Sequence[OpenInboxItem]: ...


class OpenInboxItem(Protocol):
    """An open inbox item as the calendar's "needs attention" list reads it (§10)."""

    @property
    def id(self) -> int | None: ...
    @property
    def channel(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def author(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def url(self) -> str | None: ...


@dataclass(frozen=True)
class ChannelInput:
    """What the planner is given for one channel, and the stored airings it may replace."""

    channel: ChannelSettings
    posts: tuple[PlanPost, ...]
    fixed: tuple[PlanAiring, ...]
    replaceable: tuple[AiringRow, ...]  # planned floating airings outside the freeze window
    stored: tuple[AiringRow, ...]  # every stored airing of the channel but cancelled ones
    # When `posts` and `stored` were trimmed to a window: the earliest created of all the
    # channel's candidate posts (rule 3 counts silence from then).
    began: datetime | None = None


def is_fixed(airing: AiringRow, channel: ChannelSettings, now: datetime) -> bool:
    """Does this airing keep its place when the plan is made again at `now` (§3 rule 8)?"""
    if airing.status in ON_AIR:
        return True
    if airing.status != AiringStatus.planned:
        return False
    # A keyed airing was claimed before (e.g. put back by `queue retry`): moving it would
    # change what a platform may already know it by (Bluesky's record key follows its time).
    return airing.pinned or airing.keyed or airing.at < now + channel.freeze


def channel_inputs(
    posts: Iterable[PostRow],
    airings: Iterable[AiringRow],
    config: Config,
    *,
    now: datetime,
    only: str | None = None,
    scores: Mapping[tuple[int, str], float] | None = None,
) -> dict[str, ChannelInput]:
    """Split stored rows per channel into what the planner keeps and what it may re-place.

    `scores`: measured repost scores by (post, channel) (§11); a score set by hand wins.
    """
    measured = scores or {}
    names = [name for name in config.channels if only is None or name == only]
    fixed: dict[str, list[PlanAiring]] = {name: [] for name in names}
    replaceable: dict[str, list[AiringRow]] = {name: [] for name in names}
    stored: dict[str, list[AiringRow]] = {name: [] for name in names}
    blocked: set[tuple[int, str]] = set()  # (post, channel) waiting for an editor
    for airing in airings:
        if airing.channel not in stored:
            continue
        stored[airing.channel].append(airing)
        if airing.status in NEEDS_EDITOR:
            blocked.add((airing.post_id, airing.channel))
        elif is_fixed(airing, config.channels[airing.channel], now):
            fixed[airing.channel].append(_plan_airing(airing))
        elif airing.status == AiringStatus.planned:
            replaceable[airing.channel].append(airing)
    candidates: dict[str, list[PlanPost]] = {name: [] for name in names}
    for post in posts:
        if post.cancelled:
            continue
        plan_post = PlanPost(
            post.id, post.kind, post.created, post.expires, post.evergreen, post.pinned, post.score
        )
        for name in post.channels:
            wanted = candidates.get(name)
            if wanted is None or (blocked and (post.id, name) in blocked):
                continue
            score = measured.get((post.id, name)) if measured and post.score is None else None
            wanted.append(plan_post if score is None else replace(plan_post, score=score))
    return {
        name: ChannelInput(
            channel=config.channels[name],
            posts=tuple(candidates[name]),
            fixed=tuple(fixed[name]),
            replaceable=tuple(replaceable[name]),
            stored=tuple(stored[name]),
        )
        for name in names
    }


def measured_scores(store: StoredPlan, config: Config) -> dict[tuple[int, str], float]:
    """Repost scores from the counts measured so far (§11), for `channel_inputs`."""
    return repost_scores(store.engagements(config.metrics.weights))


def _plan_airing(airing: AiringRow) -> PlanAiring:
    return PlanAiring(
        post_id=airing.post_id,
        kind=airing.kind,
        at=airing.at,
        pinned=airing.pinned,
        airing_id=airing.id,
        status=airing.status,
    )


def window_inputs(
    config: Config,
    store: StoredPlan,
    *,
    now: datetime,
    end: datetime,
    history_from: datetime,
    only: str | None = None,
) -> tuple[dict[str, ChannelInput], list[PostRow]]:
    """`channel_inputs` from only the rows that can change the plan of [now, end) and the
    history shown from `history_from` (`Store.window_rows`): what editors' views read.
    Also returns the posts read."""
    windows = [
        ChannelWindow(
            name=name,
            fixed_until=now + settings.freeze,
            # One more than the grid can hold: a repeated local hour still has one slot.
            slots=max(0, int((end - now) / settings.cadence)) + 2,
            max_airings=settings.repost.max_airings,
        )
        for name, settings in config.channels.items()
        if only is None or name == only
    ]
    rows = store.window_rows(windows, start=now, end=max(end, now), history_from=history_from)
    inputs = channel_inputs(
        rows.posts,
        rows.airings,
        config,
        now=now,
        only=only,
        scores=measured_scores(store, config),
    )
    trimmed = {name: replace(item, began=rows.began.get(name)) for name, item in inputs.items()}
    return trimmed, rows.posts


def plan_all(
    inputs: Mapping[str, ChannelInput],
    *,
    start: datetime,
    end: datetime,
    planned: Callable[[], None] | None = None,
) -> dict[str, ChannelPlan]:
    """Every channel's plan; `planned` is called after each channel (a progress bar)."""
    plans = {}
    for name, item in inputs.items():
        plans[name] = plan_channel(
            item.channel, item.posts, item.fixed, start, end, began=item.began
        )
        if planned is not None:
            planned()
    return plans


def match_stored(plan: ChannelPlan, replaceable: Sequence[AiringRow]) -> dict[int, int]:
    """Which new airings are the same as a stored planned one: index in `plan.new` → airing id.

    Keeping those rows keeps airing ids stable from one replan to the next, so calendar UIDs
    and links do not churn when nothing really moved.
    """
    by_key = {(a.post_id, a.kind, a.at): a.id for a in replaceable}
    matches = {}
    for index, airing in enumerate(plan.new):
        stored_id = by_key.pop((airing.post_id, airing.kind, airing.at), None)
        if stored_id is not None:
            matches[index] = stored_id
    return matches


# --- calendar ------------------------------------------------------------------------------


def build_calendar(
    config: Config,
    store: StoredPlan,
    *,
    start: datetime,
    end: datetime,
    channel: str | None,
    now: datetime,
) -> CalendarData:
    """Published history and the plan of [start, end), as the planner makes it at `now`."""
    if channel is not None:
        config.channel(channel)
    inputs, _ = window_inputs(config, store, now=now, end=end, history_from=start, only=channel)
    stored_airings = [airing for item in inputs.values() for airing in item.stored]
    plans = plan_all(inputs, start=now, end=end) if end > now else {}

    shown: list[tuple[PlanAiring, ChannelSettings, int | None, str, AiringRow | None]] = []
    gaps: list[CalendarGap] = []
    for name, item in inputs.items():
        settings = item.channel
        plan = plans.get(name)
        if plan is not None:
            reused = match_stored(plan, item.replaceable)
            for index, new in enumerate(plan.new):
                if start <= new.at < end:
                    shown.append((new, settings, reused.get(index), "planned", None))
            gaps += [CalendarGap(name, g.start, g.end) for g in plan.gaps]
        kept_ids = {a.airing_id for a in item.fixed}
        for airing in item.stored:
            # Stored planned airings the planner may move are shown where it puts them now.
            if (airing.id in kept_ids or airing.status != AiringStatus.planned) and (
                start <= airing.at < end
            ):
                shown.append((_plan_airing(airing), settings, airing.id, airing.status, airing))
        if start < now:
            began = min(
                [post.created for post in item.posts]
                + [airing.at for airing in item.stored]
                + ([] if item.began is None else [item.began]),
                default=now,
            )
            gaps += _history_gaps(
                name, settings, item.stored, start=max(start, began), end=min(now, end)
            )
    bodies = _Bodies(store, stored_airings, {entry[0].post_id for entry in shown})
    bodies.note_sent(store, [entry[2] for entry in shown if entry[4] is not None])
    for name, plan in plans.items():
        bodies.note_planned(plan.new, name)
    in_window = [bodies.calendar_airing(*entry) for entry in shown]
    in_window.sort(key=lambda a: (a.at, a.channel, a.post_id))
    return CalendarData(
        start=start,
        end=end,
        generated=now,
        channels=tuple(
            CalendarChannel(
                name, item.channel.publisher, item.channel.timezone, item.channel.max_gap
            )
            for name, item in inputs.items()
        ),
        airings=tuple(in_window),
        gaps=tuple(
            sorted(
                (g for g in gaps if g.end > start and g.start < end),
                key=lambda g: (g.start, g.channel),
            )
        ),
        inbox=_inbox_notes(config, store, channels=set(inputs), now=now),
    )


def _inbox_notes(
    config: Config, store: StoredPlan, *, channels: set[str], now: datetime
) -> tuple[InboxNote, ...]:
    """Open inbox items of `channels`, each marked when it waits past its response time."""
    return tuple(
        InboxNote(
            id=item.id or 0,
            channel=item.channel,
            kind=item.kind,
            author=item.author,
            text=item.text,
            at=item.at,
            url=item.url,
            late=now - item.at > config.channels[item.channel].response_time,
        )
        for item in store.open_inbox_items()
        if item.channel in channels
    )


def _history_gaps(
    name: str,
    channel: ChannelSettings,
    stored: Sequence[AiringRow],
    *,
    start: datetime,
    end: datetime,
) -> list[CalendarGap]:
    """Silences over max_gap among what really aired in [start, end)."""
    times = sorted(a.at for a in stored if a.status in ON_AIR and a.at < end)
    before = [t for t in times if t < start]
    previous = before[-1] if before else start
    gaps = []
    for moment in [t for t in times if t >= start] + [end]:
        if moment - previous > channel.max_gap:
            gaps.append(CalendarGap(name, previous, moment))
        previous = moment
    return gaps


class _Bodies:
    """The text each airing sends, with the repost template and the first airing's date.

    Bodies are read only for the posts shown, never for the whole library.
    """

    def __init__(
        self, store: StoredPlan, airings: Iterable[AiringRow], post_ids: Iterable[int]
    ) -> None:
        self._bodies = store.bodies(post_ids)
        self._sent: dict[int, str] = {}
        self._first: dict[tuple[int, str], datetime] = {}
        for airing in airings:
            if airing.status in ON_AIR or airing.status == AiringStatus.planned:
                key = (airing.post_id, airing.channel)
                self._first[key] = min(self._first.get(key, airing.at), airing.at)

    def note_planned(self, airings: Iterable[PlanAiring], channel: str) -> None:
        """Planned airings count as first airings too (a simulated repost's original)."""
        for airing in airings:
            key = (airing.post_id, channel)
            self._first[key] = min(self._first.get(key, airing.at), airing.at)

    def note_sent(self, store: StoredPlan, airing_ids: Iterable[int | None]) -> None:
        """Stored airings already claimed show the text they were sent with."""
        self._sent = store.sent_bodies(i for i in airing_ids if i is not None)

    def body(self, post_id: int, kind: str, channel: ChannelSettings) -> str:
        first = self._first.get((post_id, channel.name))
        return airing_body(self._bodies[post_id], kind, channel, first_at=first)

    def airing_json(self, airing: PlanAiring, channel: ChannelSettings) -> dict[str, Any]:
        """A simulated airing's JSON, as `calendar_airing(...).to_json()` writes it: it was
        planned or kept, never sent, so its body is the post's (`note_sent` is not asked)."""
        return airing_json(
            airing.airing_id, channel.name, airing.post_id, airing.kind, airing.pinned,
            airing.at, channel.timezone, airing.status,
            self.body(airing.post_id, airing.kind, channel),
        )  # fmt: skip

    def calendar_airing(
        self,
        airing: PlanAiring,
        channel: ChannelSettings,
        airing_id: int | None,
        status: str,
        stored: AiringRow | None = None,
    ) -> CalendarAiring:
        return CalendarAiring(
            id=airing_id,
            channel=channel.name,
            post_id=airing.post_id,
            kind=airing.kind,
            pinned=airing.pinned,
            at=airing.at,
            timezone=channel.timezone,
            status=status,
            body=self._sent.get(airing_id or 0) or self.body(airing.post_id, airing.kind, channel),
            remote_url=stored.remote_url if stored else None,
            error=stored.error if stored else None,
        )


# --- simulate and status -------------------------------------------------------------------


@cycle_collection_paused()  # 72,000 airings reported over a big library: see collector
def simulate(
    config: Config,
    store: StoredPlan,
    *,
    start: datetime,
    days: int,
    channel: str | None,
    audit: bool = False,
    planned: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The plan of the next `days` days from `start` with per-channel rule reports (§4);
    `planned` is called as each channel's plan is made (`simulate`'s progress bar).

    Gaps, the mix and when fresh content runs out come from the plan itself. With `audit`
    the independent rule audit also judges the plan and `violations` lists what it finds;
    without it `violations` is None (not checked): the audit is the planner's judge, costs
    more than planning, and has nothing to say to an editor unless the planner is wrong.
    """
    if channel is not None:
        config.channel(channel)
    end = start + timedelta(days=days)
    inputs, posts = window_inputs(
        config, store, now=start, end=end, history_from=start, only=channel
    )
    stored_airings = [airing for item in inputs.values() for airing in item.stored]
    plans = plan_all(inputs, start=start, end=end, planned=planned)
    hand_set = {post.id for post in posts if post.score is not None}
    bodies = _Bodies(
        store, stored_airings, {a.post_id for plan in plans.values() for a in plan.airings}
    )
    # Each airing's JSON beside its place in the listing: (at, channel, post_id, JSON).
    airings: list[tuple[datetime, str, int, dict[str, Any]]] = []
    report: dict[str, Any] = {}
    for name, plan in plans.items():
        item = inputs[name]
        bodies.note_planned(plan.new, name)
        window = [a for a in plan.airings if start <= a.at < end]
        for airing in window:
            airings.append(
                (airing.at, name, airing.post_id, bodies.airing_json(airing, item.channel))
            )
        kinds = Counter(a.kind for a in window)
        scored = {post.id: post.score for post in item.posts if post.score is not None}
        report[name] = {
            "airings": len(window),
            "by_kind": {kind: kinds.get(kind, 0) for kind in AIRING_KINDS},
            "worst_gap_minutes": _worst_gap_minutes(plan, item, start=start, end=end),
            "gaps": [gap_json(g) for g in plan.gaps],
            "violations": _violations(item, plan, start=start, end=end) if audit else None,
            "fresh_runs_out": iso_utc(plan.fresh_runs_out) if plan.fresh_runs_out else None,
            # Which reposts a score chose (§3.5, §11): measured, or set by hand (`by_hand`).
            "reposts_by_score": [
                {
                    "at": iso_utc(a.at),
                    "post_id": a.post_id,
                    "score": scored[a.post_id],
                    "by_hand": a.post_id in hand_set,
                }
                for a in window
                if a.kind == "repost" and a.post_id in scored
            ],
        }
    airings.sort(key=itemgetter(0, 1, 2))
    return {
        "from": iso_utc(start),
        "to": iso_utc(end),
        "airings": [entry[3] for entry in airings],
        "channels": report,
    }


def gap_json(gap: Gap) -> dict[str, Any]:
    return {"from": iso_utc(gap.start), "to": iso_utc(gap.end), "minutes": gap.minutes}


def _violations(
    item: ChannelInput, plan: ChannelPlan, *, start: datetime, end: datetime
) -> list[str]:
    from .audit import audit_channel

    return audit_channel(
        item.channel, item.posts, [*item.fixed, *plan.new], start, end, gaps=plan.gaps
    )


def _worst_gap_minutes(
    plan: ChannelPlan, item: ChannelInput, *, start: datetime, end: datetime
) -> int:
    """Longest silence in the window, counting from the last airing before it and to its end."""
    before = [a.at for a in item.fixed if a.at < start]
    previous = max(before) if before else start
    worst = timedelta(0)
    for moment in [a.at for a in plan.airings if start <= a.at < end] + [end]:
        worst = max(worst, moment - previous)
        previous = moment
    return int(worst.total_seconds() // 60)
