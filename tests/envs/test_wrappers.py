"""Wrappers: one job each, constructor arguments recorded."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pyarrow as pa
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from envs import AD_DELIVERY_ID, AdDeliveryEnv, FlattenActionMask, RewardScale


def test_flatten_action_mask(posts: pa.Table) -> None:
    env = FlattenActionMask(AdDeliveryEnv(posts=posts, budget=0.3))
    inner = env.unwrapped
    d, n = inner.observation_space.shape[0], int(inner.action_space.n)
    assert env.observation_space.shape == (d + n,)
    np.testing.assert_array_equal(env.observation_space.low[d:], 0.0)
    np.testing.assert_array_equal(env.observation_space.high[d:], 1.0)
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs[d:], info["action_mask"].astype(np.float32))
    while True:
        action = int(np.flatnonzero(info["action_mask"])[-2])  # an affordable creative
        obs, _, terminated, truncated, info = env.step(action)
        assert obs.dtype == np.float32
        assert env.observation_space.contains(obs)
        np.testing.assert_array_equal(obs[d:], info["action_mask"])
        if terminated or truncated:
            break
    assert obs[d:-1].sum() == 0  # budget spent: only "no ad" left
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version")
        gym_check_env(FlattenActionMask(gym.make(AD_DELIVERY_ID, posts=posts)))
        sb3_check_env(FlattenActionMask(gym.make(AD_DELIVERY_ID, posts=posts)))


def test_reward_scale(posts: pa.Table) -> None:
    base = AdDeliveryEnv(posts=posts)
    env = RewardScale(AdDeliveryEnv(posts=posts), scale=10.0)
    base.reset(seed=4)
    env.reset(seed=4)
    for t in range(200):
        _, r0, *_ = base.step(t % 9)
        _, r1, *_ = env.step(t % 9)
        assert r1 == pytest.approx(10.0 * r0)
    with pytest.raises(ValueError, match="scale: must be a finite non-zero number"):
        RewardScale(base, 0.0)
    with pytest.raises(ValueError, match="scale: must be a finite non-zero number"):
        RewardScale(base, float("inf"))


def test_wrappers_record_their_arguments_in_the_spec(posts: pa.Table) -> None:
    env = RewardScale(FlattenActionMask(gym.make(AD_DELIVERY_ID, posts=posts)), scale=0.5)
    stack = env.spec.additional_wrappers
    assert [w.name for w in stack] == ["FlattenActionMask", "RewardScale"]
    assert stack[-1].kwargs == {"scale": 0.5}
    assert stack[0].kwargs == {}


def test_flatten_action_mask_rejects_envs_without_the_right_spaces() -> None:
    box_actions = gym.make("Pendulum-v1")
    with pytest.raises(TypeError, match=r"env\.action_space: must be Discrete"):
        FlattenActionMask(box_actions)
    cartpole = FlattenActionMask(gym.make("CartPole-v1"))
    with pytest.raises(KeyError, match="action_mask"):
        cartpole.reset(seed=0)
