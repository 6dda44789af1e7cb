"""Context-free bandits: exact running means, UCB1's index, epsilon decay, export."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.bandits import UCB1, EpsilonGreedy
from alpharl.policy import EpsilonGreedyRule, TabularPolicy, UCBRule


def _rounds(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)), rng.integers(0, 4, n), rng.normal(size=n)


def test_values_are_the_sample_means_after_mixed_updates() -> None:
    x, a, r = _rounds(500, 0)
    agent = EpsilonGreedy(4, seed=0)
    for i in range(200):
        agent.update(x[i], int(a[i]), float(r[i]))
    agent.update_batch(x[200:350], a[200:350], r[200:350])
    for lo in range(350, 500, 7):
        agent.update_batch(x[lo : lo + 7], a[lo : lo + 7], r[lo : lo + 7])
    means = [r[a == k].mean() for k in range(4)]
    np.testing.assert_allclose(agent.values, means, rtol=1e-12)
    np.testing.assert_array_equal(agent.action_counts, np.bincount(a, minlength=4))
    np.testing.assert_allclose(agent.estimate(x[:3]), np.tile(means, (3, 1)))


def test_ucb1_index_is_mean_plus_alpha_sqrt_log_t_over_n() -> None:
    x, a, r = _rounds(300, 1)
    agent = UCB1(4, alpha=0.7, seed=0)
    agent.update_batch(x, a, r)
    n = np.bincount(a, minlength=4)
    index = np.array([r[a == k].mean() for k in range(4)]) + 0.7 * np.sqrt(math.log(300) / n)
    actions, props = agent.act_batch(x[:5])
    np.testing.assert_array_equal(actions, index.argmax())
    np.testing.assert_array_equal(props, 1.0)
    policy = agent.export()
    assert isinstance(policy, TabularPolicy)
    assert policy.rule == UCBRule(0.7)
    np.testing.assert_array_equal(policy.counts, n)


def test_ucb1_tries_every_eligible_action_once_first() -> None:
    agent = UCB1(5, seed=3)
    mask = np.array([True, True, False, True, True])
    seen = set()
    for _ in range(4):
        action, _ = agent.act(np.zeros(2), mask)
        seen.add(action)
        agent.update(np.zeros(2), action, 0.0)
    assert seen == {0, 1, 3, 4}


def test_epsilon_decays_with_updates_and_export_freezes_it() -> None:
    agent = EpsilonGreedy(3, epsilon=0.6, decay=0.5, seed=0)
    x, a, r = _rounds(10, 2)
    agent.update_batch(x, a % 3, r)
    policy = agent.export()
    assert policy.rule == EpsilonGreedyRule(0.6 / (1 + 0.5 * 10))
    probs = agent.action_probabilities(np.zeros((1, 2)))
    assert probs.min() == pytest.approx(0.1 / 3)
