"""`Store`: the one object callers open, composed of the store's job classes.

Each job lives in its own module, as a subclass of `db.Database` (engine, dialect,
transactions), and `Store` inherits them all, so callers keep one object and one set of
method names:

- `schema.SchemaJobs`: bringing the schema up to date (`migrations.py` is its history);
- `posts.PostJobs`: what editors do to posts (add, edit, cancel, retry, read);
- `plans.PlanJobs`: what planning reads, and writing a plan back;
- `airings.AiringJobs`: the daemon's claims, leases, outcomes, recovery, downtime;
- `meta.MetaJobs`: the change counter, key prefix and heartbeats (`meta.PlannerLock` too).

Methods take the time as an argument; none reads the clock.
"""

from __future__ import annotations

from ..domain import POST_STATUSES, PostDraft
from ..measuring import Weights
from .airings import AiringJobs, Claimed, Outcome, Render
from .db import chunked, redact_url
from .meta import MetaJobs, PlannerLock, note_change
from .plans import PlanJobs
from .posts import Cancellation, PostJobs, PostRecord, tags_of
from .schema import SchemaJobs

# What callers import from here; each name lives in the module of its job.
__all__ = [
    "POST_STATUSES",
    "Cancellation",
    "Claimed",
    "Outcome",
    "PlannerLock",
    "PostDraft",
    "PostRecord",
    "Render",
    "Store",
    "chunked",
    "note_change",
    "redact_url",
    "tags_of",
]


class Store(SchemaJobs, PostJobs, PlanJobs, AiringJobs, MetaJobs):
    """The database, as every caller uses it: `Store(url)`, then any job's methods."""

    def engagements(self, weights: Weights) -> list[tuple[int, str, float]]:
        """(post, channel, engagement) of every measured published airing (§11): what the
        planner's repost scores are made of (`planning.forecast.StoredPlan`)."""
        return self.view().engagements(weights)
