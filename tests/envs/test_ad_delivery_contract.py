"""AdDeliveryEnv and the Gymnasium contract: checkers, spaces, seeding, vector envs, make."""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs import AD_DELIVERY_ID, ENV_IDS, AdDeliveryEnv, load_posts
from envs.posts import REQUIRED_COLUMNS

ENRICH_READY = importlib.util.find_spec("alpharl.enrich.cache") is not None and (
    importlib.util.find_spec("alpharl.enrich.pipeline") is not None
)
needs_enrich = pytest.mark.skipif(not ENRICH_READY, reason="alpharl.enrich is not there yet")


def rollout(env: gym.Env[Any, Any], seed: int, steps: int) -> list[tuple[Any, ...]]:
    """Random eligible actions (seeded); every transition, resetting at episode ends."""
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    out: list[tuple[Any, ...]] = [(obs, info)]
    for _ in range(steps):
        action = int(rng.choice(np.flatnonzero(info["action_mask"])))
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((action, obs, reward, terminated, truncated, info))
        if terminated or truncated:
            obs, info = env.reset()
            out.append((obs, info))
    return out


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_gymnasium_and_sb3_checkers(env_id: str, posts: pa.Table) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checkers warn about contract problems
        env = gym.make(env_id, posts=posts)
        gym_check_env(env.unwrapped)
        sb3_check_env(gym.make(env_id, posts=posts).unwrapped, warn=True)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"emotion_features": False}, {"fatigue_cap": 0.9, "budget": 2.0}, {"horizon": 40}],
    ids=["default", "emotions-off", "fatigue-cap", "short"],
)
def test_observations_stay_in_the_box(posts: pa.Table, kwargs: dict[str, Any]) -> None:
    env = AdDeliveryEnv(posts=posts, **kwargs)
    space = env.observation_space
    assert isinstance(space, gym.spaces.Box)
    assert space.dtype == np.float32
    assert np.all(np.isfinite(space.low))
    assert np.all(np.isfinite(space.high))
    assert space.shape == (env.feature_spec.dim,)
    assert env.action_space == gym.spaces.Discrete(len(env.catalog) + 1)
    for record in rollout(env, seed=5, steps=1500):
        obs = record[0] if len(record) == 2 else record[1]
        assert obs.dtype == np.float32
        assert space.contains(obs)
        if len(record) == 6:
            _, _, reward, terminated, truncated, _ = record
            assert isinstance(reward, float)
            assert not (terminated and truncated)


def test_emotion_features_off_shrinks_the_observation(posts: pa.Table) -> None:
    on = AdDeliveryEnv(posts=posts)
    off = AdDeliveryEnv(posts=posts, emotion_features=False)
    assert on.observation_space.shape[0] - off.observation_space.shape[0] == 14
    assert not any("emotion" in name for name in off.feature_spec.names)
    # The ground truth is the same: only what the agent sees changes.
    _, info_on = on.reset(seed=3)
    _, info_off = off.reset(seed=3)
    np.testing.assert_array_equal(info_on["click_probs"], info_off["click_probs"])


def assert_same(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def test_same_seed_same_trajectory(posts: pa.Table) -> None:
    first = rollout(AdDeliveryEnv(posts=posts, budget=3.0), seed=11, steps=1200)
    second = rollout(AdDeliveryEnv(posts=posts, budget=3.0), seed=11, steps=1200)
    assert_same(tuple(first), tuple(second))
    other = rollout(AdDeliveryEnv(posts=posts, budget=3.0), seed=12, steps=1200)
    assert not np.array_equal(first[0][0], other[0][0])
    env = AdDeliveryEnv(posts=posts)
    obs_a, _ = env.reset(seed=7)
    env.step(env.n_creatives)
    obs_b, _ = env.reset(seed=7)
    np.testing.assert_array_equal(obs_a, obs_b)


def test_sync_vector_env(posts: pa.Table) -> None:
    venv = gym.vector.SyncVectorEnv(
        [lambda: gym.make(AD_DELIVERY_ID, posts=posts, horizon=30) for _ in range(3)]
    )
    obs, info = venv.reset(seed=[1, 2, 3])
    assert obs.shape == (3, venv.single_observation_space.shape[0])
    assert info["action_mask"].shape == (3, 9)
    rng = np.random.default_rng(0)
    truncations = 0
    for _ in range(100):
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in info["action_mask"]])
        obs, rewards, _terminated, truncated, info = venv.step(actions)
        assert obs.dtype == np.float32
        assert rewards.shape == (3,)
        truncations += int(truncated.sum())
    assert truncations >= 6  # horizon 30: each sub-env truncates about every 31 calls
    venv.close()


def test_registration_is_idempotent() -> None:
    spec = gym.spec(AD_DELIVERY_ID)
    assert spec.entry_point == "envs.ad_delivery:AdDeliveryEnv"
    importlib.reload(envs)
    envs.register_envs()
    assert gym.spec(AD_DELIVERY_ID).entry_point == spec.entry_point
    assert sum(1 for k in gym.registry if k == AD_DELIVERY_ID) == 1


