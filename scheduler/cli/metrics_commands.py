"""`scheduler metrics import FILE`: counts measured elsewhere, all rows or none (§4, §11)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import InputError, SchedulerError
from ..measuring import Counts
from ..store.metrics import Snapshot, airings_by_url, record_snapshots
from ..store.store import Store
from ..timeutil import iso_utc, parse_when
from .queue_commands import MAX_LISTED_ROW_ERRORS, file_rows

METRIC_COLUMNS = ("airing", "url", "at", "likes", "shares", "replies")
_UTC = ZoneInfo("UTC")  # a time without offset in an import is UTC, as the store keeps it
_COUNT_LIMIT = 10**12  # more than any account has; a longer number is a typo


def import_metrics(path: Path, store: Store, *, now: datetime) -> int:
    """Store every row's counts in one transaction; InputError listing each bad row."""
    parsed: list[tuple[str, Mapping[str, Any], int | str, datetime, Counts]] = []
    problems: list[str] = []
    for label, row in file_rows(path, METRIC_COLUMNS, ()):
        where = f"{path.name}: {label}"
        try:
            if isinstance(row, str):
                raise InputError(row)
            parsed.append((where, row, *_read_row(row, now)))
        except SchedulerError as exc:
            problems.append(f"{where}: {exc}")
    urls = airings_by_url(store, [ref for *_, ref, _, _ in parsed if isinstance(ref, str)])
    snapshots = []
    for where, _, ref, at, counts in parsed:
        airing_id = urls.get(ref) if isinstance(ref, str) else ref
        if airing_id is None:
            problems.append(f"{where}: url {ref!r} is not the address of a published airing")
            continue
        snapshots.append(Snapshot(airing_id, at, counts, step=None, source="import"))
    if not problems and not snapshots:
        raise InputError(f"{path.name}: has no rows to import")
    if not problems:
        try:
            return record_snapshots(store, snapshots)
        except InputError as exc:
            problems.append(f"{path.name}: {exc}")
    shown = problems[:MAX_LISTED_ROW_ERRORS]
    if len(problems) > len(shown):
        shown.append(f"… and {len(problems) - len(shown)} more rows with problems")
    raise InputError("nothing was imported: " + "\n".join(shown))


def _read_row(row: Mapping[str, Any], now: datetime) -> tuple[int | str, datetime, Counts]:
    airing, url = _blank(row.get("airing")), _blank(row.get("url"))
    if (airing is None) == (url is None):
        raise InputError("give exactly one of airing (an airing id) or url (its address)")
    ref: int | str
    if airing is not None:
        ref = _whole(airing, "airing", minimum=1)
    else:
        if not isinstance(url, str):
            raise InputError(f"url {url!r} must be text")
        ref = url.strip()
    at_value = _blank(row.get("at"))
    if not isinstance(at_value, str):
        raise InputError(f"at {at_value!r} must be a time such as 2026-11-24T08:00:00Z")
    try:
        at = parse_when(at_value, now=now, tz=_UTC)
    except ValueError as exc:
        raise InputError(f"at: {exc}") from None
    if at > now:
        raise InputError(f"at {iso_utc(at)} is in the future (now is {iso_utc(now)})")
    counts = Counts(
        likes=_whole(row.get("likes"), "likes"),
        shares=_whole(row.get("shares"), "shares"),
        replies=_whole(row.get("replies"), "replies"),
    )
    return ref, at, counts


def _blank(value: Any) -> Any:
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def _whole(value: Any, name: str, *, minimum: int = 0) -> int:
    """A whole number from JSON or a CSV cell; a missing count is refused, not read as 0."""
    wrong = InputError(f"{name} {value!r} must be a whole number, {minimum} or more")
    if isinstance(value, bool) or value is None:
        raise wrong
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 13:
            raise wrong
        value = int(text)
    if not isinstance(value, int) or not minimum <= value < _COUNT_LIMIT:
        raise wrong
    return value
