"""Decision rules: how per-action reward estimates become an action distribution.

A policy (or an agent) estimates, for each context row and action, an expected reward
``mean`` and, where its model has one, an uncertainty ``width`` (a standard deviation for
Thompson sampling, the confidence width for UCB). A rule turns those, and the eligibility
mask, into a distribution over actions (``probabilities``) and into sampled actions with
their propensities (``sample``). Policies and agents share these rules, so an exported
policy decides exactly as the agent that made it.

Ties are broken uniformly at random and the propensities carry the split: two actions
tied for the best score under the greedy rule each have probability 1/2. Ineligible
actions always get probability 0.

All arrays are ``(n, n_actions)``; ``eligible`` is a boolean ``(n, n_actions)`` array or
``None`` (every action eligible).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from alpharl.policy.checks import check_number, check_size

FloatArray = np.ndarray
"""A float64 array; kept as a plain alias so signatures stay readable."""

_MC_CHUNK = 1 << 20
"""Largest ``rows * n_samples * n_actions`` block the Thompson estimate builds at once."""


def _masked(scores: FloatArray, eligible: np.ndarray | None) -> FloatArray:
    return scores if eligible is None else np.where(eligible, scores, -np.inf)


def _top_set(scores: FloatArray, eligible: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The eligible actions tied for the highest score, and how many there are per row."""
    s = _masked(scores, eligible)
    is_top = s == s.max(axis=1, keepdims=True)
    if eligible is not None:
        is_top &= eligible
    counts = is_top.sum(axis=1)
    if not counts.all():
        rows = np.flatnonzero(counts == 0)[:10].tolist()
        raise ValueError(f"scores are NaN for every eligible action in rows {rows}")
    return is_top, counts


def greedy_probabilities(scores: FloatArray, eligible: np.ndarray | None) -> FloatArray:
    """Uniform over the eligible actions tied for the highest score."""
    is_top, counts = _top_set(scores, eligible)
    return is_top / counts[:, None]


def greedy_sample(
    scores: FloatArray, eligible: np.ndarray | None, rng: np.random.Generator
) -> tuple[np.ndarray, FloatArray]:
    """The highest-scoring eligible action, ties split uniformly; draws only when tied."""
    if scores.shape[0] == 1:  # the online path: one context per call
        row = scores[0] if eligible is None else np.where(eligible[0], scores[0], -np.inf)
        best = row.argmax()
        if np.count_nonzero(row == row[best]) == 1:
            return np.array([best]), np.ones(1)
    is_top, counts = _top_set(scores, eligible)
    if (counts == 1).all():
        return is_top.argmax(axis=1), np.ones(len(counts))
    k = (rng.random(len(counts)) * counts).astype(np.int64)
    actions = (np.cumsum(is_top, axis=1) > k[:, None]).argmax(axis=1)
    return actions, 1.0 / counts


def sample_categorical(
    probs: FloatArray, rng: np.random.Generator
) -> tuple[np.ndarray, FloatArray]:
    """One action per row by inverse CDF; the chosen action always has probability > 0."""
    n = probs.shape[0]
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(n) * cdf[:, -1]
    actions = (cdf > u[:, None]).argmax(axis=1)
    return actions, probs[np.arange(n), actions]


