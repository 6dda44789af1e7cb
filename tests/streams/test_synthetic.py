"""SyntheticStream: seeded, drifting users whose latent truth the text reveals."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from alpharl.schema import EMOTIONS, INTENTS, TOPICS, Post
from alpharl.streams import StreamSource, SyntheticStream
from alpharl.streams.phrases import EMOTION_PHRASES, INTENT_TEMPLATES, TOPIC_NOUNS


@pytest.fixture(scope="module")
def posts() -> list[Post]:
    return list(SyntheticStream(n_users=100, n_posts=4000, seed=7))


def test_same_seed_gives_identical_posts() -> None:
    a = list(SyntheticStream(n_posts=300, seed=11))
    b = list(SyntheticStream(n_posts=300, seed=11))
    assert a == b


def test_iterating_again_and_reset_reproduce_the_posts() -> None:
    stream = SyntheticStream(n_posts=200, seed=1)
    first = list(stream)
    assert list(stream) == first
    stream.reset(seed=2)
    other = list(stream)
    assert other != first
    assert other == list(SyntheticStream(n_posts=200, seed=2))
    stream.reset()  # no seed: rewind with the current seed
    assert list(stream) == other
    assert stream.stats.yielded == 200
    assert stream.stats.read == 200
    assert stream.stats.dead_letters == 0


def test_different_seeds_differ() -> None:
    a = [p.text for p in SyntheticStream(n_posts=200, seed=0)]
    b = [p.text for p in SyntheticStream(n_posts=200, seed=1)]
    assert sum(x != y for x, y in zip(a, b, strict=True)) > 150


def test_is_a_stream_source() -> None:
    assert isinstance(SyntheticStream(n_posts=1), StreamSource)


def test_truth_annotations_present_and_in_range(posts: list[Post]) -> None:
    for p in posts:
        ann = p.annotations
        assert set(ann) == {"true_emotion", "true_intent", "true_topic", "true_valence"}
        assert ann["true_emotion"] in range(len(EMOTIONS))
        assert ann["true_intent"] in range(len(INTENTS))
        assert ann["true_topic"] in range(len(TOPICS))
        assert -1.0 <= ann["true_valence"] <= 1.0
    for key, labels in (
        ("true_emotion", EMOTIONS),
        ("true_intent", INTENTS),
        ("true_topic", TOPICS),
    ):
        seen = {int(p.annotations[key]) for p in posts}
        assert seen == set(range(len(labels))), key


def test_times_sorted_inside_the_window(posts: list[Post]) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    times = [p.created_at for p in posts]
    assert times == sorted(times)
    assert start <= times[0]
    assert times[-1] < start + timedelta(days=7)
    assert times[-1] - times[0] > timedelta(days=6)


def test_time_of_day_pattern_is_visible(posts: list[Post]) -> None:
    hours = Counter(p.created_at.hour for p in posts)
    evening = sum(hours[h] for h in range(18, 23))
    night = sum(hours[h] for h in range(2, 7))
    assert evening > 4 * night


def test_window_follows_start_and_days() -> None:
    stream = SyntheticStream(n_posts=500, start="2024-05-01T06:30:00Z", days=0.5)
    times = [p.created_at for p in stream]
    start = datetime(2024, 5, 1, 6, 30, tzinfo=UTC)
    assert start <= min(times)
    assert max(times) < start + timedelta(hours=12)


def test_users_post_several_times_with_skewed_rates(posts: list[Post]) -> None:
    per_user = Counter(p.author_id for p in posts)
    assert len(per_user) <= 100
    assert len(posts) / len(per_user) > 10
    counts = sorted(per_user.values(), reverse=True)
    assert counts[0] > 4 * np.median(counts)  # a few users post much more


def test_text_carries_the_latent_labels(posts: list[Post]) -> None:
    for p in posts:
        text = p.text.lower()
        emotion = EMOTIONS[int(p.annotations["true_emotion"])]
        topic = TOPICS[int(p.annotations["true_topic"])]
        assert any(ph.lower() in text for ph in EMOTION_PHRASES[emotion]), (emotion, p.text)
        assert any(noun in text for noun in TOPIC_NOUNS[topic]), (topic, p.text)
        intent = INTENTS[int(p.annotations["true_intent"])]
        if intent != "other":
            stems = [t.split("{")[0].strip().lower() for t in INTENT_TEMPLATES[intent]]
            stems = [s for s in stems if s] + [
                t.split("}")[-1].strip().lower() for t in INTENT_TEMPLATES[intent]
            ]
            assert any(s and s in text for s in stems), (intent, p.text)


def test_vader_recovers_valence(posts: list[Post]) -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    sample = posts[:1500]
    compound = np.array([analyzer.polarity_scores(p.text)["compound"] for p in sample])
    valence = np.array([p.annotations["true_valence"] for p in sample])
    emotion = np.array([int(p.annotations["true_emotion"]) for p in sample])
    assert np.corrcoef(compound, valence)[0, 1] > 0.75
    assert compound[emotion == EMOTIONS.index("joy")].mean() > 0.4
    assert compound[emotion == EMOTIONS.index("anger")].mean() < -0.4


def test_emotion_and_intent_are_linked(posts: list[Post]) -> None:
    emotion = np.array([int(p.annotations["true_emotion"]) for p in posts])
    intent = np.array([int(p.annotations["true_intent"]) for p in posts])
    complaint = INTENTS.index("complaint")
    angry = emotion == EMOTIONS.index("anger")
    joyful = emotion == EMOTIONS.index("joy")
    assert (intent[angry] == complaint).mean() > 3 * (intent[joyful] == complaint).mean()


def _drift_distance(drift: float) -> float:
    """Mean L1 distance between each user's emotion mix in the first and last third."""
    posts = list(SyntheticStream(n_users=10, n_posts=12000, days=14, drift=drift, seed=3))
    third = len(posts) // 3
    dists = []
    for user in {p.author_id for p in posts}:
        early = [int(p.annotations["true_emotion"]) for p in posts[:third] if p.author_id == user]
        late = [int(p.annotations["true_emotion"]) for p in posts[-third:] if p.author_id == user]
        if len(early) > 100 and len(late) > 100:
            a = np.bincount(early, minlength=7) / len(early)
            b = np.bincount(late, minlength=7) / len(late)
            dists.append(np.abs(a - b).sum())
    return float(np.mean(dists))


