"""Pacing wrappers of decision rules: exact distributions, configs, policies that carry them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alpharl.policy import (
    EpsilonGreedyRule,
    GreedyRule,
    LinearPolicy,
    ShadowPriceRule,
    ThompsonPolicy,
    ThompsonRule,
    ThrottleRule,
    UCBRule,
    load_policy,
    rule_from_config,
)

COSTS = (0.4, 0.1, 0.0)
RULES = [
    ShadowPriceRule(UCBRule(0.5), 1.5, COSTS),
    ShadowPriceRule(ThompsonRule(0.7, 300, 2), 0.8, COSTS),
    ThrottleRule(EpsilonGreedyRule(0.2), 0.35),
    ThrottleRule(ThompsonRule(0.5, 200, 1), 0.5),
]


@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_config_round_trip(rule: ShadowPriceRule | ThrottleRule) -> None:
    again = rule_from_config(rule.to_config())
    assert again == rule
    assert again.base == rule.base
    mean, width = np.array([[0.5, 0.3, 0.0]]), np.array([[0.2, 0.1, 0.3]])
    np.testing.assert_array_equal(
        again.probabilities(mean, width, None), rule.probabilities(mean, width, None)
    )


@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_sample_draws_from_probabilities(rule: ShadowPriceRule | ThrottleRule) -> None:
    n = 30_000
    mean = np.tile([[0.5, 0.3, 0.0]], (n, 1))
    width = np.tile([[0.2, 0.1, 0.3]], (n, 1))
    eligible = np.ones((n, 3), dtype=bool)
    probs = rule.probabilities(mean[:1], width[:1], eligible[:1])[0]
    actions, props = rule.sample(mean, width, eligible, np.random.default_rng(0))
    np.testing.assert_array_equal(props, probs[actions])
    freq = np.bincount(actions, minlength=3) / n
    assert (np.abs(freq - probs) <= 5 * np.sqrt(probs * (1 - probs) / n) + 1e-12).all()


def test_throttled_no_ad_keeps_the_inner_rules_share() -> None:
    mean = np.array([[0.0, 0.0, 1.0]])  # the inner rule itself prefers "no ad"
    np.testing.assert_allclose(
        ThrottleRule(GreedyRule(), 0.3).probabilities(mean, None, None), [[0, 0, 1]]
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"name": "throttle", "inner": {"name": "greedy"}, "participation": 1.5}, "participation"),
        (
            {"name": "throttle", "inner": {"name": "throttle", "inner": {"name": "greedy"}}},
            "wraps an exploration rule",
        ),
        (
            {"name": "shadow_price", "inner": {"name": "ucb"}, "multiplier": -1, "costs": [1, 0]},
            "multiplier",
        ),
        ({"name": "shadow_price", "inner": {"name": "ucb"}, "costs": [1, "x", 0]}, "costs"),
        ({"name": "shadow_price", "inner": {"name": "ucb"}, "costs": [-1, 0]}, "costs"),
    ],
)
def test_bad_configs_name_the_field(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rule_from_config(config)


def test_costs_must_match_the_number_of_actions() -> None:
    rule = ShadowPriceRule(GreedyRule(), 1.0, (0.2, 0.0))
    with pytest.raises(ValueError, match="costs: 2 given for 3 actions"):
        rule.probabilities(np.zeros((1, 3)), None, None)


def test_policies_save_and_load_paced_rules(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(3, 2))
    cov = np.tile(np.eye(2), (3, 1, 1))
    linear = LinearPolicy(theta, cov, ShadowPriceRule(UCBRule(1.0), 2.0, COSTS))
    thompson = ThompsonPolicy(theta, cov, ThrottleRule(ThompsonRule(0.5, 100), 0.6))
    x = rng.normal(size=(40, 2))
    for i, policy in enumerate((linear, thompson)):
        loaded = load_policy(policy.save(tmp_path / str(i)))
        assert loaded.rule == policy.rule
        np.testing.assert_array_equal(
            loaded.action_probabilities(x), policy.action_probabilities(x)
        )
    with pytest.raises(ValueError, match="supports rules"):
        LinearPolicy(theta, cov, ThrottleRule(ThompsonRule(), 0.5))
