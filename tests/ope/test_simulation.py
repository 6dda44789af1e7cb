"""Estimators on simulated logs, against the exact value of the evaluated policy.

Contexts are drawn uniformly from a finite set of prototypes, so a policy's true value
``mean_m sum_a pi(a|x_m) q(x_m, a)`` is exact. The logging policy is a softmax over the
linear truth; the evaluated policy is a sharper softmax mixed with uniform exploration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from alpharl.ope import (
    BaseOffPolicyEstimator,
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    LoggedBanditFeedback,
    OffPolicyEvaluation,
    RegressionModel,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    SwitchDoublyRobust,
    action_dist_from_probabilities,
    ground_truth_policy_value,
)

N_ROUNDS, N_ACTIONS, DIM, N_PROTOTYPES = 20_000, 5, 4, 200
UNBIASED: list[BaseOffPolicyEstimator] = [
    InverseProbabilityWeighting(),
    SelfNormalizedInverseProbabilityWeighting(),
    DoublyRobust(),
    SelfNormalizedDoublyRobust(),
    SwitchDoublyRobust(lambda_=1.5),
]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class Simulation:
    feedback: LoggedBanditFeedback
    action_dist: np.ndarray
    q_hat: np.ndarray
    truth: float
    q_true: np.ndarray  # true expected reward of each action, per logged round


def simulate(seed: int, binary: bool = False) -> Simulation:
    """Log N_ROUNDS rounds of a softmax logging policy; evaluate a different policy."""
    rng = np.random.default_rng(seed)
    prototypes = rng.normal(size=(N_PROTOTYPES, DIM))
    theta = rng.normal(scale=0.3, size=(N_ACTIONS, DIM))
    linear = prototypes @ theta.T + rng.uniform(0.0, 1.0, size=N_ACTIONS)
    q = 1 / (1 + np.exp(-(3 * linear - 2.5))) if binary else linear
    pi_b = _softmax(2.0 * linear)
    pi_e = 0.8 * _softmax(6.0 * linear) + 0.2 / N_ACTIONS
    ids = rng.integers(N_PROTOTYPES, size=N_ROUNDS)
    u = rng.random(N_ROUNDS)
    action = np.minimum((pi_b[ids].cumsum(axis=1) < u[:, None]).sum(axis=1), N_ACTIONS - 1)
    mean = q[ids, action]
    reward = rng.binomial(1, mean).astype(float) if binary else mean + rng.normal(0, 0.5, N_ROUNDS)
    feedback = LoggedBanditFeedback.from_arrays(
        prototypes[ids], action, reward, pi_b[ids, action], n_actions=N_ACTIONS
    )
    model = RegressionModel(N_ACTIONS, model="logistic" if binary else "ridge", alpha=1.0)
    q_hat = model.fit_predict(feedback.context, action, reward, n_folds=2, random_state=seed)
    return Simulation(
        feedback, action_dist_from_probabilities(pi_e[ids]), q_hat,
        ground_truth_policy_value(q, pi_e),  # contexts are uniform over the prototypes
        q,
    )  # fmt: skip


@pytest.fixture(scope="module", params=[False, True], ids=["gaussian", "binary"])
def sim(request: pytest.FixtureRequest) -> Simulation:
    return simulate(seed=0, binary=request.param)


def _interval(sim: Simulation, estimator: BaseOffPolicyEstimator) -> dict[str, float]:
    fb = sim.feedback
    return estimator.estimate_interval(
        fb.reward, fb.action, fb.pscore, sim.action_dist,
        estimated_rewards_by_reg_model=sim.q_hat, random_state=1,
    )  # fmt: skip


@pytest.mark.parametrize("estimator", UNBIASED, ids=lambda e: e.estimator_name)
def test_bootstrap_interval_covers_the_true_value(
    sim: Simulation, estimator: BaseOffPolicyEstimator
) -> None:
    interval = _interval(sim, estimator)
    assert interval["95.0% CI (lower)"] <= sim.truth <= interval["95.0% CI (upper)"]
    # The evaluated policy differs from the logging one: the naive logged mean is off.
    assert abs(sim.feedback.on_policy_value - sim.truth) > 0.05


@pytest.mark.parametrize("estimator", UNBIASED, ids=lambda e: e.estimator_name)
def test_paired_difference_interval_covers_the_true_difference(
    sim: Simulation, estimator: BaseOffPolicyEstimator
) -> None:
    fb = sim.feedback
    uniform = np.full_like(sim.action_dist, 1.0 / N_ACTIONS)
    true_diff = sim.truth - float(sim.q_true.mean())
    args = {"estimated_rewards_by_reg_model": sim.q_hat, "random_state": 1}
    diff = estimator.estimate_difference_interval(
        fb.reward, fb.action, fb.pscore, sim.action_dist, uniform, **args
    )
    assert diff["95.0% CI (lower)"] <= true_diff <= diff["95.0% CI (upper)"]
    assert diff["95.0% CI (lower)"] > 0  # the sharper policy is better, and it shows
    # Paired resampling is tighter than the two separate intervals' combined width.
    own = _interval(sim, estimator)
    base = estimator.estimate_interval(fb.reward, fb.action, fb.pscore, uniform, **args)
    separate = (own["95.0% CI (upper)"] - own["95.0% CI (lower)"]) + (
        base["95.0% CI (upper)"] - base["95.0% CI (lower)"]
    )
    assert diff["95.0% CI (upper)"] - diff["95.0% CI (lower)"] < 0.8 * separate
    same = estimator.estimate_difference_interval(
        fb.reward, fb.action, fb.pscore, uniform, uniform, **args
    )
    assert same["estimate"] == 0.0
    assert same["95.0% CI (lower)"] == same["95.0% CI (upper)"] == 0.0


def test_difference_interval_rejects_mismatched_policies(sim: Simulation) -> None:
    fb = sim.feedback
    with pytest.raises(ValueError, match="action_dist"):
        InverseProbabilityWeighting().estimate_difference_interval(
            fb.reward, fb.action, fb.pscore, sim.action_dist, sim.action_dist[:, :-1]
        )


def test_switch_dr_threshold_switches_some_rounds(sim: Simulation) -> None:
    fb = sim.feedback
    weight = sim.action_dist[np.arange(fb.n_rounds), fb.action, 0] / fb.pscore
    assert 0.05 < np.mean(weight > 1.5) < 0.5


def test_direct_method_with_a_correct_model_is_close(sim: Simulation) -> None:
    fb = sim.feedback
    dm = DirectMethod().estimate_policy_value(
        fb.reward, fb.action, fb.pscore, sim.action_dist, estimated_rewards_by_reg_model=sim.q_hat
    )
    assert dm == pytest.approx(sim.truth, abs=0.01)


def test_doubly_robust_is_tighter_than_ipw(sim: Simulation) -> None:
    def width(e: BaseOffPolicyEstimator) -> float:
        iv = _interval(sim, e)
        return iv["95.0% CI (upper)"] - iv["95.0% CI (lower)"]

    assert width(DoublyRobust()) < width(InverseProbabilityWeighting())


def test_off_policy_evaluation_errors_are_small(sim: Simulation) -> None:
    ope = OffPolicyEvaluation(sim.feedback, [*UNBIASED, DirectMethod()])
    errors = ope.evaluate_performance_of_estimators(sim.truth, sim.action_dist, sim.q_hat)
    assert max(errors.values()) < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("binary", [False, True], ids=["gaussian", "binary"])
def test_interval_coverage_over_many_seeds(binary: bool) -> None:
    n_seeds = 40
    covered = dict.fromkeys((e.estimator_name for e in UNBIASED), 0)
    for seed in range(1, n_seeds + 1):
        s = simulate(seed, binary=binary)
        intervals = OffPolicyEvaluation(s.feedback, UNBIASED).estimate_intervals(
            s.action_dist, s.q_hat, n_bootstrap_samples=400, random_state=seed
        )
        for name, iv in intervals.items():
            covered[name] += iv["95.0% CI (lower)"] <= s.truth <= iv["95.0% CI (upper)"]
    check: Callable[[int], bool] = lambda hits: hits >= 0.85 * n_seeds  # noqa: E731
    assert all(check(h) for h in covered.values()), covered
