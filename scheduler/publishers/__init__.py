"""Publishers: one module per platform behind one small interface (docs/design.md §7)."""

from .base import Delivery, Publisher, Receipt
from .http import ChannelClients, make_http_client
from .registry import build_publisher, build_publishers

__all__ = [
    "ChannelClients",
    "Delivery",
    "Publisher",
    "Receipt",
    "build_publisher",
    "build_publishers",
    "make_http_client",
]
