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

Reading (DESIGN §10): `GET /api/v1/notifications?types[]=mention`, paged forward with
`min_id` (each page is the notifications just newer than the cursor; the cursor becomes the
newest id of the page), so nothing is fetched twice and a crash between pages resumes where
the last stored page ended. A mention whose status has `in_reply_to_id` is a reply. When
`X-RateLimit-Remaining` reaches 0, reading stops until `X-RateLimit-Reset`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from ..config import ChannelSettings
from ..domain import Notice, NoticePage
from ..errors import PermanentPublishError, TransientPublishError
from ..measuring import Counts, count_or_none
from ..media import Medium
from .answers import Answer, json_body, retry_after
from .base import Delivery, Receipt
from .http import Api, AsyncClientFactory, Pause, Steps, make_async_http_client
from .notices import MAX_AUTHOR, MAX_PLATFORM_ID, html_to_text, parse_time, short

PAGE_LIMIT = 40  # Mastodon's largest page of notifications


class MastodonPublisher:
    media_poll_interval = 1.0
    media_poll_limit = 30  # polls before giving up on one upload (then a retry starts over)
    page_limit = PAGE_LIMIT

    def __init__(
        self,
        base_url: str,
        token: str,
        client: httpx.Client,
        *,
        now: Callable[[], datetime],
        visibility: str = "public",
        language: str | None = None,
        new_async_client: AsyncClientFactory = make_async_http_client,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.visibility = visibility
        self.language = language
        self._auth = {"Authorization": f"Bearer {token}"}
        self.api = Api(client, "mastodon", now, secrets=(token,), new_async_client=new_async_client)

    @classmethod
    def from_channel(
        cls,
        channel: ChannelSettings,
        client: httpx.Client,
        *,
        now: Callable[[], datetime],
        new_async_client: AsyncClientFactory = make_async_http_client,
    ) -> MastodonPublisher:
        return cls(
            channel.option("base_url"),
            channel.secret("token"),
            client,
            now=now,
            visibility=channel.option("visibility", "public"),
            language=channel.option("language"),
            new_async_client=new_async_client,
        )

    def __repr__(self) -> str:
        return f"MastodonPublisher({self.base_url!r})"

    def publish(self, delivery: Delivery) -> Receipt:
        return self.api.run(self._publishing(delivery))

    async def publish_async(self, delivery: Delivery) -> Receipt:
        return await self.api.run_async(self._publishing(delivery))

    def _publishing(self, delivery: Delivery) -> Steps[Receipt]:
        media_ids = []
        for medium in delivery.media:
            media_ids.append((yield from self._upload(medium)))
        form = self._status_form(delivery.body)
        if delivery.reply_to is not None:
            form["in_reply_to_id"] = delivery.reply_to["status_id"]
        if media_ids:
            form["media_ids[]"] = media_ids
        response = yield from self.api.calling(
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
        account = self._own_account()
        name = None
        if isinstance(account, dict):
            name = account.get("acct") or account.get("username")
        if not isinstance(name, str) or not name:
            raise PermanentPublishError("mastodon answered verify_credentials without an account")
        return f"@{name}"

    def notices(self, cursor: str | None) -> Iterator[NoticePage]:
        """Mentions newer than `cursor` (a notification id), oldest page first."""
        newest = cursor or "0"
        while True:
            response = self.api.call(
                "GET",
                f"{self.base_url}/api/v1/notifications",
                posting=False,
                params={"types[]": "mention", "min_id": newest, "limit": str(self.page_limit)},
                headers=self._auth,
            )
            body = json_body(response)
            if not isinstance(body, list):
                raise PermanentPublishError("mastodon answered notifications without a list")
            ids = [n["id"] for n in body if isinstance(n, dict) and _numeric(n.get("id"))]
            if not ids:
                return
            newest = max(ids, key=int)
            ordered = sorted(
                (n for n in body if isinstance(n, dict) and _numeric(n.get("id"))),
                key=lambda n: int(n["id"]),
            )
            notices = (self._notice(n) for n in ordered)  # oldest first, as they are listed
            yield NoticePage(tuple(n for n in notices if n is not None), newest)
            if response.headers.get("X-RateLimit-Remaining", "").strip() == "0":
                # The budget (300 requests / 5 min) is shared with posting: stop reading
                # before a 429 could hold up a post, and go on after the reset.
                raise TransientPublishError(
                    "mastodon: rate limit used up; reading again after its reset",
                    retry_after=retry_after(response, self.api.now()),
                )

    def _notice(self, notification: dict[str, Any]) -> Notice | None:
        """A mention notification as a notice; None when it lacks what one needs."""
        status = notification.get("status")
        if notification.get("type") != "mention" or not isinstance(status, dict):
            return None
        account = status.get("account")
        acct = short(account.get("acct"), MAX_AUTHOR) if isinstance(account, dict) else None
        status_id = short(status.get("id"), MAX_PLATFORM_ID)
        at = parse_time(status.get("created_at"))
        content = status.get("content")
        if acct is None or status_id is None or at is None or not isinstance(content, str):
            return None
        if "@" not in acct:  # a local account: its handle names this instance
            acct = f"{acct}@{urlsplit(self.base_url).hostname}"
        parent = status.get("in_reply_to_id")
        parent_id = parent if isinstance(parent, str) and parent else None
        url = status.get("url")
        return Notice(
            platform_id=status_id,
            kind="reply" if parent_id else "mention",
            author=f"@{acct}",
            text=html_to_text(content),
            at=at,
            url=url if isinstance(url, str) else None,
            answers=parent_id,
            target={"status_id": status_id, "author": f"@{acct}"},
        )

    # --- reads for measuring (§11) -----------------------------------------------------------

    def read_counts(self, remote_ids: Sequence[str]) -> dict[str, Counts]:
        """Each status's counts (`GET /api/v1/statuses/:id`), one request per status; a
        status gone (404) or answered without valid counts is left out."""
        found = {}
        for remote_id in remote_ids:
            response = self.api.send(
                "GET",
                f"{self.base_url}/api/v1/statuses/{quote(remote_id, safe='')}",
                posting=False,
                headers=self._auth,
            )
            if response.status_code == 404:
                continue
            status = json_body(self.api.check(response))
            if not isinstance(status, dict):
                continue
            likes, shares, replies = (
                count_or_none(status.get(key))
                for key in ("favourites_count", "reblogs_count", "replies_count")
            )
            if likes is not None and shares is not None and replies is not None:
                found[remote_id] = Counts(likes, shares, replies)
        return found

    def read_followers(self) -> int | None:
        """The account's `followers_count` from `verify_credentials`."""
        account = self._own_account()
        return count_or_none(account.get("followers_count")) if isinstance(account, dict) else None

    def _own_account(self) -> object:
        """`GET /api/v1/accounts/verify_credentials`: the token's account, as answered."""
        response = self.api.call(
            "GET",
            f"{self.base_url}/api/v1/accounts/verify_credentials",
            posting=False,
            headers=self._auth,
        )
        return json_body(response)

    def _upload(self, medium: Medium) -> Steps[str]:
        """Upload the bytes kept at queue time, with the type sniffed from them then, and the
        alt text as `description`."""
        response = yield from self.api.calling(
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
            yield Pause(self.media_poll_interval)
            polls += 1
            response = yield from self.api.calling(
                "GET", f"{self.base_url}/api/v1/media/{media_id}", posting=False, headers=self._auth
            )
        return media_id

    def close(self) -> None:
        pass

    async def connect_async(self) -> None:
        await self.api.connect_async(self.base_url)

    async def close_async(self) -> None:
        await self.api.close_async()


def _numeric(value: object) -> bool:
    return isinstance(value, str) and value.isdigit() and len(value) <= 30


def _object(response: Answer, what: str) -> dict[str, Any]:
    body = json_body(response)
    if not isinstance(body, dict) or "id" not in body:
        raise PermanentPublishError(f"mastodon answered {response.status_code} without a {what}")
    return body
