"""The hindsight bound: the LP solver against scipy, and no policy above the bound."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from agents.bandits import LinUCB
from agents.baselines import PacedOracleAgent
from alpharl.creatives import catalog_to_dicts, load_catalog
from envs import AdDeliveryEnv
from envs.hindsight import HindsightLP

Policy = Callable[[np.ndarray, dict[str, Any]], int]


def lp_by_scipy(r: np.ndarray, c: np.ndarray, budget: float) -> float:
    n, k = r.shape
    a_ub = np.zeros((n + 1, n * k))
    for i in range(n):
        a_ub[i, i * k : (i + 1) * k] = 1.0
    a_ub[-1] = np.tile(c, n)
    b_ub = np.append(np.ones(n), budget)
    res = linprog(-r.ravel(), A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
    assert res.status == 0
    return float(-res.fun)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 15),
    k=st.integers(1, 5),
    seed=st.integers(0, 2**31),
    budget=st.floats(0.0, 4.0),
    free=st.booleans(),
)
def test_lp_matches_scipy(n: int, k: int, seed: int, budget: float, free: bool) -> None:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.1, 0.5, (n, k))
    c = rng.choice([0.0, 0.1, 0.5, 1.0], k) if free else rng.uniform(0.05, 1.0, k)
    lp = HindsightLP(r, c)
    lo = int(rng.integers(0, n))
    bound, lam = lp.solve(lo, n, budget)
    assert bound == pytest.approx(lp_by_scipy(r[lo:], c, budget), abs=1e-7)
    assert lam >= 0.0
    # lam* minimises the dual: nudging it either way never lowers g.
    for other in (lam * 0.9, lam * 1.1 + 1e-3, 0.0):
        assert lp.dual(lo, n, other, budget) >= bound - 1e-9


def test_lp_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="costs"):
        HindsightLP(np.zeros((2, 2)), np.array([0.1, -0.1]))
    with pytest.raises(ValueError, match="shapes"):
        HindsightLP(np.zeros((2, 2)), np.array([0.1]))


def greedy(obs: np.ndarray, info: dict[str, Any]) -> int:
    return int(info["best_action"])


def threshold(tau: float) -> Policy:
    def act(obs: np.ndarray, info: dict[str, Any]) -> int:
        p = np.where(info["action_mask"][:-1], info["click_probs"][:-1], -1.0)
        best = int(p.argmax())
        return best if p[best] >= tau else len(p)

    return act


def uniform(seed: int) -> Policy:
    rng = np.random.default_rng(seed)
    return lambda obs, info: int(rng.choice(np.flatnonzero(info["action_mask"])))


def paced(env: AdDeliveryEnv, eta: float) -> Policy:
    agent = PacedOracleAgent(env.n_creatives + 1, eta=eta)
    return lambda obs, info: agent.act_with_info(info)[0]


def linucb(env: AdDeliveryEnv) -> Policy:
    agent = LinUCB(env.n_creatives + 1, env.feature_spec.dim, alpha=0.5, seed=0)
    agent.learn(env, 600, seed=123)
    return lambda obs, info: agent.act(obs, info["action_mask"])[0]


def episode(
    env: AdDeliveryEnv, policy: Policy, seed: int, start: int
) -> tuple[float, float, float]:
    """(expected reward of the actions taken, realised reward, hindsight bound)."""
    obs, info = env.reset(seed=seed, options={"start": start})
    expected = realised = 0.0
    while True:
        action = policy(obs, info)
        expected += float(info["expected_rewards"][action])
        obs, reward, terminated, truncated, info = env.step(action)
        realised += float(reward)
        if terminated or truncated:
            return expected, realised, float(info["hindsight_bound"])


def random_catalog(rng: np.random.Generator) -> list[dict[str, Any]]:
    base = catalog_to_dicts(load_catalog(None))
    keep = rng.choice(len(base), int(rng.integers(2, len(base) + 1)), replace=False)
    out = []
    for j in keep:
        creative = dict(base[int(j)])
        creative["cost_per_impression"] = float(rng.choice([0.0, 0.005, 0.02, 0.05, 0.1]))
        out.append(creative)
    if all(c["cost_per_impression"] == 0 for c in out):
        out[0]["cost_per_impression"] = 0.02
    return out


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**31),
    budget=st.sampled_from([0.1, 0.5, 2.0, 10.0, 1e4]),
    fatigue=st.sampled_from([0.0, 0.7, 3.0]),
    cap=st.sampled_from([None, 0.5, 2.0]),
    cost_weight=st.sampled_from([0.0, 1.0]),
)
def test_no_policy_beats_the_bound(
    small_posts: pa.Table,
    seed: int,
    budget: float,
    fatigue: float,
    cap: float | None,
    cost_weight: float,
) -> None:
    rng = np.random.default_rng(seed)
    catalog = random_catalog(rng)
    if budget < min(c["cost_per_impression"] for c in catalog):
        budget = 1.0
    env = AdDeliveryEnv(
        posts=small_posts,
        catalog=catalog,
        click_model={"fatigue_weight": fatigue, "congruence": float(rng.uniform(0, 3))},
        budget=budget,
        horizon=int(rng.integers(20, 150)),
        fatigue_cap=cap,
        cost_weight=cost_weight,
        value_per_click=float(rng.uniform(0.5, 3.0)),
    )
    policies: dict[str, Policy] = {
        "greedy": greedy,
        "random": uniform(seed),
        "paced": paced(env, 0.0),
        "paced-adaptive": paced(env, 0.02),
        **{f"tau={tau}": threshold(tau) for tau in (0.0, 0.02, 0.05, 0.1, 0.2, 0.4)},
    }
    starts = rng.integers(0, small_posts.num_rows, 3).tolist()
    for name, policy in policies.items():
        for start in starts:
            expected, _, bound = episode(env, policy, int(rng.integers(1 << 30)), int(start))
            assert expected <= bound + 1e-9, (name, start, expected, bound)


@pytest.mark.parametrize("fatigue", [0.0, 0.7])
def test_trained_linucb_and_realised_means_stay_below(posts: pa.Table, fatigue: float) -> None:
    env = AdDeliveryEnv(
        posts=posts, budget=1.0, horizon=200, click_model={"fatigue_weight": fatigue}
    )
    policies = {"linucb": linucb(env), "greedy": greedy, "paced": paced(env, 0.02)}
    for name, policy in policies.items():
        runs = np.array([episode(env, policy, seed, start=300) for seed in range(60)])
        expected, realised, bound = runs.T
        assert np.all(bound == bound[0])  # the bound depends on the posts, not the seed
        assert np.all(expected <= bound + 1e-9), name
        se = realised.std(ddof=1) / np.sqrt(len(realised))
        assert realised.mean() <= bound[0] + 4 * se, name


def test_bound_covers_the_whole_window_even_when_the_budget_ends_early(
    posts: pa.Table,
) -> None:
    env = AdDeliveryEnv(posts=posts, budget=0.2, horizon=300)
    _, info = env.reset(seed=0, options={"start": 100})
    lam = info["bound_multiplier"]
    assert lam > 0  # the budget binds
    steps = 0
    while True:
        _, _, terminated, truncated, info = env.step(0)
        steps += 1
        if terminated or truncated:
            break
    assert terminated
    assert steps < 300
    r = env._decision0[100:400, 1, :-1]
    assert info["hindsight_bound"] == pytest.approx(
        lp_by_scipy(r, env.costs, 0.2 + env._tol), abs=1e-7
    )


def test_paced_oracle_beats_thresholds_when_the_budget_binds(posts: pa.Table) -> None:
    """Without fatigue the static hindsight multiplier is the LP's rule: near the bound."""
    env = AdDeliveryEnv(posts=posts, budget=1.0, horizon=400, click_model={"fatigue_weight": 0.0})
    seeds, start = range(8), 200

    def mean_expected(policy: Policy) -> float:
        return float(np.mean([episode(env, policy, s, start)[0] for s in seeds]))

    bound = episode(env, greedy, 0, start)[2]
    paced_reward = mean_expected(paced(env, 0.0))
    best_threshold = max(mean_expected(threshold(t)) for t in np.arange(0.0, 0.3, 0.01))
    assert paced_reward > best_threshold
    assert paced_reward > mean_expected(greedy)
    assert paced_reward >= 0.95 * bound
