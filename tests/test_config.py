"""Reading `config.toml` (DESIGN §6): every refusal with its exact message, and what is kept.

Each bad config is written to `config.toml` in a temporary directory and read from there, so
every message starts with `config.toml:` exactly as `scheduler check` prints it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scheduler.config import Config, Mix, QuietWindow, SecretRef, load_config
from scheduler.errors import ConfigError, SecretError

SCHEDULER = '[scheduler]\ndatabase = "sqlite:///scheduler.db"\n'
MAIN = '[channels.main]\npublisher = "file"\npath = "published.jsonl"\n'
SECRET = "hunter2-s3cr3t"
DURATION = "is not a duration such as 90s, 15m, 2h, 1h30m or 3d"
CADENCES = "use e.g. 15m, 20m, 30m, 1h, 2h, 3h, 4h, 6h, 8h, 12h or 24h"
RULE_KEYS = (
    "cadence, freeze, goals, max_gap, min_spacing, mix, quiet_hours, repost, response_time, "
    "slot_offset, timezone"
)
REPOST_KEYS = "hour_shift, max_airings, max_per_day, min_interval, template"
SECRET_FORMS = '{ env = "NAME" }, { file = "path" } or { credential = "name" }'
PUBLISHERS = "file, webhook, mastodon, bluesky, telegram"


def in_scheduler(lines: str) -> str:
    return f"[scheduler]\n{lines}\n{MAIN}"


def in_defaults(lines: str) -> str:
    return f"{SCHEDULER}[defaults]\n{lines}\n{MAIN}"


def in_main(lines: str) -> str:
    return f"{SCHEDULER}{MAIN}{lines}\n"


def channel(name: str, lines: str) -> str:
    return f"{SCHEDULER}[channels.{name}]\n{lines}\n"


def mastodon(lines: str) -> str:
    return channel("m", f'publisher = "mastodon"\n{lines}')


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def load(text: str) -> Config:
    Path("config.toml").write_text(text, encoding="utf-8")
    return load_config("config.toml")


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return caught.value.problems


BAD_CONFIGS = [
    # --- unknown keys, at every level
    pytest.param(
        f"{SCHEDULER}{MAIN}[extra]\nkey = 1\n",
        ["config.toml: extra: unknown key; accepted keys: channels, defaults, metrics, scheduler"],
        id="unknown-top-level-table",
    ),
    pytest.param(
        in_scheduler('databse = "sqlite:///x.db"'),
        [
            "config.toml: scheduler.databse: unknown key; accepted keys: "
            "database, horizon, lease, listen, misfire_grace, reconcile, retry, timezone"
        ],
        id="unknown-scheduler-key",
    ),
    pytest.param(
        in_defaults('cadance = "1h"'),
        [f"config.toml: defaults.cadance: unknown key; accepted keys: {RULE_KEYS}"],
        id="unknown-defaults-key",
    ),
    pytest.param(
        in_main('colour = "red"'),
        [
            "config.toml: channels.main.colour: unknown key; accepted keys: cadence, "
            "freeze, goals, "
            "max_gap, min_spacing, mix, path, publisher, quiet_hours, repost, response_time, "
            "slot_offset, timezone"
        ],
        id="unknown-channel-key",
    ),
    pytest.param(
        in_main("token = { env = 'X' }"),
        [
            "config.toml: channels.main.token: unknown key; accepted keys: cadence, "
            "freeze, goals, "
            "max_gap, min_spacing, mix, path, publisher, quiet_hours, repost, response_time, "
            "slot_offset, timezone"
        ],
        id="option-of-another-publisher",
    ),
    pytest.param(
        in_main("mix = { core = 1, memes = 2 }"),
        [
            "config.toml: channels.main.mix.memes: unknown key; "
            "accepted keys: core, entertaining, repost"
        ],
        id="unknown-mix-key",
    ),
    pytest.param(
        in_defaults('repost = { max_per_day = 1, shift = "3h" }'),
        [f"config.toml: defaults.repost.shift: unknown key; accepted keys: {REPOST_KEYS}"],
        id="unknown-defaults-repost-key",
    ),
    pytest.param(
        in_main('repost = { every = "1h" }'),
        [f"config.toml: channels.main.repost.every: unknown key; accepted keys: {REPOST_KEYS}"],
        id="unknown-channel-repost-key",
    ),
    # --- durations and timezones
    pytest.param(
        in_main('cadence = "1 hour"'),
        [f"config.toml: channels.main.cadence: '1 hour' {DURATION}"],
        id="duration-with-space",
    ),
    pytest.param(
        in_main("max_gap = 5"),
        [f"config.toml: channels.main.max_gap: 5 {DURATION}"],
        id="duration-not-a-string",
    ),
    pytest.param(
        in_main('min_spacing = "-5m"'),
        [f"config.toml: channels.main.min_spacing: '-5m' {DURATION}"],
        id="negative-duration",
    ),
    pytest.param(
        in_defaults('max_gap = "3 days"'),
        [f"config.toml: defaults.max_gap: '3 days' {DURATION}"],
        id="bad-duration-in-defaults",
    ),
    pytest.param(
        in_scheduler('horizon = "0m"'),
        ["config.toml: scheduler.horizon: must be longer than zero, got '0m'"],
        id="zero-horizon",
    ),
    pytest.param(
        in_main('timezone = "Mars/Olympus"'),
        [
            "config.toml: channels.main.timezone: 'Mars/Olympus' is not an IANA timezone "
            "(e.g. UTC, Europe/Berlin)"
        ],
        id="unknown-channel-timezone",
    ),
    pytest.param(
        in_scheduler('timezone = "Europe/Atlantis"'),
        [
            "config.toml: scheduler.timezone: 'Europe/Atlantis' is not an IANA timezone "
            "(e.g. UTC, Europe/Berlin)"
        ],
        id="unknown-scheduler-timezone",
    ),
    pytest.param(
        in_defaults('timezone = "CEST"'),
        [
            "config.toml: defaults.timezone: 'CEST' is not an IANA timezone "
            "(e.g. UTC, Europe/Berlin)"
        ],
        id="abbreviation-is-not-a-timezone",
    ),
    # --- mix
    pytest.param(
        in_main("mix = { core = -1, entertaining = 25, repost = 15 }"),
        ["config.toml: channels.main.mix.core: -1 must be a whole number, 0 or more"],
        id="negative-mix-weight",
    ),
    pytest.param(
        in_main("mix = { core = 0, entertaining = 0, repost = 0 }"),
        [
            "config.toml: channels.main.mix: all weights are zero; "
            "give at least one kind a positive weight"
        ],
        id="all-zero-mix",
    ),
    pytest.param(
        in_defaults("mix = { core = 0 }"),
        [
            "config.toml: defaults.mix: all weights are zero; "
            "give at least one kind a positive weight"
        ],
        id="all-zero-mix-in-defaults",
    ),
    # --- rules that can't hold together
    pytest.param(
        in_main('cadence = "7m"'),
        [
            "config.toml: channels.main.cadence: 7m does not divide 24h into whole slots; "
            + CADENCES
        ],
        id="cadence-7m",
    ),
    pytest.param(
        in_main('cadence = "25h"'),
        [
            "config.toml: channels.main.cadence: 1d 1h does not divide 24h into whole slots; "
            + CADENCES
        ],
        id="cadence-25h",
    ),
    pytest.param(
        in_main('slot_offset = "1h"'),
        ["config.toml: channels.main.slot_offset: 1h must be shorter than the cadence 1h"],
        id="slot-offset-equals-cadence",
    ),
    pytest.param(
        in_main('cadence = "30m"\nmin_spacing = "45m"'),
        [
            "config.toml: channels.main.min_spacing: 45m is longer than the cadence 30m, "
            "so consecutive slots could never both be filled"
        ],
        id="min-spacing-over-cadence",
    ),
    pytest.param(
        in_main('cadence = "2h"\nmax_gap = "1h"'),
        [
            "config.toml: channels.main.max_gap: 1h is shorter than the cadence 2h; "
            "the slots themselves would break it"
        ],
        id="max-gap-under-cadence",
    ),
    pytest.param(
        in_main('quiet_hours = ["22:00-08:00"]\nmax_gap = "6h"'),
        [
            "config.toml: channels.main.max_gap: 6h can't hold: the quiet hours leave 10h "
            "without slots, plus one cadence step (1h) makes 11h"
        ],
        id="quiet-window-plus-cadence-over-max-gap",
    ),
    pytest.param(
        in_main('quiet_hours = ["22:00-02:00", "01:00-05:00"]\nmax_gap = "7h"'),
        [
            "config.toml: channels.main.max_gap: 7h can't hold: the quiet hours leave 7h "
            "without slots, plus one cadence step (1h) makes 8h"
        ],
        id="overlapping-quiet-windows-merge",
    ),
    pytest.param(
        in_main('quiet_hours = ["23:00 to 07:00", "25:00-07:00", "23:00-23:00"]'),
        [
            "config.toml: channels.main.quiet_hours[0]: '23:00 to 07:00' is not a window "
            'such as "23:00-07:00"',
            "config.toml: channels.main.quiet_hours[1]: '25:00-07:00' is not a window "
            'such as "23:00-07:00"',
            "config.toml: channels.main.quiet_hours[2]: '23:00-23:00' is empty: "
            "start and end are the same",
        ],
        id="bad-quiet-windows",
    ),
    pytest.param(
        in_main('quiet_hours = "23:00-07:00"'),
        ['config.toml: channels.main.quiet_hours: must be a list such as ["23:00-07:00"]'],
        id="quiet-hours-not-a-list",
    ),
    pytest.param(
        in_main('repost = { hour_shift = "13h" }'),
        [
            "config.toml: channels.main.repost.hour_shift: 13h is more than 12h, "
            "the furthest two times of day can be"
        ],
        id="hour-shift-over-12h",
    ),
    pytest.param(
        in_main("repost = { max_per_day = -1 }"),
        ["config.toml: channels.main.repost.max_per_day: -1 must be a whole number, 0 or more"],
        id="negative-max-per-day",
    ),
    pytest.param(
        in_main('repost = { template = "{{ body " }'),
        [
            "config.toml: channels.main.repost.template: not a usable Jinja2 template: "
            "unexpected end of template, expected 'end of print statement'. (line 1)"
        ],
        id="bad-repost-template",
    ),
    # --- publishers and their options
    pytest.param(
        channel("main", 'publisher = "myspace"'),
        [f"config.toml: channels.main.publisher: 'myspace'; accepted: {PUBLISHERS}"],
        id="unknown-publisher",
    ),
    pytest.param(
        channel("main", 'path = "x.jsonl"'),
        [f"config.toml: channels.main.publisher: missing; accepted: {PUBLISHERS}"],
        id="missing-publisher",
    ),
    pytest.param(
        channel("main", 'publisher = "file"'),
        ["config.toml: channels.main.path: required for the file publisher"],
        id="file-without-path",
    ),
    pytest.param(
        mastodon(""),
        [
            "config.toml: channels.m.base_url: required for the mastodon publisher",
            "config.toml: channels.m.token: required for the mastodon publisher",
        ],
        id="mastodon-without-options",
    ),
    pytest.param(
        channel("b", 'publisher = "bluesky"'),
        [
            "config.toml: channels.b.handle: required for the bluesky publisher",
            "config.toml: channels.b.app_password: required for the bluesky publisher",
        ],
        id="bluesky-without-options",
    ),
    pytest.param(
        channel("t", 'publisher = "telegram"\nbot_token = { env = "T" }'),
        ["config.toml: channels.t.chat_id: required for the telegram publisher"],
        id="telegram-without-chat-id",
    ),
    pytest.param(
        channel("w", 'publisher = "webhook"\nurl = "https://hooks.example/x"\nformat = "xml"'),
        ["config.toml: channels.w.format: 'xml'; accepted: json, slack, discord"],
        id="unknown-webhook-format",
    ),
    pytest.param(
        channel("w", 'publisher = "webhook"\nurl = "https://hooks.example/x"\nmax_chars = 0'),
        ["config.toml: channels.w.max_chars: 0 must be a whole number above 0"],
        id="zero-max-chars",
    ),
    pytest.param(
        mastodon(f'base_url = "https://social.example"\ntoken = "{SECRET}"'),
        [f"config.toml: channels.m.token: secrets are never written inline; use {SECRET_FORMS}"],
        id="inline-secret",
    ),
    pytest.param(
        mastodon(
            f'base_url = "https://social.example"\ntoken = {{ env = "A", value = "{SECRET}" }}'
        ),
        [f"config.toml: channels.m.token: must be exactly one of {SECRET_FORMS}"],
        id="secret-with-two-sources",
    ),
    pytest.param(
        mastodon('base_url = "social.example"\ntoken = { env = "A" }'),
        ["config.toml: channels.m.base_url: 'social.example' is not an http:// or https:// URL"],
        id="url-without-scheme",
    ),
    pytest.param(
        channel(
            "t",
            'publisher = "telegram"\nbot_token = { env = "T" }\nchat_id = 1\n'
            'base_url = "ftp://api.example"',
        ),
        ["config.toml: channels.t.base_url: 'ftp://api.example' is not an http:// or https:// URL"],
        id="url-with-other-scheme",
    ),
    # --- database
    pytest.param(
        f'[scheduler]\ndatabase = "mysql://bob:{SECRET}@db.example/x"\n{MAIN}',
        [
            "config.toml: scheduler.database: must start with sqlite:/// or postgresql+psycopg:// "
            "(the scheme is not shown here because a URL may hold a password)"
        ],
        id="unsupported-database",
    ),
    pytest.param(
        f'[scheduler]\ndatabase = "sqlite:///:memory:"\n{MAIN}',
        ["config.toml: scheduler.database: needs a file path, e.g. sqlite:///scheduler.db"],
        id="in-memory-database",
    ),
    # --- channels
    pytest.param(
        SCHEDULER,
        ["config.toml: channels: no channel is configured; add at least one [channels.NAME]"],
        id="no-channels",
    ),
    pytest.param(
        f"{SCHEDULER}[channels]\n",
        ["config.toml: channels: no channel is configured; add at least one [channels.NAME]"],
        id="empty-channels-table",
    ),
    pytest.param(
        channel('"my channel"', 'publisher = "file"\npath = "x.jsonl"'),
        [
            "config.toml: channels.my channel: a channel name may use only letters, digits, "
            "'-' and '_'"
        ],
        id="channel-name-with-space",
    ),
    pytest.param(
        f"{SCHEDULER}[channels]\nmain = 3\n",
        ["config.toml: channels.main: must be a table ([channels.NAME])"],
        id="channel-not-a-table",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS)
def test_bad_config_is_refused_with_exact_message(
    in_tmp: Path, text: str, expected: list[str]
) -> None:
    problems = problems_of(text)
    assert problems == expected
    assert all(SECRET not in line for line in problems)


def test_check_lists_every_problem_in_one_run(in_tmp: Path) -> None:
    """What took four runs of `check` to see: a bad [defaults] value with problems of each
    channel, a value that breaks a rule with an inherited one, and unreadable secrets."""
    text = (
        '[scheduler]\nhorizon = "2x"\n'
        '[defaults]\nbogus = 1\nmax_gap = "nope"\nrepost = { hour_shift = "13h" }\n'
        '[channels.main]\npublisher = "file"\npath = "p.jsonl"\nmin_spacing = "2h"\n'
        '[channels.brand]\npublisher = "mastodon"\nbase_url = "https://social.example"\n'
        'token = { env = "FIRSTHOUR_UNSET_TOKEN" }\nextra = 3\n'
    )
    (in_tmp / "config.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config("config.toml", resolve_secrets=True)
    paths = [line.split(": ")[1] for line in caught.value.problems]
    assert paths == [
        "scheduler.horizon",
        "defaults.bogus",
        "defaults.max_gap",
        "defaults.repost.hour_shift",
        "channels.main.min_spacing",
        "channels.brand.extra",
        "channels.brand.token",
    ]
    assert "FIRSTHOUR_UNSET_TOKEN is not set" in caught.value.problems[-1]
    with pytest.raises(ConfigError) as plain:  # other commands don't resolve secrets
        load_config("config.toml")
    assert len(plain.value.problems) == len(paths) - 1


def test_toml_syntax_error_names_the_file(in_tmp: Path) -> None:
    problems = problems_of('[scheduler\ndatabase = "x"\n')
    assert len(problems) == 1
    assert problems[0].startswith("config.toml: not valid TOML: ")


def test_missing_file_says_how_to_give_one(in_tmp: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("nowhere.toml")
    assert caught.value.problems == [
        "nowhere.toml: file not found (give --config PATH or set SCHEDULER_CONFIG)"
    ]


def test_every_problem_is_reported_once_in_file_order(in_tmp: Path) -> None:
    text = (
        f'{SCHEDULER}[defaults]\ncadence = "7m"\nrepost = {{ shift = "1h" }}\n'
        f'{MAIN}timezone = "Nowhere"\nmix = {{ core = -2 }}\n'
        '[channels.other]\npublisher = "file"\npath = "other.jsonl"\n'
    )
    assert problems_of(text) == [
        "config.toml: channels.main.timezone: 'Nowhere' is not an IANA timezone "
        "(e.g. UTC, Europe/Berlin)",
        "config.toml: channels.main.mix.core: -2 must be a whole number, 0 or more",
        f"config.toml: defaults.repost.shift: unknown key; accepted keys: {REPOST_KEYS}",
        # Inherited by both channels, reported once where it is written.
        f"config.toml: defaults.cadence: 7m does not divide 24h into whole slots; {CADENCES}",
    ]


def test_the_error_text_is_one_problem_per_line(in_tmp: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(mastodon(""))
    assert str(caught.value).splitlines() == caught.value.problems


# --- what a good config gives -----------------------------------------------------------------


def test_defaults_are_inherited_and_overridden(in_tmp: Path) -> None:
    config = load(
        """[scheduler]