def test_posts_from_a_parquet_path(posts: pa.Table, tmp_path: Path) -> None:
    path = tmp_path / "posts.parquet"
    pq.write_table(posts, path)
    env = AdDeliveryEnv(posts=str(path))
    assert env.n_posts == posts.num_rows
    np.testing.assert_array_equal(env.reset(seed=0)[0], AdDeliveryEnv(posts=posts).reset(seed=0)[0])


def test_load_posts_reads_only_the_replayed_columns(posts: pa.Table, tmp_path: Path) -> None:
    path = tmp_path / "posts.parquet"
    pq.write_table(posts, path)
    table = load_posts(path)
    assert table.column_names == list(REQUIRED_COLUMNS)
    assert table.equals(posts.select(list(REQUIRED_COLUMNS)))
    assert load_posts(path, columns=None).column_names == posts.column_names
    assert load_posts(posts).column_names == posts.column_names  # a given table is kept whole
    pq.write_table(posts.drop_columns(["topic", "intent_praise"]), path)
    with pytest.raises(ValueError, match=r"missing enriched columns \['topic', 'intent_praise'\]"):
        load_posts(path)


def test_unsorted_posts_are_replayed_in_time_order(posts: pa.Table) -> None:
    shuffled = posts.take(np.random.default_rng(0).permutation(posts.num_rows))
    a = AdDeliveryEnv(posts=shuffled).reset(seed=4, options={"start": 10})
    b = AdDeliveryEnv(posts=posts).reset(seed=4, options={"start": 10})
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"budget": 0.001}, ValueError, "budget: 0.001 cannot pay for the cheapest creative"),
        ({"budget": -1.0}, ValueError, "budget: must be a finite number > 0"),
        ({"horizon": 0}, ValueError, "horizon: must be a positive integer"),
        ({"cost_weight": float("inf")}, ValueError, "cost_weight"),
        ({"fatigue_cap": -1.0}, ValueError, "fatigue_cap"),
        ({"render_mode": "human"}, ValueError, "render_mode"),
        ({"click_model": {"n_creatives": 3}}, ValueError, "click_model.n_creatives: 3"),
        ({"click_model": {"creatives": []}}, ValueError, "click_model.creatives"),
        ({"click_model": {"congruence": "high"}}, ValueError, "congruence"),
        ({"catalog": [{"id": "x"}]}, ValueError, r"catalog\[0\]: missing fields"),
        ({"posts": "/nonexistent/posts.parquet"}, FileNotFoundError, "no Parquet file"),
        ({"emotion_features": "yes"}, ValueError, "emotion_features: must be a bool"),
    ],
)
def test_bad_arguments(
    posts: pa.Table, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    kwargs = {"posts": posts, **kwargs}
    with pytest.raises(error, match=match):
        AdDeliveryEnv(**kwargs)


def test_bad_posts_tables(posts: pa.Table) -> None:
    with pytest.raises(ValueError, match=r"missing enriched columns \['emotion_joy'\]"):
        AdDeliveryEnv(posts=posts.drop_columns(["emotion_joy"]))
    with pytest.raises(ValueError, match="the table has no rows"):
        AdDeliveryEnv(posts=posts.slice(0, 0))
    with pytest.raises(TypeError, match=r"posts: must be a pyarrow\.Table"):
        AdDeliveryEnv(posts={"a": 1})  # type: ignore[arg-type]


def test_click_model_target_and_catalog_dicts(posts: pa.Table) -> None:
    catalog = [
        {"id": "a", "headline": "A", "tone": "calm", "emotion_target": "anger",
         "category": "tech", "cost_per_impression": 0.05},
        {"id": "b", "headline": "B", "tone": "playful", "emotion_target": "joy",
         "category": "food", "cost_per_impression": 0.01},
    ]  # fmt: skip
    env = AdDeliveryEnv(
        posts=posts,
        catalog=catalog,
        click_model={"_target_": "envs.click_models.LogisticClickModel", "seed": 9},
    )
    assert env.action_space.n == 3
    assert env.catalog_dicts == catalog
    assert env.click_model.seed == 9
    assert env.feature_spec.n_creatives == 2


@needs_enrich
@pytest.mark.slow
def test_make_with_no_arguments_and_with_the_tweets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALPHARL_CACHE_DIR", str(tmp_path / "cache"))
    env = gym.make(AD_DELIVERY_ID)
    obs, _info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.unwrapped.n_posts == 5000
    gym_check_env(env.unwrapped)
    tweets = envs.tweets_posts()
    env = gym.make(AD_DELIVERY_ID, posts=tweets)
    assert env.unwrapped.n_posts == tweets.num_rows
    sb3_check_env(env.unwrapped)
