"""`ActorCriticAgent`: SB3's on-policy actor-critic algorithms (PPO, A2C) as AlphaRL agents.

PPO (Schulman et al., 2017, "Proximal Policy Optimization Algorithms") and A2C (Mnih et
al., 2016, "Asynchronous Methods for Deep Reinforcement Learning") learn a categorical
actor and a value critic from rollouts. The agent samples the actor's distribution
renormalised over the eligible actions, and exports the actor as a softmax
`alpharl.policy.ActorPolicy` over its logits. On-policy: it cannot learn from logged
rounds (`update` raises `TypeError`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import FlattenExtractor

from agents.sb3.base import SB3Agent
from alpharl.policy.qnetwork import ActorPolicy, mlp_state_from_modules
from alpharl.policy.rules import DecisionRule, SoftmaxRule


def _categorical(policy: ActorCriticPolicy, obs: torch.Tensor) -> torch.distributions.Categorical:
    dist = policy.get_distribution(obs).distribution
    if not isinstance(dist, torch.distributions.Categorical):
        raise TypeError(f"{type(policy).__name__}: expected a categorical action distribution")
    return dist


class ActorCriticAgent(SB3Agent):
    """An on-policy actor-critic SB3 algorithm as an AlphaRL agent.

    Args: as `SB3Agent`; ``algo`` is ``"PPO"``, ``"A2C"`` or another `OnPolicyAlgorithm`
    with an `ActorCriticPolicy`.
    """

    algorithm_base: ClassVar[type[BaseAlgorithm]] = OnPolicyAlgorithm

    def export(self, greedy: bool = False) -> ActorPolicy:
        """The actor as a plain-torch softmax policy deciding like `act` (greedy if asked)."""
        return self._export(self._require_model(), self.rule(greedy))

    def _policy(self, model: Any) -> ActorCriticPolicy:
        policy = model.policy
        if not isinstance(policy, ActorCriticPolicy):
            raise TypeError(f"{type(policy).__name__}: not an ActorCriticPolicy")
        return policy

    def _scores_tensor(self, model: Any, obs: torch.Tensor) -> torch.Tensor:
        return _categorical(self._policy(model), obs).logits

    def _behaviour_probs(self, obs: np.ndarray) -> np.ndarray:
        policy = self._policy(self._require_model())
        with torch.inference_mode():
            p = _categorical(policy, self._obs_tensor(obs)).probs
        return p.cpu().numpy().astype(np.float64)

    def _act_rule(self, model: Any) -> DecisionRule:
        return SoftmaxRule(1.0)

    def _export(self, model: Any, rule: DecisionRule) -> ActorPolicy:
        policy = self._policy(model)
        if not isinstance(policy.pi_features_extractor, FlattenExtractor):
            raise TypeError("export: the actor needs the flatten features extractor")
        modules = [*policy.mlp_extractor.policy_net, policy.action_net]
        sizes, act, state = mlp_state_from_modules(modules)
        return ActorPolicy(sizes, act, state, rule, num_threads=self.num_threads)

    def _rollout_ends(self, sb3_locals: dict[str, Any]) -> bool:
        n_steps = int(getattr(self._require_model(), "n_steps", 0))
        return bool(n_steps) and sb3_locals.get("n_steps", -1) + 1 >= n_steps
