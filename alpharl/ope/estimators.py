"""Off-policy estimators for contextual bandits: IPW, SNIPW and DM.

Definitions follow the Open Bandit Pipeline (Saito et al., "Open Bandit Dataset and
Pipeline: Towards Realistic and Reproducible Off-Policy Evaluation", 2020;
``obp/ope/estimators.py``), including its argument names, array shapes and estimator
names, so that numbers can be compared with OBP's. The doubly robust family is in
`alpharl.ope.estimators_dr`.

Notation: logged rounds ``(x_i, a_i, r_i)`` with positions ``k_i``, logging propensities
``pi_b(a_i|x_i)`` (``pscore``), an evaluation policy ``pi_e(a|x, k)`` (``action_dist``,
shape ``(n_rounds, n_actions, len_list)``), the importance weight
``w_i = pi_e(a_i|x_i, k_i) / pi_b(a_i|x_i)`` and a reward model
``q_hat(x, a, k)`` (``estimated_rewards_by_reg_model``, the shape of ``action_dist``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from alpharl.ope.bootstrap import bootstrap_interval
from alpharl.ope.checks import OPEInputs, check_ope_inputs, is_real
from alpharl.schema import RecordError


def check_lambda(value: Any, name: str = "lambda_") -> float:
    """Return a clipping/switching threshold as a float, or raise unless it is a number >= 0."""
    if not is_real(value) or not float(value) >= 0:
        raise RecordError(name, value, "must be a number >= 0 (np.inf disables it)")
    return float(value)


def importance_weight(inputs: OPEInputs) -> np.ndarray:
    """``w_i = pi_e(a_i|x_i, k_i) / pi_b(a_i|x_i)`` for every round."""
    rows = np.arange(inputs.n_rounds)
    return inputs.action_dist[rows, inputs.action, inputs.position] / inputs.pscore


def direct_method_term(inputs: OPEInputs) -> np.ndarray:
    """``q_hat(x_i, pi_e) = sum_a pi_e(a|x_i, k_i) q_hat(x_i, a, k_i)`` for every round."""
    q_hat = _require_reward_model(inputs)
    rows = np.arange(inputs.n_rounds)
    pi_e = inputs.action_dist[rows, :, inputs.position]
    return np.asarray((q_hat[rows, :, inputs.position] * pi_e).sum(axis=1))


def factual_reward_model(inputs: OPEInputs) -> np.ndarray:
    """``q_hat(x_i, a_i, k_i)``: the reward model at the logged action of every round."""
    q_hat = _require_reward_model(inputs)
    return np.asarray(q_hat[np.arange(inputs.n_rounds), inputs.action, inputs.position])


def _require_reward_model(inputs: OPEInputs) -> np.ndarray:
    if inputs.estimated_rewards_by_reg_model is None:
        raise RecordError(
            "estimated_rewards_by_reg_model",
            None,
            "is required by DM and the DR family; fit one with "
            "alpharl.ope.RegressionModel.fit_predict",
        )
    return inputs.estimated_rewards_by_reg_model


def self_normalized_bootstrap(
    idx: np.ndarray, base: np.ndarray | None, weighted: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Bootstrap replicates of ``mean(base) + sum(weighted) / sum(weights)``.

    The self-normalising denominator is recomputed in each resample (NaN where every
    resampled weight is 0), so a replicate is the estimator applied to the resampled data.
    """
    numerator = weighted[idx].sum(axis=1)
    denominator = weights[idx].sum(axis=1)
    ratio = np.divide(
        numerator,
        denominator,
        out=np.full(idx.shape[0], np.nan),
        where=denominator > 0,
    )
    if base is None:
        return ratio
    return np.asarray(base[idx].mean(axis=1) + ratio)


def check_self_normalizer(name: str, weights: np.ndarray) -> float:
    """Return ``mean(weights)``, or raise when it is 0 and self-normalising is undefined."""
    mean = float(weights.mean())
    if mean <= 0.0:
        raise ValueError(
            f"{name}: undefined because every importance weight is 0 (the evaluation "
            "policy gives probability 0 to every logged action)"
        )
    return mean


