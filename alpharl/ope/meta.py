"""Run several off-policy estimators over one logged dataset (OBP's ``obp/ope/meta.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypedDict

import numpy as np
import pandas as pd

from alpharl.ope.bootstrap import check_bootstrap_args, interval_keys
from alpharl.ope.checks import check_action_dist
from alpharl.ope.dataset import LoggedBanditFeedback
from alpharl.ope.estimators import BaseOffPolicyEstimator
from alpharl.schema import RecordError

RewardModelEstimates = np.ndarray | Mapping[str, np.ndarray] | None
"""One ``q_hat`` for every estimator, or ``{estimator_name: q_hat}``, or None."""

METRICS = ("relative-ee", "se")


class _EstimatorArgs(TypedDict):
    reward: np.ndarray
    action: np.ndarray
    pscore: np.ndarray
    action_dist: np.ndarray
    position: np.ndarray
    estimated_rewards_by_reg_model: np.ndarray | None


@dataclass
class OffPolicyEvaluation:
    """Estimate an evaluation policy's value with several estimators on one dataset.

    Args:
        bandit_feedback: The logged data.
        ope_estimators: Estimators with distinct ``estimator_name``s.
    """

    bandit_feedback: LoggedBanditFeedback
    ope_estimators: Sequence[BaseOffPolicyEstimator]
    _by_name: dict[str, BaseOffPolicyEstimator] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.bandit_feedback, LoggedBanditFeedback):
            raise RecordError(
                "bandit_feedback",
                type(self.bandit_feedback).__name__,
                "must be a LoggedBanditFeedback",
            )
        if not self.ope_estimators:
            raise RecordError("ope_estimators", self.ope_estimators, "must not be empty")
        self._by_name = {}
        for i, estimator in enumerate(self.ope_estimators):
            if not isinstance(estimator, BaseOffPolicyEstimator):
                raise RecordError(
                    f"ope_estimators[{i}]", estimator, "must be an off-policy estimator"
                )
            if estimator.estimator_name in self._by_name:
                raise RecordError(
                    f"ope_estimators[{i}].estimator_name",
                    estimator.estimator_name,
                    "is used by another estimator; names must be distinct",
                )
            self._by_name[estimator.estimator_name] = estimator

    def _inputs(
        self, action_dist: np.ndarray, estimated_rewards_by_reg_model: RewardModelEstimates
    ) -> dict[str, _EstimatorArgs]:
        fb = self.bandit_feedback
        dist = check_action_dist(action_dist, n_rounds=fb.n_rounds, n_actions=fb.n_actions)
        if dist.shape[2] != fb.len_list:
            raise RecordError("action_dist", dist.shape, f"must have len_list={fb.len_list}")
        needing = [n for n, e in self._by_name.items() if e.requires_reward_model]
        if isinstance(estimated_rewards_by_reg_model, Mapping):
            missing = [n for n in needing if n not in estimated_rewards_by_reg_model]
        else:
            missing = needing if estimated_rewards_by_reg_model is None else []
        if missing:
            raise RecordError(
                "estimated_rewards_by_reg_model",
                None,
                f"is required by {', '.join(missing)} (a reward model estimate of shape "
                f"{dist.shape}); fit one with alpharl.ope.RegressionModel.fit_predict",
            )
        inputs: dict[str, _EstimatorArgs] = {}
        for name in self._by_name:
            if isinstance(estimated_rewards_by_reg_model, Mapping):
                q_hat = estimated_rewards_by_reg_model.get(name)
            else:
                q_hat = estimated_rewards_by_reg_model
            inputs[name] = _EstimatorArgs(
                reward=fb.reward,
                action=fb.action,
                pscore=fb.pscore,
                action_dist=dist,
                position=fb.position,
                estimated_rewards_by_reg_model=q_hat,
            )
        return inputs

    def estimate_policy_values(
        self,
        action_dist: np.ndarray,
        estimated_rewards_by_reg_model: RewardModelEstimates = None,
    ) -> dict[str, float]:
        """Point estimates of the evaluation policy's value.

        Args:
            action_dist: Evaluation policy, shape ``(n_rounds, n_actions, len_list)``.
            estimated_rewards_by_reg_model: ``q_hat`` of the same shape (or one per estimator
                name); required when DM or a DR-family estimator is among the estimators.

        Returns:
            ``{estimator_name: estimate}``.
        """
        inputs = self._inputs(action_dist, estimated_rewards_by_reg_model)
        return {
            name: estimator.estimate_policy_value(**inputs[name])
            for name, estimator in self._by_name.items()
        }

    def estimate_intervals(
        self,
        action_dist: np.ndarray,
        estimated_rewards_by_reg_model: RewardModelEstimates = None,
        alpha: float = 0.05,
        n_bootstrap_samples: int = 1000,
        random_state: int | None = None,
    ) -> dict[str, dict[str, float]]:
        """Bootstrap confidence intervals of the evaluation policy's value.

        Args:
            action_dist, estimated_rewards_by_reg_model: As in `estimate_policy_values`.
            alpha: Significance level.
            n_bootstrap_samples: Number of bootstrap resamples.
            random_state: Seed of the resampling (the same for every estimator).

        Returns:
            ``{estimator_name: {"mean", "95.0% CI (lower)", "95.0% CI (upper)"}}``.
        """
        check_bootstrap_args(alpha, n_bootstrap_samples)
        inputs = self._inputs(action_dist, estimated_rewards_by_reg_model)
        return {
            name: estimator.estimate_interval(
                **inputs[name],
                alpha=alpha,
                n_bootstrap_samples=n_bootstrap_samples,
                random_state=random_state,
            )
            for name, estimator in self._by_name.items()
        }

    def summarize_off_policy_estimates(
        self,
        action_dist: np.ndarray,
        estimated_rewards_by_reg_model: RewardModelEstimates = None,
        alpha: float = 0.05,
        n_bootstrap_samples: int = 1000,
        random_state: int | None = None,
    ) -> pd.DataFrame:
        """One table of point estimates, bootstrap intervals and relative values.

        Args:
            action_dist, estimated_rewards_by_reg_model, alpha, n_bootstrap_samples,
                random_state: As in `estimate_intervals`.

        Returns:
            A frame indexed by estimator name with columns ``estimated_policy_value``,
            ``mean``, ``95.0% CI (lower)``, ``95.0% CI (upper)`` (labels follow ``alpha``)
            and ``relative_estimated_policy_value``: the estimate divided by the logged
            (on-policy) mean reward, NaN when that mean is 0.
        """
        values = self.estimate_policy_values(action_dist, estimated_rewards_by_reg_model)
        intervals = self.estimate_intervals(
            action_dist, estimated_rewards_by_reg_model, alpha, n_bootstrap_samples, random_state
        )
        lower, upper = interval_keys(alpha)
        on_policy = self.bandit_feedback.on_policy_value
        rows = {
            name: {
                "estimated_policy_value": values[name],
                "mean": intervals[name]["mean"],
                lower: intervals[name][lower],
                upper: intervals[name][upper],
                "relative_estimated_policy_value": (
                    values[name] / on_policy if on_policy != 0 else float("nan")
                ),
            }
            for name in self._by_name
        }
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "estimator"
        return frame

    def evaluate_performance_of_estimators(
        self,
        ground_truth_policy_value: float,
        action_dist: np.ndarray,
        estimated_rewards_by_reg_model: RewardModelEstimates = None,
        metric: Literal["relative-ee", "se"] = "relative-ee",
    ) -> dict[str, float]:
        """Each estimator's error against a known true policy value (simulation only).

        Args:
            ground_truth_policy_value: The evaluation policy's true value.
            action_dist, estimated_rewards_by_reg_model: As in `estimate_policy_values`.
            metric: ``"relative-ee"``, ``|V_hat - V| / |V|`` (V must not be 0), or
                ``"se"``, ``(V_hat - V)^2``.

        Returns:
            ``{estimator_name: error}``.
        """
        truth = ground_truth_policy_value
        if (
            isinstance(truth, bool)
            or not isinstance(truth, int | float | np.floating)
            or not np.isfinite(truth)
        ):
            raise RecordError("ground_truth_policy_value", truth, "must be a finite number")
        if metric not in METRICS:
            raise RecordError("metric", metric, f"must be one of {list(METRICS)}")
        if metric == "relative-ee" and truth == 0:
            raise RecordError(
                "ground_truth_policy_value", truth, "must not be 0 with metric=relative-ee"
            )
        values = self.estimate_policy_values(action_dist, estimated_rewards_by_reg_model)
        if metric == "se":
            return {name: float((v - truth) ** 2) for name, v in values.items()}
        return {name: float(abs((v - truth) / truth)) for name, v in values.items()}
