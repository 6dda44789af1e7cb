"""Budget pacing: a part that any scoring agent composes with (``agent=linucb pacing=dual``).

A pacing part watches the budget through the environment's ``info`` in the learn loop
(``info["action_costs"]``, ``["budget"]``, ``["budget_left"]``, ``["steps_left"]``) and
keeps one control: a budget multiplier (dual pacing) or a participation rate (throttling).
The agent decides through `rule`, a stationary wrapper of its exploration rule from
`alpharl.policy.paced` built from the control's current value; the exported policy carries
that wrapper, so the multiplier (or rate) as of export is in its ``policy.json`` and the
policy's propensities are exact, like the agent's.

Both parts steer the spend per step ``c_t`` (the chosen action's cost) toward a target
rate ``rho_t``: ``budget / episode_length`` (``rate="fixed"``, as in Balseiro, Lu &
Mirrokni, 2020) or ``budget_left / steps_left`` (``rate="remaining"``, which re-targets
after an over- or under-spend). Gradients are divided by the episode's average rate
``rho_bar = budget / episode_length`` so that step sizes do not depend on the currency.
Controls carry over from one episode to the next (a warm start: the multiplier of the
last campaign is a good first guess for the next).

Pacing is not applied in the served decision path (`alpharl serve`): serving decides for
requests that carry neither the campaign's budget period nor its remaining opportunities
(``steps_left`` has no meaning for open-ended traffic), and several workers would have to
share one spend counter updated atomically before each answer; a counter per worker would
overspend by the number of workers. The served policy uses the multiplier (or rate) frozen
at export instead, which is stationary, so its logged propensities stay exact and
off-policy estimates made from its log stay valid. Re-exporting after a campaign updates it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from alpharl.policy import DecisionRule, ShadowPriceRule, ThrottleRule
from alpharl.policy.checks import check_number, check_size

PACING_INFO_KEYS = ("action_costs", "budget", "budget_left", "steps_left")
"""The ``info`` keys a pacing part reads before every decision."""

RATES = ("fixed", "remaining")

# Slots of the state vector (saved with the agent, updated in place).
_CONTROL, _EPISODE_LENGTH, _LAST_STEPS_LEFT, _TARGET, _SCALE = range(5)


class Pacing(ABC):
    """A budget-pacing part: learns a control from the spend, wraps the exploration rule.

    Subclasses set ``name``, the control's initial value and bounds, `_step` (the control
    update for one decision) and `_wrap` (the rule as of the current control).

    Args:
        step_size: Step size of the control's update (> 0).
        rate: Target spend rate: ``"fixed"`` (budget / episode length) or ``"remaining"``
            (budget left / steps left).
    """

    name: ClassVar[str]

    def __init__(self, step_size: float, rate: str) -> None:
        self.step_size = check_number("step_size", step_size, 0.0)
        if self.step_size == 0.0:
            raise ValueError("step_size must be > 0; got 0.0")
        if rate not in RATES:
            raise ValueError(f"rate must be one of {list(RATES)}; got {rate!r}")
        self.rate = rate
        self.costs = np.zeros(0)
        self.state = np.array([self._initial(), math.nan, math.nan, math.nan, math.nan])

    def bind(self, n_actions: int) -> None:
        """Size the per-action cost vector (unknown, NaN, until the first ``info``)."""
        self.costs = np.full(check_size("n_actions", n_actions, 2), math.nan)

    @property
    def control(self) -> float:
        """The current multiplier (dual) or participation rate (throttle)."""
        return float(self.state[_CONTROL])

    @property
    def costs_known(self) -> bool:
        """Whether an ``info`` has told the part each action's cost yet."""
        return bool(len(self.costs)) and not np.isnan(self.costs).any()

    def observe(self, info: Mapping[str, Any]) -> None:
        """Read the budget from the ``info`` describing the next decision."""
        missing = [k for k in PACING_INFO_KEYS if k not in info]
        if missing:
            raise KeyError(
                f"pacing {self.name!r} needs info keys {missing} from the environment "
                f"(AdDeliveryEnv provides {list(PACING_INFO_KEYS)}); info has {sorted(info)}"
            )
        costs = np.asarray(info["action_costs"], dtype=np.float64)
        if costs.shape != self.costs.shape or not np.isfinite(costs).all() or costs[-1] != 0:
            raise ValueError(
                f"info['action_costs'] must be {len(self.costs)} finite costs, 'no ad' last "
                f"at 0; got {costs.tolist()}"
            )
        budget, left = float(info["budget"]), float(info["budget_left"])
        steps_left = int(info["steps_left"])
        if not budget > 0 or not 0 <= left <= budget * (1 + 1e-9) or steps_left < 1:
            raise ValueError(
                "pacing needs info['budget'] > 0, 0 <= info['budget_left'] <= budget and "
                f"info['steps_left'] >= 1 at a decision; got {budget}, {left}, {steps_left}"
            )
        self.costs[:] = costs
        s = self.state
        if math.isnan(s[_LAST_STEPS_LEFT]) or steps_left >= s[_LAST_STEPS_LEFT]:
            s[_EPISODE_LENGTH] = steps_left  # a new episode starts with this decision
        s[_LAST_STEPS_LEFT] = steps_left
        s[_SCALE] = budget / s[_EPISODE_LENGTH]
        s[_TARGET] = s[_SCALE] if self.rate == "fixed" else left / steps_left

    def record(self, action: int) -> None:
        """Update the control after the decision ``action`` made on the last `observe`."""
        s = self.state
        if math.isnan(s[_TARGET]):
            raise RuntimeError("pacing: record() before observe(info)")
        gradient = (s[_TARGET] - self.costs[action]) / s[_SCALE]
        s[_CONTROL] = self._step(float(s[_CONTROL]), float(gradient))

    def rule(self, inner: DecisionRule) -> DecisionRule:
        """The exploration rule ``inner`` as paced now (``inner`` until costs are known)."""
        return self._wrap(inner) if self.costs_known else inner

    def arrays(self) -> dict[str, np.ndarray]:
        """The part's state by name (saved with the agent; restored in place)."""
        return {"pacing_costs": self.costs, "pacing_state": self.state}

    def to_config(self) -> dict[str, Any]:
        """Plain-JSON description; `pacing_from_config` is its inverse."""
        return {"name": self.name, **self._params()}

    @abstractmethod
    def _initial(self) -> float:
        """The control's value before any update."""

    @abstractmethod
    def _step(self, control: float, gradient: float) -> float:
        """The control after one decision whose normalised ``rho_t - c_t`` is ``gradient``."""

    @abstractmethod
    def _wrap(self, inner: DecisionRule) -> DecisionRule:
        """The paced rule for the current control."""

    @abstractmethod
    def _params(self) -> dict[str, Any]:
        """The constructor arguments."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"


class DualPacing(Pacing):
    """Dual (Lagrangian) pacing: online gradient descent on the budget's multiplier.

    Balseiro, Lu & Mirrokni, "Dual Mirror Descent for Online Allocation Problems" (ICML
    2020), with the Euclidean mirror map: the agent acts on ``score_a - lambda * cost_a``
    ("no ad" costs 0), and after each decision with spend ``c_t``,
    ``lambda <- clip(lambda - eta * (rho_t - c_t) / rho_bar, 0, max_multiplier)``:
    overspending raises the price of the budget, underspending lowers it. The exploration
    rule (UCB, Thompson, epsilon-greedy) applies to the adjusted scores, so the logged
    propensity stays exact.

    The default ``step_size`` 0.05 is the better of {0.05, 0.2} on two seeds of the default
    env over synthetic test posts (budget 10; a quick check, not a tuned value).

    Args:
        step_size: ``eta`` (> 0), in multiplier units per unit of normalised overspend.
        initial_multiplier: ``lambda`` before the first update (>= 0).
        max_multiplier: Upper clip of ``lambda`` (> 0; the paper's ``f_bar / rho``).
        rate: ``"fixed"`` or ``"remaining"`` target spend rate (see the module docstring).
    """

    name: ClassVar[str] = "dual"

    def __init__(
        self,
        step_size: float = 0.05,
        initial_multiplier: float = 0.0,
        max_multiplier: float = 100.0,
        rate: str = "remaining",
    ) -> None:
        self.initial_multiplier = check_number("initial_multiplier", initial_multiplier, 0.0)
        self.max_multiplier = check_number("max_multiplier", max_multiplier, 0.0)
        if not self.initial_multiplier <= self.max_multiplier or self.max_multiplier == 0.0:
            raise ValueError(
                f"max_multiplier must be > 0 and >= initial_multiplier "
                f"({self.initial_multiplier}); got {self.max_multiplier}"
            )
        super().__init__(step_size, rate)

    @property
    def multiplier(self) -> float:
        """The budget's current shadow price ``lambda``."""
        return self.control

    def _initial(self) -> float:
        return self.initial_multiplier

    def _step(self, control: float, gradient: float) -> float:
        return min(max(control - self.step_size * gradient, 0.0), self.max_multiplier)

    def _wrap(self, inner: DecisionRule) -> DecisionRule:
        return ShadowPriceRule(inner, self.control, tuple(self.costs.tolist()))

    def _params(self) -> dict[str, Any]:
        return {
            "step_size": self.step_size,
            "initial_multiplier": self.initial_multiplier,
            "max_multiplier": self.max_multiplier,
            "rate": self.rate,
        }


class ThrottlePacing(Pacing):
    """Probabilistic throttling: take part in an opportunity with probability ``q``.

    The baseline of budget pacing in practice (Agarwal, Ghosh, Wei & Xu, KDD 2014; Xu et
    al., "Smart Pacing for Effective Online Ad Campaign Optimization", KDD 2015): the agent's
    rule decides with probability ``q``, otherwise "no ad", and
    ``q <- clip(q + eta * (rho_t - c_t) / rho_bar, min_participation, 1)``. The action is
    drawn from ``q * P_rule + (1 - q) * [no ad]``, so its propensity is exact.

    Args:
        step_size: ``eta`` (> 0).
        initial_participation: ``q`` before the first update, in (0, 1].
        min_participation: Lower clip of ``q``, in (0, 1].
        rate: ``"fixed"`` or ``"remaining"`` target spend rate (see the module docstring).
    """

    name: ClassVar[str] = "throttle"

    def __init__(
        self,
        step_size: float = 0.01,
        initial_participation: float = 1.0,
        min_participation: float = 0.01,
        rate: str = "remaining",
    ) -> None:
        self.initial_participation = check_number(
            "initial_participation", initial_participation, 0.0, 1.0
        )
        self.min_participation = check_number("min_participation", min_participation, 0.0, 1.0)
        if not 0.0 < self.min_participation <= self.initial_participation:
            raise ValueError(
                f"min_participation must be in (0, initial_participation="
                f"{self.initial_participation}]; got {self.min_participation}"
            )
        super().__init__(step_size, rate)

    @property
    def participation(self) -> float:
        """The current probability of taking part."""
        return self.control

    def _initial(self) -> float:
        return self.initial_participation

    def _step(self, control: float, gradient: float) -> float:
        return min(max(control + self.step_size * gradient, self.min_participation), 1.0)

    def _wrap(self, inner: DecisionRule) -> DecisionRule:
        return ThrottleRule(inner, self.control)

    def _params(self) -> dict[str, Any]:
        return {
            "step_size": self.step_size,
            "initial_participation": self.initial_participation,
            "min_participation": self.min_participation,
            "rate": self.rate,
        }


PACINGS: dict[str, type[Pacing]] = {
    DualPacing.name: DualPacing,
    ThrottlePacing.name: ThrottlePacing,
}
"""The pacing parts by their saved name (an agent's ``agent.json`` records the name)."""


def pacing_from_config(config: Pacing | Mapping[str, Any] | None) -> Pacing | None:
    """A pacing part from ``{"name": ..., **params}`` (or pass one, or None, through)."""
    if config is None or isinstance(config, Pacing):
        return config
    if not isinstance(config, Mapping):
        raise TypeError(f"pacing must be a Pacing, a mapping or None; got {config!r}")
    params = dict(config)
    name = params.pop("name", None)
    cls = PACINGS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown pacing name {name!r}; expected one of {sorted(PACINGS)}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"pacing {name!r}: {exc}") from exc
