"""Reading `config.toml` (docs/design.md §6) into frozen, typed settings.

Every problem is collected, not just the first, so `scheduler check` can list them all; each
names the key's path (`channels.main.max_gap`) and what would be accepted. Secrets are kept as
references and only read when a publisher needs them, so no value can leak into a message.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from .domain import AIRING_KINDS
from .errors import ConfigError, SchedulerError, SecretError
from .inputfile import MB, UnreadableInput, read_text_file
from .measuring import Goals, MetricsSettings, read_goals, read_metrics
from .platforms.spec import Deduplication, Option, PlatformSpec
from .timeutil import DURATION_HINT, format_duration, parse_duration, zone

DAY = timedelta(days=1)
CONFIG_FILE_LIMIT = 1 * MB
SECRET_FILE_LIMIT = 1 * MB  # a `{ file = "/dev/zero" }` must not be read forever either
SECRET_SOURCES = ("env", "file", "credential")
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_QUIET_WINDOW = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives. `reveal()` reads it; `repr` and `str` never show the value.

    `carries` says where the value goes, which bounds what it may hold: any secret is
    refused with a control character (a multi-line value is a mistake, and one a one-line
    message could no longer redact), a `header` one (a bearer token) unless it is printable
    ASCII, which is all an HTTP header can carry, and a `path` one (Telegram's bot token,
    part of the request path) also with a character that would end or escape the path.
    """

    source: str  # env | file | credential
    name: str
    carries: str = field(default="text", compare=False)  # text | header | path

    def describe(self) -> str:
        return f"{{ {self.source} = {self.name!r} }}"

    def reveal(self) -> str:
        """The secret's value (a file's one trailing newline removed). Raises SecretError
        naming the reference, never the value."""
        value = self._read()
        problem = secret_value_problem(value, self.carries)
        if problem is not None:
            raise SecretError(f"the secret in {self.describe()} {problem} (its value is not shown)")
        return value

    def _read(self) -> str:
        if "\0" in self.name:
            raise SecretError(f"{self.describe()} names a NUL character")
        if self.source == "env":
            value = os.environ.get(self.name)
            if not value:
                raise SecretError(f"environment variable {self.name} is not set")
            return value
        path = _credential_path(self.name) if self.source == "credential" else Path(self.name)
        try:
            text = read_text_file(path, limit=SECRET_FILE_LIMIT)
        except UnreadableInput as exc:
            raise SecretError(f"secret file {str(path)!r} {exc.reason}") from None
        return text.removesuffix("\n").removesuffix("\r")

    def __str__(self) -> str:
        return self.describe()


SHORTEST_SECRET = 8
# A character of these ends a bot token's place in `/bot<token>/sendMessage` or changes it.
_PATH_ENDING = set("/?#%")


def secret_value_problem(value: str, carries: str) -> str | None:
    """Why `value` can't be a valid secret sent as `carries`, or None; never quotes it."""
    if not value:
        return "is empty"
    if len(value) < SHORTEST_SECRET:
        # No platform issues such tokens, and text this short can't be told apart from
        # ordinary words: redacting it would garble messages and hint at the value.
        return f"is shorter than {SHORTEST_SECRET} characters, too short for a real secret"
    if any(_is_control(char) for char in value):
        return "holds a line break or another control character, which no platform accepts"
    if carries in ("header", "path") and not all("!" <= char <= "~" for char in value):
        return "holds a space or a character that is not ASCII, which HTTP can't carry in a token"
    if carries == "path" and _PATH_ENDING & set(value):
        return "holds one of / ? # %, which would change the request's path"
    return None


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")  # controls, U+2028, U+2029


def credential_name_problem(name: str) -> str | None:
    """Why `name` can't be a file directly inside `$CREDENTIALS_DIRECTORY`, or None."""
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        return "must be the plain name of a file in $CREDENTIALS_DIRECTORY (no '/', not '..')"
    return None


def _credential_path(name: str) -> Path:
    problem = credential_name_problem(name)
    if problem is not None:
        raise SecretError(f"credential {name!r} {problem}")
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        raise SecretError(
            f"credential {name!r} needs $CREDENTIALS_DIRECTORY (set by systemd LoadCredential=)"
        )
    return Path(directory) / name


