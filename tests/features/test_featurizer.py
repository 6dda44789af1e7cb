"""Featurizer: batch and one-at-a-time paths agree bit for bit; blocks hold what they say."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest
from enriched_tables import make_enriched_table

from alpharl.features import (
    CampaignState,
    FeatureSpec,
    Featurizer,
    InMemoryProfileStore,
    ProfileState,
    post_profile_values,
)
from alpharl.schema import table_to_enriched


def _with_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


@pytest.mark.parametrize(
    "spec",
    [
        FeatureSpec(n_creatives=3),
        FeatureSpec(n_creatives=2, emotion_features=False, half_life_hours=2.0),
        FeatureSpec(
            blocks=("fatigue", "time", "campaign", "topic", "profile"),
            n_creatives=1,
            emotions=("joy", "anger"),
            intents=("complaint",),
            topics=("tech", "food"),
        ),
    ],
    ids=["default", "emotions-off", "reordered-subsets"],
)
def test_batch_path_equals_one_at_a_time_bit_for_bit(spec: FeatureSpec) -> None:
    table = make_enriched_table(300, 12, seed=1)
    fz = Featurizer(spec)
    n, k = table.num_rows, spec.n_creatives
    rng = np.random.default_rng(0)
    campaign = rng.uniform(-0.2, 1.2, (n, 2))  # out-of-range values get clipped
    fatigue = rng.exponential(4.0, (n, k))
    means, weights = fz.table_profiles(table)
    has = set(spec.blocks)
    batch = fz.assemble(
        fz.post_block(table) if has & {"post", "topic", "time"} else None,
        fz.profile_block(means, weights) if "profile" in has else None,
        fz.campaign_block(campaign[:, 0], campaign[:, 1]) if "campaign" in has else None,
        fz.fatigue_block(fatigue) if "fatigue" in has else None,
    )
    assert batch.dtype == np.float32
    assert batch.shape == (n, spec.dim)
    np.testing.assert_array_equal(
        batch, fz.featurize_table(table, campaign, fatigue if "fatigue" in has else None)
    )
    for i, post in enumerate(table_to_enriched(table)):
        vector = fz.vector(
            post,
            ProfileState(means[i], float(weights[i])),
            CampaignState(float(campaign[i, 0]), float(campaign[i, 1])),
            fatigue[i],
        )
        assert vector.dtype == np.float32
        assert vector.tobytes() == batch[i].tobytes(), i
    assert np.all(batch >= spec.low)
    assert np.all(batch <= spec.high)


def test_serving_profiles_match_batch_profiles() -> None:
    table = make_enriched_table(200, 8, seed=2)
    spec = FeatureSpec(n_creatives=2, half_life_hours=3.0)
    fz = Featurizer(spec)
    batch = fz.featurize_table(table, np.ones((200, 2)), np.zeros((200, 2)))
    store = InMemoryProfileStore(half_life_hours=3.0)
    for i, post in enumerate(table_to_enriched(table)):
        state = store.update(
            post.post.author_id, post_profile_values(post), post.post.created_at.timestamp()
        )
        v = fz.vector(post, state, CampaignState(1.0, 1.0), np.zeros(2))
        np.testing.assert_allclose(v, batch[i], rtol=1e-6, atol=1e-6)


def test_post_block_values() -> None:
    table = make_enriched_table(4, 2)
    table = _with_column(table, "emotion_joy", pa.array([1.3, 0.2, 0.0, 0.5], pa.float32()))
    table = _with_column(
        table, "sentiment_compound", pa.array([-1.5, 0.25, 1.0, 0.0], pa.float32())
    )
    table = _with_column(table, "topic", pa.array(["tech", "food", "other", "tech"]))
    spec = FeatureSpec(blocks=("post", "topic"), topics=("food", "tech"))
    out = Featurizer(spec).post_block(table)
    named = {name: out[:, j] for j, name in enumerate(spec.names)}
    np.testing.assert_array_equal(named["post_emotion_joy"], np.float32([1.0, 0.2, 0.0, 0.5]))
    np.testing.assert_array_equal(named["post_sentiment_compound"], [-1.0, 0.25, 1.0, 0.0])
    np.testing.assert_array_equal(named["topic_tech"], [1, 0, 0, 1])
    np.testing.assert_array_equal(named["topic_food"], [0, 1, 0, 0])  # "other" is not listed


def test_time_block_closed_form() -> None:
    times = [
        datetime(2024, 1, 6, 6, 0, tzinfo=UTC),  # Saturday 06:00: sin = 1
        datetime(2024, 1, 8, 18, 0, tzinfo=UTC),  # Monday 18:00: sin = -1
        datetime(2024, 1, 7, 0, 0, tzinfo=UTC),  # Sunday midnight: cos = 1
        datetime(1969, 12, 31, 12, 0, tzinfo=UTC),  # before the epoch, a Wednesday noon
    ]
    table = make_enriched_table(4, 2)
    table = _with_column(table, "created_at", pa.array(times, pa.timestamp("us", tz="UTC")))
    out = Featurizer(FeatureSpec(blocks=("time",))).post_block(table)
    np.testing.assert_allclose(out[:, 0], [1.0, -1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(out[:, 1], [0.0, 0.0, 1.0, -1.0], atol=1e-6)
    np.testing.assert_array_equal(out[:, 2], [1.0, 0.0, 1.0, 0.0])


def test_profile_block_activity_and_clipping() -> None:
    fz = Featurizer(FeatureSpec(blocks=("profile",)))
    means = np.zeros((3, 13))
    means[:, 7] = [-2.0, 0.5, 2.0]  # compound, clipped to [-1, 1]
    out = fz.profile_block(means, np.array([0.0, 1.0, 1e6]))
    names = fz.spec.names
    np.testing.assert_array_equal(out[:, names.index("profile_sentiment_compound")], [-1, 0.5, 1])
    activity = out[:, names.index("profile_activity")]
    assert activity[0] == 0.0
    assert 0 < activity[1] < 1
    assert activity[2] == 1.0
    assert activity[1] == pytest.approx(np.log(2) / np.log(101))


def test_missing_inputs_are_clear_errors() -> None:
    spec = FeatureSpec(n_creatives=2)
    fz = Featurizer(spec)
    post = table_to_enriched(make_enriched_table(1, 1))[0]
    state = ProfileState(np.zeros(13), 0.0)
    with pytest.raises(ValueError, match="campaign: the spec's 'campaign' block needs"):
        fz.vector(post, state, None, np.zeros(2))
    with pytest.raises(ValueError, match="fatigue: the spec's 'fatigue' block needs"):
        fz.vector(post, state, CampaignState(1.0, 1.0), None)
    with pytest.raises(ValueError, match="profile_state: the spec's 'profile' block needs"):
        fz.vector(post, None, CampaignState(1.0, 1.0), np.zeros(2))
    with pytest.raises(ValueError, match=r"fatigue: shape must be \(n, 2\)"):
        fz.vector(post, state, CampaignState(1.0, 1.0), np.zeros(3))
    with pytest.raises(ValueError, match="profile: the spec's blocks"):
        fz.assemble(np.zeros((1, 28), np.float32), None, np.zeros((1, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"post: shape must be \(n, 28\)"):
        fz.assemble(np.zeros((1, 5), np.float32), None, None, None)
    with pytest.raises(ValueError, match="missing enrichment columns"):
        fz.post_block(make_enriched_table(2, 1).drop_columns(["intent_praise"]))
    with pytest.raises(ValueError, match="budget_left_fraction: must be a finite number"):
        CampaignState(float("nan"), 1.0)
    with pytest.raises(TypeError, match="spec: must be a FeatureSpec"):
        Featurizer({"n_creatives": 2})  # type: ignore[arg-type]
