"""`SB3Agent`: the thin base every Stable-Baselines3 agent family builds on.

The base owns what every SB3 algorithm shares: building the model on the env's spaces,
the eligibility fallback around the env, `learn` (``model.learn`` with the `StepRecord`
callback), acting through a decision rule on the network's scores, and persistence
(`BaseAgent`'s ``agent.json``/``state.npz`` plus SB3's ``model.zip``). A family
(`agents.sb3.dqn.DQNAgent`, `agents.sb3.actor_critic.ActorCriticAgent`) fills the hooks:

- `_scores_tensor`: the network's per-action scores (Q-values, or an actor's logits);
- `_behaviour_probs`: SB3's own action distribution while it collects experience;
- `_act_rule`: the decision rule of `act` and `export` (epsilon-greedy, softmax);
- `_export`: the network copied into a plain-torch `alpharl.policy` object;
- `_rollout_ends`: whether SB3 ends a rollout after a step (to stop `learn` exactly);
- `_record_diagnostics`: what the family adds to SB3's logs (DQN: Q-values);
- `_update`: learning from logged rounds (off-policy families only).

Masks. SB3's algorithms know nothing of ``info["action_mask"]``. Under ``"no_ad"``
(default) an ineligible pick executes "no ad" (the last action, always eligible):
`agents.sb3.env.EligibleActionWrapper` around a single env, `GymnasiumVecEnv` around a
Gymnasium vector env. The buffer keeps the action the algorithm picked, with the no-ad
reward, so it learns that an ineligible pick is worth what no-ad is. The propensity of
a step is the probability that the executed action is executed: SB3's rule over all
actions, with the mass of the ineligible ones moved to no-ad. ``"ignore"`` sends actions
unchanged (for envs without masks). At `act` time, and in the exported policy, masks are
always respected.

Torch is set to one intra-op thread (``num_threads``): on a few cores, more threads make
these small networks many times slower.
"""

from __future__ import annotations

import inspect
import os
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import VectorEnv
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.base import BaseAgent, Callback, LearnSummary, check_observation
from agents.sb3.callback import StepCallback
from agents.sb3.config import (
    algorithm_name,
    check_algo_kwargs,
    resolve_algorithm,
    resolve_kwargs,
    to_json,
)
from agents.sb3.env import EligibleActionWrapper, PlaceholderEnv
from agents.sb3.vec_env import GymnasiumVecEnv
from alpharl.policy.artifact import ArtifactError
from alpharl.policy.checks import check_contexts, check_masks, check_size
from alpharl.policy.qnetwork import MLPPolicy
from alpharl.policy.rules import DecisionRule, GreedyRule

if TYPE_CHECKING:
    from alpharl.tracking.metrics import MetricsWriter

MaskStrategy = Literal["no_ad", "ignore"]
MASK_STRATEGIES: tuple[str, ...] = ("no_ad", "ignore")
MODEL_FILE = "model.zip"


