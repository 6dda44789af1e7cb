"""Stable-Baselines3 algorithms behind the AlphaRL agent protocol, one module per family.

- `SB3Agent` (`base`): the thin base: model building, masks, `learn`, acting through a
  decision rule, persistence shared with `agents.base.BaseAgent` (plus ``model.zip``);
- `DQNAgent` (`dqn`): DQN and its subclasses (epsilon-greedy, Q-network export, offline
  updates);
- `ActorCriticAgent` (`actor_critic`): PPO, A2C and other on-policy actor-critics
  (softmax actor export);
- `env`: the eligibility wrapper around a single env; `vec_env`: a Gymnasium
  ``VectorEnv`` as SB3's ``VecEnv`` (``n_envs > 1``); `config`: algorithm names and kwargs.

Saved agents load through `agents.base.load_agent` like every other agent.
"""

from agents.sb3.actor_critic import ActorCriticAgent
from agents.sb3.base import MASK_STRATEGIES, SB3Agent
from agents.sb3.config import ALGORITHMS
from agents.sb3.dqn import DQNAgent
from agents.sb3.env import EligibleActionWrapper
from agents.sb3.vec_env import GymnasiumVecEnv

__all__ = [
    "ALGORITHMS",
    "MASK_STRATEGIES",
    "ActorCriticAgent",
    "DQNAgent",
    "EligibleActionWrapper",
    "GymnasiumVecEnv",
    "SB3Agent",
]
