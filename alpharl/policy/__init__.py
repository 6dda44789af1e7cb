"""Exported inference policies: ``decide(contexts, masks) -> (actions, propensities)``.

A saved policy is a folder with ``policy.json`` (``kind``, format ``version``, shapes,
hyperparameters) and its arrays. `load_policy` reads any kind. Loading needs numpy only
(torch for the neural ``qnetwork`` and ``actor`` kinds); it never imports
stable-baselines3 or ``agents``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from alpharl.policy.artifact import ArtifactError
from alpharl.policy.base import MANIFEST, BasePolicy, Policy, read_policy_manifest
from alpharl.policy.linear import LinearPolicy, ThompsonPolicy
from alpharl.policy.paced import ShadowPriceRule, ThrottleRule
from alpharl.policy.rules import (
    DecisionRule,
    EpsilonGreedyRule,
    GreedyRule,
    ThompsonRule,
    UCBRule,
    rule_from_config,
)
from alpharl.policy.tabular import RandomPolicy, TabularPolicy

POLICY_KINDS: dict[str, type[BasePolicy]] = {
    LinearPolicy.kind: LinearPolicy,
    ThompsonPolicy.kind: ThompsonPolicy,
    TabularPolicy.kind: TabularPolicy,
    RandomPolicy.kind: RandomPolicy,
}
"""The numpy-only policy classes by the ``kind`` their ``policy.json`` records."""

LAZY_POLICY_KINDS: dict[str, tuple[str, str]] = {
    "qnetwork": ("alpharl.policy.qnetwork", "QNetworkPolicy"),
    "actor": ("alpharl.policy.qnetwork", "ActorPolicy"),
}
"""Kinds whose module is imported only when such a policy is loaded (it needs torch)."""


def policy_class(kind: str) -> type[BasePolicy]:
    """The class that loads policies of ``kind``, importing it lazily where needed."""
    if kind in POLICY_KINDS:
        return POLICY_KINDS[kind]
    if kind not in LAZY_POLICY_KINDS:
        known = sorted([*POLICY_KINDS, *LAZY_POLICY_KINDS])
        raise ValueError(f"unknown policy kind {kind!r}; expected one of {known}")
    module_name, attr = LAZY_POLICY_KINDS[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"policy kind {kind!r} needs the module {module_name}, which cannot be imported: {exc}"
        ) from exc
    cls: type[BasePolicy] | None = getattr(module, attr, None)
    if cls is None:
        raise ImportError(f"policy kind {kind!r}: {module_name} has no {attr}")
    return cls


def load_policy(directory: str | os.PathLike[str]) -> BasePolicy:
    """Load a policy saved by any policy's ``save``, dispatching on its ``kind``.

    Args:
        directory: The folder holding ``policy.json`` and the policy's arrays.

    Raises:
        ArtifactError: A file is missing, corrupt or inconsistent (the message names it),
            or the recorded kind cannot be loaded here.
    """
    manifest = read_policy_manifest(directory)
    kind = manifest["kind"]
    try:
        cls = policy_class(kind) if isinstance(kind, str) else policy_class(repr(kind))
    except (ValueError, ImportError) as exc:
        raise ArtifactError(f"{Path(directory) / MANIFEST}: {exc}") from exc
    return cls.from_manifest(directory, manifest)


__all__ = [
    "LAZY_POLICY_KINDS",
    "POLICY_KINDS",
    "ArtifactError",
    "BasePolicy",
    "DecisionRule",
    "EpsilonGreedyRule",
    "GreedyRule",
    "LinearPolicy",
    "Policy",
    "RandomPolicy",
    "ShadowPriceRule",
    "TabularPolicy",
    "ThompsonPolicy",
    "ThompsonRule",
    "ThrottleRule",
    "UCBRule",
    "load_policy",
    "policy_class",
    "rule_from_config",
]
