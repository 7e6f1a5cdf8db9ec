"""The platforms there are: the only place that lists them (docs/architecture.md, "Adding a
platform"). Each module exports its `SPEC`; a channel's settings carry their spec, so nothing
else keeps a table of platforms."""

from __future__ import annotations

from collections.abc import Mapping

from . import bluesky, file, mastodon, telegram, webhook
from .spec import PlatformSpec, platform_registry

# In the order `check` lists the accepted publishers.
PLATFORMS: Mapping[str, PlatformSpec] = platform_registry(
    file.SPEC, webhook.SPEC, mastodon.SPEC, bluesky.SPEC, telegram.SPEC
)
