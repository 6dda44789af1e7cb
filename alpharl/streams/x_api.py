"""Live posts from the X API v2 recent-search endpoint, through tweepy.

`XRecentSearchStream` polls ``GET /2/tweets/search/recent`` with ``since_id``: each poll
pages through ``next_token`` until the newest posts since the last poll are all read,
yields them oldest first, and moves ``since_id`` to the poll's ``meta.newest_id``. Every
payload item goes through `alpharl.streams.records.coerce_row`, the one definition of a
valid record; an item that fails it goes to the dead-letter file with the reason.

Rate limits are respected from the ``x-rate-limit-*`` headers: a 429 waits until
``x-rate-limit-reset``, and a response whose ``x-rate-limit-remaining`` is 0 makes the next
request wait for the reset as well. Connection errors, timeouts and 5xx answers are retried
with exponential backoff. The bearer token is read from an environment variable when
iteration starts; it is never stored in the config, never part of ``repr``, and redacted
from tweepy's own debug log (which prints request headers).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from alpharl.schema import Post, RecordError
from alpharl.streams.base import DeadLetterWriter, StreamStats
from alpharl.streams.records import FieldMap, coerce_row, post_from_row

log = logging.getLogger(__name__)

TWEEPY_HOST = "https://api.twitter.com"
"""The host tweepy's `Client` sends every request to."""

TWEET_FIELDS: tuple[str, ...] = ("created_at", "author_id", "public_metrics", "lang")
"""Tweet fields requested with every search: what a `Post` is built from."""

_METRICS = {  # Post field -> public_metrics key
    "like_count": "like_count",
    "reply_count": "reply_count",
    "repost_count": "retweet_count",
    "quote_count": "quote_count",
}


def tweet_record(item: Any) -> dict[str, Any]:
    """Flatten one X API v2 tweet object into a raw record for `coerce_row`.

    Raises:
        RecordError: when the item is not an object or ``public_metrics`` is not one.
    """
    if not isinstance(item, Mapping):
        raise RecordError("data[]", item, "must be a tweet object")
    rec: dict[str, Any] = {
        k: item.get(k) for k in ("id", "created_at", "author_id", "text", "lang")
    }
    metrics = item.get("public_metrics")
    if metrics is not None and not isinstance(metrics, Mapping):
        raise RecordError("public_metrics", metrics, "must be an object")
    for field_name, key in _METRICS.items():
        rec[field_name] = (metrics or {}).get(key)
    return rec


def dead_letter_reason(exc: BaseException) -> str:
    """A dead letter's reason for what validating an item raised."""
    if isinstance(exc, RecursionError):
        return "data[]: is nested too deeply"
    if isinstance(exc, OverflowError):
        return f"created_at: is out of range ({exc})"
    return str(exc)


