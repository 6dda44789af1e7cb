"""OffPolicyEvaluation over several estimators, its summary table and its text rendering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alpharl.ope import (
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    LoggedBanditFeedback,
    OffPolicyEvaluation,
    SelfNormalizedInverseProbabilityWeighting,
    render_summary,
)

# The four rounds of test_estimators: IPW = 1.0, SNIPW = 4/6, DM = 0.5625, DR = 0.9125.
FEEDBACK = LoggedBanditFeedback.from_arrays(
    context=np.zeros((4, 1)),
    action=[0, 1, 2, 0],
    reward=[1.0, 0.5, 1.0, 0.5],
    pscore=[0.5, 0.25, 0.5, 0.2],
    n_actions=3,
)
DIST = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.25, 0.25, 0.5], [0.0, 0.0, 1.0]])[:, :, None]
Q_HAT = np.array([[0.6, 0.2, 0.4], [0.1, 0.3, 0.5], [0.5, 0.5, 0.8], [0.4, 0.0, 0.9]])[:, :, None]
ESTIMATORS = [
    InverseProbabilityWeighting(),
    SelfNormalizedInverseProbabilityWeighting(),
    DirectMethod(),
    DoublyRobust(),
]


def test_estimate_policy_values_runs_every_estimator() -> None:
    values = OffPolicyEvaluation(FEEDBACK, ESTIMATORS).estimate_policy_values(DIST, Q_HAT)
    assert values == pytest.approx({"ipw": 1.0, "snipw": 4 / 6, "dm": 0.5625, "dr": 0.9125})


def test_reward_model_can_be_given_per_estimator() -> None:
    ope = OffPolicyEvaluation(FEEDBACK, [DirectMethod(), DoublyRobust()])
    values = ope.estimate_policy_values(DIST, {"dm": Q_HAT, "dr": np.zeros_like(Q_HAT)})
    assert values["dm"] == pytest.approx(0.5625)
    assert values["dr"] == pytest.approx(1.0)  # with q_hat = 0, DR is IPW


def test_summary_table_has_one_row_per_estimator() -> None:
    ope = OffPolicyEvaluation(FEEDBACK, ESTIMATORS)
    summary = ope.summarize_off_policy_estimates(
        DIST, Q_HAT, n_bootstrap_samples=200, random_state=0
    )
    assert isinstance(summary, pd.DataFrame)
    assert summary.index.tolist() == ["ipw", "snipw", "dm", "dr"]
    assert summary.columns.tolist() == [
        "estimated_policy_value", "mean", "95.0% CI (lower)", "95.0% CI (upper)",
        "relative_estimated_policy_value",
    ]  # fmt: skip
    assert summary.loc["dr", "estimated_policy_value"] == pytest.approx(0.9125)
    on_policy = (1.0 + 0.5 + 1.0 + 0.5) / 4
    assert summary.loc["ipw", "relative_estimated_policy_value"] == pytest.approx(1.0 / on_policy)
    intervals = ope.estimate_intervals(DIST, Q_HAT, n_bootstrap_samples=200, random_state=0)
    assert summary.loc["snipw", "95.0% CI (upper)"] == intervals["snipw"]["95.0% CI (upper)"]

    text = render_summary(summary, digits=3, title="OPE", notes=["logged mean: 0.750"])
    lines = text.splitlines()
    assert lines[0] == "OPE"
    assert lines[1].split() == ["estimator", *" ".join(summary.columns).split()]
    assert set(lines[2]) == {"-"}
    assert lines[3].split()[:2] == ["ipw", "1.000"]
    assert lines[6].split()[:2] == [
        "dr",
        f"{summary['estimated_policy_value'].at['dr']:.3f}",
    ]
    assert lines[-1] == "logged mean: 0.750"
    assert len({len(line) for line in lines[1:3]}) == 1


def test_render_summary_shows_nan() -> None:
    frame = pd.DataFrame({"value": [0.5, float("nan")]}, index=["ipw", "snipw"])
    assert render_summary(frame).splitlines()[-1].split() == ["snipw", "nan"]


def test_evaluate_performance_of_estimators_metrics() -> None:
    ope = OffPolicyEvaluation(FEEDBACK, ESTIMATORS)
    relative = ope.evaluate_performance_of_estimators(0.8, DIST, Q_HAT)
    assert relative["ipw"] == pytest.approx(abs(1.0 - 0.8) / 0.8)
    assert relative["dm"] == pytest.approx(abs(0.5625 - 0.8) / 0.8)
    squared = ope.evaluate_performance_of_estimators(0.8, DIST, Q_HAT, metric="se")
    assert squared["dr"] == pytest.approx((0.9125 - 0.8) ** 2)
    with pytest.raises(ValueError, match=r"ground_truth_policy_value: must not be 0"):
        ope.evaluate_performance_of_estimators(0.0, DIST, Q_HAT)
    with pytest.raises(ValueError, match=r"metric: must be one of .*\(got 'mse'\)"):
        ope.evaluate_performance_of_estimators(0.8, DIST, Q_HAT, metric="mse")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"ground_truth_policy_value: must be a finite number"):
        ope.evaluate_performance_of_estimators(float("nan"), DIST, Q_HAT)


def test_model_based_estimators_without_a_reward_model_raise_clearly() -> None:
    ope = OffPolicyEvaluation(FEEDBACK, ESTIMATORS)
    with pytest.raises(
        ValueError,
        match=r"estimated_rewards_by_reg_model: is required by dm, dr .*RegressionModel",
    ):
        ope.estimate_policy_values(DIST)
    with pytest.raises(ValueError, match=r"is required by dr "):
        ope.estimate_intervals(DIST, {"dm": Q_HAT})
    ipw_only = OffPolicyEvaluation(FEEDBACK, ESTIMATORS[:2])
    assert ipw_only.estimate_policy_values(DIST)["ipw"] == pytest.approx(1.0)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match=r"ope_estimators: must not be empty"):
        OffPolicyEvaluation(FEEDBACK, [])
    with pytest.raises(ValueError, match=r"ope_estimators\[1\]\.estimator_name: .*'ipw'"):
        OffPolicyEvaluation(FEEDBACK, [InverseProbabilityWeighting()] * 2)
    with pytest.raises(ValueError, match=r"ope_estimators\[0\]: must be an off-policy estimator"):
        OffPolicyEvaluation(FEEDBACK, ["ipw"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"bandit_feedback: must be a LoggedBanditFeedback"):
        OffPolicyEvaluation(FEEDBACK.to_dict(), ESTIMATORS)  # type: ignore[arg-type]
    ope = OffPolicyEvaluation(FEEDBACK, ESTIMATORS)
    with pytest.raises(ValueError, match=r"action_dist: must have 4 rounds on axis 0"):
        ope.estimate_policy_values(DIST[:3], Q_HAT)
    with pytest.raises(ValueError, match=r"action_dist: must have n_actions=3 on axis 1"):
        ope.estimate_policy_values(np.full((4, 2, 1), 0.5), Q_HAT)
    with pytest.raises(ValueError, match=r"action_dist: must have len_list=1"):
        ope.estimate_policy_values(np.concatenate([DIST, DIST], axis=2), Q_HAT)
