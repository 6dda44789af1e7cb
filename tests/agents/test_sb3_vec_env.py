"""SB3 agents on Gymnasium vector envs: the `GymnasiumVecEnv` adapter and ``n_envs > 1``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from agents.base import StepRecord
from agents.sb3 import DQNAgent, GymnasiumVecEnv

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "features"))
from enriched_tables import make_enriched_table

from envs.ad_delivery import AdDeliveryEnv

N = 3
ENV_KWARGS: dict[str, Any] = {"horizon": 12, "budget": 0.1, "fatigue_cap": 0.3}
"""Short episodes that end both ways: budget spent (terminated) and window over (truncated)."""


@pytest.fixture(scope="module")
def posts() -> Any:
    return make_enriched_table(300, 12, seed=0, days=1.0)


def _single(posts: Any) -> AdDeliveryEnv:
    return AdDeliveryEnv(posts=posts, **ENV_KWARGS)


def _vector(posts: Any, mode: AutoresetMode, n: int = N) -> SyncVectorEnv:
    return SyncVectorEnv([lambda: _single(posts) for _ in range(n)], autoreset_mode=mode)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_adapter_steps_like_single_envs_reset_at_once(posts: Any, mode: AutoresetMode) -> None:
    """Sub-env i through the adapter equals a single env seeded the same, reset on done."""
    vec = GymnasiumVecEnv(_vector(posts, mode))
    vec.seed(7)
    obs = vec.reset()
    singles = [_single(posts) for _ in range(N)]
    ref_obs, ref_masks = [], []
    for i, env in enumerate(singles):
        o, info = env.reset(seed=7 + i)
        ref_obs.append(o)
        ref_masks.append(info["action_mask"])
    np.testing.assert_array_equal(obs, np.stack(ref_obs))
    rng = np.random.default_rng(0)
    n_actions = singles[0].action_space.n
    ends = {"terminated": 0, "truncated": 0}
    remapped = 0
    for _ in range(80):
        chosen = rng.integers(0, n_actions, N)  # often ineligible: the adapter falls back
        obs, rewards, dones, infos = vec.step(chosen)
        for i, env in enumerate(singles):
            executed = int(chosen[i]) if ref_masks[i][chosen[i]] else n_actions - 1
            remapped += executed != chosen[i]
            assert vec.last_executed[i] == executed
            o, r, term, trunc, info = env.step(executed)
            assert rewards[i] == pytest.approx(r)
            assert dones[i] == (term or trunc)
            np.testing.assert_array_equal(infos[i]["expected_rewards"], info["expected_rewards"])
            if term or trunc:
                ends["terminated" if term else "truncated"] += 1
                np.testing.assert_array_equal(infos[i]["terminal_observation"], o)
                assert infos[i]["TimeLimit.truncated"] == (trunc and not term)
                o, info = env.reset()
            np.testing.assert_array_equal(obs[i], o)
            ref_masks[i] = info["action_mask"]
        assert vec.masks is not None
        np.testing.assert_array_equal(vec.masks, np.stack(ref_masks))
    assert ends["terminated"] > 0
    assert ends["truncated"] > 0
    assert vec.n_remapped == remapped > 0


def test_adapter_passes_actions_through_without_fallback(posts: Any) -> None:
    vec = GymnasiumVecEnv(_vector(posts, AutoresetMode.NEXT_STEP), fallback_ineligible=False)
    vec.seed(0)
    vec.reset()
    for _ in range(50):  # show creative 0 while eligible, until budget or fatigue bars one
        assert vec.masks is not None
        if not vec.masks[:, 0].all():
            break
        vec.step(np.zeros(N, dtype=np.int64))
    assert vec.masks is not None
    assert not vec.masks[:, 0].all()
    with pytest.raises(ValueError, match="not eligible"):
        vec.step(np.zeros(N, dtype=np.int64))


def test_adapter_rejects_bad_spaces_and_masks(posts: Any) -> None:
    box = SyncVectorEnv([lambda: gym.make("MountainCarContinuous-v0")])
    with pytest.raises(TypeError, match="single_action_space: must be Discrete"):
        GymnasiumVecEnv(box)
    vec = GymnasiumVecEnv(_vector(posts, AutoresetMode.NEXT_STEP))
    with pytest.raises(ValueError, match=r"info\['action_mask'\]: shape must be \(3, 9\)"):
        vec._read_masks({"action_mask": np.ones((3, 2), dtype=bool)})


def test_dqn_learns_on_a_vector_env_with_folded_propensities(posts: Any) -> None:
    agent = DQNAgent(
        n_envs=4,
        seed=3,
        algo_kwargs={"learning_starts": 10_000, "buffer_size": 1_000, "train_freq": 4},
    )
    rows: list[tuple[StepRecord, np.ndarray]] = []

    def callback(record: StepRecord) -> None:
        assert isinstance(agent._wrapper, GymnasiumVecEnv)
        assert agent._wrapper.last_mask is not None
        rows.append((record, agent._wrapper.last_mask[record.step % 4].copy()))

    summary = agent.learn(_vector(posts, AutoresetMode.NEXT_STEP, 4), 202, callback)
    assert summary.steps == 204  # rounded up to a multiple of n_envs
    assert [r.step for r, _ in rows] == list(range(204))
    assert summary.episodes > 0
    assert agent.model is not None
    assert agent.model.num_timesteps == 204
    assert agent.n_updates == 204
    assert agent.action_counts.sum() == 204
    assert isinstance(agent._wrapper, GymnasiumVecEnv)
    assert agent._wrapper.n_remapped > 0
    k = agent.n_actions - 1
    for record, mask in rows:  # warm-up: uniform over all actions, ineligible mass on no-ad
        assert mask[record.action]
        n_inel = int((~mask).sum())
        expected = (1 + n_inel) / (k + 1) if record.action == k else 1 / (k + 1)
        assert record.propensity == pytest.approx(expected)


def test_dqn_trains_past_warmup_on_a_vector_env(posts: Any) -> None:
    agent = DQNAgent(
        n_envs=4,
        seed=0,
        algo_kwargs={"learning_starts": 40, "buffer_size": 1_000, "batch_size": 16},
    )
    before = agent.learn(_vector(posts, AutoresetMode.SAME_STEP, 4), 40)
    q0 = agent.export().q_values(np.zeros((1, agent.n_features), dtype=np.float32))
    summary = agent.learn(_vector(posts, AutoresetMode.SAME_STEP, 4), 160)
    assert before.steps + summary.steps == 200
    q1 = agent.export().q_values(np.zeros((1, agent.n_features), dtype=np.float32))
    assert not np.allclose(q0, q1)  # gradient steps happened


def test_n_envs_must_match_the_env(posts: Any) -> None:
    agent = DQNAgent(n_envs=4)
    with pytest.raises(ValueError, match=r"env\.num_envs: is 3, but the agent has n_envs=4"):
        agent.learn(_vector(posts, AutoresetMode.NEXT_STEP), 10)
    with pytest.raises(ValueError, match="needs a gymnasium VectorEnv"):
        agent.learn(_single(posts), 10)
    with pytest.raises(ValueError, match=r"env\.num_envs: is 3, but the agent has n_envs=1"):
        DQNAgent().learn(_vector(posts, AutoresetMode.NEXT_STEP), 10)