database = "sqlite:///scheduler.db"
timezone = "Asia/Riyadh"

[defaults]
cadence = "30m"
min_spacing = "20m"
max_gap = "6h"
quiet_hours = ["23:00-02:00"]
mix = { core = 70, entertaining = 30, repost = 0 }

[channels.inherits]
publisher = "file"
path = "a.jsonl"

[channels.overrides]
publisher = "file"
path = "b.jsonl"
timezone = "Europe/Berlin"
cadence = "2h"
slot_offset = "15m"
min_spacing = "1h"
max_gap = "12h"
quiet_hours = []
mix = { core = 1 }
freeze = "5m"
"""
    )
    inherits, overrides = config.channels["inherits"], config.channels["overrides"]
    assert inherits.timezone == ZoneInfo("Asia/Riyadh")  # no channel or default: the scheduler's
    assert inherits.cadence == timedelta(minutes=30)
    assert inherits.slot_offset == timedelta(0)
    assert inherits.min_spacing == timedelta(minutes=20)
    assert inherits.max_gap == timedelta(hours=6)
    assert inherits.quiet_hours == (QuietWindow(23 * 60, 2 * 60),)
    assert inherits.mix == Mix(core=70, entertaining=30, repost=0)
    assert inherits.freeze == timedelta(minutes=10)

    assert overrides.timezone == ZoneInfo("Europe/Berlin")
    assert overrides.cadence == timedelta(hours=2)
    assert overrides.slot_offset == timedelta(minutes=15)
    assert overrides.min_spacing == timedelta(hours=1)
    assert overrides.max_gap == timedelta(hours=12)
    assert overrides.quiet_hours == ()
    # A channel's mix replaces the default mix as a whole (weights are relative to each other).
    assert overrides.mix == Mix(core=1, entertaining=0, repost=0)
    assert overrides.freeze == timedelta(minutes=5)


def test_timezone_in_defaults_is_inherited(in_tmp: Path) -> None:
    config = load(f'{SCHEDULER}[defaults]\ntimezone = "America/New_York"\n{MAIN}')
    assert config.channels["main"].timezone == ZoneInfo("America/New_York")
    assert config.scheduler.timezone == ZoneInfo("UTC")


def test_repost_rules_merge_key_by_key(in_tmp: Path) -> None:
    config = load(
        f"""{SCHEDULER}
