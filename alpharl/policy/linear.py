"""Exported linear policies: per-action ridge models scored greedily, by UCB, or by Thompson.

Both hold one linear model per action (disjoint, as in Li et al., 2010): ``LinearPolicy``
keeps the coefficients ``theta`` and, for UCB, the inverse design matrices ``A^-1``;
``ThompsonPolicy`` keeps the posterior means and a Cholesky factor of each posterior
covariance ``A^-1``. The scoring functions here are the ones the training agents use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np

from alpharl.policy.base import BasePolicy
from alpharl.policy.checks import check_matrix
from alpharl.policy.rules import (
    DecisionRule,
    EpsilonGreedyRule,
    GreedyRule,
    ThompsonRule,
    UCBRule,
)


def ridge_scores(
    x: np.ndarray, theta: np.ndarray, a_inv: np.ndarray | None, with_width: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-action ``x' theta_a`` and, if asked, ``sqrt(x' A_a^-1 x)``.

    Args:
        x: Contexts ``(n, d)``.
        theta: Coefficients ``(n_actions, d)``.
        a_inv: Inverse design matrices ``(n_actions, d, d)``; needed only for the width.
        with_width: Whether to compute the width.
    """
    mean = x @ theta.T
    if not with_width:
        return mean, None
    if a_inv is None:
        raise ValueError("a width was asked for, but the model has no a_inv")
    n_actions, d = theta.shape
    if x.shape[0] == 1:  # the online path: two matrix-vector products
        x0 = x[0]
        quad = ((a_inv.reshape(n_actions * d, d) @ x0).reshape(n_actions, d) @ x0)[None, :]
    else:
        quad = np.einsum("and,nd->na", np.matmul(x, a_inv), x)
    return mean, np.sqrt(np.maximum(quad, 0.0))


def factor_widths(x: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """``||L_a' x||`` per row and action, i.e. ``sqrt(x' Sigma_a x)`` for ``Sigma = L L'``."""
    xl = np.matmul(x, chol)  # (n_actions, n, d)
    return np.sqrt(np.einsum("and,and->na", xl, xl))


def cholesky_factor(cov: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of symmetric PSD matrices ``(..., d, d)``.

    Rank-1 updates leave ``A^-1`` symmetric only up to rounding, so it is symmetrised
    first; if it is still not numerically positive definite, a diagonal jitter of
    ``1e-12 * trace / d`` (grown tenfold up to 6 times) is added.
    """
    sym = 0.5 * (cov + np.swapaxes(cov, -1, -2))
    try:
        return np.linalg.cholesky(sym)
    except np.linalg.LinAlgError:
        pass
    d = sym.shape[-1]
    scale = np.trace(sym, axis1=-2, axis2=-1)[..., None, None] / d
    eye = np.eye(d)
    for k in range(6):
        try:
            return np.linalg.cholesky(sym + (1e-12 * 10**k) * scale * eye)
        except np.linalg.LinAlgError:
            continue
    raise ValueError("covariance is not positive semi-definite (Cholesky failed with jitter)")


class LinearPolicy(BasePolicy):
    """Per-action linear scores ``x' theta_a``, decided greedily, epsilon-greedily or by UCB.

    Under the UCB rule the score is ``x' theta_a + alpha * sqrt(x' A_a^-1 x)`` (LinUCB,
    Li et al., 2010) and the choice is deterministic up to ties.

    Args:
        theta: Coefficients ``(n_actions, n_features)``.
        a_inv: Inverse design matrices ``(n_actions, n_features, n_features)``; required
            by the UCB rule with alpha > 0, otherwise optional.
        rule: `GreedyRule`, `EpsilonGreedyRule` (no decay) or `UCBRule`.
    """

    kind = "linear"
    supported_rules = (GreedyRule, EpsilonGreedyRule, UCBRule)

    def __init__(
        self,
        theta: np.ndarray,
        a_inv: np.ndarray | None = None,
        rule: DecisionRule | None = None,
    ) -> None:
        theta = np.asarray(theta, dtype=np.float64)
        if theta.ndim != 2:
            raise ValueError(f"theta must have shape (n_actions, n_features); got {theta.shape}")
        super().__init__(theta.shape[0], theta.shape[1], rule or GreedyRule())
        self.theta = check_matrix("theta", theta, theta.shape)
        a, d = theta.shape
        self.a_inv = None if a_inv is None else check_matrix("a_inv", a_inv, (a, d, d))
        if self.rule.uses_width and self.a_inv is None:
            raise ValueError(f"the rule {self.rule!r} needs a_inv; got None")

    def _scores(self, x: np.ndarray, with_width: bool) -> tuple[np.ndarray, np.ndarray | None]:
        return ridge_scores(x, self.theta, self.a_inv, with_width)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"theta": self.theta} | ({} if self.a_inv is None else {"a_inv": self.a_inv})

    @classmethod
    def _from_saved(
        cls, manifest: Mapping[str, Any], rule: DecisionRule, arrays: Mapping[str, np.ndarray]
    ) -> Self:
        return cls(arrays["theta"], arrays.get("a_inv"), rule)


class ThompsonPolicy(BasePolicy):
    """Linear Thompson sampling from per-action Gaussian posteriors (Agrawal & Goyal, 2013).

    Action ``a``'s coefficients are ``N(mean_a, v^2 L_a L_a')``. The action distribution
    is `ThompsonRule`'s: win frequencies over ``n_samples`` fixed score draws; `decide`
    draws the action from it, so each propensity is exactly the chosen action's
    probability, the same as the training agent's for the same posterior.

    Args:
        mean: Posterior means ``(n_actions, n_features)``.
        chol: Lower Cholesky factors of the posterior covariances (before the ``v^2``
            scale), ``(n_actions, n_features, n_features)``.
        rule: The `ThompsonRule` carrying ``v``, ``n_samples`` and the Monte-Carlo seed.
    """

    kind = "thompson"
    supported_rules = (ThompsonRule,)

    def __init__(self, mean: np.ndarray, chol: np.ndarray, rule: DecisionRule) -> None:
        mean = np.asarray(mean, dtype=np.float64)
        if mean.ndim != 2:
            raise ValueError(f"mean must have shape (n_actions, n_features); got {mean.shape}")
        super().__init__(mean.shape[0], mean.shape[1], rule)
        a, d = mean.shape
        self.mean = check_matrix("mean", mean, mean.shape)
        self.chol = check_matrix("chol", chol, (a, d, d))
        if np.triu(self.chol, 1).any():
            raise ValueError("chol must be lower triangular (a Cholesky factor)")

    def _scores(self, x: np.ndarray, with_width: bool) -> tuple[np.ndarray, np.ndarray | None]:
        mean = x @ self.mean.T
        return mean, factor_widths(x, self.chol) if with_width else None

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "chol": self.chol}

    @classmethod
    def _from_saved(
        cls, manifest: Mapping[str, Any], rule: DecisionRule, arrays: Mapping[str, np.ndarray]
    ) -> Self:
        return cls(arrays["mean"], arrays["chol"], rule)
