"""`DQNAgent`: SB3's DQN (and its subclasses) behind the AlphaRL agent protocol.

DQN (Mnih et al., 2015, "Human-level control through deep reinforcement learning")
learns Q-values with a replay buffer and a target network. Here it acts epsilon-greedily
over the *eligible* actions (propensity ``1 - eps + eps / n_eligible`` for the greedy
one), exports its Q-network as a `alpharl.policy.QNetworkPolicy`, and can also learn
from logged rounds (`update_batch`: each a one-step episode, a neural contextual bandit).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.common.type_aliases import TrainFrequencyUnit

from agents.sb3.base import MaskStrategy, SB3Agent
from alpharl.policy.qnetwork import QNetworkPolicy, mlp_state_from_modules
from alpharl.policy.rules import DecisionRule, EpsilonGreedyRule, GreedyRule


class DQNAgent(SB3Agent):
    """DQN as an AlphaRL agent; see `SB3Agent` for the shared arguments.

    Args:
        algo: ``"DQN"`` (default), or a DQN subclass as a class or ``module:Class`` path.
        act_epsilon: Exploration at `act`/`export` time; None uses the model's current
            exploration rate (its final epsilon after training).
    """

    algorithm_base: ClassVar[type[BaseAlgorithm]] = DQN

    def __init__(
        self,
        algo: str | type[BaseAlgorithm] = "DQN",
        policy: str = "MlpPolicy",
        algo_kwargs: Mapping[str, Any] | None = None,
        seed: int = 0,
        device: str = "cpu",
        mask_strategy: MaskStrategy = "no_ad",
        n_actions: int | None = None,
        n_features: int | None = None,
        n_envs: int = 1,
        act_epsilon: float | None = None,
        log_interval: int = 1,
        num_threads: int | None = 1,
    ) -> None:
        if act_epsilon is not None and not (
            isinstance(act_epsilon, int | float) and 0.0 <= act_epsilon <= 1.0
        ):
            raise ValueError(f"act_epsilon: must be in [0, 1] or None; got {act_epsilon!r}")
        self.act_epsilon = act_epsilon
        self._offline_pending = 0
        super().__init__(
            algo,
            policy,
            algo_kwargs,
            seed,
            device,
            mask_strategy,
            n_actions,
            n_features,
            n_envs,
            log_interval,
            num_threads,
        )

    def export(self, greedy: bool = False) -> QNetworkPolicy:
        """The Q-network as a plain-torch policy deciding like `act` (greedy if asked)."""
        return self._export(self._require_model(), self.rule(greedy))

    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON types) that rebuild this agent untrained."""
        return {**super().config(), "act_epsilon": self.act_epsilon}

    # --- hooks -----------------------------------------------------------------------------

    def _scores_tensor(self, model: Any, obs: torch.Tensor) -> torch.Tensor:
        return model.q_net(obs)

    def _behaviour_probs(self, obs: np.ndarray) -> np.ndarray:
        model: Any = self._require_model()
        n = int(self.n_actions)
        warmup = model.num_timesteps - model.n_envs < model.learning_starts
        eps = 1.0 if warmup else float(model.exploration_rate)
        probs = np.full((len(obs), n), eps / n)
        if eps < 1.0:  # SB3's greedy pick (the policy is in eval mode while collecting)
            with torch.inference_mode():
                greedy = model.q_net(self._obs_tensor(obs)).argmax(dim=1).cpu().numpy()
            probs[np.arange(len(obs)), greedy] += 1.0 - eps
        return probs

    def _act_rule(self, model: Any) -> DecisionRule:
        eps = float(model.exploration_rate if self.act_epsilon is None else self.act_epsilon)
        return EpsilonGreedyRule(eps) if eps > 0 else GreedyRule()

    def _export(self, model: Any, rule: DecisionRule) -> QNetworkPolicy:
        if not isinstance(model.q_net.features_extractor, FlattenExtractor):
            raise TypeError("export: DQN needs the flatten features extractor (MlpPolicy)")
        sizes, act, state = mlp_state_from_modules(list(model.q_net.q_net))
        return QNetworkPolicy(sizes, act, state, rule, num_threads=self.num_threads)

    def _rollout_ends(self, sb3_locals: dict[str, Any]) -> bool:
        freq: Any = self._require_model().train_freq  # type: ignore[attr-defined]
        return bool(
            freq.unit == TrainFrequencyUnit.STEP
            and sb3_locals.get("num_collected_steps", 0) >= freq.frequency
        )

    def _record_diagnostics(self) -> None:
        """Q-values of the latest ``batch_size`` stored observations, in SB3's logger.

        ``train/q_mean`` is their mean over rows and actions and ``train/q_max_mean`` the
        mean of each row's largest Q (the value the greedy policy expects). Read from the
        buffer's newest rows, not sampled, so the replay generator is untouched.
        """
        model: Any = self._require_model()
        buffer = model.replay_buffer
        n = min(buffer.size(), model.batch_size)
        if n == 0:
            return
        rows = (buffer.pos - 1 - np.arange(n)) % buffer.buffer_size
        obs = buffer.observations[rows].reshape(-1, self.n_features)
        with torch.inference_mode():
            q = model.q_net(self._obs_tensor(obs))
        model.logger.record("train/q_mean", float(q.mean()))
        model.logger.record("train/q_max_mean", float(q.max(dim=1).values.mean()))

    def _update(self, x: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Store logged rounds as one-step episodes; train as `learn` would on that many.

        Each round is stored in the replay buffer as a one-step episode (``done``, so the
        target is the reward), and the model takes ``gradient_steps`` gradient steps per
        ``train_freq`` rounds once the buffer holds ``learning_starts`` and ``batch_size``.
        """
        model: Any = self._require_model()
        if model.n_envs != 1:
            raise TypeError(
                f"update: a DQN built for n_envs={model.n_envs} learns from environments only"
            )
        if getattr(model, "_logger", None) is None:  # never learned: SB3 has no logger yet
            model.set_logger(self._logger or Logger(folder=None, output_formats=[]))
        obs = x.astype(np.float32)
        done = np.array([True])
        for i in range(len(obs)):
            row = obs[i : i + 1]
            model.replay_buffer.add(row, row, actions[i : i + 1], rewards[i : i + 1], done, [{}])
        self._offline_pending += len(obs)
        freq = max(int(model.train_freq.frequency), 1)
        ready = model.replay_buffer.size() >= max(model.batch_size, model.learning_starts)
        rounds, self._offline_pending = divmod(self._offline_pending, freq)
        if ready and rounds:
            per_round = model.gradient_steps if model.gradient_steps > 0 else freq
            model.train(gradient_steps=rounds * per_round, batch_size=model.batch_size)
