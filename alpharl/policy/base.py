"""The inference-policy protocol, its base class, and the input checks every policy shares.

A policy maps a batch of contexts ``(n, d)`` and eligibility masks ``(n, n_actions)`` to
actions and their propensities, and exposes its full action distribution for off-policy
evaluation. Action ``n_actions - 1`` is "no ad" and is always eligible, whatever the mask
says. Evaluation, OPE and serving all talk to this one protocol (STYLE.md §8).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np

import alpharl
from alpharl.policy.artifact import ArtifactError, read_arrays, read_manifest, write_bundle
from alpharl.policy.checks import check_contexts, check_masks, check_size
from alpharl.policy.rules import DecisionRule, rule_from_config

MANIFEST = "policy.json"
ARRAYS = "arrays.npz"
FORMAT_VERSION = 1
"""Version of the ``policy.json`` layout; bumped when a reader could misread an old one."""

RngLike = np.random.Generator | int | None


@runtime_checkable
class Policy(Protocol):
    """What evaluation, OPE and serving need from a policy."""

    n_actions: int
    n_features: int | None

    def decide(
        self, contexts: np.ndarray, masks: np.ndarray | None = None, rng: RngLike = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def action_probabilities(
        self, contexts: np.ndarray, masks: np.ndarray | None = None
    ) -> np.ndarray: ...

    def save(self, directory: str | os.PathLike[str]) -> Path: ...


def as_generator(rng: RngLike) -> np.random.Generator:
    """A numpy Generator from a Generator, a seed, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, int | np.integer) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None; got {rng!r}")


class BasePolicy(ABC):
    """Template for exported policies: checks inputs, applies the rule, saves and loads.

    Subclasses fill one hook, `_scores`, with their reward estimates; the decision rule
    (`alpharl.policy.rules`) turns them into actions and propensities. Saving writes
    ``policy.json`` and ``arrays.npz``; subclasses say what goes in them through
    `_arrays` and `_config` and rebuild themselves in `_from_saved`.

    Args:
        n_actions: Number of actions, the last being "no ad" (>= 2).
        n_features: Context width, or None for a policy that ignores contexts.
        rule: How estimates become decisions; must be stationary and one of the
            subclass's ``supported_rules`` (beneath a pacing wrapper, if any).
    """

    kind: ClassVar[str]
    supported_rules: ClassVar[tuple[type[DecisionRule], ...]]

    def __init__(self, n_actions: int, n_features: int | None, rule: DecisionRule) -> None:
        self.n_actions = check_size("n_actions", n_actions, 2)
        self.n_features = None if n_features is None else check_size("n_features", n_features, 1)
        if not isinstance(rule.base, self.supported_rules):
            names = [r.name for r in self.supported_rules]
            raise ValueError(f"{type(self).__name__} supports rules {names}; got {rule!r}")
        if not rule.stationary:
            raise ValueError(f"a policy's rule must not decay; got {rule!r}")
        self.rule = rule
        self._default_rng: np.random.Generator | None = None

    def decide(
        self, contexts: np.ndarray, masks: np.ndarray | None = None, rng: RngLike = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Choose an action per context.

        Args:
            contexts: ``(n, n_features)`` float array.
            masks: ``(n, n_actions)`` bool eligibility, or None for all eligible.
            rng: Generator or seed for the policy's randomness; None uses the policy's own
                generator (seeded from fresh entropy once).

        Returns:
            ``(actions int64 (n,), propensities float64 (n,))``: each propensity is the
            chosen action's probability under `action_probabilities`.
        """
        x = check_contexts(contexts, self.n_features)
        eligible = check_masks(masks, x.shape[0], self.n_actions)
        if rng is None:
            if self._default_rng is None:
                self._default_rng = np.random.default_rng()
            gen = self._default_rng
        else:
            gen = as_generator(rng)
        mean, width = self._scores(x, self.rule.uses_width)
        actions, props = self.rule.sample(mean, width, eligible, gen)
        return actions.astype(np.int64, copy=False), props

    def action_probabilities(
        self, contexts: np.ndarray, masks: np.ndarray | None = None
    ) -> np.ndarray:
        """The action distribution per context, ``(n, n_actions)`` float64 (rows sum to 1)."""
        x = check_contexts(contexts, self.n_features)
        eligible = check_masks(masks, x.shape[0], self.n_actions)
        mean, width = self._scores(x, self.rule.uses_width)
        return self.rule.probabilities(mean, width, eligible)

    @abstractmethod
    def _scores(self, x: np.ndarray, with_width: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Estimated reward ``(n, n_actions)`` and, if asked, its width (else None)."""

    @abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]:
        """The arrays to save."""

    def _config(self) -> dict[str, Any]:
        """Extra hyperparameters to save (JSON types); the rule is saved separately."""
        return {}

    @classmethod
    @abstractmethod
    def _from_saved(
        cls, manifest: Mapping[str, Any], rule: DecisionRule, arrays: Mapping[str, np.ndarray]
    ) -> Self:
        """Rebuild from a manifest, its rule and its arrays."""

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``policy.json`` and ``arrays.npz`` into ``directory``; return the folder."""
        manifest = {
            "kind": self.kind,
            "version": FORMAT_VERSION,
            "n_actions": self.n_actions,
            "n_features": self.n_features,
            "rule": self.rule.to_config(),
            "config": self._config(),
            "alpharl_version": alpharl.__version__,
        }
        return write_bundle(
            directory, manifest, self._arrays(), manifest_name=MANIFEST, arrays_name=ARRAYS
        )

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Self:
        """Load a policy of this class saved by `save`."""
        manifest = read_policy_manifest(directory)
        if manifest["kind"] != cls.kind:
            raise ArtifactError(
                f"{Path(directory) / MANIFEST}: kind is {manifest['kind']!r}, "
                f"not {cls.kind!r}; use alpharl.policy.load_policy to load any kind"
            )
        return cls.from_manifest(directory, manifest)

    @classmethod
    def from_manifest(cls, directory: str | os.PathLike[str], manifest: Mapping[str, Any]) -> Self:
        """Load the rest of a saved policy whose manifest has already been read."""
        path = Path(directory) / MANIFEST
        try:
            rule = rule_from_config(manifest["rule"])
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"{path}: bad 'rule': {exc}") from exc
        arrays = read_arrays(directory, manifest, ARRAYS)
        try:
            policy = cls._from_saved(manifest, rule, arrays)
        except (TypeError, ValueError, KeyError) as exc:
            raise ArtifactError(f"{path}: inconsistent policy: {exc}") from exc
        found = (policy.n_actions, policy.n_features)
        if found != (manifest["n_actions"], manifest["n_features"]):
            raise ArtifactError(
                f"{path}: declares (n_actions, n_features)="
                f"{(manifest['n_actions'], manifest['n_features'])}, the arrays give {found}"
            )
        return policy


def read_policy_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``policy.json`` and check its format version."""
    manifest = read_manifest(
        directory, MANIFEST, ("kind", "version", "n_actions", "n_features", "rule", "config")
    )
    if manifest["version"] != FORMAT_VERSION:
        raise ArtifactError(
            f"{Path(directory) / MANIFEST}: format version {manifest['version']!r} is not "
            f"supported (this alpharl reads version {FORMAT_VERSION})"
        )
    return manifest