@dataclass(frozen=True, kw_only=True)
class BaseOffPolicyEstimator(ABC):
    """An off-policy estimator of an evaluation policy's value from logged bandit feedback.

    Subclasses fill `_estimate_round_rewards` (and, when the estimate is not a plain mean
    of round rewards, `_bootstrap_estimates`); the public methods check the inputs.

    Args:
        estimator_name: Name under which results are reported.
    """

    estimator_name: str
    requires_reward_model: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not isinstance(self.estimator_name, str) or not self.estimator_name:
            raise RecordError("estimator_name", self.estimator_name, "must be a non-empty string")

    def _check(
        self,
        reward: Any,
        action: Any,
        pscore: Any,
        action_dist: Any,
        position: Any,
        estimated_rewards_by_reg_model: Any,
    ) -> OPEInputs:
        inputs = check_ope_inputs(
            reward, action, pscore, action_dist, position, estimated_rewards_by_reg_model
        )
        if self.requires_reward_model and inputs.estimated_rewards_by_reg_model is None:
            raise RecordError(
                "estimated_rewards_by_reg_model",
                None,
                f"is required by {self.estimator_name} (shape (n_rounds, n_actions, len_list)); "
                "fit one with alpharl.ope.RegressionModel.fit_predict",
            )
        return inputs

    def estimate_policy_value(
        self,
        reward: np.ndarray,
        action: np.ndarray,
        pscore: np.ndarray,
        action_dist: np.ndarray,
        position: np.ndarray | None = None,
        estimated_rewards_by_reg_model: np.ndarray | None = None,
    ) -> float:
        """Estimate the policy value of the evaluation policy.

        Args:
            reward: Observed rewards ``r_i``, shape ``(n_rounds,)``.
            action: Logged actions ``a_i``, shape ``(n_rounds,)``.
            pscore: Logging propensities ``pi_b(a_i|x_i)`` in (0, 1], shape ``(n_rounds,)``.
            action_dist: Evaluation policy, shape ``(n_rounds, n_actions, len_list)``.
            position: Positions ``k_i``, shape ``(n_rounds,)``; None means all 0.
            estimated_rewards_by_reg_model: ``q_hat``, the shape of ``action_dist``;
                required by DM and the DR family.

        Returns:
            The estimated policy value.
        """
        inputs = self._check(
            reward, action, pscore, action_dist, position, estimated_rewards_by_reg_model
        )
        return float(self._estimate_round_rewards(inputs).mean())

    def estimate_interval(
        self,
        reward: np.ndarray,
        action: np.ndarray,
        pscore: np.ndarray,
        action_dist: np.ndarray,
        position: np.ndarray | None = None,
        estimated_rewards_by_reg_model: np.ndarray | None = None,
        alpha: float = 0.05,
        n_bootstrap_samples: int = 1000,
        random_state: int | None = None,
    ) -> dict[str, float]:
        """Estimate a confidence interval of the policy value by the percentile bootstrap.

        Args:
            reward, action, pscore, action_dist, position, estimated_rewards_by_reg_model:
                As in `estimate_policy_value`.
            alpha: Significance level; the interval covers ``1 - alpha``.
            n_bootstrap_samples: Number of bootstrap resamples.
            random_state: Seed of the resampling.

        Returns:
            ``{"mean", "95.0% CI (lower)", "95.0% CI (upper)"}`` (labels follow ``alpha``),
            as OBP's ``estimate_interval`` returns.
        """
        inputs = self._check(
            reward, action, pscore, action_dist, position, estimated_rewards_by_reg_model
        )
        return bootstrap_interval(
            lambda idx: self._bootstrap_estimates(idx, inputs),
            inputs.n_rounds,
            alpha=alpha,
            n_bootstrap_samples=n_bootstrap_samples,
            random_state=random_state,
        )

    def estimate_difference_interval(
        self,
        reward: np.ndarray,
        action: np.ndarray,
        pscore: np.ndarray,
        action_dist: np.ndarray,
        baseline_action_dist: np.ndarray,
        position: np.ndarray | None = None,
        estimated_rewards_by_reg_model: np.ndarray | None = None,
        alpha: float = 0.05,
        n_bootstrap_samples: int = 1000,
        random_state: int | None = None,
    ) -> dict[str, float]:
        """Paired bootstrap interval of ``V(action_dist) - V(baseline_action_dist)``.

        Both policies are estimated on the same resampled rounds in each replicate, so the
        interval of the difference is much narrower than one read off two separate
        intervals (the estimates share the logged rewards and are strongly correlated).

        Args:
            reward, action, pscore, action_dist, position, estimated_rewards_by_reg_model:
                As in `estimate_policy_value`; ``action_dist`` is the candidate policy.
            baseline_action_dist: The policy compared against, same shape.
            alpha, n_bootstrap_samples, random_state: As in `estimate_interval`.

        Returns:
            ``{"estimate", "mean", "95.0% CI (lower)", "95.0% CI (upper)"}``: the point
            estimate of the difference and its bootstrap mean and bounds.
        """
        cand = self._check(
            reward, action, pscore, action_dist, position, estimated_rewards_by_reg_model
        )
        base = self._check(
            reward, action, pscore, baseline_action_dist, position, estimated_rewards_by_reg_model
        )
        if cand.action_dist.shape != base.action_dist.shape:
            raise RecordError(
                "baseline_action_dist",
                base.action_dist.shape,
                f"must have the shape of action_dist {cand.action_dist.shape}",
            )
        point = float(
            self._estimate_round_rewards(cand).mean() - self._estimate_round_rewards(base).mean()
        )
        interval = bootstrap_interval(
            lambda idx: self._bootstrap_estimates(idx, cand) - self._bootstrap_estimates(idx, base),
            cand.n_rounds,
            alpha=alpha,
            n_bootstrap_samples=n_bootstrap_samples,
            random_state=random_state,
        )
        return {"estimate": point, **interval}

    @abstractmethod
    def _estimate_round_rewards(self, inputs: OPEInputs) -> np.ndarray:
        """Round-wise rewards whose mean is the estimate, shape ``(n_rounds,)``."""

    def _bootstrap_estimates(self, idx: np.ndarray, inputs: OPEInputs) -> np.ndarray:
        """Estimates on the resamples ``idx`` (shape ``(B, n_rounds)``), shape ``(B,)``."""
        return np.asarray(self._estimate_round_rewards(inputs)[idx].mean(axis=1))