[defaults]
repost = {{ max_per_day = 3, min_interval = "6h", hour_shift = "4h", max_airings = 5 }}

{MAIN}repost = {{ hour_shift = "2h", template = "Again: {{{{ body }}}}" }}

[channels.plain]
publisher = "file"
path = "plain.jsonl"
"""
    )
    main = config.channels["main"].repost
    assert main.max_per_day == 3
    assert main.min_interval == timedelta(hours=6)
    assert main.hour_shift == timedelta(hours=2)
    assert main.max_airings == 5
    assert main.template == "Again: {{ body }}"
    plain = config.channels["plain"].repost
    assert (plain.max_per_day, plain.hour_shift, plain.template) == (3, timedelta(hours=4), None)


def test_built_in_defaults_apply_without_a_defaults_table(in_tmp: Path) -> None:
    config = load(f"{SCHEDULER}{MAIN}")
    main = config.channels["main"]
    assert (main.cadence, main.min_spacing, main.max_gap) == (
        timedelta(hours=1),
        timedelta(minutes=30),
        timedelta(hours=24),
    )
    assert main.mix == Mix(60, 25, 15)
    assert (main.repost.max_per_day, main.repost.max_airings) == (2, 6)
    assert config.scheduler.horizon == timedelta(hours=48)
    assert config.scheduler.misfire_grace == timedelta(minutes=15)


def test_publisher_defaults_fill_optional_options(in_tmp: Path) -> None:
    config = load(
        f"""{SCHEDULER}
