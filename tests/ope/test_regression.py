"""The per-(position, action) reward model and its cross-fitting."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from alpharl.ope import RegressionModel, cross_fitting_folds


def _linear_data(n: int = 3000, seed: int = 0, noise: float = 0.0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    context = rng.normal(size=(n, 3))
    action = rng.integers(3, size=n)
    coef = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, 1.0], [-1.0, 0.0, 2.0]])
    intercept = np.array([0.5, -0.5, 1.0])
    truth = context @ coef.T + intercept  # (n, 3)
    reward = truth[np.arange(n), action] + noise * rng.normal(size=n)
    return context, action, reward, truth


def test_ridge_recovers_a_linear_reward_per_action() -> None:
    context, action, reward, truth = _linear_data()
    model = RegressionModel(n_actions=3, alpha=1e-6).fit(context, action, reward)
    q_hat = model.predict(context)
    assert q_hat.shape == (3000, 3, 1)
    np.testing.assert_allclose(q_hat[:, :, 0], truth, atol=1e-6)


def test_logistic_recovers_click_probabilities() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    context = rng.normal(size=(n, 2))
    action = rng.integers(2, size=n)
    logits = np.stack([context @ [1.0, -1.0] - 1.0, context @ [-0.5, 0.5] + 0.5], axis=1)
    probs = 1 / (1 + np.exp(-logits))
    reward = rng.binomial(1, probs[np.arange(n), action]).astype(float)
    model = RegressionModel(n_actions=2, model="logistic", alpha=1e-3)
    q_hat = model.fit(context, action, reward).predict(context)[:, :, 0]
    assert np.all((q_hat > 0) & (q_hat < 1))
    assert np.abs(q_hat - probs).mean() < 0.02


def test_logistic_stays_finite_when_a_cell_never_clicks() -> None:
    context = np.random.default_rng(2).normal(size=(50, 2))
    action = np.r_[np.zeros(25, int), np.ones(25, int)]
    reward = np.r_[np.zeros(25), np.ones(25)]
    q_hat = RegressionModel(n_actions=2, model="logistic").fit(context, action, reward)
    pred = q_hat.predict(context)[:, :, 0]
    assert np.all(np.isfinite(pred))
    assert pred[:, 0].max() < 0.05
    assert pred[:, 1].min() > 0.95


def test_an_action_never_logged_predicts_the_mean_reward_at_its_position() -> None:
    context = np.arange(6.0)[:, None]
    action = np.array([0, 0, 0, 1, 1, 1])
    reward = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 30.0])
    position = np.array([0, 0, 1, 0, 1, 1])
    model = RegressionModel(n_actions=3, len_list=2).fit(context, action, reward, position)
    q_hat = model.predict(context)
    # action 2 never logged: position 0 rows have rewards 1, 2, 10; position 1: 3, 20, 30.
    np.testing.assert_allclose(q_hat[:, 2, 0], (1 + 2 + 10) / 3)
    np.testing.assert_allclose(q_hat[:, 2, 1], (3 + 20 + 30) / 3)


def test_cross_fitting_predicts_each_fold_from_the_other_folds() -> None:
    context, action, reward, _ = _linear_data(n=300, noise=1.0)
    model = RegressionModel(n_actions=3, alpha=0.5)
    q_hat = model.fit_predict(context, action, reward, n_folds=3, random_state=4)
    folds = cross_fitting_folds(300, 3, random_state=4)
    assert np.bincount(folds).tolist() == [100, 100, 100]
    for fold in range(3):
        test = folds == fold
        reference = RegressionModel(n_actions=3, alpha=0.5).fit(
            context[~test], action[~test], reward[~test]
        )
        np.testing.assert_allclose(q_hat[test], reference.predict(context[test]))
    in_sample = model.fit_predict(context, action, reward, n_folds=1)
    np.testing.assert_allclose(in_sample, RegressionModel(3, alpha=0.5).fit(
        context, action, reward).predict(context))  # fmt: skip
    assert not np.allclose(in_sample, q_hat)
    assert model.coef_ is None  # fit_predict leaves the model's own state alone


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_actions": 0}, r"n_actions: must be an integer >= 1 \(got 0\)"),
        ({"n_actions": 2, "len_list": 0}, r"len_list: .*\(got 0\)"),
        ({"n_actions": 2, "model": "forest"}, r"model: must be one of .*\(got 'forest'\)"),
        ({"n_actions": 2, "alpha": 0.0}, r"alpha: must be a number > 0 \(got 0.0\)"),
        ({"n_actions": 2, "tol": -1}, r"tol: must be a number > 0"),
    ],
)
def test_bad_model_arguments_raise(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RegressionModel(**kwargs)


def test_bad_fit_inputs_raise_naming_the_field() -> None:
    context, action, reward, _ = _linear_data(n=10)
    model = RegressionModel(n_actions=3)
    with pytest.raises(ValueError, match=r"action\[0\]: is out of range for n_actions=2"):
        RegressionModel(n_actions=2).fit(context, np.full(10, 2), reward)
    with pytest.raises(ValueError, match=r"reward: must have 10 rows"):
        model.fit(context, action, reward[:5])
    with pytest.raises(ValueError, match=r"reward\[0\]: must be 0 or 1 for model=logistic"):
        RegressionModel(n_actions=3, model="logistic").fit(context, action, reward)
    with pytest.raises(ValueError, match=r"position\[0\]: is out of range for len_list=1"):
        model.fit(context, action, reward, position=np.ones(10, int))
    with pytest.raises(ValueError, match=r"n_folds: must be an integer in \[1, n_rounds=10\]"):
        model.fit_predict(context, action, reward, n_folds=11)
    with pytest.raises(RuntimeError, match="call fit first"):
        model.predict(context)
    model.fit(context, action, reward)
    with pytest.raises(ValueError, match=r"context: must have 3 columns, as when fitted"):
        model.predict(context[:, :2])
