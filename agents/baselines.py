"""Reference agents that bracket every learner: uniform random below, the oracle above."""

from __future__ import annotations

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
    """Plays the simulator's best action: a simulation-only upper bound, not a policy.

    In `learn`, it takes ``info["best_action"]``, which a simulated environment computes
    from the true click probabilities (the action with the highest expected reward among
    eligible ones), with propensity 1. Its regret is 0 by construction; it shows how much
    reward the simulator makes available. It cannot act on a bare context (no such
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
