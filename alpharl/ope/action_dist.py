"""Evaluation-policy action distributions in OBP's shape, and exact policy values.

A policy exported to `alpharl.policy` gives ``action_probabilities(contexts, masks)`` of
shape ``(n, n_actions)``; the estimators take OBP's ``action_dist`` of shape
``(n_rounds, n_actions, len_list)``. In simulation the environment knows every action's
expected reward, so a policy's true value on the logged contexts is exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alpharl.ope.checks import check_action_dist, check_float_array, check_int_array
from alpharl.schema import RecordError


def action_dist_from_probabilities(probabilities: Any) -> np.ndarray:
    """Turn a policy's action probabilities ``(n, n_actions)`` into ``(n, n_actions, 1)``.

    Args:
        probabilities: ``pi_e(a|x_i)`` per round; rows are non-negative and sum to 1.

    Returns:
        The OBP-shaped ``action_dist`` with ``len_list = 1``.
    """
    probs = check_float_array("probabilities", probabilities, ndim=2)
    return check_action_dist(probs[:, :, np.newaxis], name="probabilities")


def action_dist_from_actions(actions: Any, n_actions: int) -> np.ndarray:
    """A deterministic policy's chosen actions ``(n,)`` as a one-hot ``(n, n_actions, 1)``."""
    chosen = check_int_array("actions", actions, 0, n_actions, "n_actions")
    dist = np.zeros((chosen.shape[0], n_actions, 1))
    dist[np.arange(chosen.shape[0]), chosen, 0] = 1.0
    return dist


def ground_truth_policy_value(expected_rewards: Any, action_dist: Any) -> float:
    """The exact value of a policy on given contexts from their true expected rewards.

    ``V(pi) = mean_i sum_a pi(a|x_i) q(x_i, a)``, the quantity OBP's synthetic data
    calls ``calc_ground_truth_policy_value``.

    Args:
        expected_rewards: True ``q(x_i, a)``, shape ``(n, n_actions)``.
        action_dist: The policy, shape ``(n, n_actions)`` or ``(n, n_actions, 1)``.

    Returns:
        The policy's expected reward per round, averaged over the ``n`` contexts.
    """
    q = check_float_array("expected_rewards", expected_rewards, ndim=2)
    pi = np.asarray(action_dist)
    pi = (
        action_dist_from_probabilities(pi)
        if pi.ndim == 2
        else check_action_dist(pi, n_rounds=q.shape[0], n_actions=q.shape[1])
    )
    if pi.shape[:2] != q.shape:
        raise RecordError("action_dist", pi.shape, f"must match expected_rewards {q.shape}")
    if pi.shape[2] != 1:
        raise RecordError("action_dist", pi.shape, "must have len_list=1")
    return float((pi[:, :, 0] * q).sum(axis=1).mean())
