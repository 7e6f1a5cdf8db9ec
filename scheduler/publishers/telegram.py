"""`telegram` publisher: Bot API `sendMessage`, or `sendPhoto` with a caption (docs/design.md §7).

A post with its one photo (queue time refuses more) goes as `sendPhoto`: the kept bytes
uploaded as multipart/form-data, the body as `caption` (at most 1024 UTF-16 code units,
checked at queue time; a text alone may have 4096).

The Bot API has no idempotency key, so its spec declares no deduplication
(`platforms/telegram.py`): an airing interrupted mid-request becomes `unconfirmed` for an
editor to check, never re-sent blindly (docs/design.md §5).
The bot token sits in the URL path (`/bot<token>/sendMessage`), so every message built here
goes through `Api.scrub`, and httpx's request log lines are filtered (see `http.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

from ..config import ChannelSettings
from ..errors import PermanentPublishError
from .answers import json_body
from .base import Delivery, Receipt
from .http import Api, AsyncClientFactory, Steps, make_async_http_client, redact_http_logs


class TelegramPublisher:
    def __init__(
        self,
        base_url: str,
        bot_token: str,
        chat_id: str,
        client: httpx.Client,
        *,
        now: Callable[[], datetime],
        new_async_client: AsyncClientFactory = make_async_http_client,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.chat_id = chat_id
        self._token = bot_token
        self.api = Api(
            client, "telegram", now, secrets=(bot_token,), new_async_client=new_async_client
        )
        redact_http_logs()  # even when the caller built its own client

    @classmethod
    def from_channel(
        cls,
        channel: ChannelSettings,
        client: httpx.Client,
        *,
        now: Callable[[], datetime],
        new_async_client: AsyncClientFactory = make_async_http_client,
    ) -> TelegramPublisher:
        return cls(
            channel.option("base_url"),
            channel.secret("bot_token"),
            str(channel.option("chat_id")),
            client,
            now=now,
            new_async_client=new_async_client,
        )

    def __repr__(self) -> str:
        return f"TelegramPublisher({self.base_url!r}, chat_id={self.chat_id!r})"

    def publish(self, delivery: Delivery) -> Receipt:
        return self.api.run(self._publishing(delivery))

    async def publish_async(self, delivery: Delivery) -> Receipt:
        return await self.api.run_async(self._publishing(delivery))

    def _publishing(self, delivery: Delivery) -> Steps[Receipt]:
        if len(delivery.media) > 1:
            raise PermanentPublishError(
                f"telegram takes one photo a message; this post has {len(delivery.media)}"
            )
        if delivery.media:
            photo = delivery.media[0]
            response = yield from self.api.calling(
                "POST",
                f"{self.base_url}/bot{self._token}/sendPhoto",
                posting=True,
                data={"chat_id": self.chat_id, "caption": delivery.body},
                files={"photo": (photo.name, photo.data, photo.mime)},
            )
        else:
            # A numeric chat id goes as a number, a public channel as its @username.
            chat: int | str = int(self.chat_id) if _is_int(self.chat_id) else self.chat_id
            response = yield from self.api.calling(
                "POST",
                f"{self.base_url}/bot{self._token}/sendMessage",
                posting=True,
                json={"chat_id": chat, "text": delivery.body},
            )
        body = json_body(response)
        result = body.get("result") if isinstance(body, dict) else None
        if not (isinstance(body, dict) and body.get("ok") and isinstance(result, dict)):
            reason = body.get("description") if isinstance(body, dict) else None
            raise PermanentPublishError(
                self.api.message(f"telegram did not accept the message: {reason or 'no result'}")
            )
        message_id = str(result.get("message_id"))
        url = None
        if self.chat_id.startswith("@"):
            url = f"https://t.me/{self.chat_id[1:]}/{message_id}"
        return Receipt(remote_id=message_id, remote_url=url)

    def verify(self) -> str:
        """Prove the bot token with `getMe` (a read); the bot as `@username`. Raises
        PublishError with the Bot API's answer."""
        response = self.api.call("GET", f"{self.base_url}/bot{self._token}/getMe", posting=False)
        body = json_body(response)
        result = body.get("result") if isinstance(body, dict) else None
        name = result.get("username") if isinstance(result, dict) else None
        if not (isinstance(body, dict) and body.get("ok") and isinstance(name, str) and name):
            raise PermanentPublishError("telegram answered getMe without a bot")
        return f"@{name}"

    def close(self) -> None:
        pass

    async def connect_async(self) -> None:
        await self.api.connect_async(self.base_url)

    async def close_async(self) -> None:
        await self.api.close_async()


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
