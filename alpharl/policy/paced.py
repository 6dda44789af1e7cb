"""Budget pacing as decision-rule wrappers, shared by pacing agents and their policies.

A pacing part (`agents.pacing`) learns a budget multiplier or a participation rate while
an agent trains; what it decides with at any moment is one of these stationary wrappers
around the agent's exploration rule. The agent acts through the wrapper, and its exported
policy carries the same wrapper (with the multiplier or rate as of export, recorded in
``policy.json``), so the policy decides, and logs propensities, exactly as the agent did.

* `ShadowPriceRule`: the inner rule applied to ``mean - multiplier * cost_a`` (dual /
  Lagrangian pacing, Balseiro, Lu & Mirrokni, 2020). "No ad" costs 0. The exploration
  happens on the adjusted scores, so the propensity is the inner rule's, exact.
* `ThrottleRule`: with probability ``participation`` the inner rule decides, otherwise
  "no ad" (probabilistic throttling; Agarwal, Ghosh, Wei & Xu, "Budget pacing for
  targeted online advertisements at LinkedIn", KDD 2014). The distribution is
  ``q * P_inner + (1 - q) * [a == no ad]``, and the action is drawn from it, so the
  logged propensity is exact.

"No ad" is the last action, as everywhere in `alpharl.policy`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from alpharl.policy.checks import check_number
from alpharl.policy.rules import (
    RULES,
    DecisionRule,
    FloatArray,
    rule_from_config,
    sample_categorical,
)


def _check_inner(inner: Any) -> DecisionRule:
    rule = rule_from_config(inner)
    if rule.base is not rule:
        raise ValueError(f"inner: a pacing rule wraps an exploration rule, not {rule!r}")
    return rule


def check_costs(costs: Any) -> tuple[float, ...]:
    """Per-action costs as a tuple: finite, >= 0, at least 2, the last ("no ad") 0."""
    try:
        values = tuple(float(c) for c in costs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"costs: must be a sequence of numbers; got {costs!r}") from exc
    if len(values) < 2 or not all(math.isfinite(c) and c >= 0 for c in values):
        raise ValueError(f"costs: must be >= 2 finite numbers >= 0; got {list(values)}")
    if values[-1] != 0.0:
        raise ValueError(f"costs: the last action ('no ad') must cost 0; got {values[-1]}")
    return values


@dataclass(frozen=True)
class ShadowPriceRule(DecisionRule):
    """The inner rule on the budget-adjusted estimates ``mean_a - multiplier * cost_a``.

    Args:
        inner: The exploration rule (or its config), applied to the adjusted estimates.
        multiplier: The budget's shadow price lambda >= 0 (reward per unit of budget).
        costs: Each action's cost, "no ad" last at 0.
    """

    name: ClassVar[str] = "shadow_price"
    inner: DecisionRule
    multiplier: float = 0.0
    costs: tuple[float, ...] = (0.0, 0.0)
    _costs: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inner", _check_inner(self.inner))
        object.__setattr__(self, "multiplier", check_number("multiplier", self.multiplier, 0.0))
        object.__setattr__(self, "costs", check_costs(self.costs))
        object.__setattr__(self, "_costs", np.array(self.costs))

    @property
    def uses_width(self) -> bool:
        return self.inner.uses_width

    @property
    def stationary(self) -> bool:
        return self.inner.stationary

    @property
    def base(self) -> DecisionRule:
        return self.inner

    def current(self, step: int) -> ShadowPriceRule:
        inner = self.inner.current(step)
        return self if inner is self.inner else ShadowPriceRule(inner, self.multiplier, self.costs)

    def adjusted(self, mean: FloatArray) -> FloatArray:
        """``mean - multiplier * costs``; the costs must match the number of actions."""
        if mean.shape[1] != len(self.costs):
            raise ValueError(
                f"costs: {len(self.costs)} given for {mean.shape[1]} actions ({self.costs})"
            )
        return mean - self.multiplier * self._costs if self.multiplier else mean

    def probabilities(
        self, mean: FloatArray, width: FloatArray | None, eligible: np.ndarray | None
    ) -> FloatArray:
        return self.inner.probabilities(self.adjusted(mean), width, eligible)

    def sample(
        self,
        mean: FloatArray,
        width: FloatArray | None,
        eligible: np.ndarray | None,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, FloatArray]:
        return self.inner.sample(self.adjusted(mean), width, eligible, rng)

    def to_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inner": self.inner.to_config(),
            "multiplier": self.multiplier,
            "costs": list(self.costs),
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ShadowPriceRule:
        return cls(**params)


@dataclass(frozen=True)
class ThrottleRule(DecisionRule):
    """With probability ``participation`` the inner rule, otherwise "no ad".

    Args:
        inner: The exploration rule (or its config) that decides when participating.
        participation: Probability q in [0, 1] of taking part in an opportunity.
    """

    name: ClassVar[str] = "throttle"
    inner: DecisionRule
    participation: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "inner", _check_inner(self.inner))
        q = check_number("participation", self.participation, 0.0, 1.0)
        object.__setattr__(self, "participation", q)

    @property
    def uses_width(self) -> bool:
        return self.inner.uses_width

    @property
    def stationary(self) -> bool:
        return self.inner.stationary

    @property
    def base(self) -> DecisionRule:
        return self.inner

    def current(self, step: int) -> ThrottleRule:
        inner = self.inner.current(step)
        return self if inner is self.inner else ThrottleRule(inner, self.participation)

    def probabilities(
        self, mean: FloatArray, width: FloatArray | None, eligible: np.ndarray | None
    ) -> FloatArray:
        probs = self.inner.probabilities(mean, width, eligible)
        q = self.participation
        if q == 1.0:
            return probs
        probs = q * probs
        probs[:, -1] += 1.0 - q
        return probs

    def sample(
        self,
        mean: FloatArray,
        width: FloatArray | None,
        eligible: np.ndarray | None,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, FloatArray]:
        if self.participation == 1.0:
            return self.inner.sample(mean, width, eligible, rng)
        return sample_categorical(self.probabilities(mean, width, eligible), rng)

    def to_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inner": self.inner.to_config(),
            "participation": self.participation,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ThrottleRule:
        return cls(**params)


RULES[ShadowPriceRule.name] = ShadowPriceRule
RULES[ThrottleRule.name] = ThrottleRule
