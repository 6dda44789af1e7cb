"""Stable-Baselines3 algorithms (DQN, PPO, A2C, ...) behind the AlphaRL agent protocol.

`SB3Agent` wraps one SB3 algorithm: `learn` runs ``model.learn`` on the environment and
turns every step into the shared `StepRecord` callback; `act` decides from the live
network; `export` copies the network into a plain-torch `alpharl.policy` object
(`QNetworkPolicy` for DQN, `ActorPolicy`, a softmax over the actor's logits, for PPO and
A2C), which loads without SB3.

Masks. SB3's DQN, PPO and A2C know nothing of ``info["action_mask"]``. Two strategies:

- ``"no_ad"`` (default): the agent's env wrapper, `EligibleActionWrapper`, executes "no
  ad" (the last action, always eligible) whenever the algorithm picks an ineligible one.
  The replay/rollout buffer keeps the action the algorithm picked, with the no-ad reward,
  so it learns that an ineligible pick is worth what no-ad is. The propensity reported
  for a step is the probability that the executed action is executed: SB3's exploration
  rule over all actions, with the mass of the ineligible ones moved to no-ad.
- ``"ignore"``: actions go to the environment unchanged (for envs without masks).

At `act` time, and in the exported policy, masks are always respected: DQN takes the
argmax of Q over the eligible actions (epsilon-greedy among them, propensity
``1 - eps + eps / n_eligible`` for the greedy action); PPO/A2C sample the actor's
distribution renormalised over the eligible actions.

Torch is set to one intra-op thread (``num_threads``): on a few cores, more threads make
these small networks many times slower.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import FlattenExtractor

from agents.base import (
    AGENT_ARRAYS,
    AGENT_FORMAT_VERSION,
    AGENT_MANIFEST,
    Callback,
    LearnSummary,
    check_observation,
    read_agent_manifest,
)
from agents.sb3_callback import StepCallback
from agents.sb3_config import (
    ALGORITHMS,
    algorithm_name,
    check_algo_kwargs,
    resolve_algorithm,
    resolve_kwargs,
    to_json,
)
from agents.sb3_env import EligibleActionWrapper, PlaceholderEnv
from alpharl.policy.artifact import ArtifactError, read_arrays, write_bundle
from alpharl.policy.base import check_contexts, check_masks, check_size
from alpharl.policy.qnetwork import (
    ActorPolicy,
    MLPPolicy,
    QNetworkPolicy,
    SoftmaxRule,
    mlp_state_from_modules,
)
from alpharl.policy.rules import DecisionRule, EpsilonGreedyRule, GreedyRule

if TYPE_CHECKING:
    from alpharl.tracking.metrics import MetricsWriter

__all__ = ["ALGORITHMS", "MASK_STRATEGIES", "EligibleActionWrapper", "SB3Agent"]

MaskStrategy = Literal["no_ad", "ignore"]
MASK_STRATEGIES: tuple[str, ...] = ("no_ad", "ignore")
MODEL_FILE = "model.zip"


def _categorical(policy: ActorCriticPolicy, obs: torch.Tensor) -> torch.distributions.Categorical:
    dist = policy.get_distribution(obs).distribution
    if not isinstance(dist, torch.distributions.Categorical):
        raise TypeError(f"{type(policy).__name__}: expected a categorical action distribution")
    return dist


class SB3Agent:
    """An SB3 algorithm as an AlphaRL agent (see the module docstring for masks).

    Args:
        algo: ``"DQN"``, ``"PPO"``, ``"A2C"``, a ``module:Class`` path or an SB3 class.
        policy: A policy alias of the algorithm (``"MlpPolicy"``).
        algo_kwargs: Keyword arguments of the algorithm (``learning_rate``,
            ``buffer_size``, ...). ``policy_kwargs.activation_fn`` may be a name
            (``"relu"``, ``"tanh"``) so configs stay plain.
        seed: Seeds the model, its environment and the agent's own generator.
        device: Torch device (``"cpu"``: these networks are small).
        mask_strategy: ``"no_ad"`` or ``"ignore"``.
        n_actions: Size of the ``Discrete`` action space, if known now: the model is built
            at once (so `act`, `export` and `update` work before `learn`).
        n_features: Observation width, with ``n_actions``.
        act_epsilon: DQN's exploration at `act`/`export` time; None uses the model's
            current exploration rate (its final epsilon after training).
        log_interval: SB3's ``log_interval`` (episodes for DQN, rollouts for PPO/A2C).
        num_threads: `torch.set_num_threads` value; None leaves torch as it is.

    Raises:
        ValueError: For an unknown algorithm, policy, mask strategy or algorithm kwarg,
            or an algorithm that cannot act in a ``Discrete`` action space.
    """

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
        act_epsilon: float | None = None,
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
        self.seed = check_size("seed", seed, 0)
        self.device = device
        self.mask_strategy = mask_strategy
        if act_epsilon is not None and not (
            isinstance(act_epsilon, int | float) and 0.0 <= act_epsilon <= 1.0
        ):
            raise ValueError(f"act_epsilon: must be in [0, 1] or None; got {act_epsilon!r}")
        self.act_epsilon = act_epsilon
        self.log_interval = check_size("log_interval", log_interval, 1)
        if num_threads is not None:
            torch.set_num_threads(check_size("num_threads", num_threads, 1))
        self.num_threads = num_threads
        self.rng = np.random.default_rng(self.seed)
        self.model: BaseAlgorithm | None = None
        self.n_actions: int | None = None
        self.n_features: int | None = None
        self.n_updates = 0
        self._env: Any = None
        self._wrapper: EligibleActionWrapper | None = None
        self._logger: Logger | None = None
        self._offline_pending = 0
        if (n_actions is None) != (n_features is None):
            raise ValueError("n_actions, n_features: give both or neither")
        if n_actions is not None and n_features is not None:
            n_a, n_f = (
                check_size("n_actions", n_actions, 2),
                check_size("n_features", n_features, 1),
            )
            self._build(PlaceholderEnv(n_f, n_a))
        else:
            self._probe()

    # --- model ---------------------------------------------------------------------------

    def _probe(self) -> None:
        """Build the algorithm (without its networks) on a Discrete space: fail early."""
        if "_init_setup_model" not in inspect.signature(self.algo_class.__init__).parameters:
            return
        env = PlaceholderEnv(1, 2)
        algo: Any = self.algo_class
        try:
            algo(
                self.policy,
                env,
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

    def _build(self, env: gym.Env[Any, Any]) -> None:
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
        self.model = model
        self.n_actions = int(env.action_space.n)  # type: ignore[attr-defined]
        self.n_features = int(env.observation_space.shape[0])  # type: ignore[index]
        # Without a logger of ours SB3 would make one writing to a new /tmp/SB3-<date> folder.
        model.set_logger(self._logger or Logger(folder=None, output_formats=[]))

    def _require_model(self) -> BaseAlgorithm:
        if self.model is None:
            raise RuntimeError(
                "SB3Agent has no model yet: call learn(env, steps), load(path), or build it "
                "with n_actions and n_features"
            )
        return self.model

    def set_logger(self, logger: Logger) -> None:
        """Send SB3's logs to ``logger`` (`alpharl.tracking.sb3_writer.configure_sb3_logger`)."""
        self._logger = logger
        if self.model is not None:
            self.model.set_logger(logger)

    def set_metrics_writer(self, metrics: MetricsWriter, stdout: bool = False) -> None:
        """Send SB3's logs (losses, exploration rate, fps, ...) to an MLflow run's metrics.

        Args:
            metrics: The run's `alpharl.tracking.runs.MetricsWriter` (``run.metrics``).
            stdout: Also print SB3's table.
        """
        from alpharl.tracking.sb3_writer import configure_sb3_logger

        self.set_logger(configure_sb3_logger(metrics, stdout=stdout))

    def _use_env(self, env: Any) -> None:
        model = self.model
        if env is self._env and model is not None:
            return
        self._check_spaces(env.observation_space, env.action_space)
        wrapped = EligibleActionWrapper(env) if self.mask_strategy == "no_ad" else env
        if model is None:
            self._build(wrapped)
        else:
            same_n = int(env.action_space.n) == self.n_actions
            if not same_n or env.observation_space.shape != (self.n_features,):
                raise ValueError(
                    f"env: spaces {env.observation_space}, {env.action_space} do not fit the "
                    f"agent's model ({self.n_features} features, {self.n_actions} actions)"
                )
            # Box bounds do not matter to an MLP; take the env's so SB3's check passes.
            model.observation_space = env.observation_space
            model.policy.observation_space = env.observation_space
            model.set_env(wrapped)
            # Deterministic, but a new env does not replay the first one's episodes.
            model.env.seed(self.seed + model.num_timesteps)  # type: ignore[union-attr]
        self._env = env
        self._wrapper = wrapped if isinstance(wrapped, EligibleActionWrapper) else None

    # --- learning ------------------------------------------------------------------------

    def learn(self, env: Any, steps: int, callback: Callback | None = None) -> LearnSummary:
        """Train on ``env`` for exactly ``steps`` environment steps.

        Runs ``model.learn`` (continuing the step count across calls; the same env object
        continues its episode). As in SB3 with ``reset_num_timesteps=False``, schedules
        (DQN's epsilon, learning rates) run over the cumulative total of the calls. After
        each step ``callback`` gets a `StepRecord` (the executed action, its behaviour
        propensity, reward and ``info``); returning False stops. PPO/A2C train on complete
        rollouts of ``n_steps``: a final partial rollout is collected but not trained on,
        so choose ``steps`` as a multiple of ``n_steps``.

        Args:
            env: A Gymnasium env: 1-d Box observations, ``Discrete`` actions.
            steps: Number of steps (>= 1).
            callback: Optional per-step hook.
        """
        steps = check_size("steps", steps, 1)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None; got {callback!r}")
        self._use_env(env)
        model = self._require_model()
        cb = StepCallback(steps, callback, self._behaviour_probs, self._wrapper)
        model.learn(
            total_timesteps=steps,
            callback=cb,
            log_interval=self.log_interval,
            reset_num_timesteps=False,
            progress_bar=False,
        )
        self.n_updates += cb.steps
        return cb.summary()

    def update(self, obs: np.ndarray, action: int, reward: float) -> None:
        """Learn from one logged round; see `update_batch`."""
        x = check_observation(obs, self.n_features)
        self.update_batch(x, np.array([action]), np.array([reward], dtype=np.float64))

    def update_batch(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Learn from logged rounds (off-policy algorithms only, e.g. DQN).

        Each round is stored in the replay buffer as a one-step episode (``done``, so the
        target is the reward: a neural contextual bandit on logged data), and the model
        takes ``gradient_steps`` gradient steps per ``train_freq`` rounds once the buffer
        holds ``learning_starts`` and ``batch_size`` rounds.

        Raises:
            TypeError: For an on-policy algorithm (PPO, A2C), which cannot learn from
                logged rounds; use `learn`.
        """
        model = self._require_model()
        if not isinstance(model, OffPolicyAlgorithm) or model.replay_buffer is None:
            raise TypeError(
                f"update: {type(model).__name__} is on-policy and cannot learn from logged "
                "rounds; use learn(env, steps)"
            )
        assert self.n_actions is not None
        x = check_contexts(obs, self.n_features, "obs").astype(np.float32)
        a = np.asarray(actions)
        r = np.asarray(rewards, dtype=np.float64)
        if (
            a.shape != (len(x),)
            or a.dtype.kind not in "iu"
            or ((a < 0) | (a >= self.n_actions)).any()
        ):
            raise ValueError(
                f"actions: must be ints in [0, {self.n_actions}) of shape ({len(x)},); got {a!r}"
            )
        if r.shape != (len(x),) or not np.isfinite(r).all():
            raise ValueError(f"rewards: must be finite of shape ({len(x)},); got {r!r}")
        if getattr(model, "_logger", None) is None:  # never learned: SB3 has no logger yet
            model.set_logger(self._logger or Logger(folder=None, output_formats=[]))
        done = np.array([True])
        for i in range(len(x)):
            row = x[i : i + 1]
            model.replay_buffer.add(row, row, a[i : i + 1], r[i : i + 1], done, [{}])
        self.n_updates += len(x)
        self._offline_pending += len(x)
        freq = max(int(model.train_freq.frequency), 1)  # type: ignore[union-attr]
        ready = model.replay_buffer.size() >= max(model.batch_size, model.learning_starts)
        rounds, self._offline_pending = divmod(self._offline_pending, freq)
        if ready and rounds:
            per_round = model.gradient_steps if model.gradient_steps > 0 else freq
            model.train(gradient_steps=rounds * per_round, batch_size=model.batch_size)

    # --- acting --------------------------------------------------------------------------

    def _obs_tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float32), device=self._require_model().device)

    def scores(self, obs: np.ndarray) -> np.ndarray:
        """Q-values (DQN) or the actor's log-probabilities (PPO/A2C), ``(n, n_actions)``."""
        model = self._require_model()
        x = check_contexts(obs, self.n_features, "obs")
        if model.policy.training:  # switching walks every module: only when needed
            model.policy.set_training_mode(False)
        with torch.inference_mode():
            t = self._obs_tensor(x)
            if isinstance(model, DQN):
                out = model.q_net(t)
            elif isinstance(model.policy, ActorCriticPolicy):
                out = _categorical(model.policy, t).logits
            else:
                raise TypeError(f"{type(model).__name__}: no discrete scores to act on")
        return out.cpu().numpy().astype(np.float64)

    def _behaviour_probs(self, obs: np.ndarray) -> np.ndarray:
        """SB3's own action distribution at ``obs`` during `learn` (masks unknown to it)."""
        model = self._require_model()
        n = int(self.n_actions or 0)
        if isinstance(model, DQN):
            warmup = model.num_timesteps - model.n_envs < model.learning_starts
            eps = 1.0 if warmup else float(model.exploration_rate)
            probs = np.full((len(obs), n), eps / n)
            if eps < 1.0:  # SB3's greedy pick (the policy is in eval mode while collecting)
                with torch.inference_mode():
                    greedy = model.q_net(self._obs_tensor(obs)).argmax(dim=1).cpu().numpy()
                probs[np.arange(len(obs)), greedy] += 1.0 - eps
            return probs
        if isinstance(model.policy, ActorCriticPolicy):
            with torch.inference_mode():
                p = _categorical(model.policy, self._obs_tensor(obs)).probs
            return p.cpu().numpy().astype(np.float64)
        return np.full((len(obs), n), math.nan)

    def rule(self, greedy: bool = False) -> DecisionRule:
        """The decision rule of `act` and `export`."""
        model = self._require_model()
        if greedy:
            return GreedyRule()
        if isinstance(model, DQN):
            eps = float(model.exploration_rate if self.act_epsilon is None else self.act_epsilon)
            return EpsilonGreedyRule(eps) if eps > 0 else GreedyRule()
        return SoftmaxRule(1.0)

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
        assert self.n_actions is not None
        x = check_contexts(obs, self.n_features, "obs")
        eligible = check_masks(masks, x.shape[0], self.n_actions)
        actions, props = self.rule().sample(self.scores(x), None, eligible, self.rng)
        return actions.astype(np.int64, copy=False), props

    def action_probabilities(self, obs: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """The `act` distribution per row, ``(n, n_actions)``."""
        self._require_model()
        assert self.n_actions is not None
        x = check_contexts(obs, self.n_features, "obs")
        eligible = check_masks(masks, x.shape[0], self.n_actions)
        return self.rule().probabilities(self.scores(x), None, eligible)

    def export(self, greedy: bool = False) -> MLPPolicy:
        """The network as a plain-torch policy deciding like `act` (exploit-only if greedy).

        Raises:
            TypeError: For a model that is not DQN or an actor-critic with an MLP on flat
                observations.
        """
        model = self._require_model()
        rule = self.rule(greedy)
        if isinstance(model, DQN):
            if not isinstance(model.q_net.features_extractor, FlattenExtractor):
                raise TypeError("export: DQN needs the flatten features extractor (MlpPolicy)")
            sizes, act, state = mlp_state_from_modules(list(model.q_net.q_net))
            return QNetworkPolicy(sizes, act, state, rule, num_threads=self.num_threads)
        policy = model.policy
        if isinstance(policy, ActorCriticPolicy):
            if not isinstance(policy.pi_features_extractor, FlattenExtractor):
                raise TypeError("export: the actor needs the flatten features extractor")
            modules = [*policy.mlp_extractor.policy_net, policy.action_net]
            sizes, act, state = mlp_state_from_modules(modules)
            return ActorPolicy(sizes, act, state, rule, num_threads=self.num_threads)
        raise TypeError(f"export: {type(model).__name__} is not exportable (DQN, PPO, A2C are)")

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
            "act_epsilon": self.act_epsilon,
            "log_interval": self.log_interval,
            "num_threads": self.num_threads,
            "n_actions": self.n_actions,
            "n_features": self.n_features,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write SB3's ``model.zip`` and ``agent.json`` into the folder ``path``.

        The replay buffer is not saved: a loaded DQN continues with an empty buffer.
        """
        model = self._require_model()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        model.save(out / MODEL_FILE)
        manifest = {
            "class": type(self).__name__,
            "version": AGENT_FORMAT_VERSION,
            "config": self.config(),
            "n_updates": self.n_updates,
            "rng_state": self.rng.bit_generator.state,
            "model": MODEL_FILE,
        }
        return write_bundle(
            out, manifest, {}, manifest_name=AGENT_MANIFEST, arrays_name=AGENT_ARRAYS
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Load an agent saved by `save`."""
        return cls.from_manifest(path, read_agent_manifest(path))

    @classmethod
    def from_manifest(cls, path: str | os.PathLike[str], manifest: Mapping[str, Any]) -> Self:
        """Load the rest of a saved agent whose ``agent.json`` has been read."""
        where = Path(path) / AGENT_MANIFEST
        if manifest["class"] != cls.__name__:
            raise ArtifactError(f"{where}: saved by {manifest['class']!r}, not {cls.__name__!r}")
        read_arrays(path, manifest, AGENT_ARRAYS)
        # The spaces come from model.zip: build the agent without a model of its own.
        config = {
            k: v for k, v in manifest["config"].items() if k not in ("n_actions", "n_features")
        }
        try:
            agent = cls(**config)
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"{where}: bad 'config': {exc}") from exc
        zip_path = Path(path) / str(manifest.get("model", MODEL_FILE))
        if not zip_path.is_file():
            raise ArtifactError(f"{zip_path}: file not found")
        model = agent.algo_class.load(zip_path, device=agent.device)
        agent.model = model
        agent.n_actions = int(model.action_space.n)  # type: ignore[attr-defined]
        agent.n_features = int(model.observation_space.shape[0])  # type: ignore[index]
        agent.n_updates = check_size("n_updates", manifest["n_updates"], 0)
        try:
            agent.rng.bit_generator.state = manifest["rng_state"]
        except (TypeError, ValueError, KeyError) as exc:
            raise ArtifactError(f"{where}: bad 'rng_state': {exc}") from exc
        return agent
