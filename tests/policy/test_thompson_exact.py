"""Linear Thompson sampling's logged propensities are exact (issue #8, item 6).

Statistical tests with a fixed posterior: the empirical frequencies of the actions drawn
by the agent, by its exported policy and by the rule match the logged propensities
(chi-square), and the score-sampling shortcut gives the same action distribution as
Thompson sampling by its definition (``theta_a`` drawn through a Cholesky factor).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from agents.bandits import LinearThompsonSampling
from alpharl.policy import ThompsonRule
from alpharl.policy.linear import cholesky_factor

K, D = 4, 3


def _fixed_posterior_agent(n_samples: int = 200, seed: int = 0) -> LinearThompsonSampling:
    """An agent with a posterior under which several actions have sizeable probability."""
    agent = LinearThompsonSampling(K, D, v=1.0, n_samples=n_samples, seed=seed)
    rng = np.random.default_rng(42)
    x = rng.normal(size=(30, D))
    actions = np.arange(30) % K
    rewards = 0.1 * actions + rng.normal(0.0, 1.0, 30)
    agent.update_batch(x, actions, rewards)
    return agent


def _chi_square_pvalue(actions: np.ndarray, probs: np.ndarray) -> float:
    counts = np.bincount(actions, minlength=len(probs))
    support = probs > 0
    assert (counts[~support] == 0).all(), "an action of probability 0 was played"
    return float(stats.chisquare(counts[support], probs[support] * len(actions)).pvalue)


def test_agent_action_frequencies_match_its_logged_propensities() -> None:
    agent = _fixed_posterior_agent()
    x = np.array([0.5, -1.0, 0.8])
    mask = np.array([True, True, False, True])
    probs = agent.action_probabilities(x[None, :], mask[None, :])[0]
    assert (probs > 0.05).sum() >= 2, probs  # a real test: several actions in play
    before = agent.n_updates
    draws = [agent.act(x, mask) for _ in range(20_000)]
    assert agent.n_updates == before  # the posterior stayed fixed
    actions = np.array([a for a, _ in draws])
    props = np.array([p for _, p in draws])
    # Every logged propensity is the probability of the action drawn, so the logged
    # propensity of each action is constant and its frequency converges to it.
    np.testing.assert_array_equal(props, probs[actions])
    assert _chi_square_pvalue(actions, probs) > 1e-4


def test_exported_policy_draws_from_the_same_distribution() -> None:
    agent = _fixed_posterior_agent()
    policy = agent.export()
    x = np.tile([[1.0, 0.2, -0.3]], (20_000, 1))
    probs = agent.action_probabilities(x[:1])[0]
    np.testing.assert_allclose(policy.action_probabilities(x[:1])[0], probs, atol=1e-12)
    actions, props = policy.decide(x, rng=7)
    np.testing.assert_array_equal(props, policy.action_probabilities(x[:1])[0][actions])
    assert _chi_square_pvalue(actions, probs) > 1e-4


def test_logged_propensities_give_unbiased_ips_estimates() -> None:
    """IPS with the logged propensities recovers each action's known value."""
    agent = _fixed_posterior_agent()
    x = np.tile([[0.3, 0.3, 1.0]], (40_000, 1))
    actions, props = agent.act_batch(x)
    values = np.array([1.0, 2.0, 3.0, 4.0])
    probs = agent.action_probabilities(x[:1])[0]
    ips = np.mean(values[actions] / props)  # estimates sum over the support of values
    truth = values[probs > 0].sum()
    se = np.std(values[actions] / props) / np.sqrt(len(actions))
    assert abs(ips - truth) < 5 * se


def test_score_sampling_matches_thompson_sampling_by_definition() -> None:
    """Sampling ``x' theta_a`` directly = drawing ``theta_a ~ N(mu_a, v^2 Sigma_a)``.

    The rule's win frequencies over many fixed draws are compared with the frequencies
    of the textbook sampler (a Cholesky factor per action, ``d`` normals per action):
    binomial tests per action at the combined Monte-Carlo error of both.
    """
    agent = _fixed_posterior_agent()
    x = np.array([0.7, -0.4, 1.1])
    v = 1.0
    many = ThompsonRule(v, n_samples=200_000, seed=3)
    mean, width = agent._scores(x[None, :], True)
    assert width is not None
    p_rule = many.probabilities(mean, width, None)[0]
    chol = cholesky_factor(agent.a_inv)
    rng = np.random.default_rng(11)
    n = 200_000
    z = rng.standard_normal((n, K, D))
    thetas = agent.theta[None] + v * np.einsum("aij,naj->nai", chol, z)
    p_def = np.bincount((thetas @ x).argmax(axis=1), minlength=K) / n
    se = np.sqrt(p_def * (1 - p_def) / n + p_rule * (1 - p_rule) / 200_000) + 1e-12
    assert (np.abs(p_rule - p_def) < 5 * se).all(), (p_rule, p_def)
