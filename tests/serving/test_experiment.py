"""Per-arm summaries and the mixture SPRT (Johari et al. 2017)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from alpharl.serving.decision_log import ArmTotals
from alpharl.serving.experiment import MIN_PER_ARM, msprt, summarize_arm
from alpharl.serving.service import arm_for


def test_summary_matches_hand_computation() -> None:
    rewards = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    totals = ArmTotals(8, 5, float(rewards.sum()), float((rewards**2).sum()))
    s = summarize_arm("champion", totals)
    half = 1.959963984540054 * rewards.std(ddof=1) / math.sqrt(5)
    assert s.mean_reward == pytest.approx(0.6)
    assert s.feedback_rate == pytest.approx(5 / 8)
    assert s.ci_low == pytest.approx(0.6 - half)
    assert s.ci_high == pytest.approx(0.6 + half)
    assert summarize_arm("x", None).decisions == 0
    no_fb = summarize_arm("x", ArmTotals(3, 0, 0.0, 0.0))
    assert (no_fb.mean_reward, no_fb.feedback_rate) == (None, 0.0)


def test_balanced_statistic_matches_the_papers_formula() -> None:
    """With equal n and known variance the paper's Lambda_n is reproduced exactly."""
    rng = np.random.default_rng(0)
    n, tau = 200, 0.3
    a = rng.normal(0.0, 1.0, n)
    b = rng.normal(0.2, 1.0, n)
    arms = np.array(["champion", "challenger"] * n)
    rewards = np.column_stack([a, b]).reshape(-1)
    out = msprt(arms, rewards, tau)
    va, vb = a.var(ddof=1), b.var(ddof=1)
    v = va / n + vb / n
    delta = b.mean() - a.mean()
    expected = 0.5 * math.log(v / (v + tau**2)) + tau**2 * delta**2 / (2 * v * (v + tau**2))
    assert out.log_likelihood_ratio == pytest.approx(expected, rel=1e-9)
    assert out.difference == pytest.approx(delta)
    sigma2 = (va + vb) / 2  # the paper's form with a common variance
    paper = math.sqrt(2 * sigma2 / (2 * sigma2 + n * tau**2)) * math.exp(
        n**2 * tau**2 * delta**2 / (4 * sigma2 * (2 * sigma2 + n * tau**2))
    )
    assert math.exp(expected) == pytest.approx(paper, rel=1e-9)
    assert (out.n_champion, out.n_challenger) == (n, n)


def test_no_data_or_too_little_gives_p_one() -> None:
    empty = msprt(np.array([], dtype=str), np.zeros(0), 0.1)
    assert empty.p_value == 1.0
    assert empty.difference is None
    few = msprt(np.array(["champion", "challenger"] * (MIN_PER_ARM - 1)), np.ones(18), 0.1)
    assert few.p_value == 1.0
    with pytest.raises(ValueError, match="tau"):
        msprt(np.array(["champion"]), np.ones(1), 0.0)
    with pytest.raises(ValueError, match="equal-length"):
        msprt(np.array(["champion"]), np.ones(2), 0.1)


def test_p_value_is_a_running_minimum() -> None:
    rng = np.random.default_rng(1)
    arms = rng.choice(["champion", "challenger"], 600)
    rewards = rng.binomial(1, np.where(arms == "challenger", 0.3, 0.2)).astype(float)
    ps = [msprt(arms[:t], rewards[:t], 0.1).p_value for t in range(50, 601, 50)]
    assert all(later <= earlier for earlier, later in itertools.pairwise(ps))


def test_detects_a_real_difference_and_controls_false_alarms() -> None:
    rng = np.random.default_rng(2)
    n = 2000
    arms = rng.choice(["champion", "challenger"], n)
    strong = rng.binomial(1, np.where(arms == "challenger", 0.30, 0.15)).astype(float)
    assert msprt(arms, strong, 0.1).p_value < 1e-4
    # Under the null the always-valid p-value stays above alpha for all t in most runs.
    alarms = 0
    runs = 200
    for _ in range(runs):
        arms = rng.choice(["champion", "challenger"], 1000)
        null = rng.binomial(1, 0.2, 1000).astype(float)
        alarms += msprt(arms, null, 0.1).p_value <= 0.05
    assert alarms / runs <= 0.08  # nominal 0.05; plug-in variances make it approximate


def test_constant_rewards_are_handled() -> None:
    arms = np.array(["champion", "challenger"] * 20)
    same = msprt(arms, np.ones(40), 0.1)
    assert same.p_value == 1.0
    diff = msprt(arms, np.tile([0.0, 1.0], 20), 0.1)
    assert diff.p_value == 0.0


def test_arm_assignment_is_sticky_and_proportional() -> None:
    users = [f"user-{i}" for i in range(20_000)]
    arms = [arm_for(u, 0.2) for u in users]
    assert arms == [arm_for(u, 0.2) for u in users]
    share = arms.count("challenger") / len(users)
    assert abs(share - 0.2) < 0.015
    assert {arm_for(u, 0.0) for u in users[:100]} == {"champion"}
    assert {arm_for(u, 1.0) for u in users[:100]} == {"challenger"}
    # Growing the share only moves users from champion to challenger (monotone split).
    grown = [arm_for(u, 0.3) for u in users]
    assert all(g == "challenger" for a, g in zip(arms, grown, strict=True) if a == "challenger")