@dataclass(frozen=True, kw_only=True)
class InverseProbabilityWeighting(BaseOffPolicyEstimator):
    """Inverse probability weighting (IPW, also called IPS).

    ``V_IPW = mean_i[ min(w_i, lambda_) r_i ]``; unbiased when ``lambda_`` is infinite and
    the logging propensities are correct (Horvitz and Thompson, 1952; Strehl et al.,
    "Learning from Logged Implicit Exploration Data", 2010). A finite ``lambda_`` clips
    large weights, trading bias for variance (Su et al., "Doubly Robust Off-Policy
    Evaluation with Shrinkage", 2020).

    Args:
        lambda_: Largest importance weight kept; ``np.inf`` (default) disables clipping.
        estimator_name: Defaults to OBP's ``"ipw"``.
    """

    lambda_: float = np.inf
    estimator_name: str = "ipw"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "lambda_", check_lambda(self.lambda_))

    def _estimate_round_rewards(self, inputs: OPEInputs) -> np.ndarray:
        weight = np.minimum(importance_weight(inputs), self.lambda_)
        return np.asarray(inputs.reward * weight)


@dataclass(frozen=True, kw_only=True)
class SelfNormalizedInverseProbabilityWeighting(BaseOffPolicyEstimator):
    """Self-normalized inverse probability weighting (SNIPW, also called SNIPS).

    ``V_SNIPW = sum_i w_i r_i / sum_i w_i``: biased but consistent, and bounded by the
    range of the rewards (Swaminathan and Joachims, "The Self-Normalized Estimator for
    Counterfactual Learning", 2015).

    Args:
        estimator_name: Defaults to OBP's ``"snipw"``.
    """

    estimator_name: str = "snipw"

    def _estimate_round_rewards(self, inputs: OPEInputs) -> np.ndarray:
        weight = importance_weight(inputs)
        normalizer = check_self_normalizer(self.estimator_name, weight)
        return np.asarray(inputs.reward * weight / normalizer)

    def _bootstrap_estimates(self, idx: np.ndarray, inputs: OPEInputs) -> np.ndarray:
        weight = importance_weight(inputs)
        return self_normalized_bootstrap(idx, None, inputs.reward * weight, weight)


@dataclass(frozen=True, kw_only=True)
class DirectMethod(BaseOffPolicyEstimator):
    """Direct method (DM): the reward model's value of the evaluation policy.

    ``V_DM = mean_i[ q_hat(x_i, pi_e) ]`` with
    ``q_hat(x, pi_e) = sum_a pi_e(a|x) q_hat(x, a)``; low variance, biased as far as the
    reward model is wrong (Beygelzimer and Langford, "The Offset Tree for Learning with
    Partial Labels", 2009).

    Its bootstrap interval resamples rounds with ``q_hat`` held fixed, so it leaves out
    the reward model's own error and is too narrow whenever the model is biased.

    Args:
        estimator_name: Defaults to OBP's ``"dm"``.
    """

    estimator_name: str = "dm"
    requires_reward_model: ClassVar[bool] = True

    def _estimate_round_rewards(self, inputs: OPEInputs) -> np.ndarray:
        return direct_method_term(inputs)