[channels.sky]
publisher = "bluesky"
handle = "brand.bsky.social"
app_password = {{ env = "SKY" }}

[channels.tg]
publisher = "telegram"
bot_token = {{ env = "TG" }}
chat_id = -100123

[channels.hook]
publisher = "webhook"
url = "https://hooks.example/x/"
"""
    )
    assert config.channels["sky"].option("service") == "https://bsky.social"
    assert config.channels["tg"].option("base_url") == "https://api.telegram.org"
    assert config.channels["tg"].option("chat_id") == "-100123"
    assert config.channels["hook"].option("format") == "json"
    assert config.channels["hook"].option("url") == "https://hooks.example/x"


def test_relative_paths_resolve_next_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (config_dir / "config.toml").write_text(
        '[scheduler]\ndatabase = "sqlite:///data/scheduler.db"\n'
        '[channels.main]\npublisher = "file"\npath = "out/published.jsonl"\n'
        '[channels.m]\npublisher = "mastodon"\nbase_url = "https://social.example"\n'
        'token = { file = "secrets/token" }\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("../etc/config.toml"))
    root = config_dir.resolve()
    assert config.scheduler.database == f"sqlite:///{root / 'data' / 'scheduler.db'}"
    assert config.channels["main"].option("path") == str(root / "out" / "published.jsonl")
    assert config.channels["m"].option("token") == SecretRef("file", str(root / "secrets/token"))


def test_absolute_sqlite_path_and_postgres_url_are_kept(in_tmp: Path) -> None:
    config = load(f'[scheduler]\ndatabase = "sqlite:////var/lib/scheduler/db.sqlite"\n{MAIN}')
    assert config.scheduler.database == "sqlite:////var/lib/scheduler/db.sqlite"
    config = load(f'[scheduler]\ndatabase = "postgresql://app@db.example/sched"\n{MAIN}')
    assert config.scheduler.database == "postgresql+psycopg://app@db.example/sched"


def test_config_from_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "custom.toml"
    path.write_text(f"{SCHEDULER}{MAIN}", encoding="utf-8")
    monkeypatch.setenv("SCHEDULER_CONFIG", str(path))
    assert load_config().path == path


def test_config_is_frozen(in_tmp: Path) -> None:
    config = load(f"{SCHEDULER}{MAIN}")
    with pytest.raises(AttributeError):
        config.channels["main"].cadence = timedelta(hours=2)  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.channels["other"] = config.channels["main"]  # type: ignore[index]


# --- secrets -----------------------------------------------------------------------------------

SECRET_CHANNELS = """
[channels.by_env]
publisher = "mastodon"
base_url = "https://social.example"
token = { env = "TEST_SCHEDULER_TOKEN" }

