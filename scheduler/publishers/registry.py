"""From a channel's settings to its publisher: the only place that knows every platform."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import httpx

from ..config import ChannelSettings
from .base import Publisher
from .bluesky import BlueskyPublisher
from .file import FilePublisher
from .http import AsyncClientFactory, ChannelClients, make_async_http_client
from .mastodon import MastodonPublisher
from .telegram import TelegramPublisher
from .webhook import WebhookPublisher


def build_publisher(
    channel: ChannelSettings,
    client: httpx.Client,
    *,
    now: Callable[[], datetime],
    new_async_client: AsyncClientFactory = make_async_http_client,
) -> Publisher:
    """The publisher for `channel`, reading through `client` and sending on the daemon's
    event loop through a client `new_async_client` makes; `now` turns HTTP dates into waits.

    Secrets are read here, so a missing one raises `SecretError` (naming the reference,
    never a value) when the daemon starts rather than at the first airing.
    """
    kind = channel.publisher
    builders: dict[str, Callable[..., Publisher]] = {
        "file": FilePublisher.from_channel,
        "webhook": WebhookPublisher.from_channel,
        "mastodon": MastodonPublisher.from_channel,
        "bluesky": BlueskyPublisher.from_channel,
        "telegram": TelegramPublisher.from_channel,
    }
    if kind not in builders:
        raise ValueError(f"unknown publisher {kind!r} for channel {channel.name!r}")
    return builders[kind](channel, client, now=now, new_async_client=new_async_client)


def build_publishers(
    channels: Mapping[str, ChannelSettings],
    clients: ChannelClients,
    *,
    now: Callable[[], datetime],
) -> dict[str, Publisher]:
    """Every channel's publisher, each with clients of its own from `clients`."""
    return {
        name: build_publisher(channel, clients.new(), now=now, new_async_client=clients.new_async)
        for name, channel in channels.items()
    }
