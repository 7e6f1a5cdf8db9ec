"""`scheduler check`: everything that can be verified before the daemon starts.

Secrets are resolved to prove they can be read, and then dropped: only their reference
(`{ env = "MAIN_TOKEN" }`) ever appears in the report.
"""

from __future__ import annotations

from pathlib import Path

from .config import SecretRef, load_config
from .errors import ConfigError, SchedulerError
from .timeutil import format_duration


def run_checks(config_path: Path | None) -> tuple[list[str], list[str]]:
    """(report lines for stdout, problems for stderr); no problems means all is well."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return [], exc.problems
    source = str(config.path)
    problems: list[str] = []
    for name, channel in config.channels.items():
        for key, value in channel.options.items():
            if isinstance(value, SecretRef):
                try:
                    value.reveal()
                except SchedulerError as exc:
                    problems.append(f"{source}: channels.{name}.{key}: {exc}")

    from .store import Store, redact_url

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
    if not problems:
        report.append("ok")
    return report, problems
