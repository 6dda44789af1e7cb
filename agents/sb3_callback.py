"""The SB3 callback that turns each step of ``model.learn`` into AlphaRL's `StepRecord`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.type_aliases import TrainFrequencyUnit

from agents.base import Callback, LearnSummary, StepRecord
from agents.sb3_env import EligibleActionWrapper, fold_ineligible


class StepCallback(BaseCallback):
    """Counts steps, episodes, reward and regret; hands each step to a `Callback`.

    Stops SB3 after exactly ``steps`` steps. If SB3 ends its rollout at that step anyway
    it is left to do so (it then stores the last transition and trains); otherwise the
    partial rollout is cut, as it is when ``callback`` returns False.

    Args:
        steps: Steps to take.
        callback: The user's per-step hook, or None.
        behaviour_probs: Maps the pre-step observation batch ``(1, d)`` to the algorithm's
            action distribution ``(1, n_actions)``; called only when there is a callback.
        wrapper: The eligibility wrapper around the env, if any: the record then carries
            the executed action and its folded propensity.
    """

    def __init__(
        self,
        steps: int,
        callback: Callback | None,
        behaviour_probs: Callable[[np.ndarray], np.ndarray],
        wrapper: EligibleActionWrapper | None,
    ) -> None:
        super().__init__()
        self.limit, self.user = steps, callback
        self.behaviour_probs, self.wrapper = behaviour_probs, wrapper
        self.steps = self.episodes = 0
        self.total_reward = self.total_regret = 0.0
        self.has_regret = self.stopped = False

    def _on_step(self) -> bool:
        info = self.locals["infos"][0]
        reward = float(self.locals["rewards"][0])
        self.steps += 1
        self.total_reward += reward
        if "regret" in info:
            self.has_regret = True
            self.total_regret += float(info["regret"])
        if bool(self.locals["dones"][0]):
            self.episodes += 1
        if self.user is not None:
            # SB3 updates _last_obs only after the callback: it is the decision's obs.
            probs = self.behaviour_probs(np.asarray(self.model._last_obs))[0]
            if self.wrapper is not None:
                action = self.wrapper.last_executed
                probs = fold_ineligible(probs, self.wrapper.last_mask, self.wrapper.fallback)
            else:
                action = int(np.asarray(self.locals["actions"]).reshape(-1)[0])
            propensity = min(float(probs[action]), 1.0)  # summing can round past 1
            record = StepRecord(self.steps - 1, action, propensity, reward, info)
            if self.user(record) is False:
                self.stopped = self.steps < self.limit
                return False
        return self.steps < self.limit or self._rollout_ends_here()

    def _rollout_ends_here(self) -> bool:
        """Whether SB3 ends its rollout after this step on its own."""
        model = self.model
        if isinstance(model, OffPolicyAlgorithm):
            freq = model.train_freq
            return bool(
                freq.unit == TrainFrequencyUnit.STEP  # type: ignore[union-attr]
                and self.locals.get("num_collected_steps", 0) >= freq.frequency  # type: ignore[union-attr]
            )
        n_steps = getattr(model, "n_steps", None)
        return n_steps is not None and self.locals.get("n_steps", -1) + 1 >= n_steps

    def summary(self) -> LearnSummary:
        """What the `learn` call did."""
        regret = self.total_regret if self.has_regret else None
        return LearnSummary(self.steps, self.episodes, self.total_reward, regret, self.stopped)
