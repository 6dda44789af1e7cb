"""XFilteredStream through tweepy's real StreamingClient against recorded filtered-stream answers.

The local server (`x_api_server`) answers the rules requests and streams the recorded lines
with chunked transfer encoding, closes one connection and drops another, so tweepy's own
reconnection runs for real.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from x_api_server import DROP, x_api_server

from alpharl.streams.x_api import TWEET_FIELDS
from alpharl.streams.x_filtered import XFilteredStream

TOKEN = "AAAAAAAAAAAAAAAAAAAAAfiltered-stream-token-42"
RULES = {"coffee lang:en": "coffee", "tea -is:retweet": "tea"}


def test_syncs_rules_streams_reconnects_and_dead_letters(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)
    script = [
        "stream_rules_get.json",
        "stream_rules_deleted.json",
        "stream_rules_added.json",
        "stream_part1_then_close.json",
        DROP,
        "stream_part2_then_hold.json",
    ]
    with x_api_server(script) as server:
        stream = XFilteredStream(
            RULES, api_url=server.url, max_posts=3, dead_letter=tmp_path / "dead.jsonl"
        )
        posts = list(stream)

    assert [p.id for p in posts] == [
        "1790001234567890101",
        "1790001234567890104",
        "1790001234567890105",
    ]
    assert (posts[0].author_id, posts[0].reply_count, posts[0].platform) == ("98765432", 1, "x")
    assert (posts[2].repost_count, posts[2].like_count) == (1, 2)

    reqs = server.requests
    rules_path, stream_path = "/2/tweets/search/stream/rules", "/2/tweets/search/stream"
    assert [(r.method, r.path) for r in reqs] == [
        ("GET", rules_path),
        ("POST", rules_path),
        ("POST", rules_path),
        ("GET", stream_path),
        ("GET", stream_path),
        ("GET", stream_path),
    ]
    assert reqs[1].body == {"delete": {"ids": ["1790001234567900102"]}}
    assert reqs[2].body == {"add": [{"value": "tea -is:retweet", "tag": "tea"}]}
    assert reqs[3].params == {"tweet.fields": ",".join(TWEET_FIELDS)}
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in reqs)
    assert (stream.rules_deleted, stream.rules_added) == (1, 1)

    assert (stream.stats.read, stream.stats.yielded, stream.stats.dead_letters) == (5, 3, 2)
    dead = [json.loads(x) for x in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert dead[0]["reason"].startswith("payload: is not valid JSON")
    assert dead[1]["reason"].startswith("author_id: is missing")
    assert "operational-disconnect" in caplog.text  # a system message: logged, not a post
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(stream)


def test_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="rules: must be a list of rule strings"):
        XFilteredStream("coffee")
    with pytest.raises(ValueError, match="rules: need at least one non-empty rule"):
        XFilteredStream([" "])
