"""`bluesky` publisher: an `app.bsky.feed.post` record in the account's repository (AT Protocol).

Session: `com.atproto.server.createSession` once (handle + app password), the access token is
reused for later posts, `com.atproto.server.refreshSession` when the PDS answers
`ExpiredToken`, and a new session if the refresh token has expired too.

Exactly-once: the record key is a TID derived from the airing alone (`record_key`), so every
attempt at one airing names the same record. Before each `createRecord` the publisher calls
`com.atproto.repo.getRecord` for that key and returns the existing record if there is one.
It always looks first rather than only "on retry": a retry can come from a new process after
a crash, with nothing in memory to tell it apart from a first attempt, and one extra read per
post is cheap. If `createRecord` still fails (a concurrent attempt won the race), the record
is looked up once more before the failure is reported.

Rich text: links, mentions and hashtags become facets (`facets.py`, the Bluesky app's own
rules). A mention needs the account's DID: `com.atproto.identity.resolveHandle` is asked once
per handle and publisher (a read, so `posting=False`); a handle it refuses stays plain text.
`langs` carries the channel's `language`, so feeds and translation know what the post is in.

Images: each kept medium is sent with `com.atproto.repo.uploadBlob` (the raw bytes, with the
type sniffed at queue time as Content-Type), and the blob references it answers go in an
`app.bsky.embed.images` embed with each image's alt text (`""` when none was given, since
the lexicon requires `alt`). Uploads count as reads for exactly-once (`posting=False`): a
repeated upload leaves at worst an unreferenced blob, which the PDS garbage-collects, never
a second post; they are made only once the record is known not to exist yet.

Reading (DESIGN §10): `app.bsky.notification.listNotifications` pages from the newest back
with its `cursor`; a pass reads back to the stored cursor (the newest `indexedAt` already
stored) and only the pass's last page moves it, so a crash mid-pass reads again rather than
skipping (items are unique by URI). Reasons `reply`, `mention` and `quote` become notices;
each notification carries its post's record, so the text and reply refs come with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from ..config import ChannelSettings
from ..domain import Notice, NoticePage
from ..errors import PermanentPublishError, PublishError
from ..measuring import Counts, count_or_none
from ..media import Medium
from .answers import Answer, json_body
from .base import Delivery, Receipt
from .facets import detect, record_facets
from .http import Api, AsyncClientFactory, Call, Steps, make_async_http_client
from .notices import MAX_AUTHOR, MAX_PLATFORM_ID, parse_time, short

COLLECTION = "app.bsky.feed.post"
GET_POSTS_BATCH = 25  # the most URIs app.bsky.feed.getPosts takes in one call
IMAGES_EMBED = "app.bsky.embed.images"
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
READ_REASONS = ("reply", "mention", "quote")
PAGE_LIMIT = 100  # listNotifications' largest page


def record_key(delivery: Delivery) -> str:
    """A valid TID record key (atproto.com/specs/tid) that only depends on the airing.

    The 53-bit timestamp is the due second in microseconds plus `airing_id mod 10^6`; the
    10-bit clock id is `(airing_id // 10^6) mod 1024`. Two airings get the same key only if
    their ids differ by a multiple of 1,024,000,000, and the key sorts by due time, as TIDs do.
    The due time is part of the key, so an airing that may have been sent must keep its due
    time on every later attempt (docs/design.md §3.8: a publishing airing is never moved).
    """
    micros = int(delivery.due.timestamp()) * 1_000_000 + delivery.airing_id % 1_000_000
    clock_id = (delivery.airing_id // 1_000_000) % 1024
    return encode_tid(micros, clock_id)


def encode_tid(micros: int, clock_id: int) -> str:
    """13 base32-sortable characters of `0 | 53-bit microseconds | 10-bit clock id`."""
    value = ((micros & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


class BlueskyPublisher:
    page_limit = PAGE_LIMIT

    def __init__(
        self,
        service: str,
        handle: str,
        app_password: str,
        client: httpx.Client,
        *,
        now: Callable[[], datetime],
        language: str | None = None,
        new_async_client: AsyncClientFactory = make_async_http_client,
    ) -> None:
        self.service = service.rstrip("/")
        self.language = language
        self.handle = handle.lstrip("@")
        self._password = app_password
        self._now = now
        self.api = Api(
            client, "bluesky", now, secrets=(app_password,), new_async_client=new_async_client
        )
        self._lock = threading.Lock()
        self._session: dict[str, str] | None = None  # did, accessJwt, refreshJwt
        self._dids: dict[str, str | None] = {}  # handle (lower case) -> DID, None: unresolvable

    @classmethod
    def from_channel(
        cls,
        channel: ChannelSettings,
        client: httpx.Client,
        *,
        now: Callable[[], datetime],
        new_async_client: AsyncClientFactory = make_async_http_client,
    ) -> BlueskyPublisher:
        return cls(
            channel.option("service"),
            channel.option("handle"),
            channel.secret("app_password"),
            client,
            now=now,
            language=channel.option("language"),
            new_async_client=new_async_client,
        )

    def __repr__(self) -> str:
        return f"BlueskyPublisher({self.service!r}, handle={self.handle!r})"

    def publish(self, delivery: Delivery) -> Receipt:
        return self.api.run(self._publishing(delivery))

    async def publish_async(self, delivery: Delivery) -> Receipt:
        return await self.api.run_async(self._publishing(delivery))

    def _publishing(self, delivery: Delivery) -> Steps[Receipt]:
        rkey = record_key(delivery)
        if (yield from self._existing(rkey)):
            return (yield from self._receipt(rkey))
        record = yield from self._record(delivery.body)
        if delivery.reply_to is not None:
            target = delivery.reply_to
            record["reply"] = {
                "root": {"uri": target["root_uri"], "cid": target["root_cid"]},
                "parent": {"uri": target["uri"], "cid": target["cid"]},
            }
        if delivery.media:
            images = []
            for medium in delivery.media:
                images.append({"alt": medium.alt or "", "image": (yield from self._upload(medium))})
            record["embed"] = {"$type": IMAGES_EMBED, "images": images}
        repo = yield from self._did()
        try:
            yield from self._xrpc(
                "POST",
                "com.atproto.repo.createRecord",
                posting=True,
                json={"repo": repo, "collection": COLLECTION, "rkey": rkey, "record": record},
            )
        except PublishError as failure:
            try:
                found = yield from self._existing(rkey)
            except PublishError:
                raise failure from None
            if found:
                return (yield from self._receipt(rkey))
            raise failure
        return (yield from self._receipt(rkey))

    def verify(self) -> str:
        """Prove the handle and app password with `createSession` (a read: it posts nothing);
        the account's handle as the PDS answers it. Raises PublishError with its answer."""
        response = self.api.call(
            "POST",
            f"{self.service}/xrpc/com.atproto.server.createSession",
            posting=False,
            json={"identifier": self.handle, "password": self._password},
        )
        session = _session_from(response)
        with self._lock:
            self._session = session
            self.api.session_secrets(session["accessJwt"], session["refreshJwt"])
        body = json_body(response)
        handle = body.get("handle") if isinstance(body, dict) else None
        return f"@{handle if isinstance(handle, str) and handle else self.handle}"

    def notices(self, cursor: str | None) -> Iterator[NoticePage]:
        """Replies, mentions and quotes indexed after `cursor` (an `indexedAt`), newest first.

        Notifications indexed at the stored time itself are read again (two can share it);
        storing them twice is harmless, missing one is not.
        """
        stored = parse_time(cursor)
        newest: tuple[datetime, str] | None = None  # the newest indexedAt of this pass
        page: str | None = None
        while True:
            params = {"limit": str(self.page_limit), **({"cursor": page} if page else {})}
            body = json_body(
                self.api.run(
                    self._xrpc(
                        "GET",
                        "app.bsky.notification.listNotifications",
                        posting=False,
                        params=params,
                    )
                )
            )
            listed = body.get("notifications") if isinstance(body, dict) else None
            if not isinstance(listed, list):
                raise PermanentPublishError("bluesky answered listNotifications without a list")
            fresh = []
            reached = False
            for notification in listed:
                indexed = notification.get("indexedAt") if isinstance(notification, dict) else None
                moment = parse_time(indexed)
                if moment is None:
                    continue
                if stored is not None and moment < stored:
                    reached = True
                    continue
                if newest is None or moment > newest[0]:
                    newest = (moment, str(indexed))
                fresh.append(notification)
            notices = tuple(n for n in map(_notice, fresh) if n is not None)
            page = body.get("cursor") if isinstance(body.get("cursor"), str) else None
            last = reached or not page or not listed
            yield NoticePage(notices, (newest[1] if newest else cursor) if last else None)
            if last:
                return

    # --- reads for measuring (§11) -----------------------------------------------------------

    def read_counts(self, remote_ids: Sequence[str]) -> dict[str, Counts]:
        """Each post's counts by its at:// URI, `GET_POSTS_BATCH` URIs per `getPosts` call;
        a post the AppView no longer has, or answers without valid counts, is left out."""
        found = {}
        for start in range(0, len(remote_ids), GET_POSTS_BATCH):
            batch = list(remote_ids[start : start + GET_POSTS_BATCH])
            response = self.api.run(
                self._xrpc("GET", "app.bsky.feed.getPosts", posting=False, params={"uris": batch})
            )
            body = json_body(response)
            posts = body.get("posts") if isinstance(body, dict) else None
            for post in posts if isinstance(posts, list) else []:
                if not isinstance(post, dict) or post.get("uri") not in batch:
                    continue
                read = [
                    count_or_none(post.get(key, 0))
                    for key in ("likeCount", "repostCount", "replyCount", "quoteCount")
                ]
                if None in read:
                    continue
                likes, reposts, replies, quotes = (count or 0 for count in read)
                found[post["uri"]] = Counts(likes, reposts + quotes, replies, quotes)
        return found

    def read_followers(self) -> int | None:
        """The account's `followersCount` from `app.bsky.actor.getProfile`."""
        actor = self.api.run(self._did())
        response = self.api.run(
            self._xrpc("GET", "app.bsky.actor.getProfile", posting=False, params={"actor": actor})
        )
        profile = json_body(response)
        return count_or_none(profile.get("followersCount")) if isinstance(profile, dict) else None

    def close(self) -> None:
        with self._lock:
            self._session = None
        self._dids.clear()  # a handle may move to another account; look again next time

    async def connect_async(self) -> None:
        await self.api.connect_async(self.service)

    async def close_async(self) -> None:
        await self.api.close_async()

    # --- records -------------------------------------------------------------------------

    def _record(self, text: str) -> Steps[dict[str, Any]]:
        """The `app.bsky.feed.post` record: text, facets, `langs`, creation time."""
        record: dict[str, Any] = {
            "$type": COLLECTION,
            "text": text,
            "createdAt": self._now()
            .astimezone(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        dids: dict[str, str | None] = {}  # each mentioned handle, resolved in text order
        for facet in detect(text):
            if facet.kind == "mention" and facet.value not in dids:
                dids[facet.value] = yield from self._resolve_handle(facet.value)
        facets = record_facets(text, dids.__getitem__)
        if facets:
            record["facets"] = facets
        if self.language:
            record["langs"] = [self.language]
        return record

    def _upload(self, medium: Medium) -> Steps[dict[str, Any]]:
        """Upload one kept medium's bytes; the blob reference the PDS answered."""
        response = yield from self._xrpc(
            "POST",
            "com.atproto.repo.uploadBlob",
            posting=False,
            content=medium.data,
            headers={"Content-Type": medium.mime},
        )
        body = json_body(response)
        blob = body.get("blob") if isinstance(body, dict) else None
        if not (isinstance(blob, dict) and blob.get("$type") == "blob" and "ref" in blob):
            raise PermanentPublishError(
                f"bluesky answered the upload of media file {medium.name!r} without a blob"
            )
        return blob

    def _resolve_handle(self, handle: str) -> Steps[str | None]:
        """The DID behind `handle`, or None when the PDS answers that it can't resolve it.

        Only answers are remembered: a 5xx, 429 or lost connection raises, so the airing is
        retried rather than posted with a mention left unlinked for good.
        """
        key = handle.lower()
        if key not in self._dids:
            response = yield Call(
                "GET",
                f"{self.service}/xrpc/com.atproto.identity.resolveHandle",
                posting=False,
                options={"params": {"handle": key}},
            )
            assert response is not None
            status = response.status_code
            refused = 400 <= status < 500 and status not in (408, 429)
            self._dids[key] = None if refused else _did_from(self.api.check(response))
        return self._dids[key]

    def _existing(self, rkey: str) -> Steps[bool]:
        repo = yield from self._did()
        response = yield from self._xrpc(
            "GET",
            "com.atproto.repo.getRecord",
            posting=False,
            params={"repo": repo, "collection": COLLECTION, "rkey": rkey},
            allow_error="RecordNotFound",
        )
        return response.is_success

    def _receipt(self, rkey: str) -> Steps[Receipt]:
        did = yield from self._did()
        return Receipt(
            remote_id=f"at://{did}/{COLLECTION}/{rkey}",
            remote_url=f"https://bsky.app/profile/{self.handle}/post/{rkey}",
        )

    # --- session -------------------------------------------------------------------------
    # A session is made or refreshed with no lock held over the request: the event loop
    # must never wait for a listening thread's request. The lock only guards the swap, so
    # two callers racing may both ask; the first session stored wins and the other is
    # dropped, which costs one request and posts nothing.

    def _xrpc(
        self,
        method: str,
        nsid: str,
        *,
        posting: bool,
        allow_error: str | None = None,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> Steps[Answer]:
        """Call an authenticated XRPC method, refreshing the session once on `ExpiredToken`.

        An error named `allow_error` (e.g. `RecordNotFound`) is returned, not raised.
        """
        url = f"{self.service}/xrpc/{nsid}"
        for attempt in range(2):
            token = yield from self._access_token()
            sent = {**(headers or {}), "Authorization": f"Bearer {token}"}
            response = yield Call(method, url, posting, {**options, "headers": sent})
            assert response is not None
            error = _error_name(response)
            if error == "ExpiredToken" and attempt == 0:
                yield from self._refresh(token)
                continue
            if allow_error is not None and error == allow_error:
                return response
            return self.api.check(response)
        raise AssertionError("unreachable")

    def _did(self) -> Steps[str]:
        return (yield from self._current_session())["did"]

    def _access_token(self) -> Steps[str]:
        return (yield from self._current_session())["accessJwt"]

    def _current_session(self) -> Steps[dict[str, str]]:
        session = self._session
        if session is None:
            made = yield from self._create_session()
            session = self._store_session(None, made)
        return session

    def _create_session(self) -> Steps[dict[str, str]]:
        response = yield from self.api.calling(
            "POST",
            f"{self.service}/xrpc/com.atproto.server.createSession",
            posting=False,
            json={"identifier": self.handle, "password": self._password},
        )
        return _session_from(response)

    def _refresh(self, expired_access: str) -> Steps[None]:
        """Swap an expired access token for a fresh one; a new session if refreshing fails."""
        session = self._session
        if session is None or session["accessJwt"] != expired_access:
            return  # another caller refreshed already
        response = yield Call(
            "POST",
            f"{self.service}/xrpc/com.atproto.server.refreshSession",
            posting=False,
            options={"headers": {"Authorization": f"Bearer {session['refreshJwt']}"}},
        )
        assert response is not None
        if _error_name(response) in ("ExpiredToken", "InvalidToken"):
            fresh = yield from self._create_session()
        else:
            fresh = _session_from(self.api.check(response))
        self._store_session(session, fresh)

    def _store_session(
        self, replacing: dict[str, str] | None, fresh: dict[str, str]
    ) -> dict[str, str]:
        """Keep `fresh` unless another caller replaced `replacing` first; the session now.

        The session's tokens are secrets too: kept out of every message from here on.
        """
        with self._lock:
            if self._session is replacing:
                self._session = fresh
                self.api.session_secrets(fresh["accessJwt"], fresh["refreshJwt"])
            assert self._session is not None
            return self._session


def _notice(notification: dict[str, Any]) -> Notice | None:
    """A reply, mention or quote notification as a notice; None for any other or a malformed
    one. The record's `reply.root` is the thread's root; a post starting a thread is its own."""
    reason = notification.get("reason")
    record = notification.get("record")
    author = notification.get("author")
    handle = short(author.get("handle"), MAX_AUTHOR) if isinstance(author, dict) else None
    uri = short(notification.get("uri"), MAX_PLATFORM_ID)
    cid = short(notification.get("cid"), MAX_PLATFORM_ID)
    if reason not in READ_REASONS or not isinstance(record, dict) or not (handle and uri and cid):
        return None
    text = record.get("text")
    at = parse_time(record.get("createdAt")) or parse_time(notification.get("indexedAt"))
    if not isinstance(text, str) or at is None:
        return None
    parent, root = _strong_ref(record, "parent"), _strong_ref(record, "root")
    answers = parent[0] if parent else None
    embed = record.get("embed")
    if reason == "quote" and isinstance(embed, dict):
        quoted = embed.get("record")
        if isinstance(quoted, dict) and isinstance(quoted.get("record"), dict):
            quoted = quoted["record"]  # app.bsky.embed.recordWithMedia
        answers = short(quoted.get("uri"), MAX_PLATFORM_ID) if isinstance(quoted, dict) else None
    root_uri, root_cid = root or (uri, cid)
    return Notice(
        platform_id=uri,
        kind=str(reason),
        author=f"@{handle}",
        text=text,
        at=at,
        url=f"https://bsky.app/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}",
        answers=answers,
        target={"uri": uri, "cid": cid, "root_uri": root_uri, "root_cid": root_cid},
    )


def _strong_ref(record: dict[str, Any], which: str) -> tuple[str, str] | None:
    """The (uri, cid) of a record's `reply.parent` or `reply.root`, when well formed."""
    reply = record.get("reply")
    ref = reply.get(which) if isinstance(reply, dict) else None
    if not isinstance(ref, dict):
        return None
    uri, cid = short(ref.get("uri"), MAX_PLATFORM_ID), short(ref.get("cid"), MAX_PLATFORM_ID)
    return (uri, cid) if uri and cid else None


def _error_name(response: Answer) -> str | None:
    """The XRPC error name of a failed call (`{"error": "ExpiredToken", "message": …}`)."""
    if response.is_success:
        return None
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None


def _did_from(response: Answer) -> str | None:
    body = json_body(response)
    did = body.get("did") if isinstance(body, dict) else None
    return did if isinstance(did, str) and did.startswith("did:") else None


def _session_from(response: Answer) -> dict[str, str]:
    body = json_body(response)
    keys = ("did", "accessJwt", "refreshJwt")
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in keys):
        raise PermanentPublishError("bluesky answered a session request without tokens")
    return {key: body[key] for key in keys}
