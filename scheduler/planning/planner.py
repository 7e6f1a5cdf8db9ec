"""Pure planning of one channel's calendar: the scheduling rules of docs/design.md §3.

`plan_channel` walks the channel's slot grid through [start, end) in time order and gives
each free slot one new floating airing, treating what it already placed as history. It reads
no clock, touches no database and keeps nothing between calls, so the same inputs always give
the same plan (rule 7), and the daemon, `calendar` and `simulate` all share it.

Inside, times are integer microseconds since the Unix epoch: exact at spacing boundaries (no
float rounding) and cheap to compare in the per-slot loop. Datetimes appear only at the edges.

Reposts are drawn from a heap in priority order (rule 5) rather than by scanning the library
per slot. A post that is not eligible at a slot is parked until the first slot at which it
could be, computed from its cached airing times, so each slot only touches the few posts at
the top of the heap and the work grows close to linearly with slots and library size.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from operator import attrgetter
from zoneinfo import ZoneInfo

from ..config import ChannelSettings, QuietWindow
from ..domain import AIRING_KINDS, POST_KINDS, AiringKind, AiringStatus
from ..timeutil import localize
from .collector import cycle_collection_paused

CORE, ENTERTAINING, REPOST = range(3)
_KIND_INDEX = {kind: index for index, kind in enumerate(AIRING_KINDS)}

_MICROSECOND = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = 86_400_000_000  # microseconds
_MINUTE = 60_000_000


@dataclass(frozen=True)
class PlanPost:
    """A post as the planner sees it: only what the rules of §3 look at."""

    id: int
    kind: str  # "core" | "entertaining"
    created: datetime  # aware UTC; fresh posts are taken FIFO by (created, id)
    expires: datetime | None  # aware UTC; nothing (repost included) airs at or after it
    evergreen: bool = True  # may be re-aired
    pinned: bool = False  # its first airing comes in `fixed`; never placed fresh here
    score: float | None = None  # engagement score when known (higher is better)


@dataclass(frozen=True)
class PlanAiring:
    post_id: int
    kind: str  # "core" | "entertaining" | "repost"
    at: datetime  # aware UTC
    pinned: bool = False
    airing_id: int | None = None  # the store's id for airings passed in `fixed`
    status: str = AiringStatus.planned


@dataclass(frozen=True)
class Gap:
    """A silence longer than the channel's `max_gap` (rule 3), reported rather than hidden."""

    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return (self.end - self.start) // timedelta(minutes=1)


@dataclass(frozen=True)
class ChannelPlan:
    channel: str
    airings: tuple[PlanAiring, ...]  # fixed airings in [start, end) plus the new ones, sorted
    new: tuple[PlanAiring, ...]  # only the airings the planner added, sorted
    gaps: tuple[Gap, ...]  # every silence longer than max_gap in the window
    fresh_runs_out: datetime | None  # first slot with no fresh candidate; None if none ran out


def plan_channel(
    channel: ChannelSettings,
    posts: Sequence[PlanPost],
    fixed: Sequence[PlanAiring],
    start: datetime,
    end: datetime,
    *,
    began: datetime | None = None,
) -> ChannelPlan:
    """Fill the free slots of [start, end) with new airings by the rules of docs/design.md §3.

    `posts` are the channel's posts that may air (not cancelled, not blocked); `fixed` are the
    airings that must stay: all history, pinned airings and those inside the freeze window.
    A post with any airing in `fixed` is not fresh; its later airings are reposts. Fixed
    airings are never moved (rule 8), and slots within `min_spacing` of them stay empty.
    `began`: the earliest `created` among the channel's posts, when the caller passes only
    the posts the window can reach (gaps count from when the channel began, rule 3).
    """
    start_us, end_us = _to_us(start), _to_us(end)
    with cycle_collection_paused():
        planner = _Planner(channel, posts, fixed, start_us, end_us)
        planner.run()
    new = tuple(planner.new)
    kept = [airing for airing in fixed if start <= airing.at < end]
    airings = tuple(sorted([*kept, *new], key=_airing_order))
    fixed_at = planner.fixed_at  # sorted
    first_kept, past_kept = bisect_left(fixed_at, start_us), bisect_left(fixed_at, end_us)
    # Rule 3: a channel's silence counts only from when it began (its first post or airing).
    firsts = fixed_at[:1] + planner.new_at[:1]
    if posts:
        firsts.append(_to_us(min(post.created for post in posts)))
    if began is not None:
        firsts.append(_to_us(began))
    gaps = _gaps(
        sorted([*fixed_at[first_kept:past_kept], *planner.new_at]),  # the times of `airings`
        fixed_at[first_kept - 1] if first_kept else max(start_us, min(firsts, default=end_us)),
        end_us,
        _duration_us(channel.max_gap),
    )
    runs_out = planner.fresh_runs_out
    return ChannelPlan(
        channel=channel.name,
        airings=airings,
        new=new,
        gaps=gaps,
        fresh_runs_out=None if runs_out is None else _from_us(runs_out),
    )


