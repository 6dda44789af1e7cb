"""The logistic click model against hand-computed logits, and the fatigue counter."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alpharl.schema import EMOTIONS, INTENTS, TOPICS, Creative
from envs.click_models import (
    AFFINITY_PRIOR,
    ClickContext,
    FatigueCounter,
    LogisticClickModel,
    sigmoid,
)

JOY_PLAYFUL_TECH = Creative("a", "A", "playful", "joy", "tech", 0.02)
ANGER_CALM_FINANCE = Creative("b", "B", "calm", "anger", "finance", 0.02)


def onehot(labels: tuple[str, ...], label: str) -> np.ndarray:
    out = np.zeros(len(labels))
    out[labels.index(label)] = 1.0
    return out


def test_logits_by_hand() -> None:
    model = LogisticClickModel(
        congruence=1.5,
        base_rate_logit_mean=-3.0,
        base_rate_logit_std=0.0,
        affinity_noise=0.0,
        intent_weight=2.0,
        topic_weight=0.5,
        fatigue_weight=0.5,
        time_of_day_amplitude=0.3,
        peak_hour=20.0,
        post_mix=0.5,
        creatives=[JOY_PLAYFUL_TECH, ANGER_CALM_FINANCE],
    )
    ctx = ClickContext.single(
        profile_emotions=onehot(EMOTIONS, "anger"),
        post_emotions=onehot(EMOTIONS, "joy"),
        profile_intents=onehot(INTENTS, "purchase"),
        post_intents=onehot(INTENTS, "research"),
        topic="tech",
        hour=20.0,
    )
    # Emotion mix: 0.5 anger + 0.5 joy. Intent mix: 0.5 purchase (+1) + 0.5 research (+0.4).
    # Creative a (joy, playful): v_anger = 0 - 1.2, v_joy = 2 + 0.3 -> e.v = 0.55.
    # Creative b (anger, calm): v_anger = 2 + 0.4, v_joy = 0 -> e.v = 1.2.
    intent = 2.0 * (0.5 * 1.0 + 0.5 * 0.4)
    logit_a = -3.0 + 1.5 * 0.55 + intent + 0.5 + 0.3 * math.cos(0.0) - 0.5 * 2.0
    logit_b = -3.0 + 1.5 * 1.2 + intent + 0.0 + 0.3 - 0.5 * 0.0
    probs = model.click_probs(ctx, fatigue=np.array([2.0, 0.0]))
    np.testing.assert_allclose(probs, [1 / (1 + math.exp(-logit_a)), 1 / (1 + math.exp(-logit_b))])
    np.testing.assert_allclose(model.static_logits(ctx)[0], [logit_a + 1.0, logit_b], rtol=1e-12)


def test_parameters_are_seeded() -> None:
    a = LogisticClickModel(n_creatives=5, seed=3)
    b = LogisticClickModel(n_creatives=5, seed=3)
    c = LogisticClickModel(n_creatives=5, seed=4)
    np.testing.assert_array_equal(a.base_logits, b.base_logits)
    np.testing.assert_array_equal(a.affinity, b.affinity)
    assert not np.array_equal(a.base_logits, c.base_logits)
    assert np.abs(a.affinity - AFFINITY_PRIOR).max() < 1.0
    # Congruent pairs have the largest affinity: the diagonal dominates its column.
    assert np.all(np.argmax(AFFINITY_PRIOR, axis=0) == np.arange(len(EMOTIONS)))


def random_contexts(rng: np.random.Generator, n: int, **fixed: np.ndarray) -> ClickContext:
    parts = {
        "profile_emotions": rng.dirichlet(np.ones(7), n),
        "post_emotions": rng.dirichlet(np.ones(7), n),
        "profile_intents": rng.dirichlet(np.ones(5), n),
        "post_intents": rng.dirichlet(np.ones(5), n),
        "topic_index": rng.integers(-1, len(TOPICS), n),
        "hour": rng.uniform(0, 24, n),
    }
    parts.update(fixed)
    return ClickContext(**parts)


def test_congruence_zero_removes_the_emotion_signal() -> None:
    rng = np.random.default_rng(0)
    fixed = {
        "profile_intents": np.tile(rng.dirichlet(np.ones(5)), (50, 1)),
        "post_intents": np.tile(rng.dirichlet(np.ones(5)), (50, 1)),
        "topic_index": np.full(50, 2),
        "hour": np.full(50, 13.0),
    }
    ctx = random_contexts(rng, 50, **fixed)  # only the emotions differ between rows
    flat = LogisticClickModel(n_creatives=8, congruence=0.0).click_probs_batch(ctx)
    np.testing.assert_array_equal(flat, np.broadcast_to(flat[0], flat.shape))
    strong = LogisticClickModel(n_creatives=8, congruence=1.0).click_probs_batch(ctx)
    assert np.ptp(strong, axis=0).min() > 1e-3


def test_batch_matches_single_and_fatigue_lowers_probability() -> None:
    rng = np.random.default_rng(1)
    model = LogisticClickModel(n_creatives=4, seed=2)
    ctx = random_contexts(rng, 20)
    fatigue = rng.exponential(1.0, (20, 4))
    batch = model.click_probs_batch(ctx, fatigue)
    for i in range(20):
        one = ClickContext(
            ctx.profile_emotions[i : i + 1],
            ctx.post_emotions[i : i + 1],
            ctx.profile_intents[i : i + 1],
            ctx.post_intents[i : i + 1],
            ctx.topic_index[i : i + 1],
            ctx.hour[i : i + 1],
        )
        np.testing.assert_allclose(model.click_probs(one, fatigue[i]), batch[i], rtol=1e-12)
    fresh = model.click_probs_batch(ctx)
    assert np.all(batch < fresh)
    np.testing.assert_allclose(batch, sigmoid(model.static_logits(ctx) - 0.7 * fatigue))


def test_intent_and_topic_directions() -> None:
    model = LogisticClickModel(creatives=[JOY_PLAYFUL_TECH], base_rate_logit_std=0.0)

    def p(intent: str, topic: str) -> float:
        ctx = ClickContext.single(
            onehot(EMOTIONS, "neutral"), onehot(EMOTIONS, "neutral"),
            onehot(INTENTS, intent), onehot(INTENTS, intent), topic, 12.0,
        )  # fmt: skip
        return float(model.click_probs(ctx)[0])

    assert p("purchase", "food") > p("other", "food") > p("complaint", "food")
    assert p("other", "tech") > p("other", "food")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_creatives": 0}, "n_creatives: must be a positive integer"),
        ({}, "n_creatives: give n_creatives or creatives"),
        ({"n_creatives": 3, "creatives": [JOY_PLAYFUL_TECH]}, "does not match the 1 creatives"),
        ({"n_creatives": 2, "congruence": float("nan")}, "congruence: must be a finite number"),
        ({"n_creatives": 2, "fatigue_weight": -1.0}, "fatigue_weight: must be >= 0"),
        ({"n_creatives": 2, "post_mix": 1.5}, r"post_mix: must be in \[0, 1\]"),
        ({"n_creatives": 2, "fatigue_half_life_hours": 0}, "fatigue_half_life_hours"),
        ({"n_creatives": 2, "value_per_click": [1.0]}, "value_per_click: needs 2 values"),
        ({"n_creatives": 2, "value_per_click": [1.0, -2.0]}, r"value_per_click\[1\]"),
        ({"n_creatives": 2, "seed": 1.5}, "seed: must be an integer"),
        ({"creatives": [{"id": "x"}]}, r"catalog\[0\]: missing fields"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LogisticClickModel(**kwargs)


def test_more_creatives_than_the_default_catalog() -> None:
    model = LogisticClickModel(n_creatives=10)
    assert len(model.creatives) == 10
    assert model.click_probs_batch(random_contexts(np.random.default_rng(0), 3)).shape == (3, 10)


def test_bad_context_shapes() -> None:
    ctx = random_contexts(np.random.default_rng(0), 3, post_intents=np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"post_intents: shape must be \(3, 5\)"):
        LogisticClickModel(n_creatives=2).static_logits(ctx)
    with pytest.raises(ValueError, match="topic: must be one of"):
        ClickContext.single(np.zeros(7), np.zeros(7), np.zeros(5), np.zeros(5), "cars", 1.0)


def test_fatigue_counter_closed_form() -> None:
    h = 3600.0
    counter = FatigueCounter(n_users=2, n_creatives=3, half_life_s=h)
    np.testing.assert_array_equal(counter.at(0, 0.0), 0.0)
    assert counter.record(0, 1, 0.0) == 1.0
    np.testing.assert_allclose(counter.at(0, h), [0.0, 0.5, 0.0])
    assert counter.record(0, 1, h) == pytest.approx(1.5)
    counter.record(0, 2, h)
    np.testing.assert_allclose(counter.at(0, 3 * h), [0.0, 1.5 / 4, 1 / 4])
    np.testing.assert_array_equal(counter.at(1, 3 * h), 0.0)  # another person
    counter.reset()
    np.testing.assert_array_equal(counter.counts, 0.0)
    assert not counter.active
    with pytest.raises(ValueError, match="half_life_s"):
        FatigueCounter(1, 1, 0.0)
