"""Budget pacing as a part (issue #8, item 3): adherence, reward, exact propensities, export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from agent_factories import COSTS, N_ACTIONS, N_FEATURES, contexts, masks, primed, train
from budget_env import budget_env
from scipy import stats

from agents.bandits import EpsilonGreedy, LinearBandit, LinearThompsonSampling, LinUCB
from agents.base import BanditAgent, StepRecord, load_agent
from agents.baselines import RandomAgent
from agents.pacing import DualPacing, ThrottlePacing, pacing_from_config
from alpharl.policy import GreedyRule, ShadowPriceRule, ThrottleRule, load_policy


def _episodes(agent: BanditAgent, env: Any, steps: int, seed: int) -> np.ndarray:
    """``(episodes, 2)``: reward and spend of every episode that ended during `learn`."""
    rows: list[tuple[float, float]] = []
    reward = [0.0]

    def callback(record: StepRecord) -> None:
        reward[0] += record.reward
        if record.info["steps_left"] == 0:
            rows.append((reward[0], float(record.info["spend"])))
            reward[0] = 0.0

    agent.learn(env, steps, callback, seed=seed)
    return np.array(rows)


def _linucb(env: Any, seed: int, pacing: Any = None) -> LinUCB:
    return LinUCB(int(env.action_space.n), env.observation_space.shape[0], seed=seed, pacing=pacing)


@pytest.mark.parametrize(
    "pacing", [DualPacing(), DualPacing(rate="fixed"), ThrottlePacing()], ids=repr
)
@pytest.mark.parametrize("seed", [0, 1])
def test_pacing_keeps_within_the_budget_and_spends_it_when_it_binds(pacing: Any, seed: int) -> None:
    env = budget_env(budget=5.0, horizon=500)
    agent = _linucb(env, seed, pacing_from_config(pacing.to_config()))
    episodes = _episodes(agent, env, 5000, seed)
    assert len(episodes) >= 8
    spend = episodes[:, 1]
    assert (spend <= 5.0 + 1e-9).all()
    assert spend.mean() >= 0.9 * 5.0, spend


@pytest.mark.slow
def test_dual_pacing_beats_unpaced_linucb_when_the_budget_binds() -> None:
    """Default env (budget 10 over 1,000 opportunities binds): mean reward per episode
    over the second half of 40,000 steps, three seeds, paced vs unpaced on the same seeds."""
    paced: list[float] = []
    unpaced: list[float] = []
    for seed in range(3):
        env = budget_env(budget=10.0)
        for pacing, out in ((DualPacing(), paced), (None, unpaced)):
            episodes = _episodes(_linucb(env, seed, pacing), env, 40_000, seed)
            out.append(episodes[len(episodes) // 2 :, 0].mean())
    assert np.mean(paced) > np.mean(unpaced), (paced, unpaced)


def test_dual_pacing_with_a_loose_budget_is_the_unpaced_agent() -> None:
    """A budget that never binds drives lambda to 0: the paced agent acts exactly alike."""
    env = budget_env(budget=1000.0, horizon=300)
    paced, plain = _linucb(env, 3, DualPacing()), _linucb(env, 3)
    actions: dict[str, list[int]] = {"paced": [], "plain": []}
    for name, agent in (("paced", paced), ("plain", plain)):
        agent.learn(env, 1500, lambda r, n=name: actions[n].append(r.action), seed=5)  # type: ignore[misc]
    assert paced.pacing is not None
    assert paced.pacing.control == 0.0
    assert actions["paced"] == actions["plain"]
    np.testing.assert_array_equal(paced.theta, plain.theta)


def test_dual_multiplier_rises_when_overspending_and_falls_when_underspending() -> None:
    pacing = DualPacing(step_size=0.1)
    pacing.bind(3)
    info = {"action_costs": np.array([0.2, 0.1, 0.0]), "budget": 10.0}
    pacing.observe(info | {"budget_left": 10.0, "steps_left": 100})  # rho = 0.1
    pacing.record(0)  # spent 0.2 > 0.1: lambda += 0.1 * (0.2 - 0.1) / 0.1
    assert pacing.multiplier == pytest.approx(0.1)
    pacing.observe(info | {"budget_left": 9.8, "steps_left": 99})
    pacing.record(2)  # spent 0 < 9.8 / 99
    assert pacing.multiplier == pytest.approx(0.1 - 0.1 * (9.8 / 99) / 0.1)


@pytest.mark.parametrize(
    ("build", "control"),
    [
        (
            lambda: LinearBandit(
                N_ACTIONS, N_FEATURES, {"name": "epsilon_greedy"}, seed=1, pacing=DualPacing()
            ),
            2.5,
        ),
        (
            lambda: LinearThompsonSampling(N_ACTIONS, N_FEATURES, seed=1, pacing={"name": "dual"}),
            1.0,
        ),
        (lambda: EpsilonGreedy(N_ACTIONS, 0.2, seed=1, pacing=ThrottlePacing()), 0.3),
        (lambda: LinUCB(N_ACTIONS, N_FEATURES, seed=1, pacing=ThrottlePacing()), 0.5),
    ],
)
def test_paced_propensities_are_exact(build: Callable[[], BanditAgent], control: float) -> None:
    """Empirical action frequencies under a fixed paced state match the logged
    propensities (chi-square), and each logged propensity is its action's probability.
    (LinUCB with dual pacing is deterministic up to ties: nothing to test statistically.)"""
    agent = primed(train(build()), control)
    x = np.repeat(contexts(1, 4), 20_000, axis=0)
    m = np.repeat(masks(1, 5, p=0.9), 20_000, axis=0)
    probs = agent.action_probabilities(x[:1], m[:1])[0]
    actions, props = agent.act_batch(x, m)
    np.testing.assert_array_equal(props, probs[actions])
    counts = np.bincount(actions, minlength=N_ACTIONS)
    support = probs > 0
    assert (counts[~support] == 0).all()
    assert support.sum() >= 2
    assert stats.chisquare(counts[support], probs[support] * len(actions)).pvalue > 1e-4


def test_shadow_price_reorders_by_cost_and_throttle_mixes_in_no_ad() -> None:
    mean = np.array([[0.5, 0.4, 0.0]])
    costs = (0.2, 0.05, 0.0)
    assert GreedyRule().probabilities(mean, None, None).argmax() == 0
    paced = ShadowPriceRule(GreedyRule(), 1.0, costs).probabilities(mean, None, None)
    np.testing.assert_array_equal(paced, [[0.0, 1.0, 0.0]])  # 0.3 < 0.35
    expensive = ShadowPriceRule(GreedyRule(), 10.0, costs).probabilities(mean, None, None)
    np.testing.assert_array_equal(expensive, [[0.0, 0.0, 1.0]])  # nothing beats no ad
    throttled = ThrottleRule(GreedyRule(), 0.25).probabilities(mean, None, None)
    np.testing.assert_allclose(throttled, [[0.25, 0.0, 0.75]])


def test_export_carries_the_multiplier_as_of_export(tmp_path: Path) -> None:
    env = budget_env(budget=5.0, horizon=500)
    agent = _linucb(env, 0, DualPacing())
    agent.learn(env, 3000)
    assert agent.pacing is not None
    lam = agent.pacing.control
    assert lam > 0
    policy = agent.export()
    assert isinstance(policy.rule, ShadowPriceRule)
    assert policy.rule.multiplier == lam
    np.testing.assert_array_equal(policy.rule.costs, env.unwrapped.costs_full)
    loaded = load_policy(policy.save(tmp_path / "policy"))
    manifest = (tmp_path / "policy" / "policy.json").read_text()
    assert '"shadow_price"' in manifest
    assert '"multiplier"' in manifest
    x = np.stack([env.observation_space.sample() for _ in range(50)])
    np.testing.assert_array_equal(loaded.action_probabilities(x), agent.action_probabilities(x))
    agent.learn(env, 200)  # the agent moves on; the exported policy does not
    assert loaded.rule.multiplier == lam  # type: ignore[attr-defined]


def test_saving_and_loading_keeps_the_pacing_state(tmp_path: Path) -> None:
    env = budget_env(budget=5.0, horizon=500)
    agent = _linucb(env, 2, ThrottlePacing(step_size=0.02))
    agent.learn(env, 2000)
    loaded = load_agent(agent.save(tmp_path))
    assert loaded.config() == agent.config()
    assert isinstance(loaded, LinUCB)
    assert loaded.pacing is not None
    assert agent.pacing is not None
    np.testing.assert_array_equal(loaded.pacing.state, agent.pacing.state)
    np.testing.assert_array_equal(loaded.pacing.costs, agent.pacing.costs)
    first = agent.learn(env, 700, seed=9)
    second = loaded.learn(env, 700, seed=9)
    assert first == second
    np.testing.assert_array_equal(loaded.pacing.state, agent.pacing.state)


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: RandomAgent(N_ACTIONS, pacing=DualPacing()), TypeError, "pacing"),  # type: ignore[call-arg]
        (lambda: LinUCB(N_ACTIONS, N_FEATURES, pacing={"name": "pid"}), ValueError, "'pid'"),
        (
            lambda: LinUCB(N_ACTIONS, N_FEATURES, pacing={"name": "dual", "eta": 1}),
            ValueError,
            "eta",
        ),
        (lambda: DualPacing(step_size=0), ValueError, "step_size must be > 0"),
        (lambda: DualPacing(rate="daily"), ValueError, "rate must be one of"),
        (lambda: DualPacing(initial_multiplier=5, max_multiplier=1), ValueError, "max_multiplier"),
        (lambda: ThrottlePacing(min_participation=0), ValueError, "min_participation"),
        (
            lambda: LinUCB(N_ACTIONS, N_FEATURES).__class__.__mro__[1](  # LinearBandit
                N_ACTIONS, N_FEATURES, {"name": "throttle", "inner": {"name": "greedy"}}
            ),
            ValueError,
            "pace with `pacing=`",
        ),
        (lambda: ShadowPriceRule(GreedyRule(), 1.0, (0.1, 0.2)), ValueError, "must cost 0"),
    ],
)
def test_bad_pacing_fails_when_built(build: Callable[[], Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        build()


def test_pacing_names_the_info_keys_it_misses() -> None:
    agent = LinUCB(N_ACTIONS, N_FEATURES, pacing=DualPacing())
    with pytest.raises(KeyError, match="budget_left"):
        agent._act_in_env(contexts(1, 0)[0], {"action_costs": COSTS, "budget": 1.0})
    bad = {"action_costs": COSTS[:3], "budget": 1.0, "budget_left": 1.0, "steps_left": 3}
    with pytest.raises(ValueError, match="action_costs"):
        agent._act_in_env(contexts(1, 0)[0], bad)
