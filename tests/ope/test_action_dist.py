"""Policies' action probabilities in OBP's shape, and exact policy values."""

from __future__ import annotations

import numpy as np
import pytest

from alpharl.ope import (
    action_dist_from_actions,
    action_dist_from_probabilities,
    ground_truth_policy_value,
)


def test_probabilities_become_a_single_position_action_dist() -> None:
    probs = np.array([[0.2, 0.8], [1.0, 0.0]])
    dist = action_dist_from_probabilities(probs)
    assert dist.shape == (2, 2, 1)
    np.testing.assert_array_equal(dist[:, :, 0], probs)


def test_chosen_actions_become_one_hot() -> None:
    dist = action_dist_from_actions([1, 0, 2], n_actions=3)
    np.testing.assert_array_equal(dist[:, :, 0], [[0, 1, 0], [1, 0, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match=r"actions\[1\]: is out of range for n_actions=3"):
        action_dist_from_actions([1, 3], n_actions=3)


def test_ground_truth_value_is_the_policy_weighted_mean_reward() -> None:
    q = np.array([[1.0, 0.0], [0.5, 2.0]])
    pi = np.array([[0.25, 0.75], [0.5, 0.5]])
    # round 0: .25 * 1 = .25; round 1: .5 * .5 + .5 * 2 = 1.25
    assert ground_truth_policy_value(q, pi) == pytest.approx((0.25 + 1.25) / 2)
    assert ground_truth_policy_value(q, pi[:, :, None]) == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        ([[0.5, 0.6]], r"probabilities\[0, :, 0\]: must sum to 1 over actions \(got 1.1"),
        ([[1.5, -0.5]], r"probabilities\[0, 1, 0\]: must be >= 0 \(got -0.5\)"),
        ([0.5, 0.5], r"probabilities: must be a 2-D array \(got \(2,\)\)"),
    ],
)
def test_bad_probabilities_raise(probs: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        action_dist_from_probabilities(probs)


def test_ground_truth_value_checks_shapes() -> None:
    with pytest.raises(ValueError, match=r"action_dist: must match expected_rewards \(1, 3\)"):
        ground_truth_policy_value(np.zeros((1, 3)), [[0.5, 0.5]])
    with pytest.raises(ValueError, match=r"action_dist: must have len_list=1"):
        ground_truth_policy_value(np.zeros((1, 2)), np.full((1, 2, 2), 0.5))
