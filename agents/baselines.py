"""Reference agents: uniform random, and two clairvoyant ones that read the simulator.

`OracleAgent` is the greedy (myopic) oracle: the best expected reward now, blind to the
budget. `PacedOracleAgent` prices the budget with the episode's optimal multiplier.
Neither is an upper bound: that is the environment's ``info["hindsight_bound"]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from agents.base import BanditAgent, BaseAgent
from alpharl.policy import BasePolicy, DecisionRule, GreedyRule, Policy, RandomPolicy


class RandomAgent(BanditAgent):
    """Uniform over the eligible actions; learns nothing.

    Every action's estimate is 0, so the greedy rule's uniform tie split is exactly the
    uniform distribution over eligible actions, with propensity ``1 / n_eligible``.

    Args:
        n_actions: Number of actions, the last being "no ad" (>= 2).
        n_features: Observation width to enforce, or None to accept any.
        seed: Seed of the agent's generator.
    """

    supported_rules = (GreedyRule,)

    def __init__(
        self, n_actions: int, n_features: int | None = None, seed: int | None = None
    ) -> None:
        super().__init__(n_actions, n_features, GreedyRule(), seed)

    def config(self) -> dict[str, Any]:
        return {"n_actions": self.n_actions, "n_features": self.n_features, "seed": self.seed}

    def _scores(self, x: np.ndarray, with_width: bool) -> tuple[np.ndarray, np.ndarray | None]:
        return np.zeros((x.shape[0], self.n_actions)), None

    def _update(self, x: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Nothing to learn."""

    def _update_one(self, x: np.ndarray, action: int, reward: float) -> None:
        """Nothing to learn."""

    def _export(self, rule: DecisionRule) -> BasePolicy:
        return RandomPolicy(self.n_actions, self.n_features)