[channels.by_file]
publisher = "bluesky"
handle = "brand.example"
app_password = { file = "secrets/app-password" }

[channels.by_credential]
publisher = "telegram"
bot_token = { credential = "bot-token" }
chat_id = "@brand"

[channels.hook]
publisher = "webhook"
url = "https://hooks.example/x"
secret = { env = "TEST_SCHEDULER_HOOK" }
"""


def test_secrets_resolve_from_env_file_and_credential(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (in_tmp / "secrets").mkdir()
    (in_tmp / "secrets" / "app-password").write_text(f"file-{SECRET}\n", encoding="utf-8")
    credentials = in_tmp / "credentials"
    credentials.mkdir()
    (credentials / "bot-token").write_text(f"credential-{SECRET}", encoding="utf-8")
    monkeypatch.setenv("TEST_SCHEDULER_TOKEN", f"env-{SECRET}")
    monkeypatch.setenv("TEST_SCHEDULER_HOOK", f"hook-{SECRET}")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))

    config = load(SCHEDULER + SECRET_CHANNELS)
    channels = config.channels
    assert channels["by_env"].option("token").reveal() == f"env-{SECRET}"
    assert channels["by_file"].option("app_password").reveal() == f"file-{SECRET}"  # stripped
    assert channels["by_credential"].option("bot_token").reveal() == f"credential-{SECRET}"
    assert channels["hook"].option("secret").reveal() == f"hook-{SECRET}"

    shown = [repr(config), str(config)] + [
        text for ch in channels.values() for text in (repr(ch), str(ch), repr(dict(ch.options)))
    ]
    assert all(SECRET not in text for text in shown)
    assert str(channels["by_env"].option("token")) == "{ env = 'TEST_SCHEDULER_TOKEN' }"


@pytest.mark.parametrize(
    ("ref", "env", "message"),
    [
        (
            SecretRef("env", "TEST_SCHEDULER_UNSET"),
            {},
            "environment variable TEST_SCHEDULER_UNSET is not set",
        ),
        (
            SecretRef("credential", "bot-token"),
            {},
            "credential 'bot-token' needs $CREDENTIALS_DIRECTORY (set by systemd LoadCredential=)",
        ),
        (
            SecretRef("file", "/nonexistent/token"),
            {},
            "secret file '/nonexistent/token' does not exist",
        ),
    ],
)
def test_unresolvable_secret_names_the_reference(
    monkeypatch: pytest.MonkeyPatch, ref: SecretRef, env: dict[str, str], message: str
) -> None:
    monkeypatch.delenv("TEST_SCHEDULER_UNSET", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(SecretError) as caught:
        ref.reveal()
    assert str(caught.value) == message


def test_secrets_are_not_needed_to_load_the_config(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queueing works on a machine without the tokens; only `check` and the daemon read them."""
    monkeypatch.delenv("TEST_SCHEDULER_TOKEN", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    config = load(SCHEDULER + SECRET_CHANNELS)
    assert set(config.channels) == {"by_env", "by_file", "by_credential", "hook"}


# --- secrets that can't be valid ---------------------------------------------------------------

CONTROL = "holds a line break or another control character, which no platform accepts"
NOT_ASCII = "holds a space or a character that is not ASCII, which HTTP can't carry in a token"
IN_PATH = "holds one of / ? # %, which would change the request's path"
SHORT = "is shorter than 8 characters, too short for a real secret"


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("token", f"{SECRET}\nsecond-line", CONTROL),
        ("token", f"{SECRET}\x1b[0m", CONTROL),
        ("token", f"tökén-{SECRET}", NOT_ASCII),
        ("token", f"{SECRET} {SECRET}", NOT_ASCII),
        ("app_password", f"{SECRET}\r\nmore", CONTROL),
        ("app_password", f"{SECRET}\u2028more", CONTROL),
        ("bot_token", f"123:{SECRET}/../getUpdates", IN_PATH),
        ("bot_token", f"123:{SECRET}é", NOT_ASCII),
        ("secret", f"{SECRET}\x00", CONTROL),
        ("token", "a", SHORT),
        ("secret", "1234567", SHORT),
    ],
    ids=["newline", "escape", "non-ascii-header", "space-in-header", "crlf", "line-separator",
         "slash-in-path", "non-ascii-path", "nul", "one-character", "seven-characters"],
)  # fmt: skip
def test_a_secret_that_cant_be_valid_is_refused_naming_the_key(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: str, reason: str
) -> None:
    (in_tmp / "secret").write_text(value + "\n", encoding="utf-8")
    channel = {
        "token": 'publisher = "mastodon"\nbase_url = "https://m.example"\n',
        "app_password": 'publisher = "bluesky"\nhandle = "brand.example"\n',
        "bot_token": 'publisher = "telegram"\nchat_id = "@brand"\n',
        "secret": 'publisher = "webhook"\nurl = "https://hooks.example/x"\n',
    }[key]
    config = load(f'{SCHEDULER}[channels.c]\n{channel}{key} = {{ file = "secret" }}\n')
    with pytest.raises(SecretError) as caught:
        config.channels["c"].secret(key)
    path = str(in_tmp / "secret")
    assert str(caught.value) == (
        f"channels.c.{key}: the secret in {{ file = {path!r} }} {reason} (its value is not shown)"
    )
    assert SECRET not in str(caught.value)


