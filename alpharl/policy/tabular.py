"""Exported context-free policies: per-action values, and the uniform random policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np

from alpharl.policy.base import BasePolicy
from alpharl.policy.checks import check_matrix
from alpharl.policy.rules import DecisionRule, EpsilonGreedyRule, GreedyRule, UCBRule


def count_widths(counts: np.ndarray) -> np.ndarray:
    """UCB1's exploration width ``sqrt(ln t / n_a)`` (Auer et al., 2002), ``t = sum(n)``.

    An action never tried has an infinite width, so UCB tries each eligible action once
    before comparing estimates.
    """
    log_t = np.log(max(float(counts.sum()), 1.0))
    widths = np.full(counts.shape, np.inf)
    tried = counts > 0
    widths[tried] = np.sqrt(log_t / counts[tried])
    return widths


class TabularPolicy(BasePolicy):
    """Context-free per-action values, decided greedily, epsilon-greedily or by UCB1.

    Under the UCB rule the score is ``value_a + alpha * sqrt(ln t / n_a)`` with the counts
    frozen at export, so the choice is deterministic up to ties.

    Args:
        values: Estimated reward per action ``(n_actions,)``.
        counts: How often each action was tried ``(n_actions,)``; required by the UCB
            rule with alpha > 0, otherwise optional.
        rule: `GreedyRule`, `EpsilonGreedyRule` (no decay) or `UCBRule`.
        n_features: Context width to enforce, or None to accept any (contexts are ignored).
    """

    kind = "tabular"
    supported_rules = (GreedyRule, EpsilonGreedyRule, UCBRule)

    def __init__(
        self,
        values: np.ndarray,
        counts: np.ndarray | None = None,
        rule: DecisionRule | None = None,
        n_features: int | None = None,
    ) -> None:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1:
            raise ValueError(f"values must have shape (n_actions,); got {values.shape}")
        super().__init__(values.shape[0], n_features, rule or GreedyRule())
        self.values = check_matrix("values", values, values.shape)
        self.counts: np.ndarray | None = None
        if counts is not None:
            counts = check_matrix("counts", counts, values.shape)
            if (counts < 0).any():
                raise ValueError(f"counts must be >= 0; got {counts.tolist()}")
            self.counts = counts
        if self.rule.uses_width and self.counts is None:
            raise ValueError(f"the rule {self.rule!r} needs counts; got None")

    def _scores(self, x: np.ndarray, with_width: bool) -> tuple[np.ndarray, np.ndarray | None]:
        n = x.shape[0]
        mean = np.broadcast_to(self.values, (n, self.n_actions))
        if not with_width:
            return mean, None
        assert self.counts is not None  # checked in __init__ for rules that use the width
        return mean, np.broadcast_to(count_widths(self.counts), (n, self.n_actions))

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"values": self.values} | ({} if self.counts is None else {"counts": self.counts})

    @classmethod
    def _from_saved(
        cls, manifest: Mapping[str, Any], rule: DecisionRule, arrays: Mapping[str, np.ndarray]
    ) -> Self:
        return cls(arrays["values"], arrays.get("counts"), rule, manifest["n_features"])


class RandomPolicy(BasePolicy):
    """Uniform over the eligible actions: every score is equal, and ties split uniformly.

    Args:
        n_actions: Number of actions, the last being "no ad" (>= 2).
        n_features: Context width to enforce, or None to accept any.
    """

    kind = "random"
    supported_rules = (GreedyRule,)

    def __init__(self, n_actions: int, n_features: int | None = None) -> None:
        super().__init__(n_actions, n_features, GreedyRule())

    def _scores(self, x: np.ndarray, with_width: bool) -> tuple[np.ndarray, np.ndarray | None]:
        return np.zeros((x.shape[0], self.n_actions)), None

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    @classmethod
    def _from_saved(
        cls, manifest: Mapping[str, Any], rule: DecisionRule, arrays: Mapping[str, np.ndarray]
    ) -> Self:
        return cls(manifest["n_actions"], manifest["n_features"])