def gap_has_free_slot(channel: ChannelSettings, gap: Gap) -> bool:
    """Whether a slot inside `gap` is at least `min_spacing` from both its ends, so more
    posts could close it. Where none is (quiet hours, spacing around pinned posts), asking
    editors to queue more would send them after the impossible."""
    first, last = gap.start + channel.min_spacing, gap.end - channel.min_spacing
    return (
        first <= last
        and next(slots(channel, first, last + timedelta(microseconds=1)), None) is not None
    )


def slots(channel: ChannelSettings, start: datetime, end: datetime) -> Iterator[datetime]:
    """The channel's slot grid in [start, end), as aware UTC times in order (rules 1 and 9)."""
    return iter(_Grid.build(channel, _to_us(start), _to_us(end)).moment)


# --- time as integers ---------------------------------------------------------------------


def _to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _from_us(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


def _duration_us(duration: timedelta) -> int:
    return duration // _MICROSECOND


def _local_day_and_time(moment: datetime, channel: ChannelSettings) -> tuple[int, int]:
    """The local calendar day (proleptic ordinal) and wall-clock time of day of an instant."""
    local = moment.astimezone(channel.timezone)
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    return local.toordinal(), seconds * 1_000_000 + local.microsecond


def _airing_order(airing: PlanAiring) -> tuple[datetime, int, int, str]:
    return (
        airing.at,
        airing.post_id,
        -1 if airing.airing_id is None else airing.airing_id,
        airing.kind,
    )


# --- the slot grid (rules 1 and 9) --------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """The slots of a window, in time order, as parallel tuples for a fast loop.

    Grid times of day are the same every local day; `position` is a slot's index among them
    and `local_key` (day × 24h + time of day) orders slots by wall clock, which is also their
    time order because a repeated wall time keeps only its first occurrence. `moment` is
    each slot as an aware UTC datetime, made once and shared by every airing placed there.
    """

    times_of_day: tuple[int, ...]
    at: tuple[int, ...]
    moment: tuple[datetime, ...]
    day: tuple[int, ...]
    position: tuple[int, ...]
    local_key: tuple[int, ...]

    @classmethod
    def build(cls, channel: ChannelSettings, start_us: int, end_us: int) -> _Grid:
        return _build_grid(
            channel.timezone, channel.cadence, channel.slot_offset, channel.quiet_hours,
            start_us, end_us,
        )  # fmt: skip


# A grid depends only on the clock settings and the window, and channels often share them
# (an agency's hundred hourly channels in one zone): the last few grids are kept, so a
# replan of every channel localizes each slot once. Grids are never changed once built.
@lru_cache(maxsize=32)
def _build_grid(
    tz: ZoneInfo,
    cadence: timedelta,
    slot_offset: timedelta,
    quiet_hours: tuple[QuietWindow, ...],
    start_us: int,
    end_us: int,
) -> _Grid:
    times_of_day = _grid_times_of_day(cadence, slot_offset, quiet_hours)
    at: list[int] = []
    days: list[int] = []
    positions: list[int] = []
    local_keys: list[int] = []
    # One day of margin each side: a DST change can move the local date of an instant.
    first_day = _from_us(start_us).astimezone(tz).toordinal() - 1
    last_day = _from_us(end_us).astimezone(tz).toordinal() + 1
    for day in range(first_day, last_day + 1):
        midnight = datetime.fromordinal(day)
        for position, time_of_day in enumerate(times_of_day):
            local = localize(midnight + timedelta(microseconds=time_of_day), tz)
            if local is None:
                continue  # skipped by a daylight-saving change: no slot
            moment = _to_us(local)
            if start_us <= moment < end_us:
                at.append(moment)
                days.append(day)
                positions.append(position)
                local_keys.append(day * _DAY + time_of_day)
    return _Grid(
        times_of_day=tuple(times_of_day),
        at=tuple(at),
        moment=tuple(_from_us(moment) for moment in at),
        day=tuple(days),
        position=tuple(positions),
        local_key=tuple(local_keys),
    )


def _grid_times_of_day(
    cadence: timedelta, slot_offset: timedelta, quiet_hours: tuple[QuietWindow, ...]
) -> list[int]:
    """Local times of day (µs after midnight) that carry a slot: on the cadence, not quiet."""
    step = _duration_us(cadence)
    first = _duration_us(slot_offset) % step
    return [
        time_of_day
        for time_of_day in range(first, _DAY, step)
        if not any(window.contains(time_of_day // _MINUTE) for window in quiet_hours)
    ]


# --- a post's repost state (rule 5) -------------------------------------------------------


class _Rerun:
    """What the repost rules need about one aired post, updated each time it airs."""

    __slots__ = (
        "post",
        "expires",
        "airings",
        "reposts",
        "reposts_by_day",
        "latest",
        "free_positions",
        "score_rank",
    )

    def __init__(self, post: PlanPost, all_positions: int) -> None:
        self.post = post
        self.expires = None if post.expires is None else _to_us(post.expires)
        self.airings = 0
        self.reposts = 0
        self.reposts_by_day: dict[int, int] = {}
        self.latest = -(2**62)
        # Grid positions whose time of day is at least `hour_shift` from every airing so far.
        self.free_positions = all_positions
        # Known scores first, best first; unknown scores after them.
        self.score_rank = (0, -post.score) if post.score is not None else (1, 0.0)

    def record(self, at: int, day: int, is_repost: bool, blocked_positions: int) -> None:
        self.airings += 1
        if at > self.latest:
            self.latest = at
        self.free_positions &= ~blocked_positions
        if is_repost:
            self.reposts += 1
            self.reposts_by_day[day] = self.reposts_by_day.get(day, 0) + 1

    def priority(self) -> tuple[int, float, int, int, int]:
        """Heap key: best score, then fewest airings, oldest latest airing, lowest id."""
        return (*self.score_rank, self.airings, self.latest, self.post.id)


# --- the planner --------------------------------------------------------------------------


class _Planner:
    """One pass over one channel's grid; holds the state that later slots depend on."""

    def __init__(
        self,
        channel: ChannelSettings,
        posts: Sequence[PlanPost],
        fixed: Sequence[PlanAiring],
        start_us: int,
        end_us: int,
    ) -> None:
        self.grid = grid = _Grid.build(channel, start_us, end_us)
        self.slot_count = len(grid.at)
        self.min_spacing = _duration_us(channel.min_spacing)
        self.min_interval = _duration_us(channel.repost.min_interval)
        self.hour_shift = _duration_us(channel.repost.hour_shift)
        self.max_per_day = channel.repost.max_per_day
        self.max_airings = channel.repost.max_airings
        self.weights = [getattr(channel.mix, kind) for kind in AIRING_KINDS]
        self.all_positions = (1 << len(grid.times_of_day)) - 1
        self._blocked_cache: dict[int, int] = {}

        self.new: list[PlanAiring] = []
        self.new_at: list[int] = []
        self.fresh_runs_out: int | None = None
        self.day_counts: dict[int, list[int]] = {}

        # Sorting by the second key, then stably by the first, orders by both without a key
        # tuple per item (thousands of posts a channel).
        ordered = sorted(sorted(fixed, key=attrgetter("post_id")), key=attrgetter("at"))
        self.fixed_at = [_to_us(airing.at) for airing in ordered]
        self.fixed_kind = [_KIND_INDEX.get(airing.kind, REPOST) for airing in ordered]
        fixed_local = [_local_day_and_time(airing.at, channel) for airing in ordered]
        self.fixed_day = [day for day, _ in fixed_local]

        by_id = {post.id: post for post in posts}
        self.reruns: dict[int, _Rerun] = {}
        for airing, at, (day, time_of_day) in zip(ordered, self.fixed_at, fixed_local, strict=True):
            post = by_id.get(airing.post_id)
            if post is not None:
                rerun = self._rerun_for(post)
                rerun.record(at, day, airing.kind == AiringKind.repost, self._blocked(time_of_day))

        fresh = sorted(
            sorted(
                (post for post in by_id.values() if not post.pinned and post.id not in self.reruns),
                key=attrgetter("id"),
            ),
            key=attrgetter("created"),
        )
        # Per kind, the fresh posts in the order they air and, alongside, when each expires.
        self.fresh_queues = [[post for post in fresh if post.kind == kind] for kind in POST_KINDS]
        self.fresh_expiries = [[_expiry_us(post) for post in queue] for queue in self.fresh_queues]

        # Reruns wait in `waiting` (by the first slot index they could be eligible at) and
        # move to `ready` (by priority) when it comes; `ready` is checked lazily from the top.
        self.ready = [rerun.priority() for rerun in self.reruns.values() if rerun.post.evergreen]
        heapq.heapify(self.ready)
        self.waiting: list[tuple[int, int]] = []

    def _rerun_for(self, post: PlanPost) -> _Rerun:
        rerun = self.reruns.get(post.id)
        if rerun is None:
            rerun = self.reruns[post.id] = _Rerun(post, self.all_positions)
        return rerun

    def run(self) -> None:
        """Give each free slot, in time order, the kind the mix asks for (rule 4) among those
        with a candidate, and the candidate the rules put first.

        This loop runs once per slot of every channel (72,000 for a hundred hourly channels
        over a month), so its steps are written inline over local names rather than as
        methods: that is most of the planner's time, and Python calls and attribute reads
        were most of that.
        """
        grid = self.grid
        grid_day, grid_position, grid_moment = grid.day, grid.position, grid.moment
        # What an airing at each grid position rules out for its post's reposts (rule 5).
        blocked_at = [self._blocked(time_of_day) for time_of_day in grid.times_of_day]
        fixed_at, fixed_day, fixed_kind = self.fixed_at, self.fixed_day, self.fixed_kind
        fixed_count = len(fixed_at)
        next_fixed = 0  # index of the first fixed airing not before the current slot
        min_spacing = self.min_spacing
        weights = self.weights
        total_weight = sum(weights)
        reposts_mixed = weights[REPOST] > 0
        # A fresh kind the mix gives no weight never airs: its queue is left unread.
        queues = [queue if weights[kind] else [] for kind, queue in enumerate(self.fresh_queues)]
        expiries = self.fresh_expiries
        fresh_next = [0, 0]
        heads: list[PlanPost | None] = [None, None]
        day_counts = self.day_counts
        new, new_at, reruns = self.new, self.new_at, self.reruns
        last_new: int | None = None
        for index, at in enumerate(grid.at):
            # Fixed airings before this slot count in their local day's mix.
            while next_fixed < fixed_count and fixed_at[next_fixed] < at:
                day = fixed_day[next_fixed]
                counts = day_counts.get(day)
                if counts is None:
                    counts = day_counts[day] = [0, 0, 0]
                counts[fixed_kind[next_fixed]] += 1
                next_fixed += 1

            # The oldest unexpired fresh post of each kind; expired ones are passed for good.
            for kind in (CORE, ENTERTAINING):
                queue, expiry, pointer = queues[kind], expiries[kind], fresh_next[kind]
                while pointer < len(queue) and expiry[pointer] <= at:
                    pointer += 1
                fresh_next[kind] = pointer
                heads[kind] = queue[pointer] if pointer < len(queue) else None
            if self.fresh_runs_out is None and heads[CORE] is None and heads[ENTERTAINING] is None:
                self.fresh_runs_out = at

            # Rule 2: spacing against fixed airings and the airings placed so far.
            previous = last_new
            if next_fixed:
                fixed_before = fixed_at[next_fixed - 1]
                if previous is None or fixed_before > previous:
                    previous = fixed_before
            if previous is not None and at - previous < min_spacing:
                continue
            if next_fixed < fixed_count:
                following = fixed_at[next_fixed]
                # `following == at` covers a zero min_spacing: one airing per slot still holds.
                if following == at or following - at < min_spacing:
                    continue

            # Rule 4: of the kinds with a candidate, the one with the largest deficit
            # share×(n+1) − count airs; in integers (× total weight, sign flipped) so ties
            # are exact, and equal deficits keep the order core, entertaining, repost. The
            # repost candidate is looked for only when a repost would win.
            day = grid_day[index]
            counts = day_counts.get(day)
            if counts is None:
                counts = day_counts[day] = [0, 0, 0]
            next_count = counts[0] + counts[1] + counts[2] + 1
            kind, post, least = REPOST, None, 0
            for fresh_kind in (CORE, ENTERTAINING):
                head = heads[fresh_kind]
                if head is not None:
                    surplus = counts[fresh_kind] * total_weight - weights[fresh_kind] * next_count
                    if post is None or surplus < least:
                        kind, post, least = fresh_kind, head, surplus
            if reposts_mixed and (
                post is None or counts[REPOST] * total_weight - weights[REPOST] * next_count < least
            ):
                rerun = self._best_rerun(index)
                if rerun is not None:
                    heapq.heappop(self.ready)  # `_best_rerun` left the chosen post on top
                    kind, post = REPOST, rerun.post
            if post is None:
                continue
            if kind != REPOST:
                fresh_next[kind] += 1

            new.append(PlanAiring(post_id=post.id, kind=AIRING_KINDS[kind], at=grid_moment[index]))
            new_at.append(at)
            counts[kind] += 1
            last_new = at
            rerun = reruns.get(post.id)
            if rerun is None:
                rerun = reruns[post.id] = _Rerun(post, self.all_positions)
            rerun.record(at, day, kind == REPOST, blocked_at[grid_position[index]])
            if post.evergreen and index + 1 < len(grid_moment):
                self._park(rerun, index + 1)

    # Rule 5: repost eligibility and order.

    def _best_rerun(self, index: int) -> _Rerun | None:
        """The highest-priority post eligible for a repost at slot `index`, left on top."""
        waiting, ready, reruns = self.waiting, self.ready, self.reruns
        while waiting and waiting[0][0] <= index:
            _, post_id = heapq.heappop(waiting)
            heapq.heappush(ready, reruns[post_id].priority())
        while ready:
            rerun = reruns[ready[0][-1]]
            chance = self._next_chance(rerun, index)
            if chance == index:
                return rerun
            heapq.heappop(ready)
            if chance is not None:
                heapq.heappush(waiting, (chance, rerun.post.id))
        return None

    def _park(self, rerun: _Rerun, index: int) -> None:
        chance = self._next_chance(rerun, index)
        if chance is not None:
            heapq.heappush(self.waiting, (chance, rerun.post.id))

    def _next_chance(self, rerun: _Rerun, index: int) -> int | None:
        """`index` if the post may be reposted at that slot; else the first slot it might be.

        The returned slot is a lower bound (each failed rule gives one; the latest wins), so a
        parked post is never woken too late. None means never again inside the window.
        """
        grid = self.grid
        at = grid.at[index]
        expires = rerun.expires
        if (
            rerun.reposts >= self.max_airings
            or not rerun.free_positions
            or (expires is not None and at >= expires)
            or self.max_per_day <= 0
        ):
            return None
        chance = index
        ready_at = rerun.latest + self.min_interval
        if at < ready_at:
            chance = bisect_left(grid.at, ready_at)  # after `index`: the grid is in time order
        day = grid.day[index]
        if rerun.reposts_by_day.get(day, 0) >= self.max_per_day:
            chance = max(chance, bisect_left(grid.local_key, (day + 1) * _DAY))
        position = grid.position[index]
        if not rerun.free_positions >> position & 1:
            next_free = self._next_free(rerun, day, position)
            chance = max(chance, bisect_left(grid.local_key, next_free))
        return chance if chance < self.slot_count else None

    def _next_free(self, rerun: _Rerun, day: int, position: int) -> int:
        """Local key of the next grid time of day far enough from all the post's airings."""
        free = rerun.free_positions
        later = free >> (position + 1)
        if later:
            next_position = position + (later & -later).bit_length()
            return day * _DAY + self.grid.times_of_day[next_position]
        first_position = (free & -free).bit_length() - 1
        return (day + 1) * _DAY + self.grid.times_of_day[first_position]

    def _blocked(self, time_of_day: int) -> int:
        """Grid positions closer than `hour_shift` to `time_of_day` on the 24h circle."""
        blocked = self._blocked_cache.get(time_of_day)
        if blocked is None:
            blocked = 0
            times = self.grid.times_of_day
            for day_shift in (-_DAY, 0, _DAY):  # the circle unrolled: yesterday, today, tomorrow
                centre = time_of_day + day_shift
                first = bisect_right(times, centre - self.hour_shift)
                last = bisect_left(times, centre + self.hour_shift)
                if first < last:
                    blocked |= (1 << last) - (1 << first)
            self._blocked_cache[time_of_day] = blocked
        return blocked


def _expiry_us(post: PlanPost) -> int:
    return 2**62 if post.expires is None else _to_us(post.expires)


# --- gaps (rule 3) ------------------------------------------------------------------------


def _gaps(times: list[int], previous: int, end: int, max_gap: int) -> tuple[Gap, ...]:
    """Silences longer than `max_gap`: from `previous` (the last airing before the window, or
    its start) through each airing in the window, and from the last one to the window's end."""
    gaps = []
    for at in [*times, end]:
        if at - previous > max_gap:
            gaps.append(Gap(_from_us(previous), _from_us(at)))
        previous = max(previous, at)
    return tuple(gaps)
