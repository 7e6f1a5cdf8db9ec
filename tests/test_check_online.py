"""`scheduler check --online`: each channel's credentials proved with one read-only call
(Mastodon `verify_credentials`, Bluesky `createSession`, Telegram `getMe`), webhooks and
files not checked; and webhook URLs given as secrets (Slack's and Discord's must be).

Everything runs through the real CLI against the local fakes; no secret may appear in any
output, whatever the platform answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.config import load_config
from scheduler.errors import PermanentPublishError
from scheduler.publishers import Delivery, build_publisher, make_http_client
from scheduler.publishers.webhook import WebhookPublisher
from tests.conftest import RunCli, write_config
from tests.fakeplatforms import FakeBluesky, FakeMastodon, FakeTelegram, FakeWebhook

MASTODON_TOKEN = "mastodon-secret-Token-1"
APP_PASSWORD = "bsky-app-pass-word"
BOT_TOKEN = "123456:SECRET-bot-token_x"
NOW = datetime(2026, 11, 24, 8, 0, 5, tzinfo=UTC)
DELIVERY = Delivery(
    airing_id=3,
    channel="team",
    post_id=1,
    kind="core",
    body="مرحبا يا فريق 👋🏽",
    media=(),
    idempotency_key="airing-3-k",
    due=NOW,
)


class Fakes:
    def __init__(self) -> None:
        self.mastodon = FakeMastodon(token=MASTODON_TOKEN, account="marké")
        self.bluesky = FakeBluesky(handle="brand.test", password=APP_PASSWORD)
        self.telegram = FakeTelegram(token=BOT_TOKEN, username="brand_bot")
        self.slack = FakeWebhook()

    def __enter__(self) -> Fakes:
        for server in (self.mastodon, self.bluesky, self.telegram, self.slack):
            server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self.mastodon, self.bluesky, self.telegram, self.slack):
            server.stop()

    def config(self, directory: Path) -> Path:
        return write_config(
            directory,
            f"""
            [channels.masto]
            publisher = "mastodon"
            base_url = "{self.mastodon.base_url}"
            token = {{ env = "T_MASTODON" }}

            [channels.sky]
            publisher = "bluesky"
            service = "{self.bluesky.base_url}"
            handle = "brand.test"
            app_password = {{ env = "T_BSKY" }}

            [channels.tg]
            publisher = "telegram"
            base_url = "{self.telegram.base_url}"
            bot_token = {{ env = "T_BOT" }}
            chat_id = "@brand"

            [channels.hook]
            publisher = "webhook"
            url = "{self.slack.url}"

            [channels.team]
            publisher = "webhook"
            format = "slack"
            url = {{ env = "T_SLACK_URL" }}
            """,
        )


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with Fakes() as servers:
        yield servers


def env(fakes: Fakes, **changes: str) -> dict[str, str]:
    values = {
        "T_MASTODON": MASTODON_TOKEN,
        "T_BSKY": APP_PASSWORD,
        "T_BOT": BOT_TOKEN,
        "T_SLACK_URL": f"{fakes.slack.base_url}/services/T000/B000/SECRETslackpath",
    }
    values.update(changes)
    return values


def test_check_online_names_each_account_and_skips_webhooks_and_files(
    tmp_path: Path, invoke: RunCli, fakes: Fakes
) -> None:
    result = invoke("check", "--online", config=fakes.config(tmp_path), env=env(fakes))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    start = lines.index("credentials (one read-only call per channel):")
    assert lines[start + 1 :] == [
        "  hook: not checked (webhook has no read-only call)",
        "  main: not checked (file has no read-only call)",
        "  masto: ok (@marké)",
        "  sky: ok (@brand.test)",
        "  team: not checked (webhook has no read-only call)",
        "  tg: ok (@brand_bot)",
        "ok",
    ]
    # One read-only call each, and nothing posted anywhere.
    assert [(r.method, r.path) for r in fakes.mastodon.requests] == [
        ("GET", "/api/v1/accounts/verify_credentials")
    ]
    assert [r.path for r in fakes.bluesky.requests] == ["/xrpc/com.atproto.server.createSession"]
    assert [r.path for r in fakes.telegram.requests] == [f"/bot{BOT_TOKEN}/getMe"]
    assert fakes.slack.requests == []
    assert fakes.mastodon.statuses == [] and fakes.bluesky.records == {}
    assert fakes.telegram.messages == []
    # Without --online, no platform is called.
    plain = invoke("check", config=fakes.config(tmp_path), env=env(fakes))
    assert plain.returncode == 0 and "credentials" not in plain.stdout
    assert len(fakes.mastodon.requests) == 1


def test_a_wrong_credential_fails_with_the_platforms_answer_and_no_secret(
    tmp_path: Path, invoke: RunCli, fakes: Fakes
) -> None:
    wrong = {
        "T_MASTODON": "wrong-mastodon-Token-9",
        "T_BSKY": "wrong-app-pass-word",
        "T_BOT": "999999:WRONG-bot-token_y",
    }
    result = invoke("check", "--online", config=fakes.config(tmp_path), env=env(fakes, **wrong))
    assert result.returncode == 1
    config = tmp_path / "config.toml"
    lines = result.stdout.splitlines()
    start = lines.index("credentials (one read-only call per channel):")
    assert lines[start + 1 :] == [
        "  hook: not checked (webhook has no read-only call)",
        "  main: not checked (file has no read-only call)",
        "  masto: failed: mastodon answered 401: The access token is invalid",
        "  sky: failed: bluesky answered 401: AuthenticationRequired: Invalid identifier or "
        "password",
        "  team: not checked (webhook has no read-only call)",
        "  tg: failed: telegram answered 401: Unauthorized",
    ]
    assert (
        result.stderr.splitlines()
        == [
            f"error: {config}: channels.masto: credentials refused: mastodon answered 401: The "
            "access token is invalid",
            f"{config}: channels.sky: credentials refused: bluesky answered 401: "
            "AuthenticationRequired: Invalid identifier or password",
            f"{config}: channels.tg: credentials refused: telegram answered 404: Not Found",
        ]
        or result.stderr
    )
    for secret in (*wrong.values(), MASTODON_TOKEN, APP_PASSWORD, BOT_TOKEN, "SECRETslackpath"):
        assert secret not in result.stdout + result.stderr


def test_a_platform_that_echoes_the_credential_is_shown_redacted(
    tmp_path: Path, invoke: RunCli, fakes: Fakes
) -> None:
    fakes.bluesky.fail_next(401, message=f"password {APP_PASSWORD!r} is not {APP_PASSWORD}")
    fakes.mastodon.fail_next(403, message=f"token {MASTODON_TOKEN} was revoked")
    result = invoke("check", "--online", config=fakes.config(tmp_path), env=env(fakes))
    assert result.returncode == 1
    assert "  masto: failed: mastodon answered 403: token <redacted> was revoked" in (
        result.stdout.splitlines()
    )
    assert (
        "  sky: failed: bluesky answered 401: AuthenticationRequired: password '<redacted>' is "
        "not <redacted>"
    ) in result.stdout.splitlines()
    assert APP_PASSWORD not in result.stdout + result.stderr
    assert MASTODON_TOKEN not in result.stdout + result.stderr


def test_a_platforms_control_characters_never_reach_the_terminal(
    tmp_path: Path, invoke: RunCli, fakes: Fakes
) -> None:
    fakes.mastodon.fail_next(401, message="\x1b]0;owned\x07 bad \x1b[31mtoken\u202e")
    result = invoke("check", "--online", config=fakes.config(tmp_path), env=env(fakes))
    assert result.returncode == 1
    assert "  masto: failed: mastodon answered 401: ]0;owned bad [31mtoken" in (
        result.stdout.splitlines()
    )
    shown = result.stdout + result.stderr
    assert not any(c in shown for c in ("\x1b", "\x07", "\u202e")), shown


def test_an_unreachable_platform_is_named_and_a_missing_secret_is_not_called(
    tmp_path: Path, invoke: RunCli, fakes: Fakes
) -> None:
    config = fakes.config(tmp_path)
    fakes.telegram.stop()  # nothing listens on its port any more
    values = env(fakes)
    del values["T_MASTODON"]
    result = invoke("check", "--online", config=config, env=values)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    lines = lines[lines.index("credentials (one read-only call per channel):") :]
    assert "  masto: not checked (a secret can't be read)" in lines
    (tg,) = [line for line in lines if line.startswith("  tg: ")]
    assert tg.startswith("  tg: failed: telegram: can't connect: "), tg
    assert BOT_TOKEN not in result.stdout + result.stderr
    assert fakes.mastodon.requests == []


# --- webhook URLs as secrets ----------------------------------------------------------------


def test_a_slack_url_is_a_secret_reference_sent_to_and_never_printed(
    tmp_path: Path, invoke: RunCli, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path = fakes.config(tmp_path)
    secret_url = env(fakes)["T_SLACK_URL"]
    for name, value in env(fakes).items():
        monkeypatch.setenv(name, value)
    with make_http_client(timeout=5.0) as client:
        publisher = build_publisher(
            load_config(config_path).channel("team"), client, now=lambda: NOW
        )
        assert isinstance(publisher, WebhookPublisher) and "SECRET" not in repr(publisher)
        publisher.publish(DELIVERY)
        (request,) = fakes.slack.requests
        assert request.path == "/services/T000/B000/SECRETslackpath"
        assert request.body == {"text": DELIVERY.body}
        # A receiver that echoes the URL, whole or its path, as Slack's no_service does.
        fakes.slack.fail_next(
            404, message=f"no_service: {secret_url} (/services/T000/B000/SECRETslackpath)"
        )
        with pytest.raises(PermanentPublishError) as caught:
            publisher.publish(DELIVERY)
    assert str(caught.value) == (
        "webhook (slack) answered 404: no_service: <redacted> (<redacted>)"
    )
    shown = invoke("check", "--online", config=config_path, env=env(fakes))
    assert shown.returncode == 0, shown.stderr
    assert "SECRETslackpath" not in shown.stdout + shown.stderr


@pytest.mark.parametrize("format", ["slack", "discord"])
def test_a_plain_slack_or_discord_url_is_refused_naming_the_secret_forms(
    tmp_path: Path, invoke: RunCli, format: str
) -> None:
    url = "https://hooks.example/services/T000/B000/SECRETinline"
    config = write_config(
        tmp_path,
        f"""
        [channels.team]
        publisher = "webhook"
        format = "{format}"
        url = "{url}"
        """,
    )
    result = invoke("check", config=config)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"{config}: channels.team.url: a {format} webhook URL is a secret; give it as "
        '{ env = "NAME" }, { file = "path" } or { credential = "name" }\n'
    )


def test_a_webhook_url_secret_must_be_an_http_url_and_is_not_shown_when_it_is_not(
    tmp_path: Path, invoke: RunCli, fakes: Fakes
) -> None:
    config = fakes.config(tmp_path)
    result = invoke("check", "--online", config=config, env=env(fakes, T_SLACK_URL="ftp-SECRETx"))
    assert result.returncode == 1
    assert "ftp-SECRETx" not in result.stdout + result.stderr
    assert result.stderr == (
        f"{config}: channels.team.url: the secret in {{ env = 'T_SLACK_URL' }} is not an "
        "http:// or https:// URL (its value is not shown)\n"
    )
    assert "  team: not checked (a secret can't be read)" in result.stdout.splitlines()
