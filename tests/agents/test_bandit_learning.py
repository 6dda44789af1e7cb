"""Each bandit learns on a problem its model fits: regret per round falls by over 3x."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from toy_env import ToyAdEnv

from agents.bandits import UCB1, EpsilonGreedy, LinearBandit, LinearThompsonSampling, LinUCB
from agents.base import BaseAgent, StepRecord
from agents.baselines import OracleAgent, RandomAgent
from alpharl.policy import EpsilonGreedyRule

STEPS = 2000
CONTEXT_FREE = {"ctr": [0.1, 0.3, 0.5, 0.8]}  # no-ad (reward 0) is the fifth action

CASES: dict[str, tuple[Callable[[int], BaseAgent], dict[str, Any]]] = {
    "epsilon_greedy": (lambda s: EpsilonGreedy(5, epsilon=1.0, decay=0.02, seed=s), CONTEXT_FREE),
    "ucb1": (lambda s: UCB1(5, seed=s), CONTEXT_FREE),
    "linucb": (lambda s: LinUCB(5, 5, alpha=1.0, seed=s), {}),
    "lints": (lambda s: LinearThompsonSampling(5, 5, v=0.3, seed=s), {}),
    "linear_epsilon": (
        lambda s: LinearBandit(5, 5, EpsilonGreedyRule(1.0, decay=0.02), seed=s),
        {},
    ),
}


def regret_curve(agent: BaseAgent, env: ToyAdEnv, steps: int, seed: int) -> np.ndarray:
    regrets: list[float] = []

    def record(step: StepRecord) -> None:
        regrets.append(step.info["regret"])

    agent.learn(env, steps, record, seed=seed)
    return np.array(regrets)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bandit_learns(name: str) -> None:
    make, env_kwargs = CASES[name]
    regret = regret_curve(make(1), ToyAdEnv(truth_seed=1, **env_kwargs), STEPS, seed=1)
    quarter = STEPS // 4
    first, last = regret[:quarter].mean(), regret[-quarter:].mean()
    assert first > 0.02, "the problem must leave something to learn"
    assert last < first / 3, (first, last)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bandit_beats_random_and_trails_the_oracle(name: str) -> None:
    make, env_kwargs = CASES[name]
    totals = {}
    for label, agent in [
        ("bandit", make(2)),
        ("random", RandomAgent(5, seed=2)),
        ("oracle", OracleAgent(5)),
    ]:
        env = ToyAdEnv(truth_seed=2, **env_kwargs)
        totals[label] = regret_curve(agent, env, 1000, seed=2).sum()
    assert totals["oracle"] == 0.0
    assert 0.0 < totals["bandit"] < totals["random"] / 3
