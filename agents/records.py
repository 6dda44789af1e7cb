"""What a `learn` loop reports: one step to its callback, and a summary at the end."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One interaction step, handed to the `learn` callback.

    Args:
        step: 0-based index of the step within this `learn` call.
        action: The action taken.
        propensity: Its probability under the agent's policy at the time.
        reward: The reward the environment returned.
        info: The environment's ``info`` from that step.
    """

    step: int
    action: int
    propensity: float
    reward: float
    info: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class LearnSummary:
    """What a `learn` call did.

    Args:
        steps: Steps taken.
        episodes: Episodes that ended (terminated or truncated) during the call.
        total_reward: Sum of rewards.
        total_regret: Sum of ``info["regret"]``, or None if the environment reports none.
        stopped_early: Whether the callback stopped the loop before ``steps``.
    """

    steps: int
    episodes: int
    total_reward: float
    total_regret: float | None
    stopped_early: bool

    @property
    def mean_reward(self) -> float:
        """Average reward per step (0 for no steps)."""
        return self.total_reward / self.steps if self.steps else 0.0
