"""The agent protocol and the base classes every learner builds on.

`BaseAgent` owns what every agent shares: its random generator, update bookkeeping,
the interaction loop (`learn`) and saving/loading. `BanditAgent` adds acting through a
decision rule (`alpharl.policy.rules`) on the subclass's reward estimates, so an agent
and the policy it exports decide the same way. Agents see Gymnasium spaces and ``info``
dicts, never the environment class.
"""

from __future__ import annotations

import importlib
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np

from agents.pacing import Pacing, pacing_from_config
from agents.records import LearnSummary, StepRecord
from alpharl.policy import BasePolicy, DecisionRule, GreedyRule, Policy, rule_from_config
from alpharl.policy.artifact import ArtifactError, read_arrays, read_manifest, write_bundle
from alpharl.policy.checks import check_contexts, check_masks, check_size

AGENT_MANIFEST = "agent.json"
AGENT_ARRAYS = "state.npz"
AGENT_FORMAT_VERSION = 1

AGENT_CLASSES: dict[str, tuple[str, str]] = {
    "DQNAgent": ("agents.sb3", "DQNAgent"),
    "ActorCriticAgent": ("agents.sb3", "ActorCriticAgent"),
    "SB3Agent": ("agents.sb3", "SB3Agent"),  # folders saved before the SB3 families
    "TabularBandit": ("agents.bandits", "TabularBandit"),
    "EpsilonGreedy": ("agents.bandits", "EpsilonGreedy"),
    "UCB1": ("agents.bandits", "UCB1"),
    "LinearBandit": ("agents.bandits", "LinearBandit"),
    "LinUCB": ("agents.bandits", "LinUCB"),
    "LinearThompsonSampling": ("agents.bandits", "LinearThompsonSampling"),
    "RandomAgent": ("agents.baselines", "RandomAgent"),
    "OracleAgent": ("agents.baselines", "OracleAgent"),
    "PacedOracleAgent": ("agents.baselines", "PacedOracleAgent"),
}
"""Where `load_agent` finds each saved class: (module, attribute), imported on demand so
that loading a bandit never imports another agent family's dependencies."""


Callback = Callable[[StepRecord], bool | None]


