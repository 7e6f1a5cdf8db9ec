"""Temporary: the swept audit finds exactly what the from-scratch one found."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.audit import audit_channel
from scheduler.planner import plan_channel
from tests._audit_old import audit_channel as old_audit
from tests.test_planner_properties import scenarios


def _mutate(rng, airings, posts):
    airings = list(airings)
    for _ in range(rng.randrange(1, 4)):
        if not airings:
            break
        i = rng.randrange(len(airings))
        a = airings[i]
        choice = rng.randrange(6)
        if choice == 0:
            del airings[i]
        elif choice == 1:
            airings[i] = replace(a, kind=rng.choice(["core", "entertaining", "repost"]))
        elif choice == 2 and posts:
            airings[i] = replace(a, post_id=rng.choice(posts).id)
        elif choice == 3:
            from datetime import timedelta

            airings[i] = replace(a, at=a.at + timedelta(minutes=rng.randrange(-180, 180)))
        elif choice == 4 and posts:
            from datetime import timedelta

            p = rng.choice(posts)
            airings.append(
                replace(
                    a,
                    post_id=p.id,
                    kind=rng.choice(["core", "repost", p.kind]),
                    at=a.at + timedelta(minutes=rng.randrange(-600, 600)),
                    airing_id=None,
                )
            )
        else:
            airings[i] = replace(a, pinned=not a.pinned)
    return airings


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(scenarios(), st.integers(0, 2**32), st.booleans())
def test_same_findings(scenario, seed, mutate) -> None:
    channel, posts, fixed, start, end = scenario
    plan = plan_channel(channel, posts, fixed, start, end)
    airings = [*fixed, *plan.new]
    gaps = list(plan.gaps)
    if mutate:
        rng = random.Random(seed)
        airings = _mutate(rng, airings, posts)
        if gaps and rng.random() < 0.3:
            gaps.pop()
    assert audit_channel(channel, posts, airings, start, end, gaps) == old_audit(
        channel, posts, airings, start, end, gaps
    )
