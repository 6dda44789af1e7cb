"""Reward models ``q_hat(x, a, k)`` for the direct method and the doubly robust family.

One linear model is fitted per (position, action) cell: ridge regression in closed form
for real-valued rewards, or L2-penalised logistic regression (Newton's method) for
binary rewards. `RegressionModel.fit_predict` cross-fits (Chernozhukov et al.,
"Double/Debiased Machine Learning for Treatment and Structural Parameters", 2018): each
round's prediction comes from a model fitted on the other folds, so the reward model
does not overfit the very rounds DR corrects with it (OBP's ``RegressionModel`` with
``n_folds > 1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from alpharl.ope.checks import (
    check_float_array,
    check_int_array,
    check_length,
    check_positive_int,
    is_integer,
    is_real,
)
from alpharl.schema import RecordError

MODELS = ("ridge", "logistic")
INTERCEPT_PENALTY = 1e-3
"""L2 penalty on a logistic intercept, keeping it finite when a cell's rewards are all 0 or 1."""
_PROBABILITY_FLOOR = 1e-6


def cross_fitting_folds(n_rounds: int, n_folds: int, random_state: int | None = None) -> np.ndarray:
    """Assign each of ``n_rounds`` rounds at random to one of ``n_folds`` near-equal folds."""
    folds = np.empty(n_rounds, dtype=np.int64)
    folds[np.random.default_rng(random_state).permutation(n_rounds)] = np.arange(n_rounds) % n_folds
    return folds


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


def _fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge regression with an unpenalised intercept, in closed form."""
    x_mean, y_mean = x.mean(axis=0), float(y.mean())
    xc = x - x_mean
    gram = xc.T @ xc + alpha * np.eye(x.shape[1])
    coef = np.linalg.solve(gram, xc.T @ (y - y_mean))
    return coef, y_mean - float(x_mean @ coef)


def _logistic_loss(x: np.ndarray, y: np.ndarray, theta: np.ndarray, penalty: np.ndarray) -> float:
    z = x @ theta
    return float((np.logaddexp(0.0, z) - y * z).sum() + 0.5 * (penalty * theta**2).sum())


def _fit_logistic(
    x: np.ndarray, y: np.ndarray, alpha: float, max_iter: int, tol: float
) -> tuple[np.ndarray, float]:
    """L2-penalised logistic regression by Newton's method with backtracking."""
    xb = np.column_stack([x, np.ones(x.shape[0])])
    penalty = np.append(np.full(x.shape[1], alpha), INTERCEPT_PENALTY)
    theta = np.zeros(xb.shape[1])
    mean = float(np.clip(y.mean(), _PROBABILITY_FLOOR, 1 - _PROBABILITY_FLOOR))
    theta[-1] = np.log(mean / (1 - mean))
    loss = _logistic_loss(xb, y, theta, penalty)
    for _ in range(max_iter):
        p = _sigmoid(xb @ theta)
        grad = xb.T @ (p - y) + penalty * theta
        hessian = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(penalty)
        step = np.linalg.solve(hessian, grad)
        size = 1.0
        while size > 1e-10:
            candidate = theta - size * step
            new_loss = _logistic_loss(xb, y, candidate, penalty)
            if new_loss <= loss:
                break
            size *= 0.5
        theta, loss = candidate, new_loss
        if np.max(np.abs(size * step)) < tol:
            break
    return theta[:-1], float(theta[-1])