@dataclass(frozen=True)
class QuietWindow:
    """Local minutes since midnight; `start > end` wraps past midnight."""

    start: int
    end: int

    def contains(self, minute_of_day: int) -> bool:
        if self.start < self.end:
            return self.start <= minute_of_day < self.end
        return minute_of_day >= self.start or minute_of_day < self.end

    @property
    def length(self) -> timedelta:
        return timedelta(minutes=(self.end - self.start) % (24 * 60))

    def __str__(self) -> str:
        return "{:02d}:{:02d}-{:02d}:{:02d}".format(*divmod(self.start, 60), *divmod(self.end, 60))


@dataclass(frozen=True)
class Mix:
    """Relative weights of the kinds of slot; `share(kind)` is the normalised fraction."""

    core: int = 60
    entertaining: int = 25
    repost: int = 15

    def share(self, kind: str) -> float:
        total = self.core + self.entertaining + self.repost
        parts: int = getattr(self, kind)
        return parts / total


@dataclass(frozen=True)
class RepostRules:
    max_per_day: int = 2
    min_interval: timedelta = timedelta(hours=4)
    hour_shift: timedelta = timedelta(hours=3)
    max_airings: int = 6
    template: str | None = None


@dataclass(frozen=True)
class ChannelSettings:
    """One channel's rules (§3) and publisher options (§7), defaults already applied.

    `platform` is the spec of its publisher: what its options mean, its limits, how it
    deduplicates (`platforms.PlatformSpec`)."""

    name: str
    platform: PlatformSpec
    timezone: ZoneInfo
    cadence: timedelta = timedelta(hours=1)
    slot_offset: timedelta = timedelta(0)
    min_spacing: timedelta = timedelta(minutes=30)
    max_gap: timedelta = timedelta(hours=24)
    quiet_hours: tuple[QuietWindow, ...] = ()
    mix: Mix = Mix()
    repost: RepostRules = RepostRules()
    freeze: timedelta = timedelta(minutes=10)
    response_time: timedelta = timedelta(hours=4)  # how long an inbox item may wait (§10)
    goals: Goals = Goals()
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def publisher(self) -> str:
        """The platform's name, as `publisher = "…"` gives it."""
        return self.platform.name

    @property
    def deduplication(self) -> Deduplication | None:
        """How the channel's platform recognises a repeated airing; None: it can't."""
        return self.platform.deduplicates(self.options)

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def secret(self, key: str) -> str:
        """The value of the secret option `key`; a SecretError names the key's path."""
        reference: SecretRef = self.options[key]
        try:
            return reference.reveal()
        except SecretError as exc:
            raise SecretError(f"channels.{self.name}.{key}: {exc}") from None


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient publish errors (timeouts, 5xx, 429): exponential backoff that
    never undercuts a platform's Retry-After."""

    attempts: int = 6
    initial: timedelta = timedelta(seconds=2)
    maximum: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class SchedulerSettings:
    database: str = "sqlite:///scheduler.db"
    timezone: ZoneInfo = ZoneInfo("UTC")
    horizon: timedelta = timedelta(hours=48)
    misfire_grace: timedelta = timedelta(minutes=15)
    lease: timedelta = timedelta(seconds=20)
    reconcile: timedelta = timedelta(seconds=30)
    listen: timedelta = timedelta(minutes=2)  # how often readable channels are polled (§10)
    retry: RetryPolicy = RetryPolicy()

    @property
    def heartbeat_fresh(self) -> timedelta:
        """How long a daemon's last heartbeat says it is alive: it beats every `reconcile`,
        so two missed beats and a little slack."""
        return 2 * self.reconcile + timedelta(seconds=5)


