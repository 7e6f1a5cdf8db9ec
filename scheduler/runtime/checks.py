"""`scheduler check`: everything that can be verified before the daemon starts.

Secrets are resolved to prove they can be read, and then dropped: only their reference
(`{ env = "MAIN_TOKEN" }`) ever appears in the report.

`--online` also proves each channel's credentials with one read-only call to its platform
(each publisher's `verify`: Mastodon `verify_credentials`, Bluesky `createSession`,
Telegram `getMe`); webhooks and files have no such call and are "not checked". What a
platform answers is redacted by the publisher before it is shown.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ChannelSettings, Config, SecretRef, load_config, secret_problem
from ..errors import ConfigError, SchedulerError
from ..measuring import past_goal_problems
from ..timeutil import format_duration

if TYPE_CHECKING:
    import httpx


def run_checks(config_path: Path | None, *, online: bool = False) -> tuple[list[str], list[str]]:
    """(report lines for stdout, problems for stderr); no problems means all is well.

    `online`: also one read-only call per channel to prove its credentials.
    """
    try:
        config = load_config(config_path, resolve_secrets=True)
    except ConfigError as exc:
        return [], exc.problems
    source = str(config.path)
    problems: list[str] = []
    unreadable: set[str] = set()
    today = datetime.now(UTC).date()  # a goal's date is a day; `check` is where it is judged
    seen: set[str] = set()  # a `[defaults.goals]` goal is reported once, not per channel
    for channel in config.channels.values():
        for path, reason in past_goal_problems(channel.goals, today):
            if path not in seen:
                seen.add(path)
                problems.append(f"{source}: {path}: {reason}")
    for name, channel in config.channels.items():
        for key, value in channel.options.items():
            path = f"channels.{name}.{key}"
            if isinstance(value, SecretRef) and (problem := secret_problem(value, path)):
                problems.append(f"{source}: {path}: {problem}")
                unreadable.add(name)

    from ..store.store import Store, redact_url

    database = redact_url(config.scheduler.database)
    try:
        store = Store(config.scheduler.database)
        store.ensure_schema()
        version = store.schema_version()
        store.close()
    except SchedulerError as exc:
        problems.append(f"{source}: scheduler.database: {exc}")
        version = None

    report = [f"{source}: {len(config.channels)} channel(s)"]
    for name, channel in sorted(config.channels.items()):
        quiet = ", ".join(str(w) for w in channel.quiet_hours) or "none"
        report.append(
            f"  {name}: {channel.publisher}, {channel.timezone.key}, every "
            f"{format_duration(channel.cadence)}, max gap {format_duration(channel.max_gap)}, "
            f"quiet hours {quiet}"
        )
    if version is not None:
        report.append(f"database: {database} (schema version {version})")
    if online:
        lines, failures = check_online(config, skip=unreadable)
        report += lines
        problems += [f"{source}: {failure}" for failure in failures]
    if not problems:
        report.append("ok")
    return report, problems


def check_online(config: Config, *, skip: Set[str] = frozenset()) -> tuple[list[str], list[str]]:
    """(one report line per channel, one problem per channel whose platform refused).

    Channels in `skip` (a secret that can't be read) are not called.
    """
    from ..publishers.http import make_http_client

    lines = ["credentials (one read-only call per channel):"]
    failures: list[str] = []
    with make_http_client() as client:
        for name, channel in sorted(config.channels.items()):
            if name in skip:
                lines.append(f"  {name}: not checked (a secret can't be read)")
                continue
            try:
                account = _verify(channel, client)
            except SchedulerError as exc:
                lines.append(f"  {name}: failed: {exc}")
                failures.append(f"channels.{name}: credentials refused: {exc}")
                continue
            if account is None:
                lines.append(f"  {name}: not checked ({channel.publisher} has no read-only call)")
            else:
                lines.append(f"  {name}: ok ({account})")
    return lines, failures


def _verify(channel: ChannelSettings, client: httpx.Client) -> str | None:
    """The account `channel`'s credentials belong to, or None when there is nothing to ask."""
    from ..publishers.base import Verifiable
    from ..publishers.registry import build_publisher

    publisher = build_publisher(channel, client, now=lambda: datetime.now(UTC))
    try:
        return publisher.verify() if isinstance(publisher, Verifiable) else None
    finally:
        publisher.close()
