"""The calendar of a window: published history plus the plan, as data every view renders.

`CalendarData` is what `scheduler calendar` (text, JSON, HTML, iCalendar) and the preview
page are built from; its JSON form is the airing shape of docs/design.md §4.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .timeutil import iso_local, iso_utc


@dataclass(frozen=True)
class CalendarAiring:
    id: int | None  # None for an airing the planner proposes but the daemon has not stored yet
    channel: str
    post_id: int
    kind: str  # core | entertaining | repost
    pinned: bool
    at: datetime  # aware UTC
    timezone: ZoneInfo  # the channel's, for the local time
    status: str
    body: str  # as it will be sent (a repost rendered through the channel's template)
    remote_url: str | None = None
    error: str | None = None

    @property
    def local(self) -> datetime:
        return self.at.astimezone(self.timezone)

    @property
    def uid_key(self) -> str:
        """Stable across exports whether or not the airing is stored yet."""
        return f"{self.channel}-{self.post_id}-{self.kind}-{iso_utc(self.at)}"

    def to_json(self) -> dict[str, Any]:
        return airing_json(
            self.id, self.channel, self.post_id, self.kind, self.pinned, self.at,
            self.timezone, self.status, self.body, self.remote_url, self.error,
        )  # fmt: skip


def airing_json(
    id: int | None,
    channel: str,
    post_id: int,
    kind: str,
    pinned: bool,
    at: datetime,
    timezone: ZoneInfo,
    status: str,
    body: str,
    remote_url: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The airing shape of docs/design.md §4, the fields of a `CalendarAiring`. `simulate`
    writes its airings with this directly: building a frozen `CalendarAiring` first cost
    six times as much, a tenth of a month's simulation at 100,000 posts."""
    return {
        "id": id,
        "channel": channel,
        "post_id": post_id,
        "kind": kind,
        "pinned": pinned,
        "at": iso_utc(at),
        "local": iso_local(at, timezone),
        "status": status,
        "body": body,
        "remote_url": remote_url,
        "error": error,
    }


@dataclass(frozen=True)
class CalendarGap:
    channel: str
    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    def to_json(self) -> dict[str, Any]:
        return {"from": iso_utc(self.start), "to": iso_utc(self.end), "minutes": self.minutes}


@dataclass(frozen=True)
class CalendarChannel:
    name: str
    publisher: str
    timezone: ZoneInfo
    max_gap: timedelta


@dataclass(frozen=True)
class InboxNote:
    """An open inbox item (DESIGN §10); its author, text and URL come from outside."""

    id: int
    channel: str
    kind: str
    author: str
    text: str
    at: datetime
    url: str | None
    late: bool  # waiting longer than the channel's response_time


@dataclass(frozen=True)
class CalendarData:
    start: datetime  # aware UTC, inclusive
    end: datetime  # aware UTC, exclusive
    generated: datetime  # when this was computed (aware UTC)
    channels: tuple[CalendarChannel, ...]
    airings: tuple[CalendarAiring, ...]  # sorted by (at, channel, post_id)
    gaps: tuple[CalendarGap, ...]  # silences longer than the channel's max_gap
    inbox: tuple[InboxNote, ...] = ()  # open inbox items, oldest first

    def to_json(self) -> dict[str, Any]:
        return {
            "from": iso_utc(self.start),
            "to": iso_utc(self.end),
            "airings": [airing.to_json() for airing in self.airings],
            "gaps": [dict(channel=gap.channel, **gap.to_json()) for gap in self.gaps],
        }
