"""The audit, the planner's judge, catches each kind of breach of DESIGN §3.

Each test takes the spelled-out week of `test_planner_examples` (a valid plan, on which the
audit finds nothing) and breaks one rule in it, the way a faulty planner would.
"""

from __future__ import annotations

from dataclasses import replace

from scheduler.planning.audit import audit_channel
from scheduler.planning.planner import Gap, PlanAiring, plan_channel
from tests.test_planner_examples import BERLIN, DAY, MINUTE, MONDAY, WEEK, WEEK_POSTS, local

END = MONDAY + 7 * DAY
PLAN = plan_channel(WEEK, WEEK_POSTS, [], MONDAY, END)


def audit(airings: list[PlanAiring], gaps: tuple[Gap, ...] = ()) -> list[str]:
    return audit_channel(WEEK, WEEK_POSTS, airings, MONDAY, END, gaps)


def at(text: str) -> int:
    """Index in the plan of the airing at a local time ("2026-06-16 14:00")."""
    moment = local(BERLIN, text)
    return next(i for i, a in enumerate(PLAN.airings) if a.at == moment)


def changed(text: str, **fields: object) -> list[PlanAiring]:
    airings = list(PLAN.airings)
    index = at(text)
    airings[index] = replace(airings[index], **fields)  # type: ignore[arg-type]
    return airings


def test_the_valid_week_has_no_finding() -> None:
    assert audit(list(PLAN.airings), PLAN.gaps) == []


def test_an_empty_slot_that_a_post_could_fill_and_the_silence_it_leaves() -> None:
    airings = list(PLAN.airings)
    del airings[at("2026-06-15 18:00")]
    found = audit(airings)
    assert (
        "Mon 2026-06-15 18:00 local (2026-06-15T16:00:00Z): slot left empty although post #3 "
        "could air as core, inside a 960-minute gap" in found
    )
    assert (
        "silence 2026-06-15T12:00:00Z to 2026-06-16T04:00:00Z is over max_gap but not "
        "reported" in found
    )
    # Post #3 stayed unaired, so it comes first for every later core slot.
    assert (
        "Tue 2026-06-16 06:00 local (2026-06-16T04:00:00Z) core #4: post #3 comes first by "
        "first in, first out" in found
    )


def test_off_grid_and_quiet_hours() -> None:
    off_grid = changed("2026-06-15 06:00", at=local(BERLIN, "2026-06-15 07:00"))
    assert "not on the slot grid (07:00 local is not a slot time)" in audit(off_grid)[0]
    quiet = changed("2026-06-15 06:00", at=local(BERLIN, "2026-06-15 02:00"))
    assert "not on the slot grid (02:00 local is in quiet hours)" in audit(quiet)[0]


def test_first_in_first_out() -> None:
    airings = changed("2026-06-15 06:00", post_id=2)
    airings[at("2026-06-15 14:00")] = replace(airings[at("2026-06-15 14:00")], post_id=1)
    assert (
        "Mon 2026-06-15 06:00 local (2026-06-15T04:00:00Z) core #2: post #1 comes first by "
        "first in, first out" in audit(airings)
    )


def test_the_mix_calls_for_another_kind() -> None:
    found = audit(changed("2026-06-15 10:00", kind="core", post_id=2))
    assert (
        "Mon 2026-06-15 10:00 local (2026-06-15T08:00:00Z) core #2: the mix calls for "
        "entertaining here (counts that day: {'core': 1, 'entertaining': 0, 'repost': 0})"
    ) in found
    assert (
        "Mon 2026-06-15 14:00 local (2026-06-15T12:00:00Z) core #2: not allowed: post #2 "
        "already aired at 2026-06-15T08:00:00Z, so this is a repost"
    ) in found


def test_repost_rules() -> None:
    too_soon = changed("2026-06-15 14:00", kind="repost", post_id=1)
    assert (
        "Mon 2026-06-15 14:00 local (2026-06-15T12:00:00Z) repost #1: not allowed: post #1 "
        "aired at 2026-06-15T04:00:00Z, less than min_interval before" in audit(too_soon)
    )
    # Wednesday 14:00: #1 aired at 14:00 on Tuesday, the same time of day; then #9, which
    # was due there, comes first at every later repost slot.
    found = audit(changed("2026-06-17 14:00", post_id=1))
    assert found[0] == (
        "Wed 2026-06-17 14:00 local (2026-06-17T12:00:00Z) repost #1: not allowed: post #1 "
        "aired at 14:00:00 local, closer than hour_shift to this time of day"
    )
    assert (
        "Thu 2026-06-18 14:00 local (2026-06-18T12:00:00Z) repost #3: post #9 comes first by "
        "repost order" in found
    )
    assert (
        "Sun 2026-06-21 10:00 local (2026-06-21T08:00:00Z) repost #1: not allowed: post #1 "
        "already has 2 reposts (max_airings)" in found
    )


def test_spacing_and_shared_times() -> None:
    first = PLAN.airings[0]
    close = audit([*PLAN.airings, replace(first, post_id=8, at=first.at + 10 * MINUTE)])
    assert (
        "Mon 2026-06-15 06:10 local (2026-06-15T04:10:00Z) core #8: only 10m after post #1; "
        "min_spacing is 30m" in close
    )
    shared = audit([*PLAN.airings, replace(first, post_id=8)])
    assert (
        "Mon 2026-06-15 06:00 local (2026-06-15T04:00:00Z) core #8: shares its time with post #1"
        in shared
    )


def test_gaps_must_be_reported_exactly() -> None:
    invented = Gap(local(BERLIN, "2026-06-15 18:00"), local(BERLIN, "2026-06-16 06:00"))
    assert audit(list(PLAN.airings), (invented,)) == [
        "reported gap 2026-06-15T16:00:00Z to 2026-06-16T04:00:00Z is not a silence over max_gap"
    ]
