"""`webhook` publisher: a JSON POST to a URL, as our own payload or Slack's or Discord's.

Every request carries `Idempotency-Key` (the airing's key). When `secret` is set, the request
also carries `X-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the exact raw body bytes
keyed with the secret (the scheme GitHub webhooks use), so a receiver can check the request
came from us: compute `hmac.new(secret, raw_body, sha256).hexdigest()` and compare with
`hmac.compare_digest`. `max_chars` is a queue-time limit only; it is not enforced here.

The URL of a Slack or Discord webhook is its credential: config gives it as a secret
reference (`url = { env = … }`), and it is kept out of every message, as is any URL given
that way for a JSON webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..config import ChannelSettings, SecretRef
from ..errors import PermanentPublishError, SecretError
from .answers import json_body
from .base import Delivery, Receipt
from .http import Api, AsyncClientFactory, Steps, make_async_http_client

_HTTP_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)
# Made once: `json.dumps` with an option builds an encoder per call, a third of its cost.
_JSON = json.JSONEncoder(ensure_ascii=False)


def json_request(payload: dict[str, Any], idempotency_key: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a webhook request carrying `payload` (bench/http_floor.py
    sends the daemon's very requests with them)."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": idempotency_key,
    }
    return _JSON.encode(payload).encode("utf-8"), headers


class WebhookPublisher:
    def __init__(
        self,
        url: str,
        client: httpx.Client,
        *,
        now: Callable[[], datetime],
        format: str = "json",
        secret: str | None = None,
        url_is_secret: bool | None = None,
        new_async_client: AsyncClientFactory = make_async_http_client,
    ) -> None:
        self.url = url
        self.format = format
        self._secret = secret
        secrets: tuple[str, ...] = (secret,) if secret else ()
        if url_is_secret is None:
            url_is_secret = format in ("slack", "discord")
        if url_is_secret:  # the URL's path is the credential (docs/design.md §7)
            secrets += (url, urlsplit(url).path)
        self.api = Api(
            client, f"webhook ({format})", now, secrets=secrets, new_async_client=new_async_client
        )

    @classmethod
    def from_channel(
        cls,
        channel: ChannelSettings,
        client: httpx.Client,
        *,
        now: Callable[[], datetime],
        new_async_client: AsyncClientFactory = make_async_http_client,
    ) -> WebhookPublisher:
        reference = channel.option("url")
        url = reference
        if isinstance(reference, SecretRef):
            url = channel.secret("url")
            if not _HTTP_URL.match(url):
                raise SecretError(
                    f"channels.{channel.name}.url: the secret in {reference.describe()} is not "
                    "an http:// or https:// URL (its value is not shown)"
                )
        return cls(
            url,
            client,
            now=now,
            format=channel.option("format", "json"),
            secret=channel.secret("secret") if "secret" in channel.options else None,
            url_is_secret=isinstance(reference, SecretRef) or None,
            new_async_client=new_async_client,
        )

    def __repr__(self) -> str:
        return f"WebhookPublisher(format={self.format!r})"

    def payload(self, delivery: Delivery) -> dict[str, Any]:
        if self.format == "json":
            return delivery.as_json()
        if delivery.media:
            raise PermanentPublishError(
                f"media isn't supported by the {self.format} webhook publisher yet"
            )
        return {"text": delivery.body} if self.format == "slack" else {"content": delivery.body}

    def publish(self, delivery: Delivery) -> Receipt:
        return self.api.run(self._publishing(delivery))

    async def publish_async(self, delivery: Delivery) -> Receipt:
        return await self.api.run_async(self._publishing(delivery))

    def _publishing(self, delivery: Delivery) -> Steps[Receipt]:
        raw, headers = json_request(self.payload(delivery), delivery.idempotency_key)
        if self._secret:
            digest = hmac.new(self._secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()
            headers["X-Signature-256"] = f"sha256={digest}"
        response = yield from self.api.calling(
            "POST", self.url, posting=True, content=raw, headers=headers
        )
        # Slack answers "ok", Discord 204; a receiver of our JSON may name what it created.
        body = json_body(response)
        if isinstance(body, dict):
            remote_id, remote_url = body.get("id"), body.get("url")
            return Receipt(
                remote_id=str(remote_id) if remote_id is not None else None,
                remote_url=remote_url if isinstance(remote_url, str) else None,
            )
        return Receipt(remote_id=None, remote_url=None)

    def close(self) -> None:
        pass

    async def connect_async(self) -> None:
        await self.api.connect_async(self.url)

    async def close_async(self) -> None:
        await self.api.close_async()
