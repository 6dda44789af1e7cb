"""AdDeliveryVectorEnv: sub-env i equals a single env, step for step, and the vector contract."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pyarrow as pa
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from envs import AD_DELIVERY_ID, AdDeliveryEnv, AdDeliveryVectorEnv


def assert_infos_equal(got: dict[str, Any], want: dict[str, Any], where: str) -> None:
    assert set(got) == set(want), (where, set(got) ^ set(want))
    for key, value in want.items():
        assert got[key].dtype == value.dtype, (where, key, got[key].dtype, value.dtype)
        np.testing.assert_array_equal(got[key], value, err_msg=f"{where}: {key}")


def masked_actions(rng: np.random.Generator, masks: np.ndarray, greedy: np.ndarray) -> np.ndarray:
    """Random eligible actions, a third of the sub-envs playing greedy (to spend budgets)."""
    out = np.empty(len(masks), dtype=np.int64)
    for j, mask in enumerate(masks):
        out[j] = greedy[j] if rng.random() < 0.3 else rng.choice(np.flatnonzero(mask))
    return out


CONFIGS = {
    "default": {"budget": 0.5, "horizon": 60},
    "fatigue-cap": {"budget": 0.8, "horizon": 70, "fatigue_cap": 1.0},
    "stream-end": {"budget": 1e3, "horizon": 150, "cost_weight": 0.0},
    "emotions-off": {"budget": 2.0, "horizon": 40, "emotion_features": False},
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_equals_sync_vector_env_of_single_envs(small_posts: pa.Table, name: str) -> None:
    kwargs = {"posts": small_posts, **CONFIGS[name]}
    n = 5
    vec = AdDeliveryVectorEnv(n, **kwargs)
    sync = SyncVectorEnv([lambda: AdDeliveryEnv(**kwargs) for _ in range(n)])
    assert sync.metadata["autoreset_mode"] == vec.metadata["autoreset_mode"]
    options = {"start": 120} if name == "stream-end" else None  # episodes hit the last post
    obs_v, info_v = vec.reset(seed=7, options=options)
    obs_s, info_s = sync.reset(seed=7, options=options)
    np.testing.assert_array_equal(obs_v, obs_s)
    assert_infos_equal(info_v, info_s, "reset")
    rng = np.random.default_rng(0)
    ends = 0
    for t in range(400):
        actions = masked_actions(rng, info_s["action_mask"], info_s["best_action"])
        out_v = vec.step(actions)
        out_s = sync.step(actions)
        for got, want in zip(out_v[:4], out_s[:4], strict=True):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want, err_msg=f"step {t}")
        assert_infos_equal(out_v[4], out_s[4], f"step {t}")
        info_s = out_s[4]
        ends += int(np.sum(out_s[2] | out_s[3]))
    assert ends >= 3 * n  # several episode ends per sub-env were crossed


def test_make_vec_builds_it_and_seeds_like_sync(small_posts: pa.Table) -> None:
    env = gym.make_vec(
        AD_DELIVERY_ID, num_envs=3, vectorization_mode="vector_entry_point", posts=small_posts
    )
    inner = env.unwrapped if hasattr(env, "unwrapped") else env
    assert isinstance(inner, AdDeliveryVectorEnv)
    assert inner.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, _ = env.reset(seed=[4, None, 9])
    single = AdDeliveryEnv(posts=small_posts)
    np.testing.assert_array_equal(obs[0], single.reset(seed=4)[0])
    np.testing.assert_array_equal(obs[2], single.reset(seed=9)[0])
    assert env.observation_space.contains(obs)


def test_vector_contract(small_posts: pa.Table) -> None:
    """What Gymnasium's checker tests of a single env, for the vector env."""
    env = AdDeliveryVectorEnv(4, posts=small_posts, budget=0.3, horizon=50)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(4, dtype=np.int64))
    obs1, info1 = env.reset(seed=3)
    obs2, info2 = env.reset(seed=3)
    np.testing.assert_array_equal(obs1, obs2)  # seeded resets are deterministic
    assert obs1 is not obs2
    assert info1["action_mask"] is not info2["action_mask"]
    rng = np.random.default_rng(1)
    for _ in range(150):
        actions = masked_actions(rng, info2["action_mask"], info2["best_action"])
        obs, reward, terminated, truncated, info = env.step(actions)
        assert obs.dtype == np.float32
        assert env.observation_space.contains(obs)
        assert reward.shape == (4,)
        assert reward.dtype == np.float64
        assert not np.any(terminated & truncated)
        assert np.all(info["steps_left"][terminated | truncated] == 0)
        info2 = info
    assert env.action_space == gym.spaces.MultiDiscrete([env.n_creatives + 1] * 4)


def test_bad_input_is_named(small_posts: pa.Table) -> None:
    with pytest.raises(ValueError, match="num_envs"):
        AdDeliveryVectorEnv(0, posts=small_posts)
    env = AdDeliveryVectorEnv(3, posts=small_posts, budget=0.05)
    with pytest.raises(ValueError, match="seed"):
        env.reset(seed=[1, 2])
    _, info = env.reset(seed=0)
    with pytest.raises(ValueError, match="actions"):
        env.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match=r"actions\[1\]: must be an integer in"):
        env.step(np.array([0, 99, 0]))
    costly = int(np.argmax(env.template.costs))
    env2 = AdDeliveryVectorEnv(2, posts=small_posts, budget=0.02, horizon=30)
    _, info = env2.reset(seed=0)
    blocked = np.flatnonzero(~info["action_mask"][0])
    if len(blocked):
        with pytest.raises(ValueError, match=r"actions\[0\]: .* not eligible"):
            env2.step(np.array([blocked[0], env2.n_creatives]))
    assert costly >= 0


def test_partial_reset_with_reset_mask(small_posts: pa.Table) -> None:
    env = AdDeliveryVectorEnv(3, posts=small_posts)
    obs, _ = env.reset(seed=0)
    mask = np.array([False, True, False])
    obs2, info = env.reset(seed=10, options={"reset_mask": mask})
    np.testing.assert_array_equal(obs2[~mask], obs[~mask])
    single = AdDeliveryEnv(posts=small_posts)
    np.testing.assert_array_equal(obs2[1], single.reset(seed=11)[0])
    np.testing.assert_array_equal(info["_action_mask"], mask)