class OracleAgent(BaseAgent):
    """The greedy (myopic) oracle: plays the simulator's best action now; simulation-only.

    In `learn`, it takes ``info["best_action"]``, which a simulated environment computes
    from the true click probabilities (the action with the highest expected reward among
    eligible ones), with propensity 1. Its myopic regret is 0 by construction, but it is
    not an upper bound: when the budget binds it spends on mediocre opportunities and
    runs out before better ones, and threshold rules or `PacedOracleAgent` beat it (the
    bound is ``info["hindsight_bound"]``). It cannot act on a bare context (no such
    information exists outside simulation), so `act`, `act_batch` and `export` raise.

    Args:
        n_actions: Number of actions, the last being "no ad" (>= 2).
        n_features: Observation width to enforce, or None to accept any.
        seed: Unused (the oracle is deterministic); kept for a uniform constructor.
    """

    def __init__(
        self, n_actions: int, n_features: int | None = None, seed: int | None = None
    ) -> None:
        super().__init__(n_actions, n_features, seed)

    def config(self) -> dict[str, Any]:
        return {"n_actions": self.n_actions, "n_features": self.n_features, "seed": self.seed}

    def _no_context_policy(self, what: str) -> TypeError:
        return TypeError(
            f"OracleAgent.{what}: the oracle needs the simulator's info['best_action'] and "
            "cannot decide from a context alone; use learn(env, ...) or act_with_info(info)"
        )

    def act(self, obs: np.ndarray, mask: np.ndarray | None = None) -> tuple[int, float]:
        """Always raises: see the class docstring."""
        raise self._no_context_policy("act")

    def act_batch(
        self, obs: np.ndarray, masks: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Always raises: see the class docstring."""
        raise self._no_context_policy("act_batch")

    def export(self) -> Policy:
        """Always raises `NotImplementedError`: the oracle has no policy over contexts."""
        raise NotImplementedError(str(self._no_context_policy("export")))

    def act_with_info(self, info: Mapping[str, Any]) -> tuple[int, float]:
        """The best action named by a simulator's ``info``, with propensity 1.

        Args:
            info: The environment's ``info`` describing the next decision.
        """
        if "best_action" not in info:
            raise KeyError(
                "OracleAgent needs info['best_action'] from a simulated environment; "
                f"info has keys {sorted(info)}"
            )
        best = info["best_action"]
        if isinstance(best, bool) or not isinstance(best, int | np.integer):
            raise TypeError(f"info['best_action'] must be an int; got {best!r}")
        if not 0 <= best < self.n_actions:
            raise ValueError(f"info['best_action'] must be in [0, {self.n_actions}); got {best}")
        mask = info.get("action_mask")
        if mask is not None and best != self.n_actions - 1 and not mask[best]:
            raise ValueError(
                f"info['best_action']={best} is not eligible under info['action_mask']"
            )
        return int(best), 1.0

    def _act_in_env(self, obs: np.ndarray, info: Mapping[str, Any]) -> tuple[int, float]:
        return self.act_with_info(info)

    def _update(self, x: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Nothing to learn."""


class PacedOracleAgent(OracleAgent):
    """A budget-aware clairvoyant reference: the greedy oracle with the budget priced in.

    Each decision takes the eligible action maximising ``expected_rewards[k] - lam *
    action_costs[k]``, or "no ad" when none is positive. Each episode starts from
    ``lam = info["bound_multiplier"]``, the optimal dual multiplier of the episode's
    hindsight LP (`envs.hindsight.HindsightLP`); with ``eta = 0`` it stays there, the
    LP's own decision rule up to ties at ``lam*``. That static rule is near the bound
    without fatigue, but the LP prices opportunities at zero fatigue, so with fatigue the
    true expected rewards are lower, the rule shows fewer ads and leaves budget unspent
    (measured on the default env: 6.3 of 10 spent). So by default ``lam`` then follows
    the spend: after each step, ``lam <- lam * exp(eta * (cost - rho) / rho)`` with
    ``rho = budget_left / steps_left`` the even spend rate of what is left (the relative
    error clipped to [-1, 1], so one step moves ``lam`` by a factor ``e**eta`` at most;
    a ``lam* = 0``, a budget that does not bind, stays 0), i.e. dual
    mirror descent with the entropic mirror map started at the hindsight multiplier
    (Balseiro, Lu & Mirrokni, *Dual Mirror Descent for Online Allocation Problems*, ICML
    2020, start it from a guess and learn the rewards; this agent reads the true ones).
    It is clairvoyant and simulation-only, a reference and not a bound (the bound is
    ``info["hindsight_bound"]``). It reads ``cost``, ``budget_left`` and ``steps_left``
    of the step just taken from the step's ``info``; an ``info`` without ``cost`` (a
    reset) restarts the episode's multiplier.

    Args:
        n_actions: Number of actions, the last being "no ad" (>= 2).
        n_features: Observation width to enforce, or None to accept any.
        seed: Unused (the agent is deterministic); kept for a uniform constructor.
        eta: Step size of the multiplier's update (>= 0; 0 keeps ``lam*`` all episode).
    """

    KEYS = ("expected_rewards", "action_costs", "bound_multiplier", "action_mask")

    def __init__(
        self,
        n_actions: int,
        n_features: int | None = None,
        seed: int | None = None,
        eta: float = 0.02,
    ) -> None:
        super().__init__(n_actions, n_features, seed)
        ok = isinstance(eta, int | float) and not isinstance(eta, bool) and np.isfinite(eta)
        if not ok or eta < 0:
            raise ValueError(f"eta: must be a finite number >= 0 (got {eta!r})")
        self.eta = float(eta)
        self.multiplier = 0.0

    def config(self) -> dict[str, Any]:
        return {**super().config(), "eta": self.eta}

    def _no_context_policy(self, what: str) -> TypeError:
        return TypeError(
            f"PacedOracleAgent.{what}: the paced oracle needs the simulator's info "
            "(expected_rewards, action_costs, bound_multiplier) and cannot decide from a "
            "context alone; use learn(env, ...) or act_with_info(info)"
        )

    def _pace(self, info: Mapping[str, Any]) -> float:
        """This decision's multiplier: ``lam*`` after a reset, else one update step."""
        lam = float(info["bound_multiplier"])
        if not (np.isfinite(lam) and lam >= 0):
            raise ValueError(f"info['bound_multiplier'] must be finite and >= 0; got {lam!r}")
        if "cost" not in info or self.eta == 0:
            self.multiplier = lam
        else:
            left, steps = float(info["budget_left"]), int(info["steps_left"])
            rho = left / steps if steps > 0 else 0.0
            if rho > 0:
                step = min(max((float(info["cost"]) - rho) / rho, -1.0), 1.0)
                self.multiplier *= math.exp(self.eta * step)
        return self.multiplier

    def act_with_info(self, info: Mapping[str, Any]) -> tuple[int, float]:
        """The eligible action with the best reward net of the priced budget, propensity 1.

        Args:
            info: The environment's ``info`` describing the next decision (a reset's or
                the last step's).
        """
        missing = [key for key in self.KEYS if key not in info]
        if missing:
            raise KeyError(
                f"PacedOracleAgent needs info{missing} from a simulated environment; "
                f"info has keys {sorted(info)}"
            )
        n = self.n_actions
        arrays = {
            key: np.asarray(info[key])
            for key in ("expected_rewards", "action_costs", "action_mask")
        }
        for key, arr in arrays.items():
            if arr.shape != (n,):
                raise ValueError(f"info[{key!r}] must have shape ({n},); got {arr.shape}")
        lam = self._pace(info)
        mask = arrays["action_mask"].astype(bool)[:-1]
        net = arrays["expected_rewards"][:-1] - lam * arrays["action_costs"][:-1]
        net = np.where(mask, net, -np.inf)
        best = int(net.argmax())
        return (best if net[best] > 0 else n - 1), 1.0