class SB3Agent(BaseAgent):
    """An SB3 algorithm as an AlphaRL agent (see the module docstring).

    Args:
        algo: An algorithm of the family: a name (``"DQN"``, ``"PPO"``, ``"A2C"``), a
            ``module:Class`` path or an SB3 class.
        policy: A policy alias of the algorithm (``"MlpPolicy"``).
        algo_kwargs: Keyword arguments of the algorithm (``learning_rate``, ...).
            ``policy_kwargs.activation_fn`` may be a name (``"relu"``) so configs stay plain.
        seed: Seeds the model, its environment and the agent's own generator.
        device: Torch device (``"cpu"``: these networks are small).
        mask_strategy: ``"no_ad"`` or ``"ignore"``.
        n_actions: Size of the ``Discrete`` action space, if known now: the model is built
            at once (so `act`, `export` and `update` work before `learn`).
        n_features: Observation width, with ``n_actions``.
        n_envs: Sub-envs `learn` steps together: 1 for a Gymnasium env, N > 1 for a
            Gymnasium ``VectorEnv`` of N sub-envs.
        log_interval: SB3's ``log_interval`` (episodes for DQN, rollouts for PPO/A2C).
        num_threads: `torch.set_num_threads` value; None leaves torch as it is.

    Raises:
        ValueError: For an unknown algorithm, policy, mask strategy or algorithm kwarg,
            an algorithm that cannot act in a ``Discrete`` action space, or one of
            another family.
    """

    algorithm_base: ClassVar[type[BaseAlgorithm]]
    """The SB3 class every algorithm of the family derives from."""

    def __init__(
        self,
        algo: str | type[BaseAlgorithm],
        policy: str = "MlpPolicy",
        algo_kwargs: Mapping[str, Any] | None = None,
        seed: int = 0,
        device: str = "cpu",
        mask_strategy: MaskStrategy = "no_ad",
        n_actions: int | None = None,
        n_features: int | None = None,
        n_envs: int = 1,
        log_interval: int = 1,
        num_threads: int | None = 1,
    ) -> None:
        self.algo_class = resolve_algorithm(algo)
        aliases = getattr(self.algo_class, "policy_aliases", {})
        if policy not in aliases:
            raise ValueError(
                f"policy: {policy!r} is not a policy of {self.algo_class.__name__}; "
                f"expected one of {sorted(aliases)}"
            )
        self.algo_kwargs = dict(algo_kwargs or {})
        check_algo_kwargs(self.algo_class, self.algo_kwargs)
        to_json(self.algo_kwargs)  # fails now on a value agent.json could not hold
        if mask_strategy not in MASK_STRATEGIES:
            raise ValueError(
                f"mask_strategy: must be one of {MASK_STRATEGIES}; got {mask_strategy!r}"
            )
        self.policy = policy
        self.seed: int = check_size("seed", seed, 0)
        self.device = device
        self.mask_strategy = mask_strategy
        self.n_envs = check_size("n_envs", n_envs, 1)
        self.log_interval = check_size("log_interval", log_interval, 1)
        if num_threads is not None:
            torch.set_num_threads(check_size("num_threads", num_threads, 1))
        self.num_threads = num_threads
        self.model: BaseAlgorithm | None = None
        self.n_actions = None  # type: ignore[assignment]  # known once the model is built
        self.n_features = None
        self.n_updates = 0
        self.rng = np.random.default_rng(self.seed)
        self._env: Any = None
        self._wrapper: EligibleActionWrapper | GymnasiumVecEnv | None = None
        self._logger: Logger | None = None
        if (n_actions is None) != (n_features is None):
            raise ValueError("n_actions, n_features: give both or neither")
        if n_actions is not None and n_features is not None:
            n_a, n_f = (
                check_size("n_actions", n_actions, 2),
                check_size("n_features", n_features, 1),
            )
            self._build(self._placeholder(n_f, n_a))
        else:
            self._probe()
        if not issubclass(self.algo_class, self.algorithm_base):
            raise ValueError(
                f"algo: {self.algo_class.__name__} is not a {self.algorithm_base.__name__} "
                f"algorithm, so {type(self).__name__} cannot drive it"
            )

    # --- model ---------------------------------------------------------------------------

    def _placeholder(self, n_features: int, n_actions: int) -> Any:
        if self.n_envs == 1:
            return PlaceholderEnv(n_features, n_actions)
        return DummyVecEnv([lambda: PlaceholderEnv(n_features, n_actions)] * self.n_envs)

    def _probe(self) -> None:
        """Build the algorithm (without its networks) on a Discrete space: fail early."""
        if "_init_setup_model" not in inspect.signature(self.algo_class.__init__).parameters:
            return
        algo: Any = self.algo_class
        try:
            algo(
                self.policy,
                PlaceholderEnv(1, 2),
                device=self.device,
                _init_setup_model=False,
                **resolve_kwargs(self.algo_kwargs),
            )
        except AssertionError as exc:  # SB3 checks spaces with asserts
            raise ValueError(
                f"algo: {self.algo_class.__name__} cannot act in a Discrete action space: {exc}"
            ) from exc

    def _check_spaces(self, obs_space: gym.Space[Any], action_space: gym.Space[Any]) -> None:
        if not isinstance(action_space, gym.spaces.Discrete):
            raise ValueError(f"env.action_space: SB3Agent needs Discrete; got {action_space}")
        if not (isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1):
            raise ValueError(f"env.observation_space: SB3Agent needs a 1-d Box; got {obs_space}")

    def _build(self, env: Any) -> None:
        self._check_spaces(env.observation_space, env.action_space)
        try:
            model = self.algo_class(
                self.policy,
                env,
                seed=self.seed,
                device=self.device,
                verbose=0,
                **resolve_kwargs(self.algo_kwargs),
            )
        except AssertionError as exc:  # SB3 checks spaces with asserts
            raise ValueError(
                f"algo: {self.algo_class.__name__} cannot be used with action space "
                f"{env.action_space} and observation space {env.observation_space}: {exc}"
            ) from exc
        self._set_model(model)

    def _set_model(self, model: BaseAlgorithm) -> None:
        self.model = model
        n_actions = int(model.action_space.n)  # type: ignore[attr-defined]
        n_features = int(model.observation_space.shape[0])  # type: ignore[index]
        if self.n_actions is None:
            BaseAgent.__init__(self, n_actions, n_features, self.seed)
        # Without a logger of ours SB3 would make one writing to a new /tmp/SB3-<date> folder.
        model.set_logger(self._logger or Logger(folder=None, output_formats=[]))

    def _require_model(self) -> BaseAlgorithm:
        if self.model is None:
            raise RuntimeError(
                f"{type(self).__name__} has no model yet: call learn(env, steps), load(path), "
                "or build it with n_actions and n_features"
            )
        return self.model

    def set_logger(self, logger: Logger) -> None:
        """Send SB3's logs to ``logger`` (`alpharl.tracking.sb3_writer.configure_sb3_logger`)."""
        self._logger = logger
        if self.model is not None:
            self.model.set_logger(logger)

    def set_metrics_writer(self, metrics: MetricsWriter, stdout: bool = False) -> None:
        """Send SB3's logs (losses, exploration rate, learning rate, ...) to a run's metrics.

        Args:
            metrics: The run's `alpharl.tracking.runs.MetricsWriter` (``run.metrics``).
            stdout: Also print SB3's table.
        """
        from alpharl.tracking.sb3_writer import configure_sb3_logger

        self.set_logger(configure_sb3_logger(metrics, stdout=stdout))

    def _wrap(self, env: Any) -> tuple[Any, EligibleActionWrapper | GymnasiumVecEnv | None]:
        """The env as SB3 gets it, and the eligibility fallback around it (if any)."""
        if isinstance(env, VectorEnv):
            n = int(env.num_envs)
            if n != self.n_envs:
                raise ValueError(f"env.num_envs: is {n}, but the agent has n_envs={self.n_envs}")
            self._check_spaces(env.single_observation_space, env.single_action_space)
            vec = GymnasiumVecEnv(env, fallback_ineligible=self.mask_strategy == "no_ad")
            return vec, vec
        if self.n_envs != 1:
            raise ValueError(
                f"env: the agent has n_envs={self.n_envs} and needs a gymnasium VectorEnv "
                f"of that many sub-envs; got {type(env).__name__}"
            )
        self._check_spaces(env.observation_space, env.action_space)
        if self.mask_strategy == "no_ad":
            wrapper = EligibleActionWrapper(env)
            return wrapper, wrapper
        return env, None

    def _use_env(self, env: Any) -> None:
        model = self.model
        if env is self._env and model is not None:
            return
        wrapped, fallback = self._wrap(env)
        if model is None:
            self._build(wrapped)
        else:
            obs_space = wrapped.observation_space
            same_n = int(wrapped.action_space.n) == self.n_actions
            if not same_n or obs_space.shape != (self.n_features,):
                raise ValueError(
                    f"env: spaces {obs_space}, {wrapped.action_space} do not fit the "
                    f"agent's model ({self.n_features} features, {self.n_actions} actions)"
                )
            # Box bounds do not matter to an MLP; take the env's so SB3's check passes.
            model.observation_space = obs_space
            model.policy.observation_space = obs_space
            model.set_env(wrapped)
            # Deterministic, but a new env does not replay the first one's episodes.
            model.env.seed(self.seed + model.num_timesteps)  # type: ignore[union-attr]
        self._env = env
        self._wrapper = fallback

    # --- hooks -----------------------------------------------------------------------------

    @abstractmethod
    def _scores_tensor(self, model: Any, obs: torch.Tensor) -> torch.Tensor:
        """The network's per-action scores ``(n, n_actions)`` at ``obs``."""

    @abstractmethod
    def _behaviour_probs(self, obs: np.ndarray) -> np.ndarray:
        """SB3's own action distribution ``(n, n_actions)`` during `learn` (masks unknown)."""

    @abstractmethod
    def _act_rule(self, model: Any) -> DecisionRule:
        """The decision rule of `act` and `export` (not greedy)."""

    @abstractmethod
    def _export(self, model: Any, rule: DecisionRule) -> MLPPolicy:
        """The network as a plain-torch policy deciding by ``rule``."""

    @abstractmethod
    def _rollout_ends(self, sb3_locals: dict[str, Any]) -> bool:
        """Whether SB3 ends its rollout after the step whose locals these are."""

    def _record_diagnostics(self) -> None:
        """Record the family's own diagnostics in SB3's logger (at each episode end)."""

    def _update(self, x: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        raise TypeError(
            f"update: {self.algo_class.__name__} is on-policy and cannot learn from logged "
            "rounds; use learn(env, steps)"
        )

    # --- learning ------------------------------------------------------------------------

    def learn(self, env: Any, steps: int, callback: Callback | None = None) -> LearnSummary:  # type: ignore[override]
        """Train on ``env`` for ``steps`` environment steps.

        Runs ``model.learn`` (continuing the step count across calls; the same env object
        continues its episode). As in SB3 with ``reset_num_timesteps=False``, schedules
        (DQN's epsilon, learning rates) run over the cumulative total of the calls. After
        each step ``callback`` gets a `StepRecord` (the executed action, its behaviour
        propensity, reward and ``info``); returning False stops. With a vector env of N
        sub-envs, each SB3 step is N env steps, recorded in sub-env order, and ``steps``
        is rounded up to a multiple of N. PPO/A2C train on complete rollouts of
        ``n_steps``: a final partial rollout is collected but not trained on, so choose
        ``steps`` as a multiple of ``n_steps * n_envs``.

        Args:
            env: A Gymnasium env (1-d Box observations, ``Discrete`` actions), or a
                Gymnasium ``VectorEnv`` of ``n_envs`` such sub-envs.
            steps: Number of steps (>= 1).
            callback: Optional per-step hook.
        """
        steps = check_size("steps", steps, 1)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None; got {callback!r}")
        self._use_env(env)
        model = self._require_model()
        cb = StepCallback(
            steps,
            callback,
            self._behaviour_probs,
            self._wrapper,
            self._rollout_ends,
            int(self.n_actions),
            self._record_diagnostics,
        )
        model.learn(
            total_timesteps=steps,
            callback=cb,
            log_interval=self.log_interval,
            reset_num_timesteps=False,
            progress_bar=False,
        )
        self.n_updates += cb.steps
        self.action_counts += cb.action_counts
        return cb.summary()

    def update(self, obs: np.ndarray, action: int, reward: float) -> None:
        """Learn from one logged round (off-policy families only); see `update_batch`."""
        self._require_model()
        super().update(obs, action, reward)

    def update_batch(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Learn from logged rounds (off-policy families only).

        Raises:
            TypeError: For an on-policy algorithm (PPO, A2C); use `learn`.
        """
        self._require_model()
        super().update_batch(obs, actions, rewards)

    # --- acting --------------------------------------------------------------------------

    def _obs_tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float32), device=self._require_model().device)

    def scores(self, obs: np.ndarray) -> np.ndarray:
        """The network's per-action scores ``(n, n_actions)`` (Q-values, or log-probabilities)."""
        model = self._require_model()
        x = check_contexts(obs, self.n_features, "obs")
        if model.policy.training:  # switching walks every module: only when needed
            model.policy.set_training_mode(False)
        with torch.inference_mode():
            out = self._scores_tensor(model, self._obs_tensor(x))
        return out.cpu().numpy().astype(np.float64)

    def rule(self, greedy: bool = False) -> DecisionRule:
        """The decision rule of `act` and `export`."""
        model = self._require_model()
        return GreedyRule() if greedy else self._act_rule(model)

    def act(self, obs: np.ndarray, mask: np.ndarray | None = None) -> tuple[int, float]:
        """Choose an action for one observation ``(n_features,)`` and mask ``(n_actions,)``."""
        self._require_model()
        x = check_observation(obs, self.n_features)
        masks = None
        if mask is not None:
            m = np.asarray(mask)
            if m.shape != (self.n_actions,):
                raise ValueError(f"mask must have shape ({self.n_actions},); got {m.shape}")
            masks = m[None, :]
        actions, props = self.act_batch(x, masks)
        return int(actions[0]), float(props[0])

    def act_batch(
        self, obs: np.ndarray, masks: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Choose an action per row of ``obs (n, d)`` under ``masks (n, n_actions)``."""
        self._require_model()
        x = check_contexts(obs, self.n_features, "obs")
        eligible = check_masks(masks, x.shape[0], self.n_actions)
        actions, props = self.rule().sample(self.scores(x), None, eligible, self.rng)
        return actions.astype(np.int64, copy=False), props

    def action_probabilities(self, obs: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """The `act` distribution per row, ``(n, n_actions)``."""
        self._require_model()
        x = check_contexts(obs, self.n_features, "obs")
        eligible = check_masks(masks, x.shape[0], self.n_actions)
        return self.rule().probabilities(self.scores(x), None, eligible)

    def export(self, greedy: bool = False) -> MLPPolicy:
        """The network as a plain-torch policy deciding like `act` (exploit-only if greedy).

        Raises:
            TypeError: For a network that is not an MLP on flat observations.
        """
        model = self._require_model()
        return self._export(model, self.rule(greedy))

    # --- persistence ---------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON types) that rebuild this agent untrained."""
        return {
            "algo": algorithm_name(self.algo_class),
            "policy": self.policy,
            "algo_kwargs": to_json(self.algo_kwargs),
            "seed": self.seed,
            "device": self.device,
            "mask_strategy": self.mask_strategy,
            "n_envs": self.n_envs,
            "log_interval": self.log_interval,
            "num_threads": self.num_threads,
            "n_actions": self.n_actions,
            "n_features": self.n_features,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write SB3's ``model.zip`` beside `BaseAgent`'s ``agent.json`` and ``state.npz``.

        The replay buffer is not saved: a loaded DQN continues with an empty buffer.
        """
        model = self._require_model()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        model.save(out / MODEL_FILE)
        return super().save(out)

    @classmethod
    def from_manifest(cls, path: str | os.PathLike[str], manifest: Mapping[str, Any]) -> Self:
        """Load the rest of a saved agent (`BaseAgent`'s part, then ``model.zip``).

        A folder saved by the single ``SB3Agent`` class of earlier versions (``"class":
        "SB3Agent"``, no arrays) loads as the family of its algorithm.
        """
        if cls is SB3Agent and manifest.get("class") == "SB3Agent":
            from agents.sb3.legacy import load_legacy

            return load_legacy(path, manifest)  # type: ignore[return-value]
        zip_path = Path(path) / MODEL_FILE
        if manifest.get("class") == cls.__name__ and not zip_path.is_file():
            raise ArtifactError(f"{zip_path}: file not found")
        agent = super().from_manifest(path, manifest)
        model = agent.algo_class.load(zip_path, device=agent.device)
        if (model.action_space, model.observation_space.shape) != (
            gym.spaces.Discrete(agent.n_actions),
            (agent.n_features,),
        ):
            raise ArtifactError(
                f"{zip_path}: spaces {model.observation_space}, {model.action_space} do not "
                f"match agent.json ({agent.n_features} features, {agent.n_actions} actions)"
            )
        agent._set_model(model)
        return agent
