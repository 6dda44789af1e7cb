"""Off-policy evaluation of contextual-bandit policies from logged feedback.

Data format and estimator definitions follow the Open Bandit Pipeline (Saito et al.,
"Open Bandit Dataset and Pipeline", 2020) without depending on it: `LoggedBanditFeedback`
is the checked data contract, the estimators are small dataclasses, `RegressionModel`
cross-fits the reward model DM and DR need, and `OffPolicyEvaluation` runs several
estimators at once.
"""

from alpharl.ope.action_dist import (
    action_dist_from_actions,
    action_dist_from_probabilities,
    ground_truth_policy_value,
)
from alpharl.ope.bootstrap import bootstrap_interval
from alpharl.ope.checks import check_action_dist, check_ope_inputs
from alpharl.ope.dataset import LoggedBanditFeedback
from alpharl.ope.estimators import (
    BaseOffPolicyEstimator,
    DirectMethod,
    InverseProbabilityWeighting,
    SelfNormalizedInverseProbabilityWeighting,
)
from alpharl.ope.estimators_dr import (
    DoublyRobust,
    SelfNormalizedDoublyRobust,
    SwitchDoublyRobust,
)
from alpharl.ope.meta import OffPolicyEvaluation
from alpharl.ope.regression import RegressionModel, cross_fitting_folds
from alpharl.ope.report import render_summary

__all__ = [
    "BaseOffPolicyEstimator",
    "DirectMethod",
    "DoublyRobust",
    "InverseProbabilityWeighting",
    "LoggedBanditFeedback",
    "OffPolicyEvaluation",
    "RegressionModel",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedInverseProbabilityWeighting",
    "SwitchDoublyRobust",
    "action_dist_from_actions",
    "action_dist_from_probabilities",
    "bootstrap_interval",
    "check_action_dist",
    "check_ope_inputs",
    "cross_fitting_folds",
    "ground_truth_policy_value",
    "render_summary",
]
