"""Live posts from the X API v2 filtered stream, through tweepy's `StreamingClient`.

The filtered stream (``GET /2/tweets/search/stream``) pushes posts matching the app's
standing rules as they are posted; it needs an access level that includes it (recent search,
`alpharl.streams.x_api.XRecentSearchStream`, works on every level). `XFilteredStream` first
makes the app's rules equal to the configured ones (deleting others, adding missing ones),
then connects in a background thread. tweepy reconnects by itself, as X asks: immediately
after the server closes the stream, with linearly growing waits after network errors
(0.25 s steps up to 16 s) and exponential ones after HTTP errors (5 s doubling to 320 s;
from 60 s after a 429). Each payload goes through `alpharl.streams.records.coerce_row`;
malformed ones go to the dead-letter file with the reason.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from math import inf
from pathlib import Path
from typing import Any

from alpharl.schema import Post, RecordError
from alpharl.streams.base import DeadLetterWriter, StreamStats
from alpharl.streams.records import FieldMap, coerce_row, post_from_row
from alpharl.streams.x_api import (
    TWEEPY_HOST,
    TWEET_FIELDS,
    bearer_token,
    dead_letter_reason,
    prepare_tweepy_client,
    tweet_record,
)

log = logging.getLogger(__name__)

_END = object()  # the connection thread ended and every payload it read was taken


def _rules(rules: Sequence[str] | Mapping[str, str]) -> dict[str, str | None]:
    if isinstance(rules, str):
        raise ValueError("rules: must be a list of rule strings or {rule: tag}, not one string")
    out: dict[str, str | None] = (
        {str(k): (None if v is None else str(v)) for k, v in rules.items()}
        if isinstance(rules, Mapping)
        else {str(r): None for r in rules}
    )
    if not out or any(not r.strip() for r in out):
        raise ValueError(f"rules: need at least one non-empty rule (got {list(out)!r})")
    return out


class XFilteredStream:
    """Posts matching standing rules, pushed by the X API v2 filtered stream.

    Args:
        rules: Rule strings, or ``{rule: tag}``; the app's rules are made equal to these
            before connecting (other rules of the app are deleted when ``sync_rules``).
        bearer_token_env: Name of the environment variable holding the app's bearer token.
        sync_rules: Delete the app's rules that are not in ``rules``; False only adds.
        max_posts: Disconnect after yielding this many posts; None streams until closed.
        max_retries: HTTP error answers in a row after which tweepy gives up and iteration
            raises; None never gives up. (tweepy retries network errors without limit.)
        platform: Platform of the posts.
        dead_letter: Path of the dead-letter JSONL file (or a `DeadLetterWriter`).
        api_url: Where requests go (see `XRecentSearchStream`).
        timeout_s: Timeout of the rule requests (the stream itself uses tweepy's 21 s read
            timeout: X sends a keep-alive every 20 s).
        queue_size: Posts buffered between the connection thread and the iterator.
        name: Name of the source.

    Stats: ``read`` counts payloads, ``yielded`` posts, ``dead_letters`` rejected payloads.
    Posts come in arrival order, which is X's delivery order (about posting time).
    """

    def __init__(
        self,
        rules: Sequence[str] | Mapping[str, str],
        bearer_token_env: str = "X_BEARER_TOKEN",
        sync_rules: bool = True,
        max_posts: int | None = None,
        max_retries: int | None = None,
        platform: str = "x",
        dead_letter: str | Path | DeadLetterWriter | None = None,
        api_url: str = TWEEPY_HOST,
        timeout_s: float = 30.0,
        queue_size: int = 10_000,
        name: str = "x_filtered",
    ) -> None:
        self.rules = _rules(rules)
        if not isinstance(bearer_token_env, str) or not bearer_token_env:
            raise ValueError("bearer_token_env: must name an environment variable")
        if max_posts is not None and not (isinstance(max_posts, int) and max_posts > 0):
            raise ValueError(f"max_posts: must be a positive integer or None (got {max_posts!r})")
        if max_retries is not None and not (isinstance(max_retries, int) and max_retries >= 0):
            raise ValueError(
                f"max_retries: must be a non-negative integer or None (got {max_retries!r})"
            )
        self.bearer_token_env = bearer_token_env
        self.sync_rules = bool(sync_rules)
        self.max_posts = max_posts
        self.max_retries = max_retries
        self.fields = FieldMap.build(None, None, platform)
        self.dead_letter = DeadLetterWriter.of(dead_letter)
        self.api_url = api_url
        self.timeout_s = float(timeout_s)
        self.queue_size = int(queue_size)
        self.name = name
        self.stats = StreamStats()
        self.rules_added = 0
        self.rules_deleted = 0

    def __repr__(self) -> str:
        return (
            f"XFilteredStream(rules={list(self.rules)!r}, "
            f"bearer_token_env={self.bearer_token_env!r})"
        )

    def reset(self, seed: int | None = None) -> None:
        """Zero the stats (a live stream cannot be rewound; ``seed`` is unused)."""
        del seed
        self.stats = StreamStats()

    def _client(self, feed: queue.Queue[Any], ended: threading.Event) -> Any:
        import tweepy

        class _Client(tweepy.StreamingClient):
            def on_data(self, raw_data: bytes) -> None:
                while self.running:  # a full queue holds the stream back, until disconnect
                    try:
                        feed.put(raw_data, timeout=0.5)
                        return
                    except queue.Full:
                        continue

            def on_disconnect(self) -> None:
                ended.set()

        token = bearer_token(self.bearer_token_env)
        retries = inf if self.max_retries is None else self.max_retries
        client = _Client(
            token, return_type=dict, wait_on_rate_limit=True, max_retries=retries, daemon=True
        )
        return prepare_tweepy_client(client, token, self.api_url, self.timeout_s)

    def _sync(self, client: Any) -> None:
        import tweepy

        have = client.get_rules().get("data") or []
        stale = [r["id"] for r in have if r.get("value") not in self.rules]
        if stale and self.sync_rules:
            client.delete_rules(stale)
            self.rules_deleted += len(stale)
        present = {r.get("value") for r in have}
        missing = [tweepy.StreamRule(v, t) for v, t in self.rules.items() if v not in present]
        if missing:
            answer = client.add_rules(missing)
            errors = answer.get("errors") or []
            if errors:
                raise ValueError(f"{self.name}: the X API refused rules: {errors}")
            self.rules_added += len(missing)

    def _parse(self, raw: bytes) -> Post | None:
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, or nested too deeply to parse
            payload = None
        if isinstance(payload, dict) and "data" not in payload and "errors" in payload:
            # a system message (e.g. operational-disconnect), not a post
            log.warning("%s: the X API reported: %s", self.name, payload["errors"])
            return None
        self.stats.read += 1
        position = {"payload": self.stats.read}
        try:
            if payload is None:
                raise RecordError("payload", raw[:80], "is not valid JSON")
            if not isinstance(payload, dict) or "data" not in payload:
                raise RecordError("data", payload, "is missing")
            row = coerce_row(tweet_record(payload["data"]), self.fields, text_cells=False)
            return post_from_row(row)
        except (RecordError, OverflowError, RecursionError) as exc:
            reason = dead_letter_reason(exc)
            self.stats.dead(reason)
            self.dead_letter.write(self.name, position, reason, raw)
            return None

    def __iter__(self) -> Iterator[Post]:
        feed: queue.Queue[Any] = queue.Queue(self.queue_size)
        ended = threading.Event()
        client = self._client(feed, ended)
        self._sync(client)
        thread: threading.Thread = client.filter(tweet_fields=list(TWEET_FIELDS), threaded=True)
        try:
            while True:
                try:
                    item = feed.get(timeout=0.5)
                except queue.Empty:
                    item = _END if ended.is_set() else None
                if item is None:
                    continue
                if item is _END:  # tweepy gave up (max_retries) or hit an unexpected error
                    raise ConnectionError(
                        f"{self.name}: the filtered stream stopped (max_retries="
                        f"{self.max_retries}); tweepy's log says why"
                    )
                post = self._parse(item)
                if post is None:
                    continue
                self.stats.yielded += 1
                yield post
                if self.max_posts is not None and self.stats.yielded >= self.max_posts:
                    return
        finally:
            client.disconnect()  # the thread ends at the next line or keep-alive
            thread.join(1.0)
