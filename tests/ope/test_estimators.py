"""Each estimator against numbers worked out by hand on a four-round dataset."""

from __future__ import annotations

import numpy as np
import pytest

from alpharl.ope import (
    BaseOffPolicyEstimator,
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    SwitchDoublyRobust,
)

# Four rounds, three actions, one position.
REWARD = np.array([1.0, 0.5, 1.0, 0.5])
ACTION = np.array([0, 1, 2, 0])
PSCORE = np.array([0.5, 0.25, 0.5, 0.2])
PI_E = np.array(
    [
        [0.5, 0.5, 0.0],  # pi_e(a=0) = 0.5 -> w = 0.5 / 0.5 = 1
        [0.0, 1.0, 0.0],  # pi_e(a=1) = 1.0 -> w = 1 / 0.25 = 4
        [0.25, 0.25, 0.5],  # pi_e(a=2) = 0.5 -> w = 0.5 / 0.5 = 1
        [0.0, 0.0, 1.0],  # pi_e(a=0) = 0.0 -> w = 0
    ]
)
Q_HAT = np.array(
    [
        [0.6, 0.2, 0.4],  # q_hat(x, pi_e) = .5*.6 + .5*.2 = 0.4; q_hat(x, a) = 0.6
        [0.1, 0.3, 0.5],  # q_hat(x, pi_e) = 0.3; q_hat(x, a) = 0.3
        [0.5, 0.5, 0.8],  # q_hat(x, pi_e) = .25*.5 + .25*.5 + .5*.8 = 0.65; q_hat(x, a) = 0.8
        [0.4, 0.0, 0.9],  # q_hat(x, pi_e) = 0.9; q_hat(x, a) = 0.4
    ]
)
# w = [1, 4, 1, 0]; w * r = [1, 2, 1, 0]; residual r - q_hat(x, a) = [.4, .2, .2, .1];
# w * residual = [.4, .8, .2, 0]; DM terms = [.4, .3, .65, .9] (mean 2.25 / 4 = 0.5625).
HAND = {
    "ipw": (1 + 2 + 1 + 0) / 4,
    "ipw_clip2": (1 + 2 * 0.5 + 1 + 0) / 4,  # w clipped to [1, 2, 1, 0]
    "snipw": (1 + 2 + 1 + 0) / (1 + 4 + 1 + 0),
    "dm": 2.25 / 4,
    "dr": (0.4 + 0.4 + 0.3 + 0.8 + 0.65 + 0.2 + 0.9 + 0.0) / 4,
    "dr_clip2": (0.4 + 0.4 + 0.3 + 2 * 0.2 + 0.65 + 0.2 + 0.9 + 0.0) / 4,
    "sndr": 2.25 / 4 + (0.4 + 0.8 + 0.2 + 0.0) / (1 + 4 + 1 + 0),
    # w <= 2 keeps the correction on rounds 0, 2, 3; round 1 (w = 4) falls back to DM.
    "switch2": (0.4 + 0.4 + 0.3 + 0.65 + 0.2 + 0.9 + 0.0) / 4,
}


def _dist(pi: np.ndarray = PI_E) -> np.ndarray:
    return pi[:, :, np.newaxis]


def _value(estimator: BaseOffPolicyEstimator, **overrides: object) -> float:
    kwargs: dict[str, object] = {
        "reward": REWARD,
        "action": ACTION,
        "pscore": PSCORE,
        "action_dist": _dist(),
        "estimated_rewards_by_reg_model": _dist(Q_HAT),
    }
    kwargs.update(overrides)
    return estimator.estimate_policy_value(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("estimator", "expected"),
    [
        (InverseProbabilityWeighting(), HAND["ipw"]),
        (InverseProbabilityWeighting(lambda_=2.0), HAND["ipw_clip2"]),
        (SelfNormalizedInverseProbabilityWeighting(), HAND["snipw"]),
        (DirectMethod(), HAND["dm"]),
        (DoublyRobust(), HAND["dr"]),
        (DoublyRobust(lambda_=2), HAND["dr_clip2"]),
        (SelfNormalizedDoublyRobust(), HAND["sndr"]),
        (SwitchDoublyRobust(lambda_=2.0), HAND["switch2"]),
        (SwitchDoublyRobust(), HAND["dr"]),
        (SwitchDoublyRobust(lambda_=0.0), HAND["dm"]),  # only w = 0 rounds keep a correction
    ],
    ids=lambda v: getattr(v, "estimator_name", None) or str(v),
)
def test_estimates_match_hand_computation(
    estimator: BaseOffPolicyEstimator, expected: float
) -> None:
    assert _value(estimator) == pytest.approx(expected, abs=1e-12)


