"""The ridge model inside LinUCB and linear TS: exact inverse updates, exact estimates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from agents.bandits import LinearThompsonSampling, LinUCB
from alpharl.policy import LinearPolicy, ThompsonPolicy, ThompsonRule
from alpharl.policy.linear import cholesky_factor


def _stream(n: int, d: int, n_actions: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    a = rng.integers(0, n_actions, n)
    r = rng.normal(size=n)
    return x, a, r


def _design(x: np.ndarray, a: np.ndarray, r: np.ndarray, n_actions: int, l2: float):
    d = x.shape[1]
    big_a = np.stack([l2 * np.eye(d) + x[a == k].T @ x[a == k] for k in range(n_actions)])
    b = np.stack([r[a == k] @ x[a == k] for k in range(n_actions)])
    return big_a, b


def test_sherman_morrison_inverse_matches_numpy_inv_after_many_updates() -> None:
    agent = LinUCB(4, 6, l2=0.5, seed=0)
    x, a, r = _stream(5000, 6, 4, seed=1)
    for i in range(len(x)):
        agent.update(x[i], int(a[i]), float(r[i]))
    big_a, b = _design(x, a, r, 4, 0.5)
    np.testing.assert_allclose(agent.a_inv, np.linalg.inv(big_a), rtol=0, atol=1e-8)
    np.testing.assert_allclose(agent.b, b, rtol=1e-12, atol=1e-9)
    ridge = np.stack([np.linalg.solve(big_a[k], b[k]) for k in range(4)])
    np.testing.assert_allclose(agent.theta, ridge, rtol=0, atol=1e-8)


def test_batch_update_equals_one_at_a_time() -> None:
    x, a, r = _stream(400, 5, 3, seed=2)
    one, batch = LinUCB(3, 5, seed=0), LinUCB(3, 5, seed=0)
    for i in range(len(x)):
        one.update(x[i], int(a[i]), float(r[i]))
    for lo in range(0, 400, 37):  # uneven chunks, some with one row for an action
        batch.update_batch(x[lo : lo + 37], a[lo : lo + 37], r[lo : lo + 37])
    for name in ("a_inv", "b", "theta"):
        np.testing.assert_allclose(getattr(batch, name), getattr(one, name), atol=1e-10)
    np.testing.assert_array_equal(batch.action_counts, one.action_counts)
    assert batch.n_updates == one.n_updates == 400


def test_linucb_scores_are_mean_plus_alpha_width() -> None:
    agent = LinUCB(3, 4, alpha=0.7, seed=0)
    x, a, r = _stream(200, 4, 3, seed=3)
    agent.update_batch(x, a, r)
    ctx = np.random.default_rng(4).normal(size=(10, 4))
    ucb = np.array(
        [
            [c @ agent.theta[k] + 0.7 * np.sqrt(c @ agent.a_inv[k] @ c) for k in range(3)]
            for c in ctx
        ]
    )
    actions, props = agent.act_batch(ctx)
    np.testing.assert_array_equal(actions, ucb.argmax(axis=1))
    np.testing.assert_array_equal(props, 1.0)


def test_untrained_linucb_splits_ties_uniformly() -> None:
    agent = LinUCB(4, 3, seed=0)
    x = np.ones((8000, 3))
    actions, props = agent.act_batch(x)
    np.testing.assert_allclose(props, 0.25)
    counts = np.bincount(actions, minlength=4)
    assert stats.chisquare(counts).pvalue > 1e-4


def test_exports_carry_the_model() -> None:
    x, a, r = _stream(300, 4, 3, seed=5)
    ucb = LinUCB(3, 4, alpha=0.5, seed=0)
    ucb.update_batch(x, a, r)
    policy = ucb.export()
    assert isinstance(policy, LinearPolicy)
    np.testing.assert_array_equal(policy.theta, ucb.theta)
    np.testing.assert_array_equal(policy.a_inv, ucb.a_inv)
    greedy = ucb.export(greedy=True)
    assert isinstance(greedy, LinearPolicy)
    assert greedy.a_inv is None

    ts = LinearThompsonSampling(3, 4, v=0.4, n_samples=500, propensity_seed=3, seed=0)
    ts.update_batch(x, a, r)
    tp = ts.export()
    assert isinstance(tp, ThompsonPolicy)
    assert tp.rule == ThompsonRule(0.4, 500, 3)
    np.testing.assert_allclose(tp.chol @ np.swapaxes(tp.chol, 1, 2), ts.a_inv, atol=1e-12)


def test_thompson_draws_follow_the_posterior() -> None:
    """The chosen-action frequencies match the exact two-action win probability."""
    agent = LinearThompsonSampling(2, 2, v=1.0, seed=0)
    x, a, r = _stream(30, 2, 2, seed=6)
    agent.update_batch(x, a, r)
    ctx = np.array([[1.0, 0.3]])
    mean = agent.theta @ ctx[0]
    var = np.array([ctx[0] @ agent.a_inv[k] @ ctx[0] for k in range(2)])
    p0 = stats.norm.cdf((mean[0] - mean[1]) / np.sqrt(var.sum()))
    actions, _ = agent.act_batch(np.repeat(ctx, 40_000, axis=0))
    freq0 = np.mean(actions == 0)
    assert abs(freq0 - p0) < 5 * np.sqrt(p0 * (1 - p0) / 40_000)
    estimate = agent.action_probabilities(ctx)[0, 0]
    assert abs(estimate - p0) < 5 * np.sqrt(p0 * (1 - p0) / 1000)


def test_cholesky_factor_survives_rounding_asymmetry() -> None:
    rng = np.random.default_rng(7)
    m = rng.normal(size=(3, 5, 5))
    cov = m @ np.swapaxes(m, 1, 2) + 1e-3 * np.eye(5)
    cov[:, 0, 1] += 1e-15  # not exactly symmetric, as after rank-1 updates
    chol = cholesky_factor(cov)
    assert not np.triu(chol, 1).any()
    np.testing.assert_allclose(chol @ np.swapaxes(chol, 1, 2), cov, atol=1e-12)
    singular = np.zeros((1, 3, 3))
    singular[0, 0, 0] = 1.0  # PSD but not PD: rescued by jitter
    assert np.isfinite(cholesky_factor(singular)).all()
    with pytest.raises(ValueError, match="positive semi-definite"):
        cholesky_factor(-np.eye(3)[None])


def test_single_row_greedy_ties_split_uniformly() -> None:
    agent = LinUCB(4, 3, seed=1)
    mask = np.array([True, False, True, True])
    draws = [agent.act(np.ones(3), mask) for _ in range(6000)]
    assert {p for _, p in draws} == {1 / 3}
    counts = np.bincount([a for a, _ in draws], minlength=4)
    assert counts[1] == 0
    assert stats.chisquare(counts[[0, 2, 3]]).pvalue > 1e-4


def test_thompson_zero_context_ties_split_uniformly() -> None:
    """A zero context has zero width for every action: all draws tie and split evenly."""
    agent = LinearThompsonSampling(4, 3, seed=2)
    mask = np.array([[True, True, False, True]])
    np.testing.assert_allclose(
        agent.action_probabilities(np.zeros((1, 3)), mask), [[1 / 3, 1 / 3, 0, 1 / 3]]
    )
    actions, props = agent.act_batch(np.zeros((3000, 3)), np.repeat(mask, 3000, axis=0))
    np.testing.assert_allclose(props, 1 / 3)
    counts = np.bincount(actions, minlength=4)
    assert counts[2] == 0
    assert stats.chisquare(counts[[0, 1, 3]]).pvalue > 1e-4
    action, prop = agent.act(np.zeros(3), mask[0])
    assert action != 2
    assert prop == pytest.approx(1 / 3)
