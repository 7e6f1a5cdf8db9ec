"""An independent check of the scheduling rules (docs/design.md §3) on a finished plan.

It shares nothing with the planner but the data classes it reads. The slot grid is re-derived
by stepping through every local day by the cadence and asking the timezone which instants
show that wall time. Whether a post may air at a moment is decided by one plain function per
rule (`fresh_obstacle`, `repost_obstacle`), written from §3 and not from the planner.

Who comes first at each slot is found by one sweep through time rather than by asking every
post at every slot (which made `simulate` quadratic in slots × posts): a fresh post, once it
can't air fresh, never can again, so each kind keeps a first-in-first-out heap whose top is
dropped while it is out; reposts keep a heap by repost order, re-entered whenever a post's
airings change, and an entry out only for now (spacing, hour shift, the day's count) is put
back after the slot. The rule functions still judge every entry that is looked at.
`simulate` prints what the audit finds as `violations`, and the property tests require it to
find nothing.

Airings with an `airing_id` are the store's (history, pinned, frozen): they are the context
the plan had to respect. Airings without one are the planner's additions, and those are the
ones judged.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from fractions import Fraction

from ..config import ChannelSettings
from ..domain import AIRING_KINDS, POST_KINDS, AiringKind
from .planner import Gap, PlanAiring, PlanPost

DAY = timedelta(days=1)


def audit_channel(
    channel: ChannelSettings,
    posts: Sequence[PlanPost],
    airings: Sequence[PlanAiring],
    start: datetime,
    end: datetime,
    gaps: Sequence[Gap] | None = None,
) -> list[str]:
    """Every breach of §3 by the new airings (those without `airing_id`) in `airings`.

    `airings` must hold everything the plan rests on and produced: the channel's history
    (before `start` too), its fixed future airings and the planner's new ones, e.g.
    `[*fixed, *plan.new]` (exact duplicates are ignored). `posts` are the posts the planner
    was given. When `gaps` is given (the plan's), it must list exactly the silences longer
    than `max_gap` in the window. A gap over `max_gap` is only allowed where no eligible post
    could have taken any free slot inside it; that is checked for every empty slot.
    """
    audit = _Audit(channel, posts, airings, start, end)
    problems = [*audit.placement(), *audit.choices(), *audit.empty_slots(), *audit.mix_bound()]
    if gaps is not None:
        problems += audit.reported_gaps(gaps)
    return problems


@dataclass(frozen=True)
class _Candidates:
    """Who comes first for a slot: the first fresh post of each kind (FIFO order) and the
    best eligible repost, only for kinds the mix lets air; None where there is none."""

    core: PlanPost | None
    entertaining: PlanPost | None
    repost: PlanPost | None

    def first(self, kind: str) -> PlanPost | None:
        post: PlanPost | None = getattr(self, kind)
        return post

    def kinds(self) -> list[str]:
        return [kind for kind in AIRING_KINDS if self.first(kind) is not None]


class _Audit:
    def __init__(
        self,
        channel: ChannelSettings,
        posts: Sequence[PlanPost],
        airings: Sequence[PlanAiring],
        start: datetime,
        end: datetime,
    ) -> None:
        self.channel = channel
        self.tz = channel.timezone
        self.start = start.astimezone(UTC)
        self.end = end.astimezone(UTC)
        self.posts = {post.id: post for post in posts}
        unique = list(dict.fromkeys(airings))
        self.airings = sorted(unique, key=lambda a: (a.at, a.post_id))
        self.new = [a for a in self.airings if a.airing_id is None]
        self.times = [a.at for a in self.airings]
        self.at_times = set(self.times)
        self._local: dict[datetime, tuple[date, timedelta]] = {}
        self.by_post: dict[int, list[PlanAiring]] = {}
        self.by_day: dict[date, list[PlanAiring]] = {}
        for airing in self.airings:
            self.by_post.setdefault(airing.post_id, []).append(airing)
            self.by_day.setdefault(self.local_date(airing.at), []).append(airing)
        self.grid = _grid(channel, self.start, self.end)
        # Shares as whole-number weights over their total: exact and quick to compare.
        self.weights: dict[str, int] = {kind: getattr(channel.mix, kind) for kind in AIRING_KINDS}
        self.total = sum(self.weights.values())
        self._candidates = self.sweep_candidates(sorted({*self.grid, *(a.at for a in self.new)}))

    # --- where airings are ---------------------------------------------------------------

    def placement(self) -> list[str]:
        """Window, slot grid and quiet hours (rule 1), one per slot and spacing (rule 2)."""
        problems = []
        on_grid = set(self.grid)
        for airing in self.new:
            if not self.start <= airing.at < self.end:
                problems.append(f"{self.describe(airing)}: outside the planned window")
            elif airing.at not in on_grid:
                problems.append(
                    f"{self.describe(airing)}: not on the slot grid ({self.grid_reason(airing.at)})"
                )
            if airing.pinned:
                problems.append(
                    f"{self.describe(airing)}: the planner marked a new airing as pinned"
                )
        spacing = self.channel.min_spacing
        for before, after in zip(self.airings, self.airings[1:], strict=False):
            if before.airing_id is not None and after.airing_id is not None:
                continue  # both given to the planner: not its doing
            apart = after.at - before.at
            if apart == timedelta(0):
                problems.append(
                    f"{self.describe(after)}: shares its time with post #{before.post_id}"
                )
            elif apart < spacing:
                problems.append(
                    f"{self.describe(after)}: only {_minutes(apart)} after post "
                    f"#{before.post_id}; min_spacing is {_minutes(spacing)}"
                )
        return problems

    def grid_reason(self, at: datetime) -> str:
        local = at.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        if _quiet(self.channel, minute):
            return f"{local:%H:%M} local is in quiet hours"
        return f"{local:%H:%M} local is not a slot time"

    # --- what airs in each slot ------------------------------------------------------------

    def choices(self) -> list[str]:
        """Each new airing: its post may air then (rules 5, 6), FIFO / repost order, and its
        kind is the largest deficit among kinds with a candidate (rule 4)."""
        problems = []
        for airing in self.new:
            post = self.posts.get(airing.post_id)
            if post is None:
                problems.append(
                    f"{self.describe(airing)}: post #{airing.post_id} is not among the given posts"
                )
                continue
            if airing.kind == AiringKind.repost:
                obstacle = self.repost_obstacle(post, airing.at)
            elif airing.kind in POST_KINDS:
                obstacle = self.fresh_obstacle(post, airing.at, airing.kind)
            else:
                obstacle = f"unknown kind {airing.kind!r}"
            if obstacle is not None:
                problems.append(f"{self.describe(airing)}: not allowed: {obstacle}")
                continue
            if self.share(airing.kind) == 0:
                problems.append(f"{self.describe(airing)}: the mix gives {airing.kind} no weight")
                continue
            candidates = self.candidates(airing.at)
            first = candidates.first(airing.kind)
            if first is not None and first.id != post.id:
                rule = "repost order" if airing.kind == AiringKind.repost else "first in, first out"
                problems.append(f"{self.describe(airing)}: post #{first.id} comes first by {rule}")
            expected = self.expected_kind(airing.at, candidates)
            if expected is not None and expected != airing.kind:
                problems.append(
                    f"{self.describe(airing)}: the mix calls for {expected} here "
                    f"(counts that day: {self.day_counts(airing.at)})"
                )
        return problems

    def expected_kind(self, at: datetime, candidates: _Candidates) -> str | None:
        counts = self.day_counts(at)
        airings_so_far = sum(counts.values())
        best: tuple[int, str] | None = None
        for kind in candidates.kinds():  # already in tie order: core, entertaining, repost
            # (share × (n + 1) − count) × total
            deficit = self.weights[kind] * (airings_so_far + 1) - counts[kind] * self.total
            if best is None or deficit > best[0]:
                best = (deficit, kind)
        return None if best is None else best[1]

    def share(self, kind: str) -> Fraction:
        return Fraction(self.weights[kind], self.total)

    def day_counts(self, at: datetime) -> dict[str, int]:
        """Airings of each kind earlier on the same local day (any source)."""
        counts = dict.fromkeys(AIRING_KINDS, 0)
        for airing in self.by_day.get(self.local_date(at), []):
            if airing.at >= at:
                break  # the day's airings are in time order
            counts[airing.kind] = counts.get(airing.kind, 0) + 1
        return counts

    # --- empty slots and gaps (rules 3, 4) ---------------------------------------------------

    def empty_slots(self) -> list[str]:
        """A free slot left empty while a post could take it breaks 'fill' and, inside a long
        silence, 'max gap'."""
        problems = []
        gaps = self.expected_gaps()
        for slot in self.grid:
            if self.taken(slot):
                continue
            candidates = self.candidates(slot)
            kinds = candidates.kinds()
            if kinds:
                post = candidates.first(kinds[0])
                assert post is not None
                inside = [gap for gap in gaps if gap.start < slot < gap.end]
                note = f", inside a {inside[0].minutes}-minute gap" if inside else ""
                problems.append(
                    f"{self.describe_time(slot)}: slot left empty although post #{post.id} "
                    f"could air as {kinds[0]}{note}"
                )
        return problems

    def taken(self, slot: datetime) -> bool:
        """Is an airing at `slot` or closer to it than min_spacing?"""
        if slot in self.at_times:
            return True
        after = bisect_right(self.times, slot - self.channel.min_spacing)
        return after < len(self.times) and self.times[after] - slot < self.channel.min_spacing

    def expected_gaps(self) -> list[Gap]:
        before = [a.at for a in self.airings if a.at < self.start]
        # §3.3: silence counts from when the channel began, its first post or airing.
        firsts = [post.created for post in self.posts.values()]
        began = min(firsts + [a.at for a in self.airings], default=self.end)
        previous = before[-1] if before else max(self.start, began)
        gaps = []
        inside = [a.at for a in self.airings if self.start <= a.at < self.end]
        for moment in [*inside, self.end]:
            if moment - previous > self.channel.max_gap:
                gaps.append(Gap(previous, moment))
            previous = moment
        return gaps

    def reported_gaps(self, reported: Sequence[Gap]) -> list[str]:
        def span(gap: Gap) -> tuple[datetime, datetime]:
            return gap.start.astimezone(UTC), gap.end.astimezone(UTC)

        expected = {span(gap) for gap in self.expected_gaps()}
        given = {span(gap) for gap in reported}
        problems = [
            f"silence {_iso(a)} to {_iso(b)} is over max_gap but not reported"
            for a, b in sorted(expected - given)
        ]
        problems += [
            f"reported gap {_iso(a)} to {_iso(b)} is not a silence over max_gap"
            for a, b in sorted(given - expected)
        ]
        return problems

    # --- the mix bound the design promises ---------------------------------------------------

    def mix_bound(self) -> list[str]:
        """On a whole local day planned from scratch, with every slot filled and every kind
        available at each one, each kind stays within 1 of share × airings at every point."""
        problems = []
        grid_by_day: dict[date, list[datetime]] = {}
        for slot in self.grid:
            grid_by_day.setdefault(self.local_date(slot), []).append(slot)
        for day in sorted(grid_by_day):
            day_slots = grid_by_day[day]
            day_airings = self.by_day.get(day, [])
            if not self.day_inside_window(day) or [a.at for a in day_airings] != day_slots:
                continue
            if any(a.airing_id is not None for a in day_airings):
                continue
            positive = [kind for kind in AIRING_KINDS if self.share(kind) > 0]
            if any(self.candidates(a.at).kinds() != positive for a in day_airings):
                continue
            counts = dict.fromkeys(AIRING_KINDS, 0)
            for number, airing in enumerate(day_airings, start=1):
                counts[airing.kind] += 1
                for kind in AIRING_KINDS:
                    # |count − share × number| > 1, times the mix's total
                    if abs(counts[kind] * self.total - self.weights[kind] * number) > self.total:
                        problems.append(
                            f"{day}: after {number} airings {kind} has {counts[kind]}, more "
                            f"than 1 away from its share {float(self.share(kind)):.2f}"
                        )
        return problems

    def day_inside_window(self, day: date) -> bool:
        first = _first_instant(datetime.combine(day, time()), self.tz)
        last = _first_instant(datetime.combine(day + DAY, time()), self.tz)
        return first is not None and last is not None and self.start <= first and last <= self.end

    # --- who may air when --------------------------------------------------------------------

    def known(self, post_id: int, at: datetime) -> list[PlanAiring]:
        """The post's airings the planner knew of when filling `at`: every given airing and
        its own earlier additions."""
        return [a for a in self.by_post.get(post_id, []) if a.airing_id is not None or a.at < at]

    def candidates(self, at: datetime) -> _Candidates:
        """Who comes first at `at`, one of the moments swept in `__init__` (slots and new
        airings)."""
        return self._candidates[at]

    def sweep_candidates(self, moments: Sequence[datetime]) -> dict[datetime, _Candidates]:
        """`_Candidates` for each of `moments` (ascending), in one pass through time."""
        fresh: dict[str, list[tuple[datetime, int]]] = {"core": [], "entertaining": []}
        for post in self.posts.values():
            if post.kind in fresh:
                fresh[post.kind].append((post.created, post.id))
        for heap in fresh.values():
            heapq.heapify(heap)
        # Reposts: (rank, post id, version); an entry is stale once the post's airings changed.
        reposts: list[tuple[tuple[int, float, int, datetime, int], int, int]] = []
        version: dict[int, int] = {}

        def enter(post: PlanPost, at: datetime) -> None:
            version[post.id] = version.get(post.id, 0) + 1
            heapq.heappush(reposts, (self.repost_rank(post, at), post.id, version[post.id]))

        first_moment = moments[0] if moments else self.start
        for post in self.posts.values():
            if post.evergreen and self.known(post.id, first_moment):
                enter(post, first_moment)
        pending = [a for a in self.new if a.post_id in self.posts]  # in time order
        next_new = 0
        result = {}
        for at in moments:
            while next_new < len(pending) and pending[next_new].at < at:
                post = self.posts[pending[next_new].post_id]
                if post.evergreen:
                    enter(post, at)  # one more known airing: a new rank
                next_new += 1
            result[at] = _Candidates(
                core=self.first_fresh(fresh["core"], at) if self.share("core") > 0 else None,
                entertaining=(
                    self.first_fresh(fresh["entertaining"], at)
                    if self.share("entertaining") > 0
                    else None
                ),
                repost=(
                    self.first_repost(reposts, version, at) if self.share("repost") > 0 else None
                ),
            )
        return result

    def first_fresh(self, heap: list[tuple[datetime, int]], at: datetime) -> PlanPost | None:
        """The oldest post of the heap that may air fresh at `at`. One that can't never can
        again later (it aired, or it expired), so it leaves the heap."""
        while heap:
            post = self.posts[heap[0][1]]
            if self.fresh_obstacle(post, at) is None:
                return post
            heapq.heappop(heap)
        return None

    def first_repost(
        self,
        heap: list[tuple[tuple[int, float, int, datetime, int], int, int]],
        version: dict[int, int],
        at: datetime,
    ) -> PlanPost | None:
        """The best post of the heap that may be re-aired at `at`. Entries out for good
        (expired, max_airings reached, stale) leave; those out only for now go back."""
        later = []
        found = None
        while heap:
            entry = heapq.heappop(heap)
            if version[entry[1]] != entry[2]:
                continue
            post = self.posts[entry[1]]
            if self.repost_obstacle(post, at) is None:
                found = post
                later.append(entry)
                break
            if not self.repost_out_for_good(post, at):
                later.append(entry)
        for entry in later:
            heapq.heappush(heap, entry)
        return found

    def repost_out_for_good(self, post: PlanPost, at: datetime) -> bool:
        """Can't be re-aired at `at` nor later, until it airs again (which re-enters it)."""
        if post.expires is not None and at >= post.expires:
            return True
        reposts = [a for a in self.known(post.id, at) if a.kind == AiringKind.repost]
        return len(reposts) >= self.channel.repost.max_airings

    def fresh_obstacle(self, post: PlanPost, at: datetime, kind: str | None = None) -> str | None:
        """Why `post` can't air fresh at `at`, or None if it can."""
        if kind is not None and post.kind != kind:
            return f"post #{post.id} is {post.kind}, not {kind}"
        if post.pinned:
            return f"post #{post.id} is pinned; its time is given, never planned"
        earlier = self.known(post.id, at)
        if earlier:
            return f"post #{post.id} already aired at {_iso(earlier[0].at)}, so this is a repost"
        if post.expires is not None and at >= post.expires:
            return f"post #{post.id} expired at {_iso(post.expires)}"
        return None

    def repost_obstacle(self, post: PlanPost, at: datetime) -> str | None:
        """Why `post` can't be re-aired at `at` (rules 5, 6), or None if it can."""
        rules = self.channel.repost
        earlier = self.known(post.id, at)
        reposts = [a for a in earlier if a.kind == AiringKind.repost]
        if not earlier:
            return f"post #{post.id} has not aired on this channel"
        if not post.evergreen:
            return f"post #{post.id} is not evergreen"
        if post.expires is not None and at >= post.expires:
            return f"post #{post.id} expired at {_iso(post.expires)}"
        if len(reposts) >= rules.max_airings:
            return f"post #{post.id} already has {len(reposts)} reposts (max_airings)"
        latest = max(a.at for a in earlier)
        if at < latest + rules.min_interval:
            return f"post #{post.id} aired at {_iso(latest)}, less than min_interval before"
        day = self.local_date(at)
        if sum(1 for a in reposts if self.local_date(a.at) == day) >= rules.max_per_day:
            return f"post #{post.id} already has max_per_day reposts on {day}"
        for airing in earlier:
            if (
                _circle_distance(self.time_of_day(airing.at), self.time_of_day(at))
                < rules.hour_shift
            ):
                return (
                    f"post #{post.id} aired at {self.time_of_day(airing.at)} local, "
                    "closer than hour_shift to this time of day"
                )
        return None

    def repost_rank(self, post: PlanPost, at: datetime) -> tuple[int, float, int, datetime, int]:
        earlier = self.known(post.id, at)
        score = (0, -post.score) if post.score is not None else (1, 0.0)
        return (*score, len(earlier), max(a.at for a in earlier), post.id)

    # --- local time ----------------------------------------------------------------------

    def local_date(self, at: datetime) -> date:
        return self.local(at)[0]

    def time_of_day(self, at: datetime) -> timedelta:
        """Wall-clock time since local midnight (what 'time of day' means to a reader)."""
        return self.local(at)[1]

    def local(self, at: datetime) -> tuple[date, timedelta]:
        """The local date and time of day of `at`, remembered: the sweep asks often."""
        known = self._local.get(at)
        if known is None:
            local = at.astimezone(self.tz)
            since_midnight = timedelta(
                hours=local.hour,
                minutes=local.minute,
                seconds=local.second,
                microseconds=local.microsecond,
            )
            known = self._local[at] = (local.date(), since_midnight)
        return known

    def describe_time(self, at: datetime) -> str:
        return f"{at.astimezone(self.tz):%a %Y-%m-%d %H:%M} local ({_iso(at)})"

    def describe(self, airing: PlanAiring) -> str:
        return f"{self.describe_time(airing.at)} {airing.kind} #{airing.post_id}"


def _grid(channel: ChannelSettings, start: datetime, end: datetime) -> list[datetime]:
    """Every slot in [start, end): each cadence step of each local day, outside quiet hours,
    at the first instant the wall clock shows it (none if a clock change skips it)."""
    tz = channel.timezone
    found = set()
    day = start.astimezone(tz).date() - DAY
    while day <= end.astimezone(tz).date() + DAY:
        wall = datetime.combine(day, time()) + channel.slot_offset
        while wall.date() == day:
            if not _quiet(channel, wall.hour * 60 + wall.minute):
                moment = _first_instant(wall, tz)
                if moment is not None and start <= moment < end:
                    found.add(moment)
            wall += channel.cadence
        day += DAY
    return sorted(found)


def _first_instant(wall: datetime, tz: tzinfo) -> datetime | None:
    """The earliest UTC instant at which the clock in `tz` shows `wall`; None if never."""
    shown = []
    for fold in (0, 1):
        moment = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if moment.astimezone(tz).replace(tzinfo=None) == wall:
            shown.append(moment)
    return min(shown) if shown else None


def _quiet(channel: ChannelSettings, minute: int) -> bool:
    for window in channel.quiet_hours:
        if window.start < window.end and window.start <= minute < window.end:
            return True
        if window.start > window.end and (minute >= window.start or minute < window.end):
            return True
    return False


def _circle_distance(a: timedelta, b: timedelta) -> timedelta:
    apart = abs(a - b)
    return min(apart, DAY - apart)


def _minutes(delta: timedelta) -> str:
    return f"{delta / timedelta(minutes=1):g}m"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