def test_ipw_and_snipw_ignore_the_reward_model() -> None:
    for estimator in (InverseProbabilityWeighting(), SelfNormalizedInverseProbabilityWeighting()):
        assert _value(estimator, estimated_rewards_by_reg_model=None) == _value(estimator)


def test_positions_select_the_evaluation_policy_at_each_rounds_slot() -> None:
    # len_list = 2: rounds 1 and 3 are at position 1, where pi_e differs.
    second = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    dist = np.stack([PI_E, second], axis=2)
    position = np.array([0, 1, 0, 1])
    # w = [0.5/0.5, 0.5/0.25, 0.5/0.5, 1.0/0.2] = [1, 2, 1, 5]; w * r = [1, 1, 1, 2.5]
    value = InverseProbabilityWeighting().estimate_policy_value(
        REWARD, ACTION, PSCORE, dist, position=position
    )
    assert value == pytest.approx((1 + 1 + 1 + 2.5) / 4)
    q_hat = np.stack([Q_HAT, Q_HAT + 1.0], axis=2)
    # DM terms at each round's slot: [.4, .5*1.3 + .5*1.5 = 1.4, .65, 1.4]
    dm = DirectMethod().estimate_policy_value(
        REWARD, ACTION, PSCORE, dist, position=position, estimated_rewards_by_reg_model=q_hat
    )
    assert dm == pytest.approx((0.4 + 1.4 + 0.65 + 1.4) / 4)


ALL = [
    InverseProbabilityWeighting(),
    InverseProbabilityWeighting(lambda_=2.0),
    SelfNormalizedInverseProbabilityWeighting(),
    DirectMethod(),
    DoublyRobust(),
    SelfNormalizedDoublyRobust(),
    SwitchDoublyRobust(lambda_=2.0),
]


@pytest.mark.parametrize("estimator", ALL, ids=lambda e: e.estimator_name)
def test_vectorised_bootstrap_matches_a_loop_over_resamples(
    estimator: BaseOffPolicyEstimator,
) -> None:
    rng = np.random.default_rng(1)
    n, b = 40, 200
    action = rng.integers(3, size=n)
    pscore = rng.uniform(0.2, 1.0, size=n)
    reward = rng.normal(size=n)
    pi = rng.dirichlet(np.ones(3), size=n)
    q_hat = rng.normal(size=(n, 3))
    interval = estimator.estimate_interval(
        reward, action, pscore, _dist(pi), estimated_rewards_by_reg_model=_dist(q_hat),
        n_bootstrap_samples=b, random_state=7,
    )  # fmt: skip
    idx = np.random.default_rng(7).integers(0, n, size=(b, n))
    loop = np.array(
        [
            estimator.estimate_policy_value(
                reward[i], action[i], pscore[i], _dist(pi[i]), None, _dist(q_hat[i])
            )
            for i in idx
        ]
    )
    assert interval["mean"] == pytest.approx(loop.mean())
    assert interval["95.0% CI (lower)"] == pytest.approx(np.percentile(loop, 2.5))
    assert interval["95.0% CI (upper)"] == pytest.approx(np.percentile(loop, 97.5))


@pytest.mark.parametrize("estimator", ALL, ids=lambda e: e.estimator_name)
def test_interval_contains_the_point_estimate_and_is_reproducible(
    estimator: BaseOffPolicyEstimator,
) -> None:
    rng = np.random.default_rng(3)
    n = 500
    action = rng.integers(3, size=n)
    reward = rng.binomial(1, 0.3 + 0.2 * action).astype(float)
    args = (reward, action, np.full(n, 1 / 3), _dist(rng.dirichlet(np.ones(3), size=n)))
    q_hat = _dist(np.tile([0.3, 0.5, 0.7], (n, 1)))
    point = estimator.estimate_policy_value(*args, estimated_rewards_by_reg_model=q_hat)
    first = estimator.estimate_interval(*args, None, q_hat, alpha=0.1, random_state=11)
    again = estimator.estimate_interval(*args, None, q_hat, alpha=0.1, random_state=11)
    assert first == again
    assert set(first) == {"mean", "90.0% CI (lower)", "90.0% CI (upper)"}
    assert first["90.0% CI (lower)"] <= point <= first["90.0% CI (upper)"]
    assert first["90.0% CI (lower)"] < first["90.0% CI (upper)"]