class DecisionRule(ABC):
    """Maps reward estimates to an action distribution (see the module docstring)."""

    name: ClassVar[str]

    @property
    def uses_width(self) -> bool:
        """Whether the rule reads the uncertainty ``width``; if not, callers may pass None."""
        return False

    @property
    def stationary(self) -> bool:
        """Whether the rule is the same at every step (a policy needs a stationary rule)."""
        return True

    def current(self, step: int) -> DecisionRule:
        """The rule as it applies after ``step`` updates (differs only for decaying rules)."""
        return self

    @abstractmethod
    def probabilities(
        self, mean: FloatArray, width: FloatArray | None, eligible: np.ndarray | None
    ) -> FloatArray:
        """The action distribution per row, ``(n, n_actions)``; each row sums to 1."""

    def sample(
        self,
        mean: FloatArray,
        width: FloatArray | None,
        eligible: np.ndarray | None,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, FloatArray]:
        """Draw one action per row; return ``(actions int64, propensities float64)``."""
        return sample_categorical(self.probabilities(mean, width, eligible), rng)

    def to_config(self) -> dict[str, Any]:
        """Plain-JSON description; `rule_from_config` is its inverse."""
        params = fields(self)  # type: ignore[arg-type]
        return {"name": self.name} | {f.name: getattr(self, f.name) for f in params if f.init}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DecisionRule:
        """Build from the parameters of a config (its ``name`` removed and checked)."""
        return cls(**params)

    @property
    def base(self) -> DecisionRule:
        """The exploration rule itself, beneath any pacing wrapper (`alpharl.policy.paced`)."""
        return self


@dataclass(frozen=True)
class GreedyRule(DecisionRule):
    """Always the highest-scoring eligible action (ties split uniformly)."""

    name: ClassVar[str] = "greedy"

    def probabilities(
        self, mean: FloatArray, width: FloatArray | None, eligible: np.ndarray | None
    ) -> FloatArray:
        return greedy_probabilities(mean, eligible)

    def sample(
        self,
        mean: FloatArray,
        width: FloatArray | None,
        eligible: np.ndarray | None,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, FloatArray]:
        return greedy_sample(mean, eligible, rng)


@dataclass(frozen=True)
class EpsilonGreedyRule(DecisionRule):
    """With probability epsilon a uniformly random eligible action, else the greedy one.

    Args:
        epsilon: Exploration probability in [0, 1] (at step 0, when decaying).
        decay: Decay rate >= 0: after ``t`` updates the rule explores with
            ``epsilon / (1 + decay * t)``, the 1/t schedule of Auer et al. (2002)'s
            epsilon_n-greedy. 0 keeps epsilon constant. Policies take no decay.
    """

    name: ClassVar[str] = "epsilon_greedy"
    epsilon: float = 0.1
    decay: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", check_number("epsilon", self.epsilon, 0.0, 1.0))
        object.__setattr__(self, "decay", check_number("decay", self.decay, 0.0))

    @property
    def stationary(self) -> bool:
        return self.decay == 0.0

    def current(self, step: int) -> EpsilonGreedyRule:
        if self.decay == 0.0:
            return self
        return EpsilonGreedyRule(self.epsilon / (1.0 + self.decay * step))

    def probabilities(
        self, mean: FloatArray, width: FloatArray | None, eligible: np.ndarray | None
    ) -> FloatArray:
        greedy = greedy_probabilities(mean, eligible)
        if eligible is None:
            uniform = np.full_like(greedy, 1.0 / greedy.shape[1])
        else:
            uniform = eligible / eligible.sum(axis=1, keepdims=True)
        return self.epsilon * uniform + (1.0 - self.epsilon) * greedy


@dataclass(frozen=True)
class UCBRule(DecisionRule):
    """Greedy on the optimistic score ``mean + alpha * width``.

    With a ridge model's width ``sqrt(x' A^-1 x)`` this is LinUCB (Li et al., 2010); with
    a count model's width ``sqrt(ln t / n_a)`` and ``alpha = sqrt(2)`` it is UCB1 (Auer et
    al., 2002). An infinite width (an untried action) wins outright.

    Args:
        alpha: Width multiplier >= 0; 0 is greedy.
    """

    name: ClassVar[str] = "ucb"
    alpha: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", check_number("alpha", self.alpha, 0.0))

    @property
    def uses_width(self) -> bool:
        return self.alpha > 0.0

    def scores(self, mean: FloatArray, width: FloatArray | None) -> FloatArray:
        """The optimistic scores; ``mean`` when alpha is 0 (so 0 * inf never appears)."""
        if self.alpha == 0.0:
            return mean
        if width is None:
            raise ValueError("the UCB rule with alpha > 0 needs a width; got None")
        return mean + self.alpha * width

    def probabilities(
        self, mean: FloatArray, width: FloatArray | None, eligible: np.ndarray | None
    ) -> FloatArray:
        return greedy_probabilities(self.scores(mean, width), eligible)

    def sample(
        self,
        mean: FloatArray,
        width: FloatArray | None,
        eligible: np.ndarray | None,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, FloatArray]:
        return greedy_sample(self.scores(mean, width), eligible, rng)


