"""The platforms there are: the only place that lists them (docs/architecture.md, "Adding a
platform"). Each module exports its `SPEC`; a channel's settings carry its spec, so building
its publisher asks no table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import httpx

from ..config import ChannelSettings
from ..platforms import PlatformSpec, platform_registry
from . import bluesky, file, mastodon, telegram, webhook
from .base import Publisher
from .http import ChannelClients

# The order `check` lists the accepted publishers in.
PLATFORMS: Mapping[str, PlatformSpec] = platform_registry(
    file.SPEC, webhook.SPEC, mastodon.SPEC, bluesky.SPEC, telegram.SPEC
)


def build_publisher(
    channel: ChannelSettings, client: httpx.Client, *, now: Callable[[], datetime]
) -> Publisher:
    """The publisher for `channel`, sending through `client`; `now` turns HTTP dates into waits.

    Secrets are read here, so a missing one raises `SecretError` (naming the reference,
    never a value) when the daemon starts rather than at the first airing.
    """
    publisher: Publisher = channel.platform.build(channel, client, now=now)
    return publisher


def build_publishers(
    channels: Mapping[str, ChannelSettings],
    clients: ChannelClients,
    *,
    now: Callable[[], datetime],
) -> dict[str, Publisher]:
    """Every channel's publisher, each sending through a client of its own from `clients`."""
    return {
        name: build_publisher(channel, clients.new(), now=now) for name, channel in channels.items()
    }