class _Redact(logging.Filter):
    """Replaces the bearer token in tweepy's log records (its debug log prints headers)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg = message.replace(self.secret, "***")
            record.args = ()
        return True


class _Transport(HTTPAdapter):
    """Gives every request a timeout and, optionally, sends tweepy's host somewhere else.

    tweepy's `Client` hard-codes ``https://api.twitter.com`` and sets no timeout; this
    adapter, mounted on the client's session for that host, fixes both without touching
    tweepy: ``api_url`` can be ``https://api.x.com``, a proxy, or a local test server.
    """

    def __init__(self, api_url: str, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s
        parts = urlsplit(api_url)
        self._scheme, self._netloc = parts.scheme, parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._rebase = api_url.rstrip("/") != TWEEPY_HOST

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if self._rebase and request.url:
            p = urlsplit(request.url)
            request.url = urlunsplit(
                (self._scheme, self._netloc, self._prefix + p.path, p.query, p.fragment)
            )
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        return super().send(request, **kwargs)


def bearer_token(env: str) -> str:
    """The bearer token from environment variable ``env``.

    Raises:
        RuntimeError: naming the variable (never a value) when it is unset or empty.
    """
    token = os.environ.get(env)
    if not token:
        raise RuntimeError(
            f"{env}: environment variable is not set; export your X API bearer token there "
            "(it is never read from a config file)"
        )
    return token


def prepare_tweepy_client(client: Any, token: str, api_url: str, timeout_s: float) -> Any:
    """Route a tweepy client's requests through `_Transport` and redact its token from logs.

    Works for `tweepy.Client` and `tweepy.StreamingClient` (both send everything through
    ``client.session``). Returns the client.
    """
    client.session.mount(TWEEPY_HOST, _Transport(api_url, timeout_s))
    for name in ("tweepy.client", "tweepy.streaming"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Redact) and f.secret == token for f in logger.filters):
            logger.addFilter(_Redact(token))
    return client


class XRecentSearchStream:
    """Posts matching a query, polled from X API v2 recent search with ``since_id``.

    Args:
        query: The search query (X's search syntax, e.g. ``"(coffee OR tea) lang:en -is:retweet"``).
        bearer_token_env: Name of the environment variable holding the app's bearer token.
        poll_interval_s: Seconds between the start of one poll and the next.
        max_results: Posts per page, 10 to 100.
        since_id: Start after this post id; None starts from the newest posts of the last
            seven days (as far as ``max_posts`` allows).
        max_polls: Stop after this many polls; None polls forever.
        max_posts: Stop after yielding this many posts; None has no limit.
        platform: Platform of the posts.
        dead_letter: Path of the dead-letter JSONL file (or a `DeadLetterWriter`).
        api_url: Where requests go; tweepy's default host unless you route them elsewhere
            (``https://api.x.com``, a proxy, a local test server).
        timeout_s: Timeout of each HTTP request.
        backoff_initial_s: First wait after a connection error, timeout or 5xx answer;
            doubled after each further failure in a row.
        backoff_max_s: Longest such wait.
        max_retries: Consecutive failures after which iteration raises; None retries
            forever.
        name: Name of the source.
        clock: Wall clock in epoch seconds (default `time.time`), for rate-limit resets.
        sleep: Sleeps for a number of seconds (default `time.sleep`).

    Stats: ``read`` counts payload items, ``yielded`` the posts handed out and
    ``dead_letters`` the items rejected. ``polls``, ``requests``, ``rate_limited`` and
    ``retries`` count what the API exchange needed; ``since_id`` is where the next poll
    starts.
    """

    def __init__(
        self,
        query: str,
        bearer_token_env: str = "X_BEARER_TOKEN",
        poll_interval_s: float = 15.0,
        max_results: int = 100,
        since_id: str | int | None = None,
        max_polls: int | None = None,
        max_posts: int | None = None,
        platform: str = "x",
        dead_letter: str | Path | DeadLetterWriter | None = None,
        api_url: str = TWEEPY_HOST,
        timeout_s: float = 30.0,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 300.0,
        max_retries: int | None = None,
        name: str = "x_recent",
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"query: must be a non-empty string (got {query!r})")
        if not isinstance(bearer_token_env, str) or not bearer_token_env:
            raise ValueError("bearer_token_env: must name an environment variable")
        if not (isinstance(max_results, int) and 10 <= max_results <= 100):
            raise ValueError(
                f"max_results: must be an integer from 10 to 100 (got {max_results!r})"
            )
        for key, value in (("poll_interval_s", poll_interval_s), ("timeout_s", timeout_s)):
            if not (isinstance(value, int | float) and value > 0):
                raise ValueError(f"{key}: must be a positive number (got {value!r})")
        if not (0 < backoff_initial_s <= backoff_max_s):
            raise ValueError(
                "backoff_initial_s, backoff_max_s: need 0 < initial <= max "
                f"(got {backoff_initial_s!r}, {backoff_max_s!r})"
            )
        for key, limit in (("max_polls", max_polls), ("max_posts", max_posts)):
            if limit is not None and not (isinstance(limit, int) and limit > 0):
                raise ValueError(f"{key}: must be a positive integer or None (got {limit!r})")
        if max_retries is not None and not (isinstance(max_retries, int) and max_retries >= 0):
            raise ValueError(
                f"max_retries: must be a non-negative integer or None (got {max_retries!r})"
            )
        if urlsplit(api_url).scheme not in ("http", "https"):
            raise ValueError(f"api_url: must be an http(s) URL (got {api_url!r})")
        self.query = query
        self.bearer_token_env = bearer_token_env
        self.poll_interval_s = float(poll_interval_s)
        self.max_results = max_results
        self.initial_since_id = None if since_id is None else str(since_id)
        self.max_polls = max_polls
        self.max_posts = max_posts
        self.fields = FieldMap.build(None, None, platform)
        self.dead_letter = DeadLetterWriter.of(dead_letter)
        self.api_url = api_url
        self.timeout_s = float(timeout_s)
        self.backoff_initial_s = float(backoff_initial_s)
        self.backoff_max_s = float(backoff_max_s)
        self.max_retries = max_retries
        self.name = name
        self._clock = clock or time.time
        self._sleep = sleep or time.sleep
        self.reset()

    def __repr__(self) -> str:
        return (
            f"XRecentSearchStream(query={self.query!r}, "
            f"bearer_token_env={self.bearer_token_env!r}, since_id={self.since_id!r})"
        )

    def reset(self, seed: int | None = None) -> None:
        """Start again from the initial ``since_id`` and zero the stats (``seed`` is unused)."""
        del seed
        self.stats = StreamStats()
        self.since_id = self.initial_since_id
        self.polls = 0
        self.requests = 0
        self.rate_limited = 0
        self.retries = 0
        self._not_before = 0.0  # epoch seconds before which no request may start

    # ------------------------------------------------------------------ client

    def _client(self) -> Any:
        import tweepy

        token = bearer_token(self.bearer_token_env)
        client = tweepy.Client(
            bearer_token=token, return_type=requests.Response, wait_on_rate_limit=False
        )
        return prepare_tweepy_client(client, token, self.api_url, self.timeout_s)

    # ------------------------------------------------------------------ requests

    def _wait_until(self, when: float) -> None:
        delay = when - self._clock()
        if delay > 0:
            self._sleep(delay)

    def _reset_time(self, headers: Mapping[str, str]) -> float | None:
        try:
            return float(headers["x-rate-limit-reset"])
        except (KeyError, TypeError, ValueError):
            return None

    def _request(self, client: Any, params: dict[str, Any]) -> dict[str, Any]:
        """One search request's JSON document, retried through rate limits and failures."""
        import tweepy

        failures = 0
        while True:
            self._wait_until(self._not_before)
            self.requests += 1
            try:
                resp = client.search_recent_tweets(self.query, **params)
            except tweepy.TooManyRequests as exc:
                self.rate_limited += 1
                reset = self._reset_time(exc.response.headers)
                wait_to = (reset + 1.0) if reset is not None else self._clock() + 60.0
                log.warning(
                    "%s: rate limited (429); waiting %.0f s for the reset",
                    self.name,
                    max(0.0, wait_to - self._clock()),
                )
                self._not_before = wait_to
                continue
            except (tweepy.Unauthorized, tweepy.Forbidden) as exc:
                raise RuntimeError(
                    f"{self.name}: the X API refused the bearer token from "
                    f"{self.bearer_token_env} ({exc.response.status_code}: {exc})"
                ) from None
            except tweepy.BadRequest as exc:
                raise ValueError(f"{self.name}: the X API rejected the request: {exc}") from None
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                tweepy.TwitterServerError,
            ) as exc:
                failures += 1
                self._retry(failures, exc)
                continue
            headers = resp.headers
            if headers.get("x-rate-limit-remaining") == "0":
                reset = self._reset_time(headers)
                if reset is not None:
                    self._not_before = reset + 1.0
            try:
                body = resp.json()
            except (ValueError, RecursionError):  # not JSON, or nested too deeply to parse
                body = None
            if not isinstance(body, dict):
                self.dead_letter.write(
                    self.name, {"request": self.requests}, "payload: not a JSON object", resp.text
                )
                failures += 1
                self._retry(failures, ValueError("payload is not a JSON object"))
                continue
            return body

    def _retry(self, failures: int, exc: BaseException) -> None:
        self.retries += 1
        if self.max_retries is not None and failures > self.max_retries:
            raise ConnectionError(
                f"{self.name}: giving up after {failures} failed requests in a row: {exc}"
            ) from exc
        wait = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (failures - 1))
        log.warning("%s: %s; retrying in %.1f s", self.name, type(exc).__name__, wait)
        self._sleep(wait)

    # ------------------------------------------------------------------ polling

    def _parse(self, item: Any, position: dict[str, Any]) -> Post | None:
        self.stats.read += 1
        try:
            row = coerce_row(tweet_record(item), self.fields, text_cells=False)
            return post_from_row(row)
        except (RecordError, OverflowError, RecursionError) as exc:
            reason = dead_letter_reason(exc)
            self.stats.dead(reason)
            self.dead_letter.write(self.name, position, reason, item)
            log.debug("%s: dead letter at %s: %s", self.name, position, exc)
            return None

    def poll(self, client: Any | None = None) -> list[Post]:
        """Read every page of posts newer than ``since_id``, oldest first; advance ``since_id``."""
        client = client or self._client()
        self.polls += 1
        posts: list[Post] = []
        newest: str | None = None
        next_token: str | None = None
        page_no = 0
        while True:
            params: dict[str, Any] = {
                "max_results": self.max_results,
                "tweet_fields": list(TWEET_FIELDS),
            }
            if self.since_id is not None:
                params["since_id"] = self.since_id
            if next_token is not None:
                params["next_token"] = next_token
            body = self._request(client, params)
            page_no += 1
            raw_meta = body.get("meta")
            meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
            if newest is None and meta.get("newest_id") is not None:
                newest = str(meta["newest_id"])
            for err in body.get("errors") or ():
                log.warning("%s: the X API reported a partial error: %s", self.name, err)
            data = body.get("data") or []
            if not isinstance(data, list):
                self.stats.read += 1
                self.stats.dead("data: must be a list")
                self.dead_letter.write(
                    self.name, {"poll": self.polls, "page": page_no}, "data: must be a list", data
                )
                data = []
            for i, item in enumerate(data):
                post = self._parse(item, {"poll": self.polls, "page": page_no, "index": i})
                if post is not None:
                    posts.append(post)
            next_token = meta.get("next_token")
            if not next_token:
                break
        if newest is not None:
            self.since_id = newest
        posts.sort(key=lambda p: (p.created_at, len(p.id), p.id))
        return posts

    def __iter__(self) -> Iterator[Post]:
        client = self._client()
        started = self._clock()
        while self.max_polls is None or self.polls < self.max_polls:
            if self.polls:
                self._wait_until(started + self.poll_interval_s)
            started = self._clock()
            for post in self.poll(client):
                self.stats.yielded += 1
                yield post
                if self.max_posts is not None and self.stats.yielded >= self.max_posts:
                    return