def test_dispositions_drift_only_when_asked() -> None:
    assert _drift_distance(0.3) > 2 * _drift_distance(0.0)


def test_brands_are_configurable() -> None:
    posts = list(SyntheticStream(n_posts=400, brands=["Foo Corp"], seed=5))
    texts = " ".join(p.text for p in posts)
    assert "Foo Corp" in texts
    assert "#FooCorp" in texts
    assert "Acme" not in texts
    assert any(p.text.startswith("@u") for p in posts)
    words = [w for p in posts for w in p.text.split()]
    assert any(w.isupper() and w.isalpha() and len(w) > 3 for w in words)  # some ALL CAPS


def test_engagement_counts_are_non_negative_ints(posts: list[Post]) -> None:
    likes = [p.like_count for p in posts]
    assert min(likes) >= 0
    assert max(likes) > 0
    assert all(isinstance(x, int) for x in likes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_users": 0}, "n_users: must be a positive integer"),
        ({"n_posts": -1}, "n_posts: must be a non-negative integer"),
        ({"days": 0}, "days: must be a positive number"),
        ({"drift": -0.1}, "drift: must be a non-negative number"),
        ({"start": "tomorrow"}, "start: is not an ISO-8601 timestamp"),
        ({"brands": []}, "brands: must be non-empty strings"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SyntheticStream(**kwargs)


def test_zero_posts() -> None:
    assert list(SyntheticStream(n_posts=0)) == []


def test_ids_unique(posts: list[Post]) -> None:
    ids = [p.id for p in posts]
    assert len(set(ids)) == len(ids)
    assert list(itertools.islice(ids, 2)) == ["syn7-0000000", "syn7-0000001"]
