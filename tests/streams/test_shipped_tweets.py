"""The shipped Hutto & Gilbert (2014) tweets and the script that derives them."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from alpharl.schema import Post
from alpharl.streams import TWEETS_PATH, ReplayStream, shipped_tweets
from alpharl.streams.tweets import N_AUTHORS, N_TWEETS, WINDOW_END, WINDOW_START

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SHA256 = "fbf03ad980f90f8ebcf41781a657da78eebdb4bcabb50072dd9c9c76225fbbe1"
SOURCES = [
    # `make setup` downloads the sdist here (pip download, into the venv the tests run in)
    Path(sys.prefix) / "sdist" / "vaderSentiment-3.3.2.tar.gz",
    ROOT / ".venv" / "sdist" / "vaderSentiment-3.3.2.tar.gz",
    Path("/tmp/vs/vaderSentiment-3.3.2.tar.gz"),
    Path(
        "/tmp/vs/vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014/tweets_GroundTruth.txt"
    ),
]


@pytest.fixture(scope="module")
def tweets() -> tuple[ReplayStream, list[Post]]:
    stream = shipped_tweets()
    posts = list(stream)
    return stream, posts


@pytest.fixture(scope="module")
def build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_tweets", ROOT / "experiments" / "data" / "build_tweets.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_file_is_shipped_inside_the_package() -> None:
    assert TWEETS_PATH.is_file()
    assert TWEETS_PATH.parent == ROOT / "alpharl" / "data"
    assert TWEETS_PATH.stat().st_size < 1_000_000
    assert hashlib.sha256(TWEETS_PATH.read_bytes()).hexdigest() == SHIPPED_SHA256
    assert (TWEETS_PATH.parent / "LICENSE-hutto2014.txt").read_text().startswith("The MIT")


def test_exactly_the_4200_tweets_without_dead_letters(
    tweets: tuple[ReplayStream, list[Post]],
) -> None:
    stream, posts = tweets
    assert len(posts) == N_TWEETS == 4200
    assert stream.stats.dead_letters == 0
    assert stream.stats.read == 4200
    assert len({p.id for p in posts}) == 4200
    assert {int(p.id) for p in posts} == set(range(1, 4201))


def test_every_tweet_has_its_human_rating(tweets: tuple[ReplayStream, list[Post]]) -> None:
    _, posts = tweets
    ratings = {p.id: p.annotations["human_sentiment"] for p in posts}
    assert all(-4.0 <= r <= 4.0 for r in ratings.values())
    assert ratings["1"] == pytest.approx(2.726315789)  # first line of the source
    assert ratings["5"] == pytest.approx(-2.154639175)


def test_html_entities_are_unescaped(tweets: tuple[ReplayStream, list[Post]]) -> None:
    _, posts = tweets
    by_id = {p.id: p.text for p in posts}
    assert by_id["3"].startswith("We were 17 deep last night & the love")
    assert not any("&amp;" in p.text or "&lt;" in p.text for p in posts)
    assert "£1000" in by_id["1241"]


def test_users_post_several_times(tweets: tuple[ReplayStream, list[Post]]) -> None:
    _, posts = tweets
    per_user = Counter(p.author_id for p in posts)
    assert 500 <= len(per_user) <= N_AUTHORS
    assert len(posts) / len(per_user) >= 5
    assert max(per_user.values()) > 100  # Zipf-like: a few heavy posters


def test_times_inside_the_window_with_a_daily_rhythm(
    tweets: tuple[ReplayStream, list[Post]],
) -> None:
    _, posts = tweets
    times = [p.created_at for p in posts]
    assert times == sorted(times)
    assert all(WINDOW_START <= t < WINDOW_END for t in times)
    hours = Counter(t.hour for t in times)
    assert sum(hours[h] for h in range(18, 23)) > 3 * sum(hours[h] for h in range(2, 7))
    assert len({t.date() for t in times}) == 14


def test_deterministic(tweets: tuple[ReplayStream, list[Post]]) -> None:
    _, posts = tweets
    assert list(shipped_tweets()) == posts


def test_replay_kwargs_pass_through() -> None:
    stream = shipped_tweets(start="2024-03-02", end="2024-03-03", name="day2")
    assert isinstance(stream, ReplayStream)
    assert stream.name == "day2"
    posts = list(stream)
    assert 150 < len(posts) < 500
    assert {p.created_at.day for p in posts} == {2}


def test_assignment_rule_is_a_pure_function_of_the_id(build_script: ModuleType) -> None:
    author, when = build_script.assign(578)
    assert (author, when) == build_script.assign(578)
    assert author.startswith("u")
    assert when.endswith("Z")
    (first, *_) = TWEETS_PATH.read_text(encoding="utf-8").splitlines()
    assert f'"author_id":"{author}"' in first
    assert f'"created_at":"{when}"' in first


def test_parse_unescapes_and_checks_fields(build_script: ModuleType) -> None:
    rows = build_script.parse(b"7\t-1.5\tfish &amp; chips &lt;3\r\n8\t0.2\tok")
    assert rows == [(7, -1.5, "fish & chips <3"), (8, 0.2, "ok")]
    with pytest.raises(ValueError, match="line 1: expected 3 tab-separated fields"):
        build_script.parse(b"7\tno text\r\n")


@pytest.mark.skipif(
    not any(p.exists() for p in SOURCES), reason="VADER sdist not downloaded (make setup)"
)
def test_build_script_reproduces_the_file_byte_for_byte(build_script: ModuleType) -> None:
    source = next(p for p in SOURCES if p.exists())
    rebuilt = build_script.build(build_script.read_source(source))
    assert rebuilt == TWEETS_PATH.read_bytes()