@dataclass(frozen=True)
class Config:
    path: Path
    scheduler: SchedulerSettings
    channels: Mapping[str, ChannelSettings]
    metrics: MetricsSettings = MetricsSettings()

    def channel(self, name: str) -> ChannelSettings:
        from .errors import InputError

        try:
            return self.channels[name]
        except KeyError:
            known = ", ".join(sorted(self.channels))
            close = difflib.get_close_matches(name, self.channels, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(f"unknown channel {name!r}; {hint}known channels: {known}") from None

    def zone(self, channel: str | None = None) -> ZoneInfo:
        """The zone a person reads times in (§4): the channel's, the only channel's, or
        `[scheduler].timezone` where no single channel applies."""
        if channel is not None:
            return self.channel(channel).timezone
        if len(self.channels) == 1:
            return next(iter(self.channels.values())).timezone
        return self.scheduler.timezone


# --- reading ---------------------------------------------------------------------------------

_SCHEDULER_KEYS = {
    "database",
    "timezone",
    "horizon",
    "misfire_grace",
    "lease",
    "reconcile",
    "listen",
    "retry",
}
_RETRY_KEYS = {"attempts", "initial", "maximum"}
_RULE_KEYS = {
    "cadence",
    "slot_offset",
    "min_spacing",
    "max_gap",
    "quiet_hours",
    "mix",
    "repost",
    "freeze",
    "response_time",
    "timezone",
    "goals",
}
_REPOST_KEYS = {"max_per_day", "min_interval", "hour_shift", "max_airings", "template"}


class Problems:
    """Collects `path: reason` lines while the whole file is read (an option's reader adds
    to it: `add(path, reason)`)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []
        self.found = 0  # problems met, repeats included: tells a reader whether a value failed
        self.secrets: list[tuple[str, SecretRef]] = []  # every reference read, with its path

    def add(self, path: str, reason: str) -> None:
        self.found += 1
        line = f"{self.source}: {path}: {reason}"
        # `[defaults]` is read once per channel; its problems are reported once.
        if line not in self.lines:
            self.lines.append(line)

    def unknown_keys(self, table: Mapping[str, Any], allowed: set[str], path: str) -> None:
        for key in sorted(set(table) - allowed):
            where = f"{path}.{key}" if path else key
            self.add(where, f"unknown key; accepted keys: {', '.join(sorted(allowed))}")


def default_config_path() -> Path:
    return Path(os.environ.get("SCHEDULER_CONFIG") or "config.toml")


def load_config(
    path: Path | str | None = None,
    *,
    resolve_secrets: bool = False,
    platforms: Mapping[str, PlatformSpec] | None = None,
) -> Config:
    """Read and validate the config; raise ConfigError listing every problem.

    `platforms` (name -> spec) says which publishers exist and what each accepts; by
    default `platforms.registry.PLATFORMS`, every platform the scheduler has.

    The file is read as `inputfile` reads every named input: a regular UTF-8 file of at
    most `CONFIG_FILE_LIMIT`, so `--config /dev/zero` is refused instead of read forever.
    `resolve_secrets` (for `check`): an invalid config's error also names every secret that
    can't be read, so one run shows every problem.
    """
    config_path = Path(path) if path is not None else default_config_path()
    source = str(config_path)
    try:
        raw = tomllib.loads(read_text_file(config_path, limit=CONFIG_FILE_LIMIT))
    except UnreadableInput as exc:
        if exc.missing:
            raise ConfigError(
                [f"{source}: file not found (give --config PATH or set SCHEDULER_CONFIG)"]
            ) from None
        raise ConfigError([f"{source}: {exc.reason}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: not valid TOML: {exc}"]) from None
    return parse_config(raw, config_path, resolve_secrets=resolve_secrets, platforms=platforms)


def parse_config(
    raw: Mapping[str, Any],
    config_path: Path,
    *,
    resolve_secrets: bool = False,
    platforms: Mapping[str, PlatformSpec] | None = None,
) -> Config:
    if platforms is None:
        # Here, not at the top: each platform's spec reads its options with this module's
        # readers, so the registry can only be imported once this module is.
        from .platforms.registry import PLATFORMS

        platforms = PLATFORMS
    problems = Problems(str(config_path))
    base_dir = config_path.resolve().parent
    problems.unknown_keys(raw, {"scheduler", "defaults", "channels", "metrics"}, "")

    scheduler = _read_scheduler(_table(raw, "scheduler", problems), base_dir, problems)
    metrics = read_metrics(_table(raw, "metrics", problems), problems.add)
    defaults = _table(raw, "defaults", problems)
    problems.unknown_keys(defaults, _RULE_KEYS, "defaults")
    channels_raw = _table(raw, "channels", problems)
    if not channels_raw and isinstance(raw.get("channels", {}), Mapping):
        problems.add("channels", "no channel is configured; add at least one [channels.NAME]")

    channels: dict[str, ChannelSettings] = {}
    for name, table in channels_raw.items():
        path = f"channels.{name}"
        if not _CHANNEL_NAME.match(name):
            problems.add(path, "a channel name may use only letters, digits, '-' and '_'")
            continue
        if not isinstance(table, Mapping):
            problems.add(path, "must be a table ([channels.NAME])")
            continue
        channel = _read_channel(name, table, defaults, scheduler, platforms, base_dir, problems)
        if channel is not None:
            channels[name] = channel

    if problems.lines:
        if resolve_secrets:
            for path, ref in problems.secrets:
                if (problem := secret_problem(ref, path)) is not None:
                    problems.add(path, problem)
        raise ConfigError(problems.lines)
    return Config(
        path=config_path,
        scheduler=scheduler,
        channels=MappingProxyType(dict(channels)),
        metrics=metrics,
    )


def _table(raw: Mapping[str, Any], key: str, problems: Problems) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        problems.add(key, "must be a table")
        return {}
    return value


def _read_scheduler(
    table: Mapping[str, Any], base_dir: Path, problems: Problems
) -> SchedulerSettings:
    problems.unknown_keys(table, _SCHEDULER_KEYS, "scheduler")
    defaults = SchedulerSettings()
    database = _database_url(table.get("database", defaults.database), base_dir, problems)
    tz = (
        _timezone(table.get("timezone", "UTC"), "scheduler.timezone", problems) or defaults.timezone
    )

    def duration(key: str, fallback: timedelta) -> timedelta:
        return _duration(table, key, "scheduler", problems, fallback, positive=True)

    return SchedulerSettings(
        database=database,
        timezone=tz,
        horizon=duration("horizon", defaults.horizon),
        misfire_grace=_duration(
            table, "misfire_grace", "scheduler", problems, defaults.misfire_grace
        ),
        lease=duration("lease", defaults.lease),
        reconcile=duration("reconcile", defaults.reconcile),
        listen=duration("listen", defaults.listen),
        retry=_retry_policy(table.get("retry"), problems),
    )


def _retry_policy(value: Any, problems: Problems) -> RetryPolicy:
    plain = RetryPolicy()
    if value is None:
        return plain
    path = "scheduler.retry"
    if not isinstance(value, Mapping):
        problems.add(
            path, 'must be a table such as { attempts = 6, initial = "2s", maximum = "5m" }'
        )
        return plain
    problems.unknown_keys(value, _RETRY_KEYS, path)
    attempts = value.get("attempts", plain.attempts)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        problems.add(f"{path}.attempts", f"{attempts!r} must be a whole number, 1 or more")
        attempts = plain.attempts
    return RetryPolicy(
        attempts=attempts,
        initial=_duration(value, "initial", path, problems, plain.initial),
        maximum=_duration(value, "maximum", path, problems, plain.maximum),
    )


def _database_url(value: Any, base_dir: Path, problems: Problems) -> str:
    if not isinstance(value, str):
        problems.add("scheduler.database", "must be a string URL")
        return SchedulerSettings.database
    if value.startswith("sqlite:///"):
        file_part = value[len("sqlite:///") :]
        if file_part in ("", ":memory:"):
            problems.add("scheduler.database", "needs a file path, e.g. sqlite:///scheduler.db")
            return value
        return "sqlite:///" + str(base_dir / file_part)
    if value.startswith(("postgresql+psycopg://", "postgresql://")):
        return value.replace("postgresql://", "postgresql+psycopg://", 1)
    problems.add(
        "scheduler.database",
        "must start with sqlite:/// or postgresql+psycopg:// (the scheme is not shown here "
        "because a URL may hold a password)",
    )
    return SchedulerSettings.database


def _timezone(value: Any, path: str, problems: Problems) -> ZoneInfo | None:
    if not isinstance(value, str):
        problems.add(path, "must be an IANA timezone name such as UTC or Europe/Berlin")
        return None
    try:
        return zone(value)
    except ValueError as exc:
        problems.add(path, str(exc))
        return None


def _duration(
    table: Mapping[str, Any],
    key: str,
    path: str,
    problems: Problems,
    fallback: timedelta,
    *,
    positive: bool = False,
) -> timedelta:
    if key not in table:
        return fallback
    value = table[key]
    try:
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not {DURATION_HINT}")
        parsed = parse_duration(value)
    except ValueError as exc:
        problems.add(f"{path}.{key}", str(exc))
        return fallback
    if positive and parsed <= timedelta(0):
        problems.add(f"{path}.{key}", f"must be longer than zero, got {value!r}")
        return fallback
    return parsed


def _merged(defaults: Mapping[str, Any], table: Mapping[str, Any], key: str) -> tuple[Any, str]:
    """The channel's value for `key`, else the default's, with the path the value came from."""
    if key in table:
        return table[key], "channel"
    return defaults.get(key), "defaults"


def _read_channel(
    name: str,
    table: Mapping[str, Any],
    defaults: Mapping[str, Any],
    scheduler: SchedulerSettings,
    platforms: Mapping[str, PlatformSpec],
    base_dir: Path,
    problems: Problems,
) -> ChannelSettings | None:
    path = f"channels.{name}"
    errors_before = problems.found
    publisher = table.get("publisher")
    platform = platforms.get(publisher) if isinstance(publisher, str) else None
    if platform is None:
        shown = "missing" if publisher is None else repr(publisher)
        problems.add(f"{path}.publisher", f"{shown}; accepted: {', '.join(platforms)}")
        return None
    option_keys = {option.key for option in platform.options}
    problems.unknown_keys(table, _RULE_KEYS | option_keys | {"publisher"}, path)

    def where(key: str) -> str:
        return f"{path}.{key}" if key in table else f"defaults.{key}"

    unreadable: set[str] = set()  # rule keys whose value failed: not combined with others

    def rule_duration(key: str, fallback: timedelta, *, positive: bool = False) -> timedelta:
        source = table if key in table else defaults
        before = problems.found
        value = _duration(
            source, key, path if key in table else "defaults", problems, fallback, positive=positive
        )
        if problems.found != before:
            unreadable.add(key)
        return value

    plain = ChannelSettings(name=name, platform=platform, timezone=scheduler.timezone)
    tz_value, _ = _merged(defaults, table, "timezone")
    tz = plain.timezone
    if tz_value is not None:
        tz = _timezone(tz_value, where("timezone"), problems) or tz
    cadence = rule_duration("cadence", plain.cadence, positive=True)
    slot_offset = rule_duration("slot_offset", plain.slot_offset)
    min_spacing = rule_duration("min_spacing", plain.min_spacing)
    max_gap = rule_duration("max_gap", plain.max_gap, positive=True)
    freeze = rule_duration("freeze", plain.freeze)
    configured_response = rule_duration("response_time", plain.response_time, positive=True)
    before = problems.found
    quiet = _quiet_hours(_merged(defaults, table, "quiet_hours")[0], where("quiet_hours"), problems)
    if problems.found != before:
        unreadable.add("quiet_hours")
    mix = _mix(_merged(defaults, table, "mix")[0], where("mix"), problems)
    repost = _repost(defaults.get("repost"), table.get("repost"), path, problems)
    goals = read_goals(defaults.get("goals"), table.get("goals"), path, problems.add)
    response_time = _response_time(table, defaults, goals, path, configured_response)
    options = _publisher_options(platform, table, path, base_dir, problems)

    own_repost = table.get("repost")
    own_shift = isinstance(own_repost, Mapping) and "hour_shift" in own_repost
    rules = _Rules(cadence, slot_offset, min_spacing, max_gap, quiet, repost)
    hour_shift_path = f"{path if own_shift else 'defaults'}.repost.hour_shift"
    _check_rules(rules, where, unreadable, hour_shift_path, problems)
    if problems.found != errors_before:
        return None
    return ChannelSettings(
        name=name,
        platform=platform,
        timezone=tz,
        cadence=cadence,
        slot_offset=slot_offset,
        min_spacing=min_spacing,
        max_gap=max_gap,
        quiet_hours=quiet,
        mix=mix,
        repost=repost,
        freeze=freeze,
        response_time=response_time,
        goals=goals,
        options=MappingProxyType(options),
    )


def _response_time(
    table: Mapping[str, Any],
    defaults: Mapping[str, Any],
    goals: Goals,
    path: str,
    configured: timedelta,
) -> timedelta:
    """How long an inbox item may wait (§10): the nearest level that says so wins, and at
    one level an explicit `response_time` wins over the `replies_answered` goal's `within`,
    which sets it where that level has no `response_time` of its own. So: the channel's
    `response_time`, its own goal's `within`, `[defaults].response_time`, the defaults
    goal's `within`, 4h. Nothing a user wrote is silently ignored: a channel's own
    `response_time` shorter than its goal's `within` is an early warning, not a conflict.
    `configured` is the `response_time` read from the channel or `[defaults]`."""
    goal = goals.replies_answered
    own_goal = goal is not None and goal.path.startswith(f"{path}.")
    if "response_time" in table or goal is None:
        return configured
    if own_goal or "response_time" not in defaults:
        return goal.within
    return configured


@dataclass(frozen=True)
class _Rules:
    cadence: timedelta
    slot_offset: timedelta
    min_spacing: timedelta
    max_gap: timedelta
    quiet: tuple[QuietWindow, ...]
    repost: RepostRules


def _check_rules(
    rules: _Rules,
    where: Callable[[str], str],
    unreadable: Set[str],
    hour_shift_path: str,
    problems: Problems,
) -> None:
    """Rules that are each valid alone but can't hold together (§3, §6).

    A problem is reported at the key the value came from (`defaults.cadence` when the
    channel inherits it, so it is reported once), and only values that were read are
    combined: a fallback would report a problem nobody wrote.
    """
    show = format_duration
    cadence, slot_offset, min_spacing, max_gap = (
        rules.cadence, rules.slot_offset, rules.min_spacing, rules.max_gap,
    )  # fmt: skip
    if rules.repost.hour_shift > timedelta(hours=12):
        problems.add(
            hour_shift_path,
            f"{show(rules.repost.hour_shift)} is more than 12h, "
            "the furthest two times of day can be",
        )
    if "cadence" in unreadable:
        return
    if DAY % cadence != timedelta(0) or cadence < timedelta(minutes=1):
        problems.add(
            where("cadence"),
            f"{show(cadence)} does not divide 24h into whole slots; "
            "use e.g. 15m, 20m, 30m, 1h, 2h, 3h, 4h, 6h, 8h, 12h or 24h",
        )
        return  # the comparisons with the cadence would only repeat this problem
    if cadence % timedelta(minutes=1) != timedelta(0):
        problems.add(where("cadence"), f"{show(cadence)} must be whole minutes")
    if "slot_offset" not in unreadable and slot_offset >= cadence:
        problems.add(
            where("slot_offset"),
            f"{show(slot_offset)} must be shorter than the cadence {show(cadence)}",
        )
    if "min_spacing" not in unreadable and min_spacing > cadence:
        problems.add(
            where("min_spacing"),
            f"{show(min_spacing)} is longer than the cadence {show(cadence)}, "
            "so consecutive slots could never both be filled",
        )
    if "max_gap" in unreadable:
        return
    if max_gap < cadence:
        problems.add(
            where("max_gap"),
            f"{show(max_gap)} is shorter than the cadence {show(cadence)}; "
            "the slots themselves would break it",
        )
    if "quiet_hours" in unreadable:
        return
    longest_quiet = _longest_quiet_stretch(rules.quiet)
    # Only when max_gap already holds one cadence step; otherwise the line above said it all.
    if max_gap >= cadence and longest_quiet + cadence > max_gap:
        problems.add(
            where("max_gap"),
            f"{show(max_gap)} can't hold: the quiet hours leave {show(longest_quiet)} "
            f"without slots, plus one cadence step ({show(cadence)}) makes "
            f"{show(longest_quiet + cadence)}",
        )


def _longest_quiet_stretch(quiet: tuple[QuietWindow, ...]) -> timedelta:
    """Longest run of quiet minutes on the 24h circle, where overlapping windows merge."""
    if not quiet:
        return timedelta(0)
    minutes = [any(w.contains(m) for w in quiet) for m in range(24 * 60)]
    if all(minutes):
        return DAY
    # Start counting just after a non-quiet minute so a run across midnight stays whole.
    start = minutes.index(False)
    longest = run = 0
    for offset in range(1, 24 * 60 + 1):
        if minutes[(start + offset) % (24 * 60)]:
            run += 1
            longest = max(longest, run)
        else:
            run = 0
    return timedelta(minutes=longest)


def _quiet_hours(value: Any, path: str, problems: Problems) -> tuple[QuietWindow, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.add(path, 'must be a list such as ["23:00-07:00"]')
        return ()
    windows = []
    for index, item in enumerate(value):
        match = _QUIET_WINDOW.match(item) if isinstance(item, str) else None
        hours_minutes = [int(g) for g in match.groups()] if match else []
        if (
            not match
            or hours_minutes[0] > 23
            or hours_minutes[2] > 23
            or hours_minutes[1] > 59
            or hours_minutes[3] > 59
        ):
            problems.add(f"{path}[{index}]", f'{item!r} is not a window such as "23:00-07:00"')
            continue
        start = hours_minutes[0] * 60 + hours_minutes[1]
        end = hours_minutes[2] * 60 + hours_minutes[3]
        if start == end:
            problems.add(f"{path}[{index}]", f"{item!r} is empty: start and end are the same")
            continue
        windows.append(QuietWindow(start, end))
    return tuple(windows)


def _mix(value: Any, path: str, problems: Problems) -> Mix:
    if value is None:
        return Mix()
    if not isinstance(value, Mapping):
        problems.add(path, "must be a table such as { core = 60, entertaining = 25, repost = 15 }")
        return Mix()
    problems.unknown_keys(value, set(AIRING_KINDS), path)
    problems_before = len(problems.lines)
    weights = {}
    for kind in AIRING_KINDS:
        weight = value.get(kind, 0)
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
            problems.add(f"{path}.{kind}", f"{weight!r} must be a whole number, 0 or more")
            weight = 0
        weights[kind] = weight
    # A weight refused above counts as 0 here; saying "all zero" too would blame a fallback.
    if sum(weights.values()) == 0 and len(problems.lines) == problems_before:
        problems.add(path, "all weights are zero; give at least one kind a positive weight")
        return Mix()
    return Mix(**weights)


def _repost(defaults: Any, override: Any, channel_path: str, problems: Problems) -> RepostRules:
    """Repost rules merge key by key: a channel may change one rule and keep the rest."""
    merged: dict[str, Any] = {}
    for value, path in ((defaults, "defaults.repost"), (override, f"{channel_path}.repost")):
        if value is None:
            continue
        if not isinstance(value, Mapping):
            problems.add(path, 'must be a table such as { max_per_day = 2, min_interval = "4h" }')
            continue
        problems.unknown_keys(value, _REPOST_KEYS, path)
        merged.update({key: (item, path) for key, item in value.items() if key in _REPOST_KEYS})

    plain = RepostRules()
    fields: dict[str, Any] = {}
    for key in ("max_per_day", "max_airings"):
        if key in merged:
            item, path = merged[key]
            if not isinstance(item, int) or isinstance(item, bool) or item < 0:
                problems.add(f"{path}.{key}", f"{item!r} must be a whole number, 0 or more")
            else:
                fields[key] = item
    for key in ("min_interval", "hour_shift"):
        if key in merged:
            item, path = merged[key]
            fields[key] = _duration({key: item}, key, path, problems, getattr(plain, key))
    if "template" in merged:
        item, path = merged["template"]
        if isinstance(item, str) and _template_problem(item) is None:
            fields["template"] = item
        else:
            reason = _template_problem(item) if isinstance(item, str) else "must be a string"
            problems.add(f"{path}.template", f"not a usable Jinja2 template: {reason}")
    return RepostRules(**{**plain.__dict__, **fields})


def _template_problem(text: str) -> str | None:
    from jinja2 import Environment, TemplateSyntaxError

    try:
        Environment(autoescape=False).parse(text)
    except TemplateSyntaxError as exc:
        return f"{exc.message} (line {exc.lineno})"
    return None


def _publisher_options(
    platform: PlatformSpec,
    table: Mapping[str, Any],
    path: str,
    base_dir: Path,
    problems: Problems,
) -> dict[str, Any]:
    options: dict[str, Any] = dict(platform.defaults)
    for option in platform.options:
        key_path = f"{path}.{option.key}"
        if option.key not in table:
            if option.required:
                problems.add(key_path, f"required for the {platform.name} publisher")
            continue
        checked = _reader(option)(table[option.key], key_path, problems, base_dir)
        if checked is not None:
            options[option.key] = checked
    platform.check(options, path, problems)
    return options


def _reader(option: Option) -> Callable[[Any, str, Problems, Path], Any]:
    if option.secret is not None:
        carries = option.secret
        return lambda value, path, problems, base_dir: read_secret(
            value, path, problems, base_dir, carries=carries
        )
    return option.read or read_string


SECRET_HINT = '{ env = "NAME" }, { file = "path" } or { credential = "name" }'


def read_secret(
    value: Any, path: str, problems: Problems, base_dir: Path, *, carries: str = "text"
) -> SecretRef | None:
    """A secret reference (`{ env | file | credential }`), noted so `check` can read it."""
    # Never echo `value`: an inline secret is exactly what must not be printed.
    if not isinstance(value, Mapping):
        problems.add(path, f"secrets are never written inline; use {SECRET_HINT}")
        return None
    sources = [key for key in value if key in SECRET_SOURCES]
    if len(value) != 1 or len(sources) != 1 or not isinstance(value[sources[0]], str):
        problems.add(path, f"must be exactly one of {SECRET_HINT}")
        return None
    source = sources[0]
    name = value[source]
    if "\0" in name:
        problems.add(path, f"the {source} name holds a NUL character")
        return None
    if source == "env" and not _ENV_NAME.fullmatch(name):
        problems.add(path, f"{name!r} is not an environment variable name (letters, digits, _)")
        return None
    if source == "credential" and (problem := credential_name_problem(name)) is not None:
        problems.add(path, f"credential {name!r} {problem}")
        return None
    if source == "file":
        name = str(base_dir / name)
    ref = SecretRef(source, name, carries=carries)
    problems.secrets.append((path, ref))
    return ref


_HTTP_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)


def secret_problem(ref: SecretRef, path: str) -> str | None:
    """Why the secret at `path` can't be used (unreadable, or a webhook `url` that is not
    http(s)), never quoting its value; None when it can."""
    try:
        revealed = ref.reveal()
    except SchedulerError as exc:
        return str(exc)
    if path.endswith(".url") and not _HTTP_URL.match(revealed):
        return (
            f"the secret in {ref.describe()} is not an http:// or https:// URL "
            "(its value is not shown)"
        )
    return None


def read_string(value: Any, path: str, problems: Problems, base_dir: Path) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    problems.add(path, "must be a non-empty string")
    return None


def read_url(value: Any, path: str, problems: Problems, base_dir: Path) -> str | None:
    if isinstance(value, str) and re.match(r"^https?://[^\s/]+", value):
        return value.rstrip("/")
    problems.add(path, f"{value!r} is not an http:// or https:// URL")
    return None


def read_path(value: Any, path: str, problems: Problems, base_dir: Path) -> str | None:
    if isinstance(value, str) and value.strip():
        return str(base_dir / value)
    problems.add(path, "must be a file path (relative to the config file)")
    return None


def read_positive_int(value: Any, path: str, problems: Problems, base_dir: Path) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    problems.add(path, f"{value!r} must be a whole number above 0")
    return None


def one_of(accepted: tuple[str, ...]) -> Callable[[Any, str, Problems, Path], str | None]:
    """A reader of an option whose value is one of `accepted`."""

    def read(value: Any, path: str, problems: Problems, base_dir: Path) -> str | None:
        if value in accepted:
            return str(value)
        problems.add(path, f"{value!r}; accepted: {', '.join(accepted)}")
        return None

    return read
