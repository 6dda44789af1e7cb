"""The interaction loop: resets, callbacks, summaries, space checks, the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from toy_env import ToyAdEnv

from agents.bandits import UCB1, LinUCB
from agents.base import LearnSummary, StepRecord
from agents.baselines import OracleAgent, RandomAgent


def test_learn_runs_steps_and_resets_on_truncation() -> None:
    env = ToyAdEnv(episode_length=30)
    records: list[StepRecord] = []
    summary = LinUCB(5, 5, seed=0).learn(env, 100, records.append)
    assert isinstance(summary, LearnSummary)
    assert summary.steps == 100
    assert summary.episodes == 3
    assert not summary.stopped_early
    assert [r.step for r in records] == list(range(100))
    assert summary.total_reward == pytest.approx(sum(r.reward for r in records))
    assert summary.total_regret == pytest.approx(sum(r.info["regret"] for r in records))
    assert summary.mean_reward == pytest.approx(summary.total_reward / 100)
    assert all(0 < r.propensity <= 1 for r in records)


def test_learn_resets_on_termination() -> None:
    env = ToyAdEnv(costs=[1.0, 1.0, 1.0, 1.0], budget=10.0, eligibility=1.0)
    summary = UCB1(5, seed=0).learn(env, 200)
    assert summary.episodes >= 1  # the budget ran out at least once and the loop went on
    assert summary.steps == 200


def test_learn_updates_the_agent_and_respects_masks() -> None:
    env = ToyAdEnv(eligibility=0.3)  # the toy env raises on an ineligible action
    agent = LinUCB(5, 5, seed=0)
    agent.learn(env, 300)
    assert agent.n_updates == 300
    assert agent.action_counts.sum() == 300


def test_callback_returning_false_stops() -> None:
    summary = RandomAgent(5, seed=0).learn(ToyAdEnv(), 50, lambda r: r.step < 9)
    assert summary.steps == 10
    assert summary.stopped_early


def test_learn_is_reproducible_with_seeds() -> None:
    def run() -> list[int]:
        out: list[int] = []
        LinUCB(5, 5, seed=3).learn(ToyAdEnv(), 200, lambda r: out.append(r.action) or None)
        return out

    assert run() == run()


def test_learn_checks_the_spaces() -> None:
    with pytest.raises(ValueError, match=r"env.action_space.n is 5, but the agent has n_actions=4"):
        LinUCB(4, 5).learn(ToyAdEnv(), 10)
    with pytest.raises(ValueError, match=r"observation_space.shape is \(5,\).*n_features=3"):
        LinUCB(5, 3).learn(ToyAdEnv(), 10)
    with pytest.raises(TypeError, match="callback must be callable"):
        LinUCB(5, 5).learn(ToyAdEnv(), 10, callback=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        LinUCB(5, 5).learn(ToyAdEnv(), -1)


def test_oracle_plays_the_best_action_with_zero_regret() -> None:
    records: list[StepRecord] = []
    summary = OracleAgent(5, 5).learn(ToyAdEnv(), 300, records.append)
    assert summary.total_regret == 0.0
    assert all(r.propensity == 1.0 for r in records)
    random_regret = RandomAgent(5, seed=0).learn(ToyAdEnv(), 300).total_regret
    assert random_regret is not None
    assert random_regret > 10 * 0.01


def test_oracle_cannot_act_on_a_bare_context() -> None:
    oracle = OracleAgent(5, 5)
    with pytest.raises(TypeError, match=r"info\['best_action'\].*cannot decide from a context"):
        oracle.act(np.zeros(5))
    with pytest.raises(TypeError, match=r"OracleAgent\.act_batch"):
        oracle.act_batch(np.zeros((2, 5)))
    with pytest.raises(NotImplementedError, match=r"OracleAgent\.export"):
        oracle.export()
    with pytest.raises(KeyError, match=r"needs info\['best_action'\]"):
        oracle.act_with_info({"action_mask": np.ones(5, bool)})
    mask = np.array([True, False, True, True, True])
    with pytest.raises(ValueError, match="is not eligible"):
        oracle.act_with_info({"best_action": 1, "action_mask": mask})
    assert oracle.act_with_info({"best_action": np.int64(2), "action_mask": mask}) == (2, 1.0)
