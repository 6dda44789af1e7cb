"""Bad hyperparameters fail when the agent is built; bad inputs fail with a clear error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from agent_factories import FACTORIES, N_ACTIONS, N_FEATURES, train

from agents.bandits import (
    UCB1,
    EpsilonGreedy,
    LinearBandit,
    LinearThompsonSampling,
    LinUCB,
    TabularBandit,
)
from agents.base import BanditAgent, check_observation
from alpharl.policy import ThompsonRule


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: EpsilonGreedy(5, epsilon=-0.1), ValueError, r"epsilon must be .* got -0\.1"),
        (lambda: EpsilonGreedy(5, epsilon=1.5), ValueError, r"epsilon must be .*\[0\.0, 1\.0\]"),
        (lambda: EpsilonGreedy(5, epsilon="0.1"), TypeError, "epsilon must be a number"),
        (lambda: EpsilonGreedy(5, decay=-1.0), ValueError, "decay must be"),
        (lambda: UCB1(5, alpha=-1.0), ValueError, r"alpha must be .* got -1\.0"),
        (lambda: UCB1(5, alpha=float("nan")), ValueError, "alpha must be finite"),
        (lambda: LinUCB(5, 4, alpha=-0.5), ValueError, "alpha must be"),
        (lambda: LinUCB(1, 4), ValueError, "n_actions must be an integer >= 2; got 1"),
        (lambda: LinUCB(5, 0), ValueError, "n_features must be an integer >= 1; got 0"),
        (lambda: LinUCB(5, 2.5), ValueError, "n_features must be an integer"),
        (lambda: LinUCB(5, 4, l2=0.0), ValueError, "l2 must be > 0"),
        (lambda: LinUCB(5, 4, seed=-1), ValueError, "seed must be an integer >= 0"),
        (lambda: LinearBandit(5, None), ValueError, "needs n_features"),
        (lambda: LinearThompsonSampling(5, 4, v=0.0), ValueError, "v must be > 0"),
        (lambda: LinearThompsonSampling(5, 4, v=-1.0), ValueError, "v must be"),
        (lambda: LinearThompsonSampling(5, 4, n_samples=0), ValueError, "n_samples must be"),
        (
            lambda: TabularBandit(5, ThompsonRule()),
            ValueError,
            r"TabularBandit supports exploration rules \['greedy', 'epsilon_greedy', 'ucb'\]",
        ),
        (lambda: LinearBandit(5, 3, {"name": "softmaxx"}), ValueError, "unknown decision rule"),
        (
            lambda: LinearBandit(5, 3, {"name": "softmax"}),
            ValueError,
            r"LinearBandit supports exploration rules \['greedy'",
        ),
        (
            lambda: LinearBandit(5, 3, {"name": "ucb", "alpa": 1.0}),
            ValueError,
            r"unknown parameters \['alpa'\]",
        ),
        (lambda: LinearBandit(5, 3, "ucb"), TypeError, "must be a DecisionRule or a mapping"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(
    build: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        build()


@pytest.fixture
def agent() -> BanditAgent:
    return train(FACTORIES["linucb"](0), rounds=20)


def test_bad_observations_are_named(agent: BanditAgent) -> None:
    with pytest.raises(ValueError, match=r"obs must have shape \(4,\); got \(3,\)"):
        agent.act(np.zeros(3))
    with pytest.raises(ValueError, match=r"obs must have shape \(4,\); got \(1, 4\)"):
        agent.act(np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"obs must have shape \(n, 4\); got \(4,\)"):
        agent.act_batch(np.zeros(4))
    with pytest.raises(ValueError, match=r"obs has non-finite values in rows \[1\]"):
        agent.act_batch(np.array([[1.0, 0, 0, 0], [np.nan, 0, 0, 0]]))
    with pytest.raises(TypeError, match="obs must be a numeric array"):
        agent.act_batch(np.array([["a", "b", "c", "d"]]))
    with pytest.raises(ValueError, match=r"obs has non-finite values at indices \[1, 3\]"):
        agent.act(np.array([0.0, np.nan, 1.0, -np.inf]))
    with pytest.raises(TypeError, match="obs must be a numeric array"):
        agent.update(np.array(["a", "b", "c", "d"]), 0, 1.0)
    huge = np.full(N_FEATURES, 1e308)  # the sum overflows, yet every entry is finite
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(check_observation(huge, N_FEATURES), huge[None, :])


def test_bad_masks_are_named(agent: BanditAgent) -> None:
    x = np.zeros((2, N_FEATURES))
    with pytest.raises(ValueError, match=r"mask must have shape \(5,\); got \(4,\)"):
        agent.act(x[0], np.ones(4, bool))
    with pytest.raises(ValueError, match=r"masks must have shape \(n, n_actions\)=\(2, 5\)"):
        agent.act_batch(x, np.ones((3, 5), bool))
    with pytest.raises(TypeError, match=r"masks must be a bool .* got dtype float64"):
        agent.act_batch(x, np.ones((2, 5)))
    with pytest.raises(TypeError, match="masks must be a bool"):
        agent.act_batch(x, np.full((2, 5), 2))
    # 0/1 integer masks (Gymnasium's convention) are accepted.
    actions, _ = agent.act_batch(x, np.array([[1, 0, 0, 0, 1], [0, 0, 0, 0, 1]], np.int8))
    assert actions[0] in (0, 4)
    assert actions[1] == 4


def test_bad_updates_are_named(agent: BanditAgent) -> None:
    x = np.ones(N_FEATURES)
    with pytest.raises(ValueError, match=r"action must be in \[0, 5\); got 5"):
        agent.update(x, 5, 1.0)
    with pytest.raises(TypeError, match=r"action must be an int; got 1\.0"):
        agent.update(x, 1.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="action must be an int; got True"):
        agent.update(x, True, 1.0)
    with pytest.raises(ValueError, match="reward must be finite; got nan"):
        agent.update(x, 1, float("nan"))
    with pytest.raises(TypeError, match="reward must be a number"):
        agent.update(x, 1, "1")  # type: ignore[arg-type]
    xs = np.ones((3, N_FEATURES))
    with pytest.raises(ValueError, match=r"actions must be an int array of shape \(3,\)"):
        agent.update_batch(xs, np.array([0, 1]), np.zeros(3))
    with pytest.raises(ValueError, match=r"actions must be in \[0, 5\); got \[-1\]"):
        agent.update_batch(xs, np.array([0, -1, 2]), np.zeros(3))
    with pytest.raises(ValueError, match=r"rewards must be a numeric array of shape \(3,\)"):
        agent.update_batch(xs, np.array([0, 1, 2]), np.zeros(2))
    with pytest.raises(ValueError, match="rewards must be finite"):
        agent.update_batch(xs, np.array([0, 1, 2]), np.array([0.0, np.inf, 0.0]))
    before = agent.n_updates
    agent.update_batch(np.zeros((0, N_FEATURES)), np.zeros(0, np.int64), np.zeros(0))
    assert agent.n_updates == before  # an empty batch is a no-op, and nothing partial ran


def test_a_failed_update_changes_nothing(agent: BanditAgent) -> None:
    state = {k: v.copy() for k, v in agent._state().items()}
    with pytest.raises(ValueError, match="actions must be in"):
        agent.update_batch(np.ones((2, N_FEATURES)), np.array([0, 9]), np.zeros(2))
    for name, arr in agent._state().items():
        np.testing.assert_array_equal(arr, state[name])
    assert agent.n_actions == N_ACTIONS