def test_self_normalized_estimators_reject_all_zero_weights() -> None:
    never = np.tile([0.0, 0.0, 1.0], (2, 1))  # the logged actions are 0 and 1
    args = (REWARD[:2], ACTION[:2], PSCORE[:2], _dist(never))
    with pytest.raises(ValueError, match=r"snipw: undefined because every importance weight"):
        SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(*args)
    with pytest.raises(ValueError, match=r"sndr: undefined"):
        SelfNormalizedDoublyRobust().estimate_policy_value(*args, None, _dist(Q_HAT[:2]))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: InverseProbabilityWeighting(lambda_=-1.0), r"lambda_: must be a number >= 0"),
        (lambda: InverseProbabilityWeighting(lambda_=float("nan")), r"lambda_: .*\(got nan\)"),
        (lambda: DoublyRobust(lambda_="big"), r"lambda_: .*\(got 'big'\)"),  # type: ignore[arg-type]
        (lambda: SwitchDoublyRobust(lambda_=True), r"lambda_: .*\(got True\)"),
        (lambda: DirectMethod(estimator_name=""), r"estimator_name: must be a non-empty"),
    ],
)
def test_bad_estimator_arguments_raise(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"action_dist": PI_E}, r"action_dist: must be a 3-D array \(got \(4, 3\)\)"),
        (
            {"action_dist": _dist(PI_E * 0.9)},
            r"action_dist\[0, :, 0\]: must sum to 1 over actions \(got 0.9",
        ),
        (
            {"action_dist": _dist(np.array([[1.5, -0.5, 0], *PI_E[1:]]))},
            r"action_dist\[0, 1, 0\]: must be >= 0 \(got -0.5\)",
        ),
        (
            {"action_dist": _dist(np.array([[np.nan, 0.5, 0.5], *PI_E[1:]]))},
            r"action_dist\[0, 0, 0\]: must be finite \(got nan\)",
        ),
        ({"action": np.array([0, 1, 3, 0])}, r"action\[2\]: is out of range for n_actions=3"),
        ({"action": np.array([0, 1, 2])}, r"action: must have 4 rows.*\(got \(3,\)\)"),
        ({"action": np.array([0, 1.5, 2, 0])}, r"action\[1\]: must be an integer \(got 1.5\)"),
        ({"reward": np.array([1, np.inf, 0, 0])}, r"reward\[1\]: must be finite \(got inf\)"),
        ({"reward": REWARD[:3]}, r"reward: must have 4 rows"),
        ({"pscore": np.array([0.5, 0.0, 1, 1])}, r"pscore\[1\]: must be in \(0, 1\] \(got 0.0\)"),
        ({"pscore": np.array([0.5, 1.2, 1, 1])}, r"pscore\[1\]: must be in \(0, 1\] \(got 1.2\)"),
        ({"position": np.array([0, 0, 1, 0])}, r"position\[2\]: is out of range for len_list=1"),
        (
            {"estimated_rewards_by_reg_model": Q_HAT},
            r"estimated_rewards_by_reg_model: must be a 3-D array",
        ),
        (
            {"estimated_rewards_by_reg_model": _dist(Q_HAT[:, :2])},
            r"estimated_rewards_by_reg_model: must have the shape of action_dist \(4, 3, 1\)",
        ),
        (
            {"estimated_rewards_by_reg_model": _dist(np.where(Q_HAT > 0.85, np.nan, Q_HAT))},
            r"estimated_rewards_by_reg_model\[3, 2, 0\]: must be finite",
        ),
    ],
)
def test_malformed_estimator_inputs_name_the_field(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _value(DoublyRobust(), **overrides)


@pytest.mark.parametrize(
    "estimator",
    [DirectMethod(), DoublyRobust(), SelfNormalizedDoublyRobust(), SwitchDoublyRobust()],
)
def test_model_based_estimators_require_a_reward_model(estimator: BaseOffPolicyEstimator) -> None:
    with pytest.raises(
        ValueError,
        match=rf"estimated_rewards_by_reg_model: is required by {estimator.estimator_name} ",
    ):
        _value(estimator, estimated_rewards_by_reg_model=None)


def test_bad_bootstrap_arguments_raise() -> None:
    args = (REWARD, ACTION, PSCORE, _dist())
    with pytest.raises(ValueError, match=r"alpha: must be a number in \(0, 1\) \(got 1.5\)"):
        InverseProbabilityWeighting().estimate_interval(*args, alpha=1.5)
    with pytest.raises(ValueError, match=r"n_bootstrap_samples: .* \(got 0\)"):
        InverseProbabilityWeighting().estimate_interval(*args, n_bootstrap_samples=0)
