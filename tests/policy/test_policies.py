"""Exported policies decide from contexts: shapes, masks, ties, exploration, clear errors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from alpharl.policy import (
    BasePolicy,
    EpsilonGreedyRule,
    LinearPolicy,
    Policy,
    RandomPolicy,
    TabularPolicy,
    ThompsonPolicy,
    ThompsonRule,
    UCBRule,
)

A, D = 4, 3


def _spd(seed: int) -> np.ndarray:
    m = np.random.default_rng(seed).normal(size=(A, D, D))
    return m @ np.swapaxes(m, 1, 2) + 0.1 * np.eye(D)


def _policies() -> dict[str, BasePolicy]:
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(A, D))
    return {
        "linear_greedy": LinearPolicy(theta),
        "linear_epsilon": LinearPolicy(theta, rule=EpsilonGreedyRule(0.3)),
        "linear_ucb": LinearPolicy(theta, _spd(1), UCBRule(0.5)),
        "thompson": ThompsonPolicy(theta, np.linalg.cholesky(_spd(2)), ThompsonRule(0.5)),
        "tabular_ucb": TabularPolicy(rng.normal(size=A), np.array([3.0, 0, 5, 1]), UCBRule(1.0)),
        "tabular_epsilon": TabularPolicy(rng.normal(size=A), rule=EpsilonGreedyRule(0.2)),
        "random": RandomPolicy(A, D),
    }


@pytest.fixture(params=sorted(_policies()))
def policy(request: pytest.FixtureRequest) -> BasePolicy:
    return _policies()[request.param]


def _inputs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    masks = rng.random((n, A)) < 0.5
    masks[:, -1] = True
    return rng.normal(size=(n, D)).astype(np.float32), masks


def test_policy_satisfies_the_protocol(policy: BasePolicy) -> None:
    assert isinstance(policy, Policy)
    assert policy.n_actions == A


def test_decide_respects_masks_and_reports_propensities(policy: BasePolicy) -> None:
    x, masks = _inputs(500, 1)
    actions, props = policy.decide(x, masks, rng=3)
    assert actions.shape == (500,)
    assert actions.dtype == np.int64
    assert props.dtype == np.float64
    assert masks[np.arange(500), actions].all()
    probs = policy.action_probabilities(x, masks)
    assert probs.shape == (500, A)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs[~masks] == 0).all()
    chosen = probs[np.arange(500), actions]
    np.testing.assert_array_equal(props, chosen)
    assert (props > 0).all()


def test_decide_is_reproducible_with_a_seed(policy: BasePolicy) -> None:
    x, masks = _inputs(50, 2)
    a1, p1 = policy.decide(x, masks, rng=7)
    a2, p2 = policy.decide(x, masks, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(p1, p2)
    policy.decide(x, masks)  # rng=None uses the policy's own generator


def test_the_no_ad_action_is_always_eligible(policy: BasePolicy) -> None:
    x, _ = _inputs(20, 3)
    nothing = np.zeros((20, A), bool)
    actions, props = policy.decide(x, nothing, rng=0)
    np.testing.assert_array_equal(actions, A - 1)
    np.testing.assert_array_equal(props, 1.0)


def test_greedy_ties_split_uniformly_and_propensities_carry_the_split() -> None:
    policy = LinearPolicy(np.zeros((A, D)))
    x = np.ones((12_000, D))
    masks = np.tile([True, False, True, True], (12_000, 1))
    actions, props = policy.decide(x, masks, rng=0)
    np.testing.assert_allclose(props, 1 / 3)
    freq = np.bincount(actions, minlength=A) / 12_000
    np.testing.assert_allclose(freq, [1 / 3, 0, 1 / 3, 1 / 3], atol=0.02)


def test_epsilon_greedy_probabilities_are_exact() -> None:
    theta = np.array([[1.0, 0, 0], [2.0, 0, 0], [3.0, 0, 0], [0.0, 0, 0]])
    policy = LinearPolicy(theta, rule=EpsilonGreedyRule(0.3))
    x = np.array([[1.0, 0, 0], [1.0, 0, 0]])
    masks = np.array([[True, True, True, True], [True, True, False, True]])
    probs = policy.action_probabilities(x, masks)
    np.testing.assert_allclose(probs[0], [0.075, 0.075, 0.775, 0.075])
    np.testing.assert_allclose(probs[1], [0.1, 0.8, 0.0, 0.1])


def test_ucb_adds_the_confidence_width() -> None:
    theta = np.array([[1.0, 0], [0.9, 0], [0.0, 0], [0.0, 0]])
    a_inv = np.stack([np.eye(2) * 0.01, np.eye(2) * 1.0, np.eye(2), np.eye(2)])
    x = np.array([[1.0, 0.0]])
    assert LinearPolicy(theta, a_inv, UCBRule(0.0)).decide(x, rng=0)[0][0] == 0
    # 0.9 + 0.5 * 1 beats 1.0 + 0.5 * 0.1
    assert LinearPolicy(theta, a_inv, UCBRule(0.5)).decide(x, rng=0)[0][0] == 1


def test_tabular_ucb_tries_untried_actions_first() -> None:
    policy = TabularPolicy(
        np.array([0.9, 0.1, 0.5, 0.0]), np.array([10.0, 0.0, 0.0, 4.0]), UCBRule()
    )
    probs = policy.action_probabilities(np.zeros((1, 7)))  # any context width
    np.testing.assert_allclose(probs, [[0, 0.5, 0.5, 0]])
    tried = TabularPolicy(np.array([0.9, 0.1, 0.5, 0.0]), np.array([10.0, 10, 10, 10]), UCBRule())
    np.testing.assert_allclose(tried.action_probabilities(np.zeros((1, 2))), [[1, 0, 0, 0]])


def test_random_policy_is_uniform_over_eligible() -> None:
    masks = np.array([[True, False, True, True], [False, False, False, True]])
    probs = RandomPolicy(A).action_probabilities(np.zeros((2, 5)), masks)
    np.testing.assert_allclose(probs, [[1 / 3, 0, 1 / 3, 1 / 3], [0, 0, 0, 1]])


@pytest.mark.parametrize("rows", [1, 3])
def test_thompson_never_plays_an_action_outside_its_distribution(rows: int) -> None:
    rule = ThompsonRule(v=1.0, n_samples=200, seed=0)
    mean = np.tile([10.0, 0.0], (rows, 1))
    width = np.ones((rows, 2))
    assert (rule.probabilities(mean, width, None)[:, 1] == 0.0).all()  # 10 sigma behind
    # Whatever the caller's generator gives, the action comes from the fixed-draw
    # distribution: action 1 (probability 0) is never played, action 0 has propensity 1.
    actions, props = rule.sample(mean, width, None, np.random.default_rng(0))
    np.testing.assert_array_equal(actions, 0)
    np.testing.assert_array_equal(props, 1.0)


def test_thompson_estimate_is_seeded_and_close_to_exact() -> None:
    from scipy.stats import norm

    mean, width = np.array([[0.3, 0.0]]), np.array([[0.4, 0.3]])
    exact = norm.cdf(0.3 / np.hypot(0.4, 0.3))
    first = ThompsonRule(1.0, 4000, seed=1).probabilities(mean, width, None)
    again = ThompsonRule(1.0, 4000, seed=1).probabilities(mean, width, None)
    other = ThompsonRule(1.0, 4000, seed=2).probabilities(mean, width, None)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert abs(first[0, 0] - exact) < 5 * np.sqrt(exact * (1 - exact) / 4000)


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: LinearPolicy(np.zeros(3)), ValueError, r"theta must have shape \(n_actions"),
        (lambda: LinearPolicy(np.zeros((1, 3))), ValueError, "n_actions must be an integer >= 2"),
        (
            lambda: LinearPolicy(np.zeros((A, D)), np.zeros((A, D, D + 1)), UCBRule()),
            ValueError,
            r"a_inv must have shape \(4, 3, 3\); got \(4, 3, 4\)",
        ),
        (lambda: LinearPolicy(np.zeros((A, D)), rule=UCBRule(1.0)), ValueError, "needs a_inv"),
        (
            lambda: LinearPolicy(np.zeros((A, D)), rule=ThompsonRule()),
            ValueError,
            "LinearPolicy supports rules",
        ),
        (
            lambda: LinearPolicy(np.zeros((A, D)), rule=EpsilonGreedyRule(0.1, decay=0.5)),
            ValueError,
            "must not decay",
        ),
        (lambda: LinearPolicy(np.full((A, D), np.nan)), ValueError, "theta has non-finite"),
        (
            lambda: ThompsonPolicy(np.zeros((A, D)), np.ones((A, D, D)), ThompsonRule()),
            ValueError,
            "chol must be lower triangular",
        ),
        (lambda: TabularPolicy(np.zeros((2, 2))), ValueError, r"values must have shape"),
        (lambda: TabularPolicy(np.zeros(A), rule=UCBRule()), ValueError, "needs counts"),
        (
            lambda: TabularPolicy(np.zeros(A), np.array([1.0, -1, 0, 0]), UCBRule()),
            ValueError,
            "counts must be >= 0",
        ),
        (lambda: RandomPolicy(A, n_features=0), ValueError, "n_features must be an integer >= 1"),
    ],
)
def test_bad_policy_arguments_fail_clearly(
    build: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        build()


def test_bad_inputs_name_the_argument_and_shape(policy: BasePolicy) -> None:
    x, masks = _inputs(3, 4)
    width = "3" if policy.n_features is not None else "d"
    with pytest.raises(ValueError, match=rf"contexts must have shape \(n, {width}\); got \(3,\)"):
        policy.decide(np.zeros(3))
    if policy.n_features is not None:
        with pytest.raises(ValueError, match=r"contexts must have shape \(n, 3\); got \(3, 2\)"):
            policy.decide(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"contexts has non-finite values in rows \[2\]"):
        policy.decide(np.vstack([x[:2], [[np.inf, 0, 0]]]))
    with pytest.raises(
        ValueError, match=r"masks must have shape \(n, n_actions\)=\(3, 4\); got \(4,\)"
    ):
        policy.decide(x, masks[0])
    with pytest.raises(TypeError, match="masks must be a bool"):
        policy.action_probabilities(x, masks.astype(float))
    with pytest.raises(TypeError, match="rng must be a numpy Generator"):
        policy.decide(x, masks, rng="seed")  # type: ignore[arg-type]
