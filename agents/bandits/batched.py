"""N linear bandits stepped together: batched ridge algebra for many seeds or campaigns.

`BatchedLinearBandit` holds ``n_learners`` independent disjoint-ridge learners (Li et al.,
2010) as stacked arrays, ``A^-1 (N, K, d, d)``, ``b (N, K, d)``, ``theta (N, K, d)``, and
acts and updates on ``(N, d)`` observations and ``(N, K)`` masks at once: scores by one
``einsum``, updates by one batched Sherman–Morrison step. Each learner keeps its own
generator, seeded like the single agent, and draws from it exactly what the single agent
would draw (one uniform per categorical draw, one per greedy tie), so learner ``i`` makes
the same decisions as ``LinUCB`` / ``LinearThompsonSampling`` with seed ``seeds[i]`` fed
the same data; its arrays agree to rounding (the batched products sum in another order).

`learn` runs the learners on any Gymnasium ``VectorEnv`` with ``num_envs = n_learners``
(``SyncVectorEnv`` of single envs, or a native vector env), in Gymnasium's NextStep
autoreset mode. `learn_shared` runs one ordinary agent fed by all N sub-envs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.bandits.linear import LinearBandit, LinearThompsonSampling, LinUCB
from agents.base import BanditAgent, LearnSummary
from alpharl.policy import DecisionRule, GreedyRule, ThompsonRule, UCBRule
from alpharl.policy.checks import check_contexts, check_masks, check_number, check_size
from alpharl.policy.rules import rule_from_config


@dataclass(frozen=True, slots=True)
class VectorStepRecord:
    """One step of a vector `learn` loop, handed to its callback.

    Args:
        step: 0-based index of the vector step.
        active: ``(N,)`` bool: the sub-envs where a learner decided (others were being
            autoreset, or their learner had already taken its steps, and played "no ad").
        actions: ``(N,)`` actions sent to the env. propensities: ``(N,)`` (1 where idle).
        rewards: ``(N,)``. terminated, truncated: ``(N,)`` bool. infos: the env's infos.
    """

    step: int
    active: np.ndarray
    actions: np.ndarray
    propensities: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    infos: Mapping[str, Any]


VectorCallback = Callable[[VectorStepRecord], bool | None]


def _categorical(rule: DecisionRule) -> bool:
    """Whether ``rule.sample`` is one inverse-CDF draw from ``rule.probabilities``
    (else it is greedy: a draw only to split a tie)."""
    base = rule.base
    if isinstance(base, GreedyRule | UCBRule):
        participation = getattr(rule, "participation", 1.0)
        return bool(participation < 1.0)
    return True


def sample_rows(
    rule: DecisionRule,
    mean: np.ndarray,
    width: np.ndarray | None,
    eligible: np.ndarray | None,
    rngs: Sequence[np.random.Generator],
) -> tuple[np.ndarray, np.ndarray]:
    """``rule.sample`` row by row, row ``i`` drawing from ``rngs[i]``, computed in batch.

    Row ``i``'s action and propensity, and what it takes from ``rngs[i]``, are those of
    ``rule.sample(mean[i:i+1], width[i:i+1], eligible[i:i+1], rngs[i])``.
    """
    n = mean.shape[0]
    probs = rule.probabilities(mean, width, eligible)
    rows = np.arange(n)
    if _categorical(rule):  # `sample_categorical`: one uniform per row
        u = np.array([rng.random() for rng in rngs])
        cdf = np.cumsum(probs, axis=1)
        actions = (cdf > (u * cdf[:, -1])[:, None]).argmax(axis=1)
        return actions, probs[rows, actions]
    # `greedy_sample`: the top action; a uniform only where several tie.
    top = probs > 0
    counts = top.sum(axis=1)
    actions = probs.argmax(axis=1)
    for i in np.flatnonzero(counts > 1).tolist():
        k = int(rngs[i].random() * counts[i])
        actions[i] = np.flatnonzero(top[i])[k]
    return actions, probs[rows, actions]


class BatchedLinearBandit:
    """``n_learners`` independent disjoint-ridge bandits with batched algebra.

    Args:
        n_learners: Number of learners N (>= 1).
        n_actions: Actions per learner, the last "no ad" (>= 2).
        n_features: Observation width d (>= 1).
        exploration: A stationary rule or its config: `UCBRule` (default, alpha 1),
            `ThompsonRule`, `EpsilonGreedyRule` (no decay) or `GreedyRule`.
        l2: Ridge penalty > 0.
        seeds: One seed per learner (default ``0 .. N-1``).
    """

    def __init__(
        self,
        n_learners: int,
        n_actions: int,
        n_features: int,
        exploration: DecisionRule | Mapping[str, Any] | None = None,
        l2: float = 1.0,
        seeds: Sequence[int] | None = None,
    ) -> None:
        self.n_learners = check_size("n_learners", n_learners, 1)
        self.n_actions = check_size("n_actions", n_actions, 2)
        self.n_features = check_size("n_features", n_features, 1)
        rule = rule_from_config(exploration if exploration is not None else UCBRule(1.0))
        if not isinstance(rule, LinearBandit.supported_rules):
            raise ValueError(f"exploration must be a linear bandit's rule; got {rule!r}")
        if not rule.stationary:
            raise ValueError(
                f"exploration must not decay in a batched learner (learners update at "
                f"different counts); got {rule!r}"
            )
        self.exploration = rule
        self.l2 = check_number("l2", l2, 0.0)
        if self.l2 == 0.0:
            raise ValueError("l2 must be > 0; got 0.0")
        seeds = list(range(self.n_learners)) if seeds is None else list(seeds)
        if len(seeds) != self.n_learners:
            raise ValueError(f"seeds must have {self.n_learners} entries; got {len(seeds)}")
        self.seeds = [check_size(f"seeds[{i}]", s, 0) for i, s in enumerate(seeds)]
        self.rngs = [np.random.default_rng(s) for s in self.seeds]
        n, a, d = self.n_learners, self.n_actions, self.n_features
        self.a_inv = np.tile(np.eye(d) / self.l2, (n, a, 1, 1))
        self.b = np.zeros((n, a, d))
        self.theta = np.zeros((n, a, d))
        self.action_counts = np.zeros((n, a), dtype=np.int64)
        self.n_updates = np.zeros(n, dtype=np.int64)

    # --- scores, acting, updating -------------------------------------------------------

    def _scores(self, x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        every = len(rows) == self.n_learners  # no gather: the arrays themselves
        theta = self.theta if every else self.theta[rows]
        mean = (theta @ x[:, :, None])[..., 0]
        if not self.exploration.uses_width:
            return mean, None
        a_inv = self.a_inv if every else self.a_inv[rows]
        quad = ((a_inv @ x[:, None, :, None])[..., 0] @ x[:, :, None])[..., 0]
        return mean, np.sqrt(np.maximum(quad, 0.0))

    def act(
        self,
        obs: np.ndarray,
        masks: np.ndarray | None = None,
        active: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One decision per learner: ``obs (N, d)``, ``masks (N, n_actions)``.

        Args:
            obs: Row ``i`` is learner ``i``'s observation.
            masks: Eligibility per row ("no ad" always eligible), or None.
            active: ``(N,)`` bool; inactive learners do not decide (nor draw) and get
                "no ad" with propensity 1. None: all active.

        Returns:
            ``(actions int64 (N,), propensities float64 (N,))``.
        """
        x = check_contexts(obs, self.n_features, "obs")
        if x.shape[0] != self.n_learners:
            raise ValueError(f"obs must have {self.n_learners} rows; got {x.shape[0]}")
        eligible = check_masks(masks, self.n_learners, self.n_actions)
        rows = self._rows(active)
        actions = np.full(self.n_learners, self.n_actions - 1, dtype=np.int64)
        props = np.ones(self.n_learners)
        if len(rows):
            mean, width = self._scores(x[rows], rows)
            elig = None if eligible is None else eligible[rows]
            rngs = [self.rngs[i] for i in rows]
            actions[rows], props[rows] = sample_rows(self.exploration, mean, width, elig, rngs)
        return actions, props

    def action_probabilities(self, obs: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """Each learner's action distribution for its row, ``(N, n_actions)``."""
        x = check_contexts(obs, self.n_features, "obs")
        rows = np.arange(self.n_learners)
        mean, width = self._scores(x, rows)
        eligible = check_masks(masks, self.n_learners, self.n_actions)
        return self.exploration.probabilities(mean, width, eligible)

    def update(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        active: np.ndarray | None = None,
    ) -> None:
        """Learner ``i`` learns from ``(obs[i], actions[i], rewards[i])`` where active.

        One Sherman–Morrison step per learner, all at once (the single agent's
        ``_update_one`` arithmetic, batched).
        """
        x = check_contexts(obs, self.n_features, "obs")
        a = np.asarray(actions)
        r = np.asarray(rewards, dtype=np.float64)
        if x.shape[0] != self.n_learners or a.shape != (self.n_learners,) or r.shape != a.shape:
            raise ValueError(
                f"obs, actions and rewards must have {self.n_learners} rows; got "
                f"{x.shape}, {a.shape}, {r.shape}"
            )
        if a.dtype.kind not in "iu" or a.min() < 0 or a.max() >= self.n_actions:
            raise ValueError(f"actions must be ints in [0, {self.n_actions}); got {a[:10]}")
        if not np.isfinite(r).all():
            raise ValueError(f"rewards must be finite; got {r[~np.isfinite(r)][:10]}")
        rows = self._rows(active)
        if not len(rows):
            return
        x, a, r = x[rows], a[rows].astype(np.int64), r[rows]
        a_inv = self.a_inv[rows, a]  # (M, d, d), a copy
        u = (a_inv @ x[:, :, None])[..., 0]
        su = u * (1.0 / (1.0 + (x[:, None, :] @ u[:, :, None])[:, 0, 0]))[:, None]
        theta = self.theta[rows, a]
        theta += (r - (x[:, None, :] @ theta[:, :, None])[:, 0, 0])[:, None] * su
        self.theta[rows, a] = theta
        a_inv -= u[:, :, None] * su[:, None, :]
        self.a_inv[rows, a] = a_inv
        self.b[rows, a] += r[:, None] * x
        self.action_counts[rows, a] += 1
        self.n_updates[rows] += 1

    def _rows(self, active: np.ndarray | None) -> np.ndarray:
        if active is None:
            return np.arange(self.n_learners)
        mask = np.asarray(active, dtype=bool)
        if mask.shape != (self.n_learners,):
            raise ValueError(f"active must have shape ({self.n_learners},); got {mask.shape}")
        return np.flatnonzero(mask)

    # --- one learner as an ordinary agent -----------------------------------------------

    def _single(self, seed: int) -> LinearBandit:
        return LinearBandit(self.n_actions, self.n_features, self.exploration, self.l2, seed)

    def learner(self, i: int) -> LinearBandit:
        """Learner ``i`` as an ordinary agent (a copy: its state, counts and generator),
        to save, export or keep training on its own."""
        i = int(check_size("i", i, 0))
        if i >= self.n_learners:
            raise ValueError(f"i must be < n_learners={self.n_learners}; got {i}")
        agent = self._single(self.seeds[i])
        agent.a_inv[...] = self.a_inv[i]
        agent.b[...] = self.b[i]
        agent.theta[...] = self.theta[i]
        agent.action_counts[...] = self.action_counts[i]
        agent.n_updates = int(self.n_updates[i])
        agent.rng.bit_generator.state = self.rngs[i].bit_generator.state
        return agent

    # --- the vector learn loop ----------------------------------------------------------

    def learn(
        self,
        env: Any,
        steps: int,
        callback: VectorCallback | None = None,
        *,
        seed: Sequence[int] | None = None,
    ) -> list[LearnSummary]:
        """Each learner takes ``steps`` decisions in its own sub-env of a ``VectorEnv``.

        Learner ``i`` acts in sub-env ``i``, which is reset with ``seed[i]`` (default: the
        learner's seed), so it reproduces ``single_agent.learn(env_i, steps)``. The
        vector env must autoreset in NextStep mode (Gymnasium's default): the step after
        an episode ends resets that sub-env and ignores its action, so the learner sits it
        out. A learner done with its steps plays "no ad" until all are done.

        Returns:
            One `LearnSummary` per learner (``total_regret`` from ``infos["regret"]``).
        """
        if getattr(env, "num_envs", None) != self.n_learners:
            raise ValueError(
                f"env.num_envs must be n_learners={self.n_learners}; "
                f"got {getattr(env, 'num_envs', None)!r}"
            )
        seeds = self.seeds if seed is None else seed
        return _vector_learn(self.act, self.update, self.n_actions, env, steps, callback, seeds)


class BatchedLinUCB(BatchedLinearBandit):
    """N independent `LinUCB` learners (Li et al., 2010) with batched algebra.

    Args:
        n_learners: N. n_actions, n_features: as `LinUCB`.
        alpha: Width multiplier >= 0. l2: Ridge penalty > 0.
        seeds: One seed per learner (default ``0 .. N-1``).
    """

    def __init__(
        self,
        n_learners: int,
        n_actions: int,
        n_features: int,
        alpha: float = 1.0,
        l2: float = 1.0,
        seeds: Sequence[int] | None = None,
    ) -> None:
        super().__init__(n_learners, n_actions, n_features, UCBRule(alpha), l2, seeds)

    def _single(self, seed: int) -> LinUCB:
        rule = self.exploration
        assert isinstance(rule, UCBRule)
        return LinUCB(self.n_actions, self.n_features, rule.alpha, self.l2, seed)


class BatchedLinearThompsonSampling(BatchedLinearBandit):
    """N independent `LinearThompsonSampling` learners (Agrawal & Goyal, 2013), batched.

    Args:
        n_learners: N. n_actions, n_features, v, l2, n_samples, propensity_seed: as
            `LinearThompsonSampling`. seeds: One seed per learner.
    """

    def __init__(
        self,
        n_learners: int,
        n_actions: int,
        n_features: int,
        v: float = 1.0,
        l2: float = 1.0,
        n_samples: int = 1000,
        propensity_seed: int = 0,
        seeds: Sequence[int] | None = None,
    ) -> None:
        rule = ThompsonRule(v, n_samples, propensity_seed)
        super().__init__(n_learners, n_actions, n_features, rule, l2, seeds)

    def _single(self, seed: int) -> LinearThompsonSampling:
        rule = self.exploration
        assert isinstance(rule, ThompsonRule)
        return LinearThompsonSampling(
            self.n_actions, self.n_features, rule.v, self.l2, rule.n_samples, rule.seed, seed
        )


def _check_vector_env(env: Any, n_envs: int, n_actions: int) -> None:
    num = getattr(env, "num_envs", None)
    if num != n_envs:
        raise ValueError(f"env.num_envs must be {n_envs}; got {num!r}")
    n = getattr(getattr(env, "single_action_space", None), "n", None)
    if n is None or int(n) != n_actions:
        raise ValueError(f"env.single_action_space must be Discrete({n_actions}); got {n!r}")
    mode = env.metadata.get("autoreset_mode")
    if mode is not None and getattr(mode, "value", mode) != "NextStep":
        raise ValueError(f"env must autoreset in NextStep mode; its autoreset_mode is {mode}")


Decide = Callable[[np.ndarray, Any, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``(obs (N, d), masks or None, active (N,)) -> (actions, propensities)``, "no ad" where idle."""
Learn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]
"""``(obs, actions, rewards, active)``: learn from the active rows."""


def _vector_learn(
    decide: Decide,
    learn: Learn,
    n_actions: int,
    env: Any,
    steps: int,
    callback: VectorCallback | None,
    seeds: Sequence[int] | int | None,
) -> list[LearnSummary]:
    steps = check_size("steps", steps, 0)
    n = int(getattr(env, "num_envs", 0))
    _check_vector_env(env, n, n_actions)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None; got {callback!r}")
    obs, infos = env.reset(seed=seeds if seeds is None or isinstance(seeds, int) else list(seeds))
    taken = np.zeros(n, dtype=np.int64)
    episodes = np.zeros(n, dtype=np.int64)
    total_reward, total_regret = np.zeros(n), np.zeros(n)
    has_regret = False
    resetting = np.zeros(n, dtype=bool)
    t, stopped = 0, False
    while (taken < steps).any():
        active = (taken < steps) & ~resetting
        actions, props = decide(obs, infos.get("action_mask"), active)
        next_obs, rewards, terminated, truncated, next_infos = env.step(actions)
        rewards = np.asarray(rewards, dtype=np.float64)
        if active.any():
            learn(obs, actions, rewards, active)
        done = np.asarray(terminated) | np.asarray(truncated)
        taken += active
        episodes += active & done
        total_reward += np.where(active, rewards, 0.0)
        if "regret" in next_infos:
            has_regret = True
            total_regret += np.where(active, np.asarray(next_infos["regret"], float), 0.0)
        resetting = done  # NextStep: these sub-envs reset on the next step
        record = VectorStepRecord(
            t, active, actions, props, rewards, terminated, truncated, next_infos
        )
        obs, infos = next_obs, next_infos
        t += 1
        if callback is not None and callback(record) is False:
            stopped = bool((taken < steps).any())
            break
    return [
        LearnSummary(
            int(taken[i]),
            int(episodes[i]),
            float(total_reward[i]),
            float(total_regret[i]) if has_regret else None,
            stopped,
        )
        for i in range(n)
    ]


def learn_shared(
    agent: BanditAgent,
    env: Any,
    steps: int,
    callback: VectorCallback | None = None,
    *,
    seed: Sequence[int] | int | None = None,
) -> list[LearnSummary]:
    """One agent fed by all N sub-envs of a ``VectorEnv`` (N campaigns, one model).

    Every vector step the agent decides for the N sub-envs with `act_batch` (one generator)
    and learns from the N outcomes with `update_batch`; each sub-env takes ``steps``
    decisions. Autoreset as in `BatchedLinearBandit.learn` (NextStep).

    Args:
        agent: Any bandit agent (its ``n_actions`` matches the env's).
        env: A ``VectorEnv``.
        steps: Decisions per sub-env.
        callback: Optional per-step hook; False stops.
        seed: Seeds for the first reset (a list, or one int Gymnasium expands).

    Returns:
        One `LearnSummary` per sub-env.
    """
    if agent.pacing is not None:
        raise ValueError("learn_shared does not pace; build the agent without pacing")
    no_ad = agent.n_actions - 1

    def decide(obs: np.ndarray, masks: Any, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        actions = np.full(len(active), no_ad, dtype=np.int64)
        props = np.ones(len(active))
        if active.any():
            m = None if masks is None else np.asarray(masks)[active]
            actions[active], props[active] = agent.act_batch(obs[active], m)
        return actions, props

    def learn(
        obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, active: np.ndarray
    ) -> None:
        agent.update_batch(obs[active], actions[active], rewards[active])

    return _vector_learn(decide, learn, agent.n_actions, env, steps, callback, seed)


__all__ = [
    "BatchedLinUCB",
    "BatchedLinearBandit",
    "BatchedLinearThompsonSampling",
    "VectorStepRecord",
    "learn_shared",
    "sample_rows",
]
