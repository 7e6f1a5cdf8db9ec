"""`mastodon` publisher: `POST /api/v1/statuses` with a bearer token (docs/design.md §7).

Exactly-once: every status request carries `Idempotency-Key`; Mastodon keeps keys for one
hour and answers a repeat with the status it already made. Media are uploaded first with
`POST /api/v2/media` (multipart `file`); an upload answered 202 is still being processed, so
`GET /api/v1/media/:id` is polled until it answers 200 (206 while processing), since a
status can't attach unprocessed media. Each upload carries the medium's alt text as
`description`. Uploads carry no key: a retry may upload again, which leaves at worst an
unattached file that the server cleans up, never a second post.

Each status carries the channel's `visibility` (default `public`) and, when set, its
`language` (ISO 639), which Mastodon uses for filtering and translation instead of guessing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import httpx

from ..config import ChannelSettings
from ..errors import PermanentPublishError, TransientPublishError
from ..media import Medium
from .base import Delivery, Receipt
from .http import Api, json_body


class MastodonPublisher:
    deduplicates = True
    media_poll_interval = 1.0
    media_poll_limit = 30  # polls before giving up on one upload (then a retry starts over)

    def __init__(
        self,
        base_url: str,
        token: str,
        client: httpx.Client,
        *,
        now: Callable[[], datetime],
        visibility: str = "public",
        language: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.visibility = visibility
        self.language = language
        self._auth = {"Authorization": f"Bearer {token}"}
        self.api = Api(client, "mastodon", now, secrets=(token,))

    @classmethod
    def from_channel(
        cls, channel: ChannelSettings, client: httpx.Client, *, now: Callable[[], datetime]
    ) -> MastodonPublisher:
        return cls(
            channel.option("base_url"),
            channel.secret("token"),
            client,
            now=now,
            visibility=channel.option("visibility", "public"),
            language=channel.option("language"),
        )

    def __repr__(self) -> str:
        return f"MastodonPublisher({self.base_url!r})"

    def publish(self, delivery: Delivery) -> Receipt:
        media_ids = [self._upload(medium) for medium in delivery.media]
        form = self._status_form(delivery.body)
        if media_ids:
            form["media_ids[]"] = media_ids
        response = self.api.call(
            "POST",
            f"{self.base_url}/api/v1/statuses",
            posting=True,
            data=form,
            headers={**self._auth, "Idempotency-Key": delivery.idempotency_key},
        )
        status = _object(response, "status")
        return Receipt(remote_id=str(status["id"]), remote_url=status.get("url"))

    def _status_form(self, text: str) -> dict[str, str | list[str]]:
        """The status's text and how it is shown: visibility, and language when configured."""
        form: dict[str, str | list[str]] = {"status": text, "visibility": self.visibility}
        if self.language:
            form["language"] = self.language
        return form

    def verify(self) -> str:
        """Prove the token with `GET /api/v1/accounts/verify_credentials` (a read); the
        account as `@username`. Raises PublishError with the server's answer."""
        response = self.api.call(
            "GET",
            f"{self.base_url}/api/v1/accounts/verify_credentials",
            posting=False,
            headers=self._auth,
        )
        account = json_body(response)
        name = None
        if isinstance(account, dict):
            name = account.get("acct") or account.get("username")
        if not isinstance(name, str) or not name:
            raise PermanentPublishError("mastodon answered verify_credentials without an account")
        return f"@{name}"

    def _upload(self, medium: Medium) -> str:
        """Upload the bytes kept at queue time, with the type sniffed from them then, and the
        alt text as `description`."""
        response = self.api.call(
            "POST",
            f"{self.base_url}/api/v2/media",
            posting=False,
            files={"file": (medium.name, medium.data, medium.mime)},
            data={"description": medium.alt} if medium.alt else None,
            headers=self._auth,
        )
        media_id = str(_object(response, "media attachment")["id"])
        polls = 0
        while response.status_code != 200:  # 202 on upload, 206 while polling: processing
            if polls >= self.media_poll_limit:
                raise TransientPublishError(
                    f"mastodon is still processing media file {medium.name!r}"
                )
            time.sleep(self.media_poll_interval)
            polls += 1
            response = self.api.call(
                "GET", f"{self.base_url}/api/v1/media/{media_id}", posting=False, headers=self._auth
            )
        return media_id

    def close(self) -> None:
        pass


def _object(response: httpx.Response, what: str) -> dict:
    body = json_body(response)
    if not isinstance(body, dict) or "id" not in body:
        raise PermanentPublishError(f"mastodon answered {response.status_code} without a {what}")
    return body
