"""From a channel's settings to its publisher: the class its platform's spec names.

The spec names the class as "module:Class" (`PlatformSpec.client`) rather than holding it,
so reading the config (every command, `queue add` above all) never imports the HTTP stack;
the class is imported here, when a daemon or `check --online` builds publishers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from ..config import ChannelSettings
from .base import Publisher
from .http import AsyncClientFactory, ChannelClients, make_async_http_client


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
    publisher: Publisher = publisher_class(channel.platform.client).from_channel(
        channel, client, now=now, new_async_client=new_async_client
    )
    return publisher


def publisher_class(reference: str) -> Any:
    """The class a spec's `client` names ("package.module:Class")."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


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
