"""Decision rules: configs, parameter checks, sampling, decay."""

from __future__ import annotations

import numpy as np
import pytest

from alpharl.policy import (
    DecisionRule,
    EpsilonGreedyRule,
    GreedyRule,
    ThompsonRule,
    UCBRule,
    rule_from_config,
)
from alpharl.policy.rules import sample_categorical

RULES = [
    GreedyRule(),
    EpsilonGreedyRule(0.25, decay=0.1),
    UCBRule(0.5),
    ThompsonRule(0.3, 50, 4),
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_config_round_trips(rule: DecisionRule) -> None:
    config = rule.to_config()
    assert config["name"] == rule.name
    assert rule_from_config(config) == rule
    assert rule_from_config(rule) is rule


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({"name": "epsilon_greedy", "epsilon": 2.0}, ValueError, r"epsilon must be .* got 2\.0"),
        ({"name": "epsilon_greedy", "epsilon": True}, TypeError, "epsilon must be a number"),
        ({"name": "ucb", "alpha": float("inf")}, ValueError, "alpha must be finite"),
        ({"name": "thompson", "v": 0}, ValueError, "v must be > 0"),
        ({"name": "thompson", "n_samples": 1.5}, ValueError, "n_samples must be an integer"),
        ({"name": "thompson", "seed": -2}, ValueError, "seed must be an integer >= 0"),
        ({"name": "greedy", "epsilon": 0.1}, ValueError, r"unknown parameters \['epsilon'\]"),
        ({"alpha": 1.0}, ValueError, "unknown decision rule name None"),
        (["ucb"], TypeError, "must be a DecisionRule or a mapping"),
    ],
)
def test_bad_rule_configs_fail_clearly(
    config: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        rule_from_config(config)  # type: ignore[arg-type]


def test_epsilon_decays_as_one_over_t() -> None:
    rule = EpsilonGreedyRule(0.5, decay=0.1)
    assert not rule.stationary
    assert rule.current(0).epsilon == 0.5
    assert rule.current(30).epsilon == pytest.approx(0.125)
    assert rule.current(30).stationary
    constant = EpsilonGreedyRule(0.5)
    assert constant.current(1000) is constant


def test_categorical_sampling_never_picks_a_zero_probability_action() -> None:
    probs = np.tile([0.2, 0.0, 0.8 - 1e-17, 0.0], (50_000, 1))
    actions, props = sample_categorical(probs, np.random.default_rng(0))
    assert set(np.unique(actions)) <= {0, 2}
    assert (props > 0).all()
    assert np.mean(actions == 0) == pytest.approx(0.2, abs=0.01)


def test_ucb_with_zero_alpha_ignores_infinite_widths() -> None:
    mean = np.array([[0.1, 0.5, 0.2]])
    width = np.array([[np.inf, 0.0, np.inf]])
    np.testing.assert_array_equal(UCBRule(0.0).probabilities(mean, width, None), [[0, 1, 0]])
    np.testing.assert_array_equal(UCBRule(1.0).probabilities(mean, width, None), [[0.5, 0, 0.5]])


def test_nan_scores_are_an_error_not_a_silent_choice() -> None:
    with pytest.raises(ValueError, match=r"scores are NaN .* rows \[0\]"):
        GreedyRule().probabilities(np.array([[np.nan, np.nan]]), None, None)


def test_thompson_probabilities_respect_masks_in_chunks() -> None:
    rule = ThompsonRule(1.0, n_samples=2000, seed=0)
    n = 700  # several Monte-Carlo chunks
    rng = np.random.default_rng(1)
    mean, width = rng.normal(size=(n, 3)), rng.random((n, 3))
    eligible = rng.random((n, 3)) < 0.6
    eligible[:, -1] = True
    probs = rule.probabilities(mean, width, eligible)
    assert (probs[~eligible] == 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_array_equal(
        probs[5:6], rule.probabilities(mean[5:6], width[5:6], eligible[5:6])
    )
