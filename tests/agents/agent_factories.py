"""Agent factories shared by the agent tests: every acting agent, built and trained small."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from agents.bandits import (
    UCB1,
    EpsilonGreedy,
    LinearBandit,
    LinearThompsonSampling,
    LinUCB,
    TabularBandit,
)
from agents.base import BanditAgent
from agents.baselines import RandomAgent
from agents.pacing import DualPacing, ThrottlePacing
from alpharl.policy import GreedyRule

N_ACTIONS = 5
N_FEATURES = 4
COSTS = np.array([0.3, 0.1, 0.5, 0.2, 0.0])
"""Per-action costs the paced factories' pacing parts have seen ("no ad" last, free)."""


def primed(agent: BanditAgent, control: float) -> BanditAgent:
    """A paced agent whose pacing part has seen ``COSTS`` and holds ``control``.

    Outside `learn` nothing updates the control, so the contract tests see a fixed, non-
    trivial paced rule (a multiplier that reorders actions, or a participation < 1).
    """
    assert agent.pacing is not None
    info = {"action_costs": COSTS, "budget": 10.0, "budget_left": 6.0, "steps_left": 40}
    agent.pacing.observe(info)
    agent.pacing.state[0] = control
    return agent


FACTORIES: dict[str, Callable[[int], BanditAgent]] = {
    "epsilon_greedy": lambda seed: EpsilonGreedy(N_ACTIONS, 0.3, n_features=N_FEATURES, seed=seed),
    "epsilon_greedy_decay": lambda seed: EpsilonGreedy(N_ACTIONS, 0.9, decay=0.01, seed=seed),
    "ucb1": lambda seed: UCB1(N_ACTIONS, n_features=N_FEATURES, seed=seed),
    "tabular_greedy": lambda seed: TabularBandit(N_ACTIONS, GreedyRule(), seed=seed),
    "linucb": lambda seed: LinUCB(N_ACTIONS, N_FEATURES, alpha=0.8, seed=seed),
    "lints": lambda seed: LinearThompsonSampling(N_ACTIONS, N_FEATURES, v=0.5, seed=seed),
    "linear_epsilon": lambda seed: LinearBandit(
        N_ACTIONS, N_FEATURES, {"name": "epsilon_greedy", "epsilon": 0.2}, seed=seed
    ),
    "random": lambda seed: RandomAgent(N_ACTIONS, N_FEATURES, seed=seed),
    "linucb_dual": lambda seed: primed(
        LinUCB(N_ACTIONS, N_FEATURES, alpha=0.8, seed=seed, pacing=DualPacing()), 2.0
    ),
    "lints_dual": lambda seed: primed(
        LinearThompsonSampling(N_ACTIONS, N_FEATURES, v=0.5, seed=seed, pacing=DualPacing()), 1.5
    ),
    "epsilon_greedy_throttle": lambda seed: primed(
        EpsilonGreedy(N_ACTIONS, 0.3, n_features=N_FEATURES, seed=seed, pacing=ThrottlePacing()),
        0.4,
    ),
    "lints_throttle": lambda seed: primed(
        LinearThompsonSampling(
            N_ACTIONS, N_FEATURES, v=0.5, seed=seed, pacing={"name": "throttle"}
        ),
        0.6,
    ),
}
"""Every agent that decides from a context (the oracle is tested on its own)."""

AGENT_NAMES = sorted(FACTORIES)


def contexts(n: int, seed: int) -> np.ndarray:
    """``(n, N_FEATURES)`` float32 contexts with a constant bias feature."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    x[:, 0] = 1.0
    return x


def masks(n: int, seed: int, p: float = 0.6) -> np.ndarray:
    """Random eligibility masks with "no ad" (the last action) always eligible."""
    m = np.random.default_rng(seed).random((n, N_ACTIONS)) < p
    m[:, -1] = True
    return m


def train(agent: BanditAgent, rounds: int = 300, seed: int = 0) -> BanditAgent:
    """Feed an agent rounds of a linear problem, half one at a time and half batched."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(N_ACTIONS, N_FEATURES))
    x = contexts(rounds, seed + 1)
    a = rng.integers(0, N_ACTIONS, rounds)
    r = np.einsum("nd,nd->n", x, truth[a]) + 0.1 * rng.normal(size=rounds)
    half = rounds // 2
    for i in range(half):
        agent.update(x[i], int(a[i]), float(r[i]))
    agent.update_batch(x[half:], a[half:], r[half:])
    return agent