@dataclass(frozen=True)
class ThompsonRule(DecisionRule):
    """Monte-Carlo Gaussian Thompson sampling on per-action scores (Agrawal & Goyal, 2013).

    For a disjoint linear model with posterior ``theta_a ~ N(mu_a, v^2 Sigma_a)``, the score
    ``x' theta_a`` is ``N(x' mu_a, v^2 x' Sigma_a x)``, independently across actions, so
    sampling the scores directly (``mean + v * width * z``, ``z ~ N(0, 1)``) is the same
    distribution as drawing ``theta_a`` through a Cholesky factor and taking ``x' theta_a``,
    at ``n_actions`` normals per draw instead of ``n_actions * d`` and with no
    factorisation (tests/policy/test_thompson_exact.py checks the two against each other).

    The probability that an action wins has no closed form. This rule therefore *defines*
    its action distribution as the win frequencies over ``n_samples`` score draws whose
    standard normals form one fixed matrix, drawn once from a generator seeded with ``seed``
    (common random numbers: the distribution is a deterministic function of the context,
    the same in the agent, its exported policy and the served policy). `sample` then draws
    the action *from that categorical distribution* with the caller's generator, so the
    logged propensity is exactly the probability with which the action was chosen, not an
    estimate of it. The distribution approximates exact Thompson sampling's within about
    ``sqrt(p (1 - p) / n_samples)`` per action; an action that wins none of the draws is
    never played. Draws tie only where widths are 0 (a zero context); ties split the win
    uniformly.

    Args:
        v: Posterior scale > 0 (Agrawal & Goyal's ``v``).
        n_samples: Score draws defining the distribution (>= 1).
        seed: Seed of the fixed matrix of standard normals (>= 0).
    """

    name: ClassVar[str] = "thompson"
    v: float = 1.0
    n_samples: int = 1000
    seed: int = 0
    _noise: dict[int, FloatArray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        v = check_number("v", self.v, 0.0)
        if v == 0.0:
            raise ValueError("v must be > 0; got 0.0")
        object.__setattr__(self, "v", v)
        object.__setattr__(self, "n_samples", check_size("n_samples", self.n_samples, 1))
        object.__setattr__(self, "seed", check_size("seed", self.seed, 0))

    @property
    def uses_width(self) -> bool:
        return True

    def _noise_for(self, n_actions: int) -> np.ndarray:
        noise = self._noise.get(n_actions)
        if noise is None:
            gen = np.random.default_rng(self.seed)
            noise = gen.standard_normal((n_actions, self.n_samples))
            self._noise[n_actions] = noise
        return noise

    def _draws(
        self, mean: FloatArray, width: FloatArray, eligible: np.ndarray | None
    ) -> np.ndarray:
        """The Monte-Carlo score draws ``(n, n_actions, n_samples)``; ineligible at -inf.

        float64, so draws of different actions coincide only where their widths are 0
        (float32 rounding would make chance ties frequent enough to skew the counts).
        """
        noise = self._noise_for(mean.shape[1])
        draws = (self.v * width)[:, :, None] * noise
        draws += mean[:, :, None]
        if eligible is not None:
            draws[~eligible] = -np.inf
        return draws

    def probabilities(
        self, mean: FloatArray, width: FloatArray | None, eligible: np.ndarray | None
    ) -> FloatArray:
        if width is None:
            raise ValueError("the Thompson rule needs a width; got None")
        n, n_actions = mean.shape
        out = np.empty((n, n_actions))
        chunk = max(1, _MC_CHUNK // (self.n_samples * n_actions))
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            elig = None if eligible is None else eligible[lo:hi]
            draws = self._draws(mean[lo:hi], width[lo:hi], elig)
            is_max = draws == draws.max(axis=1, keepdims=True)
            if _tie_free(width[lo:hi], elig):
                wins = np.count_nonzero(is_max, axis=2)
            else:  # equal draws (zero widths, equal means) split the win
                wins = (is_max / is_max.sum(axis=1, keepdims=True)).sum(axis=2)
            out[lo:hi] = wins / self.n_samples
        return out


def _tie_free(width: FloatArray, eligible: np.ndarray | None) -> bool:
    """Whether no two eligible draws can be equal: every eligible width is positive."""
    if width.min() > 0:
        return True
    positive = width > 0
    return bool(positive.all() if eligible is None else (positive | ~eligible).all())


def masked_softmax(
    scores: FloatArray, eligible: np.ndarray | None, temperature: float = 1.0
) -> FloatArray:
    """Row-wise softmax of ``scores / temperature`` over the eligible actions (others 0)."""
    z = np.asarray(scores, dtype=np.float64) / temperature
    if eligible is not None:
        z = np.where(eligible, z, -np.inf)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class SoftmaxRule(DecisionRule):
    """Sample from the softmax of ``score / temperature`` over the eligible actions.

    Boltzmann exploration on Q-values (Sutton & Barto, 2018, §2.8); on an actor's logits
    at temperature 1 it is the actor's own policy.

    Args:
        temperature: > 0; small values approach greedy, large ones uniform.
    """

    name: ClassVar[str] = "softmax"
    temperature: float = 1.0

    def __post_init__(self) -> None:
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, int | float | np.integer | np.floating):
            raise TypeError(f"temperature must be a number; got {t!r}")
        if not (math.isfinite(float(t)) and float(t) > 0.0):
            raise ValueError(f"temperature must be finite and > 0; got {t!r}")
        object.__setattr__(self, "temperature", float(t))

    def probabilities(
        self, mean: FloatArray, width: FloatArray | None, eligible: np.ndarray | None
    ) -> FloatArray:
        return masked_softmax(mean, eligible, self.temperature)

    def sample(
        self,
        mean: FloatArray,
        width: FloatArray | None,
        eligible: np.ndarray | None,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, FloatArray]:
        return sample_categorical(self.probabilities(mean, width, eligible), rng)


RULES: dict[str, type[DecisionRule]] = {
    GreedyRule.name: GreedyRule,
    EpsilonGreedyRule.name: EpsilonGreedyRule,
    UCBRule.name: UCBRule,
    ThompsonRule.name: ThompsonRule,
    SoftmaxRule.name: SoftmaxRule,
}
"""The decision rules by their config name (`alpharl.policy.paced` adds the pacing
wrappers when the package is imported)."""


def rule_from_config(config: DecisionRule | Mapping[str, Any]) -> DecisionRule:
    """Build a rule from ``{"name": ..., **params}`` (or pass a rule through).

    Args:
        config: A `DecisionRule`, or a mapping with ``name`` (one of `RULES`) and the
            rule's parameters, as written by `DecisionRule.to_config`.
    """
    if isinstance(config, DecisionRule):
        return config
    if not isinstance(config, Mapping):
        raise TypeError(f"a decision rule must be a DecisionRule or a mapping; got {config!r}")
    params = dict(config)
    name = params.pop("name", None)
    cls = RULES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown decision rule name {name!r}; expected one of {sorted(RULES)}")
    allowed = {f.name for f in fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"decision rule {name!r} got unknown parameters {unknown}; allowed: {sorted(allowed)}"
        )
    return cls.from_params(params)
