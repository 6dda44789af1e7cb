"""Doubly robust off-policy estimators: DR, SNDR and Switch-DR.

Definitions follow the Open Bandit Pipeline (``obp/ope/estimators.py``); the notation is
that of `alpharl.ope.estimators`. All three combine the direct method's
``q_hat(x_i, pi_e) = sum_a pi_e(a|x_i, k_i) q_hat(x_i, a, k_i)`` with an importance-weighted
correction ``w_i (r_i - q_hat(x_i, a_i, k_i))`` on the logged action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from alpharl.ope.checks import OPEInputs
from alpharl.ope.estimators import (
    BaseOffPolicyEstimator,
    check_lambda,
    check_self_normalizer,
    direct_method_term,
    factual_reward_model,
    importance_weight,
    self_normalized_bootstrap,
)


@dataclass(frozen=True, kw_only=True)
class DoublyRobust(BaseOffPolicyEstimator):
    """Doubly robust (DR) estimator.

    ``V_DR = mean_i[ q_hat(x_i, pi_e) + min(w_i, lambda_) (r_i - q_hat(x_i, a_i)) ]``:
    unbiased when either the propensities or the reward model is correct, with lower
    variance than IPW when ``q_hat`` is good (Dudík, Langford and Li, "Doubly Robust
    Policy Evaluation and Learning", ICML 2011). A finite ``lambda_`` clips large weights
    as in OBP (Su et al., "Doubly Robust Off-Policy Evaluation with Shrinkage", 2020).

    Args:
        lambda_: Largest importance weight kept; ``np.inf`` (default) disables clipping.
        estimator_name: Defaults to OBP's ``"dr"``.
    """

    lambda_: float = np.inf
    estimator_name: str = "dr"
    requires_reward_model: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "lambda_", check_lambda(self.lambda_))

    def _estimate_round_rewards(self, inputs: OPEInputs) -> np.ndarray:
        weight = np.minimum(importance_weight(inputs), self.lambda_)
        residual = inputs.reward - factual_reward_model(inputs)
        return np.asarray(direct_method_term(inputs) + weight * residual)


@dataclass(frozen=True, kw_only=True)
class SelfNormalizedDoublyRobust(BaseOffPolicyEstimator):
    """Self-normalized doubly robust (SNDR) estimator.

    ``V_SNDR = mean_i[ q_hat(x_i, pi_e) ] + sum_i w_i (r_i - q_hat(x_i, a_i)) / sum_i w_i``
    (Kallus and Uehara, "Intrinsically Efficient, Stable, and Bounded Off-Policy
    Evaluation for Reinforcement Learning", NeurIPS 2019; OBP's ``SelfNormalizedDoublyRobust``).

    Args:
        estimator_name: Defaults to OBP's ``"sndr"``.
    """

    estimator_name: str = "sndr"
    requires_reward_model: ClassVar[bool] = True

    def _estimate_round_rewards(self, inputs: OPEInputs) -> np.ndarray:
        weight = importance_weight(inputs)
        normalizer = check_self_normalizer(self.estimator_name, weight)
        residual = inputs.reward - factual_reward_model(inputs)
        return np.asarray(direct_method_term(inputs) + weight * residual / normalizer)

    def _bootstrap_estimates(self, idx: np.ndarray, inputs: OPEInputs) -> np.ndarray:
        weight = importance_weight(inputs)
        residual = inputs.reward - factual_reward_model(inputs)
        return self_normalized_bootstrap(idx, direct_method_term(inputs), weight * residual, weight)


@dataclass(frozen=True, kw_only=True)
class SwitchDoublyRobust(BaseOffPolicyEstimator):
    """Switch doubly robust (Switch-DR) estimator.

    ``V_SwitchDR = mean_i[ q_hat(x_i, pi_e) + 1{w_i <= lambda_} w_i (r_i - q_hat(x_i, a_i)) ]``:
    DR where the importance weight is at most ``lambda_``, the direct method where it is
    larger (Wang, Agarwal and Dudík, "Optimal and Adaptive Off-policy Evaluation in
    Contextual Bandits", ICML 2017; OBP's ``SwitchDoublyRobust``). ``lambda_ = np.inf``
    gives DR, ``lambda_ = 0`` gives DM.

    Args:
        lambda_: Switching threshold on the importance weight; default ``np.inf``.
        estimator_name: Defaults to OBP's ``"switch-dr"``.
    """

    lambda_: float = np.inf
    estimator_name: str = "switch-dr"
    requires_reward_model: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "lambda_", check_lambda(self.lambda_))

    def _estimate_round_rewards(self, inputs: OPEInputs) -> np.ndarray:
        weight = importance_weight(inputs)
        switch = weight <= self.lambda_
        residual = inputs.reward - factual_reward_model(inputs)
        return np.asarray(direct_method_term(inputs) + switch * weight * residual)
