"""What `status` shows (docs/design.md §4), gathered from the store and the plan.

Status answers "do I need to queue more, and is anything broken?": per channel the next
airing, queued posts, airings waiting for an editor, the first forecast breach of max_gap
and when fresh content runs out, open inbox items and how long the oldest has waited, the
goals behind pace, plus whether a daemon is alive. `render.status` draws it as text.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..config import Config
from ..domain import NEEDS_EDITOR
from ..planning.forecast import gap_json, plan_all, window_inputs
from ..store.view_store import ViewStore
from ..timeutil import iso_local, iso_utc
from .report import goals_behind

FORECAST_DAYS = 7


def status_report(config: Config, store: ViewStore, *, now: datetime) -> dict[str, Any]:
    days = max(FORECAST_DAYS, int(config.scheduler.horizon / timedelta(days=1)) + 1)
    end = now + timedelta(days=days)
    # The forecast is the plan itself: no bodies, no audit, only the rows the week needs.
    inputs, _ = window_inputs(config, store, now=now, end=end, history_from=now)
    plans = plan_all(inputs, start=now, end=end)
    waiting: dict[str, list[Any]] = {
        name: [a for a in item.stored if a.status in NEEDS_EDITOR] for name, item in inputs.items()
    }
    queued = store.queued_counts(list(config.channels), now=now)
    inbox = store.inbox_waiting()
    behind = goals_behind(config, store, now=now)
    channels = {}
    for name in config.channels:
        plan = plans[name]
        waits = inbox.get(name)
        oldest = waits.oldest if waits else None
        upcoming = [a.at for a in plan.airings if now <= a.at < end]
        tz = config.channels[name].timezone
        channels[name] = {
            "next_airing": iso_utc(min(upcoming)) if upcoming else None,
            "next_airing_local": iso_local(min(upcoming), tz) if upcoming else None,
            "queued_posts": queued[name],
            "needs_editor": sorted(a.id for a in waiting[name]),
            # What `queue retry` takes is the post id; the airing id alone sent editors astray.
            "needs_editor_posts": [
                {"post_id": a.post_id, "airing_id": a.id, "status": a.status}
                for a in sorted(waiting[name], key=lambda a: a.id)
            ],
            "first_gap": gap_json(plan.gaps[0]) if plan.gaps else None,
            "fresh_runs_out": iso_utc(plan.fresh_runs_out) if plan.fresh_runs_out else None,
            "inbox_open": waits.open if waits else 0,
            "inbox_oldest": iso_utc(oldest) if oldest else None,
            "inbox_oldest_minutes": int((now - oldest).total_seconds() // 60) if oldest else None,
            "inbox_late": bool(oldest and now - oldest > config.channels[name].response_time),
            "goals_behind": behind[name],
        }
    return {"now": iso_utc(now), "daemon": _daemon_state(config, store, now), "channels": channels}


def _daemon_state(config: Config, store: ViewStore, now: datetime) -> dict[str, Any]:
    beats = store.heartbeats()
    if not beats:
        return {"state": "never ran"}
    latest = beats[0]
    alive = config.scheduler.heartbeat_fresh
    fresh = now - latest.beat <= alive
    running = [b for b in beats if b.state == "running" and now - b.beat <= alive]
    state = (
        "running"
        if running
        else ("stopped" if latest.state == "stopped" or fresh else "not responding")
    )
    return {
        "state": state,
        "replicas": len(running),
        "owner": latest.owner,
        "last_heartbeat": iso_utc(latest.beat),
    }
