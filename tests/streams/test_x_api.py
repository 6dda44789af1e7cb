"""XRecentSearchStream through the real tweepy client against recorded X API v2 answers.

The answers are served over HTTP by a local server (`x_api_server`); tweepy, requests and
the stream's own paging, rate-limit, backoff and validation code all run for real. Only the
clock and sleep are injected, so a 15-minute rate-limit reset takes no time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from x_api_server import DROP, x_api_server

from alpharl.streams.x_api import TWEET_FIELDS, XRecentSearchStream

TOKEN = "AAAAAAAAAAAAAAAAAAAAAtest-bearer-token-0123456789"
RESET_1 = 1715594700  # x-rate-limit-reset of the 429 answer
RESET_2 = 1715595600  # x-rate-limit-reset of the answer with x-rate-limit-remaining: 0


class FakeTime:
    """A wall clock that only moves when slept on; records each sleep."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    return TOKEN


def _stream(url: str, t: FakeTime, tmp_path: Path, **kwargs: object) -> XRecentSearchStream:
    return XRecentSearchStream(
        "(headphones OR coffee) -is:retweet",
        api_url=url,
        dead_letter=tmp_path / "dead.jsonl",
        clock=t.clock,
        sleep=t.sleep,
        **kwargs,  # type: ignore[arg-type]
    )


def test_polls_with_since_id_pages_respects_rate_limits_and_dead_letters(
    token: str, tmp_path: Path
) -> None:
    script = [
        "search_page1.json",
        "search_page2_malformed.json",
        "rate_limited_429.json",
        "search_poll2_last_in_window.json",
        "search_empty.json",
    ]
    t = FakeTime(RESET_1 - 100.0)
    with x_api_server(script) as server:
        stream = _stream(server.url, t, tmp_path, max_polls=3, poll_interval_s=15)
        posts = list(stream)

    # poll 1: two pages (next_token), no since_id; the posts come out oldest first
    assert [p.id for p in posts] == [
        "1790001234567889999",
        "1790001234567890002",
        "1790001234567890003",
        "1790001234567890004",
        "1790001234567890005",
        "1790001234567890009",
    ]
    times = [p.created_at for p in posts]
    assert times == sorted(times)
    first = posts[4]
    assert first.created_at == datetime(2024, 5, 13, 9, 59, 41, tzinfo=UTC)
    assert (first.platform, first.author_id, first.lang) == ("x", "1452260271112421377", "en")
    assert (first.like_count, first.reply_count, first.repost_count, first.quote_count) == (
        17,
        1,
        2,
        0,
    )
    assert posts[2].lang == "es"
    assert posts[0].lang == "en"  # no lang in the payload: the Post default

    reqs = server.requests
    assert [r.path for r in reqs] == ["/2/tweets/search/recent"] * 5
    assert all(r.headers["Authorization"] == f"Bearer {token}" for r in reqs)
    assert reqs[0].params == {
        "query": "(headphones OR coffee) -is:retweet",
        "max_results": "100",
        "tweet.fields": ",".join(TWEET_FIELDS),
    }
    assert reqs[1].params["next_token"] == "b26v89c19zqg8o3fo7gesq314yb9l2l4ptqy8qvjxqnlp"
    assert "since_id" not in reqs[1].params
    # poll 2 starts after poll 1's newest id; the 429 is retried with the same since_id
    assert reqs[2].params["since_id"] == "1790001234567890005"
    assert reqs[3].params["since_id"] == "1790001234567890005"
    assert "next_token" not in reqs[3].params
    assert reqs[4].params["since_id"] == "1790001234567890009"
    assert stream.since_id == "1790001234567890009"  # an empty poll keeps it

    # the 429 waited until one second past x-rate-limit-reset; the answer with
    # remaining 0 made poll 3 wait for its reset instead of the 15 s poll interval
    assert t.sleeps[0] == pytest.approx(15.0)  # poll interval before poll 2
    assert t.sleeps[1] == pytest.approx(RESET_1 + 1 - (RESET_1 - 85.0))
    assert t.now == pytest.approx(RESET_2 + 1)
    assert (stream.polls, stream.requests, stream.rate_limited, stream.retries) == (3, 5, 1, 0)

    # malformed items: dead-lettered with the reason, counted, nothing else lost
    assert (stream.stats.read, stream.stats.yielded, stream.stats.dead_letters) == (8, 6, 2)
    dead = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert [d["raw"]["id"] for d in dead] == ["1790001234567890001", "1790001234567890000"]
    assert dead[0]["reason"].startswith("created_at: is not an ISO-8601 timestamp")
    assert "'yesterday at noon'" in dead[0]["reason"]
    assert dead[1]["reason"].startswith("public_metrics: must be an object")
    assert dead[0]["source"] == "x_recent"
    assert dead[0]["position"] == {"poll": 1, "page": 2, "index": 1}
    assert stream.stats.reasons == {"created_at": 1, "public_metrics": 1}