@runtime_checkable
class Agent(Protocol):
    """What training, evaluation and the CLI need from a learner."""

    n_actions: int

    def act(self, obs: np.ndarray, mask: np.ndarray | None = None) -> tuple[int, float]: ...

    def act_batch(
        self, obs: np.ndarray, masks: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def update(self, obs: np.ndarray, action: int, reward: float) -> None: ...

    def update_batch(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None: ...

    def learn(self, env: Any, steps: int, callback: Callback | None = None) -> LearnSummary: ...

    def save(self, path: str | os.PathLike[str]) -> Path: ...

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self: ...

    def export(self) -> Policy: ...


def check_observation(obs: Any, n_features: int | None) -> np.ndarray:
    """One observation ``(n_features,)`` as a finite float64 ``(1, n_features)`` row."""
    x = np.asarray(obs)
    if x.ndim != 1 or (n_features is not None and x.shape[0] != n_features):
        want = f"({n_features},)" if n_features is not None else "(d,)"
        raise ValueError(f"obs must have shape {want}; got {x.shape}")
    if x.dtype.kind not in "fiub":
        raise TypeError(f"obs must be a numeric array; got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    # The sum is finite iff every entry is (barring overflow, which the exact check clears).
    if not math.isfinite(x.sum()) and not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x))[:10].tolist()
        raise ValueError(f"obs has non-finite values at indices {bad}")
    return x[None, :]


class BaseAgent(ABC):
    """Bookkeeping, the interaction loop and persistence shared by every agent.

    Subclasses implement acting, `_update` (and optionally the one-row `_update_one`),
    `config` (their constructor arguments) and `_state` (their learned arrays, updated in
    place, so `load` can restore them without a hook).

    Args:
        n_actions: Number of actions, the last being "no ad" (>= 2).
        n_features: Observation width, or None for an agent that ignores observations.
        seed: Seed of the agent's generator (None: fresh entropy).
    """

    def __init__(self, n_actions: int, n_features: int | None, seed: int | None) -> None:
        self.n_actions = check_size("n_actions", n_actions, 2)
        self.n_features = None if n_features is None else check_size("n_features", n_features, 1)
        if seed is not None:
            check_size("seed", seed, 0)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.n_updates = 0
        self.action_counts = np.zeros(self.n_actions, dtype=np.int64)

    # --- acting and learning -------------------------------------------------------------

    @abstractmethod
    def act(self, obs: np.ndarray, mask: np.ndarray | None = None) -> tuple[int, float]:
        """Choose an action for one observation; return ``(action, propensity)``."""

    @abstractmethod
    def act_batch(
        self, obs: np.ndarray, masks: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Choose an action per row of ``obs``; return ``(actions, propensities)``."""

    def update(self, obs: np.ndarray, action: int, reward: float) -> None:
        """Learn from one round: the observation, the action taken and its reward."""
        x = check_observation(obs, self.n_features)
        if isinstance(action, bool) or not isinstance(action, int | np.integer):
            raise TypeError(f"action must be an int; got {action!r}")
        if not 0 <= action < self.n_actions:
            raise ValueError(f"action must be in [0, {self.n_actions}); got {action}")
        if isinstance(reward, bool) or not isinstance(reward, int | float | np.number):
            raise TypeError(f"reward must be a number; got {reward!r}")
        if not math.isfinite(reward):
            raise ValueError(f"reward must be finite; got {reward}")
        self._update_one(x[0], int(action), float(reward))
        self.action_counts[action] += 1
        self.n_updates += 1

    def update_batch(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Learn from ``n`` rounds at once: ``obs (n, d)``, ``actions (n,)``, ``rewards (n,)``."""
        x = check_contexts(obs, self.n_features, "obs")
        n = x.shape[0]
        a = np.asarray(actions)
        if a.shape != (n,) or a.dtype.kind not in "iu":
            raise ValueError(
                f"actions must be an int array of shape ({n},); got {a.dtype} {a.shape}"
            )
        if n and (a.min() < 0 or a.max() >= self.n_actions):
            bad = a[(a < 0) | (a >= self.n_actions)]
            raise ValueError(f"actions must be in [0, {self.n_actions}); got {bad[:10].tolist()}")
        r = np.asarray(rewards)
        if r.shape != (n,) or r.dtype.kind not in "fiu":
            raise ValueError(f"rewards must be a numeric array of shape ({n},); got {r.shape}")
        r = r.astype(np.float64, copy=False)
        if not np.isfinite(r).all():
            raise ValueError(f"rewards must be finite; rows {np.flatnonzero(~np.isfinite(r))[:10]}")
        if n == 0:
            return
        a = a.astype(np.int64, copy=False)
        self._update(x, a, r)
        self.action_counts += np.bincount(a, minlength=self.n_actions)
        self.n_updates += n

    @abstractmethod
    def _update(self, x: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Learn from checked rows; ``action_counts`` still holds the counts from before."""

    def _update_one(self, x: np.ndarray, action: int, reward: float) -> None:
        """Learn from one checked row ``x (d,)``; override for a faster single-row path."""
        self._update(x[None, :], np.array([action]), np.array([reward]))

    def _act_in_env(self, obs: np.ndarray, info: Mapping[str, Any]) -> tuple[int, float]:
        """The `learn` loop's decision; agents that need ``info`` override this."""
        return self.act(obs, info.get("action_mask"))

    def learn(
        self,
        env: Any,
        steps: int,
        callback: Callback | None = None,
        *,
        seed: int | None = None,
    ) -> LearnSummary:
        """Interact with a Gymnasium environment for ``steps`` steps, updating after each.

        The environment is reset with ``seed`` (default: the agent's seed) and again,
        unseeded, whenever an episode terminates or is truncated. Each step reads the
        eligibility from ``info["action_mask"]``, acts, steps, updates, then calls
        ``callback(StepRecord)``; a callback returning False stops the loop.

        Args:
            env: A Gymnasium environment with a ``Discrete(n_actions)`` action space.
            steps: Number of steps (>= 0).
            callback: Optional per-step hook.
            seed: Seed for the first reset.
        """
        steps = check_size("steps", steps, 0)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None; got {callback!r}")
        self._check_env(env)
        obs, info = env.reset(seed=self.seed if seed is None else seed)
        total_reward, total_regret, has_regret, episodes = 0.0, 0.0, False, 0
        taken, stopped = 0, False
        for t in range(steps):
            action, propensity = self._act_in_env(obs, info)
            next_obs, reward, terminated, truncated, next_info = env.step(action)
            reward = float(reward)
            self.update(obs, action, reward)
            taken += 1
            total_reward += reward
            if "regret" in next_info:
                has_regret = True
                total_regret += float(next_info["regret"])
            if terminated or truncated:
                episodes += 1
                obs, info = env.reset()
            else:
                obs, info = next_obs, next_info
            record = StepRecord(t, action, propensity, reward, next_info)
            if callback is not None and callback(record) is False:
                stopped = t + 1 < steps
                break
        return LearnSummary(
            taken, episodes, total_reward, total_regret if has_regret else None, stopped
        )

    def _check_env(self, env: Any) -> None:
        n = getattr(getattr(env, "action_space", None), "n", None)
        if n is None:
            raise TypeError(f"env must have a Discrete action_space; got {env!r}")
        if int(n) != self.n_actions:
            raise ValueError(
                f"env.action_space.n is {int(n)}, but the agent has n_actions={self.n_actions}"
            )
        shape = getattr(getattr(env, "observation_space", None), "shape", None)
        if self.n_features is not None and shape != (self.n_features,):
            raise ValueError(
                f"env.observation_space.shape is {shape}, but the agent has "
                f"n_features={self.n_features}"
            )

    # --- persistence ---------------------------------------------------------------------

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON types) that rebuild this agent untrained."""

    def _state(self) -> dict[str, np.ndarray]:
        """The learned arrays, by name; `load` copies saved values into them in place."""
        return {}

    def _part_state(self) -> dict[str, np.ndarray]:
        """Arrays of the agent's parts (pacing), saved and restored like `_state`."""
        return {}

    @abstractmethod
    def export(self) -> Policy:
        """The agent's decision policy as an `alpharl.policy` object."""

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``agent.json`` and ``state.npz`` into the folder ``path``; return it.

        The manifest holds the class, the constructor arguments, the update count and the
        generator's exact state, so a loaded agent continues exactly as this one would.
        """
        manifest = {
            "class": type(self).__name__,
            "version": AGENT_FORMAT_VERSION,
            "config": self.config(),
            "n_updates": self.n_updates,
            "rng_state": self.rng.bit_generator.state,
        }
        arrays = {"action_counts": self.action_counts, **self._state(), **self._part_state()}
        return write_bundle(
            path, manifest, arrays, manifest_name=AGENT_MANIFEST, arrays_name=AGENT_ARRAYS
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Load an agent of this class saved by `save` (see `agents.load_agent` for any)."""
        return cls.from_manifest(path, read_agent_manifest(path))

    @classmethod
    def from_manifest(cls, path: str | os.PathLike[str], manifest: Mapping[str, Any]) -> Self:
        """Load the rest of a saved agent whose manifest has already been read."""
        where = Path(path) / AGENT_MANIFEST
        if manifest["class"] != cls.__name__:
            raise ArtifactError(
                f"{where}: saved by {manifest['class']!r}, not {cls.__name__!r}; "
                "use agents.load_agent to load any agent"
            )
        arrays = read_arrays(path, manifest, AGENT_ARRAYS)
        config = manifest["config"]
        try:
            agent = cls(**config)
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"{where}: bad 'config' {config!r}: {exc}") from exc
        live = {"action_counts": agent.action_counts, **agent._state(), **agent._part_state()}
        if set(live) != set(arrays):
            raise ArtifactError(
                f"{where}: arrays {sorted(arrays)} do not match the agent's {sorted(live)}"
            )
        for name, target in live.items():
            if target.shape != arrays[name].shape:
                raise ArtifactError(
                    f"{where}: array {name!r} has shape {arrays[name].shape}, "
                    f"the agent needs {target.shape}"
                )
            target[...] = arrays[name]
        try:
            agent.n_updates = check_size("n_updates", manifest["n_updates"], 0)
        except ValueError as exc:
            raise ArtifactError(f"{where}: {exc}") from exc
        try:
            agent.rng.bit_generator.state = manifest["rng_state"]
        except (TypeError, ValueError, KeyError) as exc:
            raise ArtifactError(f"{where}: bad 'rng_state' ({type(exc).__name__}: {exc})") from exc
        return agent


def read_agent_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``agent.json`` and check its format version."""
    manifest = read_manifest(path, AGENT_MANIFEST, ("class", "version", "config", "n_updates"))
    if manifest["version"] != AGENT_FORMAT_VERSION:
        raise ArtifactError(
            f"{Path(path) / AGENT_MANIFEST}: format version {manifest['version']!r} is not "
            f"supported (this version reads {AGENT_FORMAT_VERSION})"
        )
    if "rng_state" not in manifest:
        raise ArtifactError(f"{Path(path) / AGENT_MANIFEST}: missing keys ['rng_state']")
    return manifest


def load_agent(path: str | os.PathLike[str]) -> BaseAgent:
    """Load any agent saved by `BaseAgent.save`, dispatching on the class it recorded.

    Args:
        path: The folder holding ``agent.json`` and ``state.npz``.
    """
    manifest = read_agent_manifest(path)
    name = manifest["class"]
    where = AGENT_CLASSES.get(name) if isinstance(name, str) else None
    if where is None:
        raise ArtifactError(
            f"{Path(path) / AGENT_MANIFEST}: unknown agent class {name!r}; "
            f"expected one of {sorted(AGENT_CLASSES)}"
        )
    cls: type[BaseAgent] = getattr(importlib.import_module(where[0]), where[1])
    return cls.from_manifest(path, manifest)


class BanditAgent(BaseAgent):
    """An agent that acts by a decision rule on its own per-action reward estimates.

    The public methods check inputs and masks; subclasses fill `_scores` (estimates and,
    when the rule asks, their width), `_update` and `_export`. The exploration rule is a
    part with a default per agent; one the model cannot support (``supported_rules``) is
    rejected when the agent is built. Budget pacing (`agents.pacing`) is another optional
    part: with one, the agent decides through the paced rule (`rule`), reads the budget
    from ``info`` in `learn`, and exports the paced rule with its control as of export.

    Args:
        n_actions: Number of actions, the last being "no ad" (>= 2).
        n_features: Observation width, or None for an agent that ignores observations.
        exploration: A `DecisionRule` or its config mapping (``{"name": "ucb", ...}``).
        seed: Seed of the agent's generator.
        pacing: A `agents.pacing.Pacing` part, its config (``{"name": "dual", ...}``), or
            None (no pacing).
    """

    supported_rules: ClassVar[tuple[type[DecisionRule], ...]]

    def __init__(
        self,
        n_actions: int,
        n_features: int | None,
        exploration: DecisionRule | Mapping[str, Any],
        seed: int | None,
        pacing: Pacing | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(n_actions, n_features, seed)
        rule = rule_from_config(exploration)
        if rule.base is not rule:
            raise ValueError(
                f"exploration must be an exploration rule; pace with `pacing=`, not {rule!r}"
            )
        if not isinstance(rule, self.supported_rules):
            names = [r.name for r in self.supported_rules]
            raise ValueError(
                f"{type(self).__name__} supports exploration rules {names}; got {rule!r}"
            )
        self.exploration = rule
        self.pacing = pacing_from_config(pacing)
        if self.pacing is not None:
            self.pacing.bind(self.n_actions)

    def rule(self) -> DecisionRule:
        """The rule the agent decides by now: its exploration as of now, paced if paced."""
        rule = self.exploration.current(self.n_updates)
        return rule if self.pacing is None else self.pacing.rule(rule)

    def _act_in_env(self, obs: np.ndarray, info: Mapping[str, Any]) -> tuple[int, float]:
        if self.pacing is None:
            return self.act(obs, info.get("action_mask"))
        self.pacing.observe(info)
        action, propensity = self.act(obs, info.get("action_mask"))
        self.pacing.record(action)
        return action, propensity

    def _pacing_config(self) -> dict[str, Any]:
        """``{"pacing": config}`` for `config`, empty when unpaced (old manifests load)."""
        return {} if self.pacing is None else {"pacing": self.pacing.to_config()}

    def _part_state(self) -> dict[str, np.ndarray]:
        return {} if self.pacing is None else self.pacing.arrays()

    def act(self, obs: np.ndarray, mask: np.ndarray | None = None) -> tuple[int, float]:
        """Choose an action for one observation ``(n_features,)`` and mask ``(n_actions,)``."""
        x = check_observation(obs, self.n_features)
        eligible = None
        if mask is not None:
            m = np.asarray(mask)
            if m.shape != (self.n_actions,):
                raise ValueError(f"mask must have shape ({self.n_actions},); got {m.shape}")
            eligible = check_masks(m[None, :], 1, self.n_actions, "mask")
        actions, props = self._decide(x, eligible)
        return int(actions[0]), float(props[0])

    def act_batch(
        self, obs: np.ndarray, masks: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Choose an action per row of ``obs (n, d)`` under ``masks (n, n_actions)``."""
        x = check_contexts(obs, self.n_features, "obs")
        actions, props = self._decide(x, check_masks(masks, x.shape[0], self.n_actions))
        return actions.astype(np.int64, copy=False), props

    def action_probabilities(self, obs: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """The agent's current action distribution per row, ``(n, n_actions)``."""
        x = check_contexts(obs, self.n_features, "obs")
        eligible = check_masks(masks, x.shape[0], self.n_actions)
        rule = self.rule()
        mean, width = self._scores(x, rule.uses_width)
        return rule.probabilities(mean, width, eligible)

    def estimate(self, obs: np.ndarray) -> np.ndarray:
        """The agent's estimate of each action's expected reward, ``(n, n_actions)``."""
        x = check_contexts(obs, self.n_features, "obs")
        return np.array(self._scores(x, False)[0], dtype=np.float64)

    def _decide(self, x: np.ndarray, eligible: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        rule = self.rule()
        mean, width = self._scores(x, rule.uses_width)
        return rule.sample(mean, width, eligible, self.rng)

    def export(self, greedy: bool = False) -> BasePolicy:
        """The agent's policy, frozen now.

        Args:
            greedy: False (default) exports the behaviour policy, exploration included
                (a decaying epsilon is frozen at its current value), so logged
                propensities stay valid; True exports the exploit-only policy: the
                highest estimated reward among eligible actions, ties split uniformly.
                Either way a paced agent's policy is paced with the multiplier (or
                participation rate) as of now, recorded in its ``policy.json`` rule.
        """
        if not greedy:
            return self._export(self.rule())
        rule: DecisionRule = GreedyRule()
        return self._export(rule if self.pacing is None else self.pacing.rule(rule))

    @abstractmethod
    def _scores(self, x: np.ndarray, with_width: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Estimated reward ``(n, n_actions)`` and, if asked, its width (else None)."""

    @abstractmethod
    def _export(self, rule: DecisionRule) -> BasePolicy:
        """A policy with a copy of the learned arrays, deciding by ``rule``."""