@dataclass
class RegressionModel:
    """Per-(position, action) linear reward model ``q_hat(x, a, k)``.

    A cell with no training rounds predicts the mean training reward at its position (or
    overall, when the position has none).

    Args:
        n_actions: Number of actions.
        len_list: Number of positions.
        model: ``"ridge"`` (real rewards) or ``"logistic"`` (rewards in {0, 1}).
        alpha: L2 penalty (> 0) on the coefficients (not on the ridge intercept).
        max_iter: Most Newton steps of a logistic fit.
        tol: A logistic fit stops once no coefficient moves more than this.
    """

    n_actions: int
    len_list: int = 1
    model: Literal["ridge", "logistic"] = "ridge"
    alpha: float = 1.0
    max_iter: int = 100
    tol: float = 1e-8
    coef_: np.ndarray | None = field(default=None, init=False, repr=False)
    intercept_: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("n_actions", "len_list", "max_iter"):
            value = getattr(self, name)
            check_positive_int(name, value)
        if self.model not in MODELS:
            raise RecordError("model", self.model, f"must be one of {list(MODELS)}")
        for name in ("alpha", "tol"):
            value = getattr(self, name)
            if not is_real(value) or not float(value) > 0:
                raise RecordError(name, value, "must be a number > 0")

    def _check(
        self, context: Any, action: Any, reward: Any, position: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        x = check_float_array("context", context, ndim=2)
        n = x.shape[0]
        if n == 0:
            raise RecordError("context", x.shape, "must have at least one round")
        a = check_int_array("action", action, 0, self.n_actions, "n_actions")
        check_length("action", a, n)
        r = check_float_array("reward", reward, ndim=1)
        check_length("reward", r, n)
        if self.model == "logistic":
            bad = (r != 0.0) & (r != 1.0)
            if bad.any():
                i = int(np.argmax(bad))
                raise RecordError(f"reward[{i}]", float(r[i]), "must be 0 or 1 for model=logistic")
        if position is None:
            k = np.zeros(n, dtype=np.int64)
        else:
            k = check_int_array("position", position, 0, self.len_list, "len_list")
            check_length("position", k, n)
        return x, a, r, k

    def _fit_params(
        self, x: np.ndarray, action: np.ndarray, reward: np.ndarray, position: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        coef = np.zeros((self.len_list, self.n_actions, x.shape[1]))
        intercept = np.zeros((self.len_list, self.n_actions))
        for k in range(self.len_list):
            at_k = position == k
            fallback = float(reward[at_k].mean() if at_k.any() else reward.mean())
            for a in range(self.n_actions):
                rows = at_k & (action == a)
                if not rows.any():
                    intercept[k, a] = self._link(fallback)
                elif self.model == "ridge":
                    coef[k, a], intercept[k, a] = _fit_ridge(x[rows], reward[rows], self.alpha)
                else:
                    coef[k, a], intercept[k, a] = _fit_logistic(
                        x[rows], reward[rows], self.alpha, self.max_iter, self.tol
                    )
        return coef, intercept

    def _link(self, mean: float) -> float:
        if self.model == "ridge":
            return mean
        mean = float(np.clip(mean, _PROBABILITY_FLOOR, 1 - _PROBABILITY_FLOOR))
        return float(np.log(mean / (1 - mean)))

    def _predict(self, x: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        z = np.einsum("nd,kad->nak", x, coef) + intercept.T[np.newaxis]
        return z if self.model == "ridge" else _sigmoid(z)

    def fit(self, context: Any, action: Any, reward: Any, position: Any = None) -> RegressionModel:
        """Fit every (position, action) cell on all the given rounds.

        Args:
            context: Contexts, shape ``(n_rounds, dim_context)``.
            action: Logged actions, shape ``(n_rounds,)``.
            reward: Observed rewards, shape ``(n_rounds,)`` (0 or 1 for ``logistic``).
            position: Positions, shape ``(n_rounds,)``; None means all 0.

        Returns:
            This model, fitted.
        """
        x, a, r, k = self._check(context, action, reward, position)
        self.coef_, self.intercept_ = self._fit_params(x, a, r, k)
        return self

    def predict(self, context: Any) -> np.ndarray:
        """Predicted rewards of every action and position, shape ``(n, n_actions, len_list)``."""
        if self.coef_ is None or self.intercept_ is None:
            raise RuntimeError("RegressionModel.predict: call fit first")
        x = check_float_array("context", context, ndim=2)
        if x.shape[1] != self.coef_.shape[2]:
            raise RecordError(
                "context", x.shape, f"must have {self.coef_.shape[2]} columns, as when fitted"
            )
        return self._predict(x, self.coef_, self.intercept_)

    def fit_predict(
        self,
        context: Any,
        action: Any,
        reward: Any,
        position: Any = None,
        n_folds: int = 2,
        random_state: int | None = None,
    ) -> np.ndarray:
        """Cross-fitted ``estimated_rewards_by_reg_model`` for the given rounds.

        The rounds are split at random into ``n_folds`` folds; the predictions for a fold
        come from a model fitted on the other folds. ``n_folds=1`` fits and predicts on all
        rounds (in-sample). The model's own fitted state is left unchanged.

        Args:
            context, action, reward, position: As in `fit`.
            n_folds: Number of cross-fitting folds, between 1 and ``n_rounds``.
            random_state: Seed of the fold assignment.

        Returns:
            ``q_hat`` of shape ``(n_rounds, n_actions, len_list)``.
        """
        x, a, r, k = self._check(context, action, reward, position)
        n = x.shape[0]
        if not is_integer(n_folds) or not 1 <= int(n_folds) <= n:
            raise RecordError("n_folds", n_folds, f"must be an integer in [1, n_rounds={n}]")
        if n_folds == 1:
            return self._predict(x, *self._fit_params(x, a, r, k))
        folds = cross_fitting_folds(n, int(n_folds), random_state)
        q_hat = np.empty((n, self.n_actions, self.len_list))
        for fold in range(n_folds):
            test = folds == fold
            train = ~test
            params = self._fit_params(x[train], a[train], r[train], k[train])
            q_hat[test] = self._predict(x[test], *params)
        return q_hat