def test_reset_starts_again_from_the_initial_since_id(token: str, tmp_path: Path) -> None:
    t = FakeTime(RESET_1)
    with x_api_server(["search_empty.json", "search_empty.json"]) as server:
        stream = _stream(server.url, t, tmp_path, max_polls=1, since_id=1790001234567890000)
        assert list(stream) == []
        stream.since_id = "999"
        stream.reset()
        assert list(stream) == []
    assert [r.params["since_id"] for r in server.requests] == ["1790001234567890000"] * 2


def test_max_posts_stops_iteration(token: str, tmp_path: Path) -> None:
    t = FakeTime(RESET_1)
    with x_api_server(["search_page1.json", "search_page2_malformed.json"]) as server:
        posts = list(_stream(server.url, t, tmp_path, max_posts=2))
    assert [p.id for p in posts] == ["1790001234567889999", "1790001234567890002"]


def test_reconnects_with_exponential_backoff(token: str, tmp_path: Path) -> None:
    script = [
        DROP,
        "server_error_503.json",
        "payload_not_object.json",
        DROP,
        "search_poll2_last_in_window.json",
    ]
    t = FakeTime(RESET_2 + 10.0)
    with x_api_server(script) as server:
        stream = _stream(
            server.url, t, tmp_path, max_polls=1, backoff_initial_s=0.5, backoff_max_s=3.0
        )
        posts = list(stream)
    assert [p.id for p in posts] == ["1790001234567890009"]
    assert t.sleeps == [0.5, 1.0, 2.0, 3.0]  # doubling, capped at backoff_max_s
    assert (stream.requests, stream.retries) == (5, 4)
    dead = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert [d["reason"] for d in dead] == ["payload: not a JSON object"]
    assert "a proxy answered with a list" in dead[0]["raw"]


def test_gives_up_after_max_retries_with_a_clear_error(token: str, tmp_path: Path) -> None:
    t = FakeTime(RESET_1)
    with x_api_server([DROP, DROP]) as server:
        stream = _stream(server.url, t, tmp_path, max_polls=1, max_retries=1)
        with pytest.raises(ConnectionError, match="giving up after 2 failed requests"):
            list(stream)
    assert t.sleeps == [1.0]


def test_token_only_from_the_environment_and_never_shown(
    token: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    t = FakeTime(RESET_1)
    caplog.set_level(logging.DEBUG)
    with x_api_server(["search_page1.json", "search_page2_malformed.json", DROP]) as server:
        stream = _stream(server.url, t, tmp_path, max_polls=1)
        list(stream)
    assert token not in repr(stream)
    assert "X_BEARER_TOKEN" in repr(stream)
    assert token not in str(vars(stream))
    # tweepy's debug log prints request headers: the token is redacted from it
    tweepy_records = [r for r in caplog.records if r.name == "tweepy.client"]
    assert any("Bearer ***" in r.getMessage() for r in tweepy_records)
    assert all(token not in r.getMessage() for r in caplog.records)
    assert token not in caplog.text
    assert token not in (tmp_path / "dead.jsonl").read_text()


def test_missing_token_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MY_X_TOKEN", raising=False)
    stream = XRecentSearchStream("coffee", bearer_token_env="MY_X_TOKEN")
    with pytest.raises(RuntimeError, match="MY_X_TOKEN: environment variable is not set"):
        next(iter(stream))


def test_refused_token_is_an_error_without_the_token(token: str, tmp_path: Path) -> None:
    t = FakeTime(RESET_1)
    with x_api_server(["unauthorized_401.json"]) as server:
        stream = _stream(server.url, t, tmp_path, max_polls=1)
        with pytest.raises(RuntimeError, match="refused the bearer token from X_BEARER_TOKEN") as e:
            list(stream)
    assert token not in str(e.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": " "}, "query: must be a non-empty string"),
        ({"max_results": 500}, "max_results: must be an integer from 10 to 100"),
        ({"poll_interval_s": 0}, "poll_interval_s: must be a positive number"),
        ({"max_polls": 0}, "max_polls: must be a positive integer or None"),
        ({"api_url": "ftp://example"}, "api_url: must be an http"),
        ({"backoff_initial_s": 5.0, "backoff_max_s": 1.0}, "backoff_initial_s, backoff_max_s"),
    ],
)
def test_bad_arguments_name_the_key(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"query": "coffee", **kwargs}
    with pytest.raises(ValueError, match=message):
        XRecentSearchStream(**args)  # type: ignore[arg-type]


def test_config_composes_without_a_token(token: str, compose_task: Callable[..., Any]) -> None:
    from hydra.utils import instantiate

    from alpharl.config import check_targets

    cfg = compose_task("enrich", ["stream=x_recent", "stream.query=coffee lang:en"], small=False)
    check_targets(cfg.stream)
    assert token not in str(cfg)
    stream = instantiate(cfg.stream, _convert_="all")
    assert isinstance(stream, XRecentSearchStream)
    assert (stream.query, stream.bearer_token_env, stream.max_posts) == (
        "coffee lang:en",
        "X_BEARER_TOKEN",
        1000,
    )