def test_a_file_secret_loses_one_trailing_newline_and_no_more(in_tmp: Path) -> None:
    (in_tmp / "one").write_text(f"{SECRET}\r\n", encoding="utf-8")
    (in_tmp / "two").write_text(f"{SECRET}\n\n", encoding="utf-8")
    assert SecretRef("file", str(in_tmp / "one")).reveal() == SECRET
    with pytest.raises(SecretError, match="control character"):
        SecretRef("file", str(in_tmp / "two")).reveal()


def test_non_ascii_is_fine_where_a_secret_is_not_a_header(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SCHEDULER_HOOK", f"clé-{SECRET}")
    config = load(
        f'{SCHEDULER}[channels.hook]\npublisher = "webhook"\nurl = "https://hooks.example/x"\n'
        'secret = { env = "TEST_SCHEDULER_HOOK" }\n'
    )
    assert config.channels["hook"].secret("secret") == f"clé-{SECRET}"


@pytest.mark.parametrize(
    ("name", "toml"),
    [("../../etc/shadow", '"../../etc/shadow"'), ("/etc/shadow", '"/etc/shadow"'),
     ("..", '".."'), ("a/b", '"a/b"'), ("", '""')],
    ids=["traversal", "absolute", "parent", "subdirectory", "empty"],
)  # fmt: skip
def test_a_credential_must_name_a_file_inside_the_credentials_directory(
    in_tmp: Path, name: str, toml: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            f'{SCHEDULER}[channels.tg]\npublisher = "telegram"\nchat_id = "@brand"\n'
            f"bot_token = {{ credential = {toml} }}\n"
        )
    assert caught.value.problems == [
        f"config.toml: channels.tg.bot_token: credential {name!r} must be the plain name of a "
        "file in $CREDENTIALS_DIRECTORY (no '/', not '..')"
    ]


def test_a_secret_reference_with_a_nul_is_refused(in_tmp: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            f'{SCHEDULER}[channels.m]\npublisher = "mastodon"\nbase_url = "https://m.example"\n'
            'token = { file = "token\\u0000.txt" }\n'
        )
    assert caught.value.problems == [
        "config.toml: channels.m.token: the file name holds a NUL character"
    ]


def test_a_credential_built_by_hand_still_stays_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", "/run/credentials/scheduler.service")
    with pytest.raises(SecretError, match="must be the plain name of a file"):
        SecretRef("credential", "../../../etc/shadow").reveal()


def test_an_env_reference_must_name_a_variable(in_tmp: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            f'{SCHEDULER}[channels.m]\npublisher = "mastodon"\nbase_url = "https://m.example"\n'
            'token = { env = "TOKEN\\u001b[2J\\n" }\n'
        )
    assert caught.value.problems == [
        "config.toml: channels.m.token: 'TOKEN\\x1b[2J\\n' is not an environment variable name "
        "(letters, digits, _)"
    ]
