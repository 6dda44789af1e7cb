"""The contract every acting agent keeps: masks, propensities, export; parametrized."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from agent_factories import AGENT_NAMES, FACTORIES, N_ACTIONS, N_FEATURES, contexts, masks, train
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from agents.base import Agent, BanditAgent
from alpharl.policy import ThompsonRule, load_policy


@cache
def _shared_trained(name: str) -> BanditAgent:
    return train(FACTORIES[name](3))


def _mc_samples(agent: BanditAgent) -> int | None:
    rule = agent.exploration
    return rule.n_samples if isinstance(rule, ThompsonRule) else None


def test_agents_satisfy_the_protocol(trained_agent: BanditAgent) -> None:
    assert isinstance(trained_agent, Agent)


@pytest.mark.parametrize("name", AGENT_NAMES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_masks_are_never_violated(name: str, data: st.DataObject) -> None:
    agent = _shared_trained(name)
    n = data.draw(st.integers(1, 6), label="n")
    m = data.draw(arrays(np.bool_, (n, N_ACTIONS)), label="masks")
    x = data.draw(
        arrays(np.float64, (n, N_FEATURES), elements=st.floats(-5, 5, allow_nan=False)),
        label="contexts",
    )
    actions, props = agent.act_batch(x, m)
    assert actions.dtype == np.int64
    assert props.dtype == np.float64
    rows = np.arange(n)
    # The last action ("no ad") is eligible whatever the mask says.
    assert (m[rows, actions] | (actions == N_ACTIONS - 1)).all()
    assert ((props > 0) & (props <= 1)).all()
    action, prop = agent.act(x[0], m[0])
    assert m[0, action] or action == N_ACTIONS - 1
    assert 0 < prop <= 1


def test_probabilities_are_a_distribution_over_eligible_actions(
    trained_agent: BanditAgent,
) -> None:
    x, m = contexts(50, 11), masks(50, 12)
    probs = trained_agent.action_probabilities(x, m)
    assert probs.shape == (50, N_ACTIONS)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs[~m] == 0).all()


def test_propensities_are_the_chosen_actions_probabilities(trained_agent: BanditAgent) -> None:
    x, m = contexts(200, 13), masks(200, 14)
    probs = trained_agent.action_probabilities(x, m)
    actions, props = trained_agent.act_batch(x, m)
    chosen = probs[np.arange(200), actions]
    # Exact for every rule, Thompson sampling included (its distribution is defined by
    # fixed Monte-Carlo draws and the action is drawn from it).
    np.testing.assert_array_equal(props, chosen)
    assert (chosen > 0).all()


def test_single_row_propensities_match_the_full_distribution(
    trained_agent: BanditAgent,
) -> None:
    """act() takes one-row fast paths; they must report what action_probabilities says."""
    x, m = contexts(60, 25), masks(60, 26)
    probs = trained_agent.action_probabilities(x, m)
    for i in range(60):
        action, prop = trained_agent.act(x[i], m[i])
        assert m[i, action]
        assert prop == pytest.approx(probs[i, action], rel=1e-12)
        assert prop > 0


def test_propensities_match_empirical_frequencies(trained_agent: BanditAgent) -> None:
    draws = 20_000
    x = np.repeat(contexts(1, 15), draws, axis=0)
    m = np.repeat(np.array([[True, False, True, True, True]]), draws, axis=0)
    probs = trained_agent.action_probabilities(x[:1], m[:1])[0]
    actions, props = trained_agent.act_batch(x, m)
    freq = np.bincount(actions, minlength=N_ACTIONS) / draws
    assert freq[1] == 0
    tolerance = 5 * np.sqrt(probs * (1 - probs) / draws) + 1e-9
    assert (np.abs(freq - probs) <= tolerance).all(), (freq, probs)
    support = probs > 0
    assert (freq[~support] == 0).all()
    if support.sum() > 1:
        observed = np.bincount(actions, minlength=N_ACTIONS)[support]
        chi2 = stats.chisquare(observed, probs[support] * draws)
        assert chi2.pvalue > 1e-4
    # Each draw's propensity is its action's probability under the same distribution.
    np.testing.assert_array_equal(props, probs[actions])


def test_act_and_act_batch_agree(agent_name: str) -> None:
    one, batch = train(FACTORIES[agent_name](5)), train(FACTORIES[agent_name](5))
    x, m = contexts(20, 16), masks(20, 17)
    singles = [one.act(x[i], m[i]) for i in range(20)]
    # act() and act_batch() of one row consume the generator identically.
    batched = [batch.act_batch(x[i : i + 1], m[i : i + 1]) for i in range(20)]
    assert [a for a, _ in singles] == [int(a[0]) for a, _ in batched]
    np.testing.assert_allclose([p for _, p in singles], [float(p[0]) for _, p in batched])


def test_export_decides_like_the_agent(trained_agent: BanditAgent) -> None:
    x, m = contexts(300, 18), masks(300, 19)
    policy = trained_agent.export()
    n_samples = _mc_samples(trained_agent)
    # Thompson: the exported Cholesky factor gives widths equal up to rounding, which can
    # move a Monte-Carlo draw across a tie only with vanishing probability.
    atol = 0.0 if n_samples is None else 1.0 / n_samples
    np.testing.assert_allclose(
        policy.action_probabilities(x, m), trained_agent.action_probabilities(x, m), atol=atol
    )
    rng = copy.deepcopy(trained_agent.rng)
    agent_actions, agent_props = trained_agent.act_batch(x, m)
    policy_actions, policy_props = policy.decide(x, m, rng=rng)
    np.testing.assert_array_equal(policy_actions, agent_actions)
    np.testing.assert_allclose(policy_props, agent_props, atol=atol)


def test_greedy_export_equals_the_agents_greedy_decisions(trained_agent: BanditAgent) -> None:
    if trained_agent.pacing is not None:
        pytest.skip("a paced agent's greedy export stays paced (test_pacing covers it)")
    x, m = contexts(300, 20), masks(300, 21)
    estimate = np.where(m, trained_agent.estimate(x), -np.inf)
    top = (estimate == estimate.max(axis=1, keepdims=True)) & m
    policy = trained_agent.export(greedy=True)
    np.testing.assert_allclose(
        policy.action_probabilities(x, m), top / top.sum(axis=1, keepdims=True)
    )
    actions, props = policy.decide(x, m, rng=0)
    unique = top.sum(axis=1) == 1
    np.testing.assert_array_equal(actions[unique], estimate[unique].argmax(axis=1))
    np.testing.assert_allclose(props, 1.0 / top.sum(axis=1))


@pytest.mark.parametrize("greedy", [False, True])
def test_exported_policy_round_trips_through_load_policy(
    trained_agent: BanditAgent, greedy: bool, tmp_path: Path
) -> None:
    x, m = contexts(100, 22), masks(100, 23)
    policy = trained_agent.export(greedy=greedy)
    loaded = load_policy(policy.save(tmp_path / "policy"))
    assert type(loaded) is type(policy)
    np.testing.assert_array_equal(
        loaded.action_probabilities(x, m), policy.action_probabilities(x, m)
    )
    a1, p1 = policy.decide(x, m, rng=42)
    a2, p2 = loaded.decide(x, m, rng=42)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(p1, p2)


def test_export_is_a_snapshot(trained_agent: BanditAgent) -> None:
    x = contexts(30, 24)
    policy = trained_agent.export(greedy=True)
    before = policy.action_probabilities(x)
    train(trained_agent, rounds=100, seed=9)
    np.testing.assert_array_equal(policy.action_probabilities(x), before)
