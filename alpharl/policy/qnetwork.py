"""Exported neural policies: a DQN Q-network or an actor's logits as a plain torch MLP.

A trained SB3 network is copied into a plain `torch.nn.Sequential` of ``Linear`` layers
with one activation between them, so loading needs torch and numpy only, never
stable_baselines3 or ``agents``. Two kinds share the code:

- ``qnetwork`` (`QNetworkPolicy`): scores are Q-values (Mnih et al., 2015), decided
  greedily, epsilon-greedily, or by a softmax over ``Q / temperature`` (Boltzmann
  exploration, Sutton & Barto, 2018, §2.8 / §13.1).
- ``actor`` (`ActorPolicy`): scores are a policy-gradient actor's logits (PPO, A2C);
  the softmax rule at temperature 1 is the actor's own action distribution, restricted
  to the eligible actions and renormalised.

Ineligible actions get a score of -inf before any rule sees them, so they are never
chosen and have probability 0. The bundle is ``policy.json`` (kind, layer sizes,
activation, rule) and ``weights.pt``, a ``state_dict`` of tensors written by `torch.save`
and read with ``weights_only=True`` (no pickled code runs at load). ``arrays.npz`` is
present but empty.

Inference runs under `torch.inference_mode` on the CPU; building a policy sets torch to
one intra-op thread (``num_threads``) because on small nets extra threads only contend.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import torch
from torch import nn

from alpharl.policy.artifact import ArtifactError, read_arrays
from alpharl.policy.base import ARRAYS, MANIFEST, BasePolicy, read_policy_manifest
from alpharl.policy.rules import (
    DecisionRule,
    EpsilonGreedyRule,
    FloatArray,
    GreedyRule,
    SoftmaxRule,
    rule_from_config,
)

WEIGHTS = "weights.pt"

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
}
"""Activation names as saved in ``policy.json``; SB3's DQN uses relu, PPO/A2C tanh."""


def activation_name(module: nn.Module | type[nn.Module]) -> str:
    """The `ACTIVATIONS` name of an activation module or class.

    Raises:
        ValueError: For an activation not in `ACTIVATIONS`.
    """
    cls = module if isinstance(module, type) else type(module)
    for name, known in ACTIVATIONS.items():
        if cls is known:
            return name
    raise ValueError(f"activation: {cls.__name__} is not one of {sorted(ACTIVATIONS)}")


def check_layer_sizes(layer_sizes: Any) -> tuple[int, ...]:
    """``(n_features, hidden..., n_actions)``: at least two positive integers."""
    if not isinstance(layer_sizes, Sequence) or isinstance(layer_sizes, str):
        raise ValueError(f"layer_sizes: must be a sequence of integers (got {layer_sizes!r})")
    sizes = tuple(layer_sizes)
    if len(sizes) < 2 or any(
        isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1 for s in sizes
    ):
        raise ValueError(
            f"layer_sizes: must be >= 2 positive integers (inputs, hidden..., actions); "
            f"got {layer_sizes!r}"
        )
    return tuple(int(s) for s in sizes)


def build_mlp(layer_sizes: Sequence[int], activation: str = "relu") -> nn.Sequential:
    """``Linear, act, Linear, act, ..., Linear``: the layout of SB3's MLPs, no final act.

    Args:
        layer_sizes: ``(n_inputs, hidden..., n_outputs)``.
        activation: A key of `ACTIVATIONS`.
    """
    sizes = check_layer_sizes(layer_sizes)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation: must be one of {sorted(ACTIVATIONS)} (got {activation!r})")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if i > 0:
            layers.append(ACTIVATIONS[activation]())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def mlp_state_from_modules(
    modules: Sequence[nn.Module],
) -> tuple[list[int], str, dict[str, torch.Tensor]]:
    """Layer sizes, activation and a `build_mlp`-keyed state_dict copied from a layer list.

    Used to export trained networks (e.g. SB3's ``q_net``, or an actor's ``policy_net``
    followed by its ``action_net``) into the plain MLP.

    Args:
        modules: ``Linear, act, Linear, ..., Linear`` with one activation kind.

    Raises:
        TypeError: If the modules are not linear layers separated by one activation kind.
    """
    mods = list(modules)
    linears = [m for m in mods if isinstance(m, nn.Linear)]
    acts = [m for m in mods if not isinstance(m, nn.Linear)]
    alternating = all(isinstance(m, nn.Linear) == (i % 2 == 0) for i, m in enumerate(mods))
    if not linears or not alternating or len(mods) % 2 == 0 or len({type(a) for a in acts}) > 1:
        raise TypeError(f"network: expected Linear layers with one activation between; got {mods}")
    activation = activation_name(acts[0]) if acts else "relu"
    sizes = [linears[0].in_features] + [m.out_features for m in linears]
    state: dict[str, torch.Tensor] = {}
    for i, layer in enumerate(linears):
        if layer.bias is None:
            raise TypeError(f"network: layer {i} has no bias; the plain MLP needs one")
        state[f"{2 * i}.weight"] = layer.weight.detach().to("cpu", torch.float32).clone()
        state[f"{2 * i}.bias"] = layer.bias.detach().to("cpu", torch.float32).clone()
    return sizes, activation, state


class MLPPolicy(BasePolicy):
    """Shared code of `QNetworkPolicy` and `ActorPolicy`: a torch MLP scoring each action.

    Args:
        layer_sizes: ``(n_features, hidden..., n_actions)``.
        activation: A key of `ACTIVATIONS`, used between the linear layers.
        state_dict: Weights for `build_mlp(layer_sizes, activation)` (keys ``0.weight``,
            ``0.bias``, ``2.weight``, ...); None keeps torch's random initialisation.
        rule: How scores become decisions (a rule or its config mapping).
        num_threads: Set `torch.set_num_threads` to this; None leaves torch as it is.
    """

    default_rule: ClassVar[DecisionRule] = GreedyRule()

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "relu",
        state_dict: Mapping[str, torch.Tensor] | None = None,
        rule: DecisionRule | Mapping[str, Any] | None = None,
        num_threads: int | None = 1,
    ) -> None:
        sizes = check_layer_sizes(layer_sizes)
        super().__init__(
            sizes[-1], sizes[0], rule_from_config(rule) if rule is not None else self.default_rule
        )
        if num_threads is not None:
            if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
                raise ValueError(f"num_threads: must be an integer >= 1 (got {num_threads!r})")
            if torch.get_num_threads() != num_threads:
                torch.set_num_threads(num_threads)
        self.layer_sizes = sizes
        self.activation = activation
        self.network = build_mlp(sizes, activation)
        if state_dict is not None:
            self._load_weights(state_dict)
        self.network.eval()
        self.network.requires_grad_(False)

    def _load_weights(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        expected = self.network.state_dict()
        if set(state_dict) != set(expected):
            raise ValueError(
                f"state_dict: keys {sorted(state_dict)} do not match the network's "
                f"{sorted(expected)} for layer_sizes {list(self.layer_sizes)}"
            )
        for key, value in state_dict.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"state_dict[{key!r}]: must be a tensor (got {type(value)})")
            if tuple(value.shape) != tuple(expected[key].shape):
                raise ValueError(
                    f"state_dict[{key!r}]: shape {tuple(value.shape)}, "
                    f"expected {tuple(expected[key].shape)}"
                )
            if not torch.isfinite(value).all():
                raise ValueError(f"state_dict[{key!r}]: has non-finite values")
        self.network.load_state_dict(
            {k: v.detach().to("cpu", torch.float32) for k, v in state_dict.items()}
        )

    def scores(self, contexts: np.ndarray) -> FloatArray:
        """The network's outputs ``(n, n_actions)`` float64 for float contexts ``(n, d)``."""
        x = np.ascontiguousarray(contexts, dtype=np.float32)
        with torch.inference_mode():
            out = self.network(torch.from_numpy(x))
        return out.numpy().astype(np.float64)

    def _scores(self, x: np.ndarray, with_width: bool) -> tuple[np.ndarray, np.ndarray | None]:
        return self.scores(x), None

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _config(self) -> dict[str, Any]:
        return {
            "layer_sizes": list(self.layer_sizes),
            "activation": self.activation,
            "weights": WEIGHTS,
        }

    def state_dict(self) -> dict[str, torch.Tensor]:
        """A copy of the network's weights."""
        return {k: v.detach().clone() for k, v in self.network.state_dict().items()}

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``weights.pt``, ``arrays.npz`` and (last) ``policy.json``; return the folder."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / f".{WEIGHTS}.tmp"
        torch.save(self.state_dict(), tmp)
        tmp.replace(out / WEIGHTS)
        return super().save(out)

    @classmethod
    def _from_saved(
        cls, manifest: Mapping[str, Any], rule: DecisionRule, arrays: Mapping[str, np.ndarray]
    ) -> Self:
        """Build from the manifest's config and the weights (as arrays keyed like a state_dict)."""
        config = manifest["config"]
        state = {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}
        return cls(config["layer_sizes"], str(config.get("activation", "relu")), state, rule)

    @classmethod
    def from_manifest(cls, directory: str | os.PathLike[str], manifest: Mapping[str, Any]) -> Self:
        """Load a saved MLP policy whose ``policy.json`` has been read."""
        path = Path(directory) / MANIFEST
        if manifest.get("kind") != cls.kind:
            raise ArtifactError(f"{path}: kind is {manifest.get('kind')!r}, not {cls.kind!r}")
        try:
            rule = rule_from_config(manifest["rule"])
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"{path}: bad 'rule': {exc}") from exc
        read_arrays(directory, manifest, ARRAYS)  # checks the (empty) arrays bundle
        config = manifest.get("config")
        if not isinstance(config, Mapping) or "layer_sizes" not in config:
            raise ArtifactError(f"{path}: 'config' must hold layer_sizes and activation")
        weights = Path(directory) / str(config.get("weights", WEIGHTS))
        if not weights.is_file():
            raise ArtifactError(f"{weights}: file not found")
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several unrelated types for bad files
            raise ArtifactError(f"{weights}: cannot read weights: {exc}") from exc
        if not isinstance(state, Mapping) or not all(
            isinstance(v, torch.Tensor) for v in state.values()
        ):
            raise ArtifactError(f"{weights}: expected a state_dict of tensors")
        try:
            policy = cls._from_saved(manifest, rule, {k: v.numpy() for k, v in state.items()})
        except (TypeError, ValueError, KeyError) as exc:
            raise ArtifactError(f"{path}: inconsistent policy: {exc}") from exc
        if (policy.n_actions, policy.n_features) != (
            manifest["n_actions"],
            manifest["n_features"],
        ):
            raise ArtifactError(
                f"{path}: n_actions/n_features {manifest['n_actions']}/{manifest['n_features']} "
                f"do not match layer_sizes {list(policy.layer_sizes)}"
            )
        return policy

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Self:
        """Load a policy of this class saved by `save`."""
        return cls.from_manifest(directory, read_policy_manifest(directory))


class QNetworkPolicy(MLPPolicy):
    """A DQN Q-network (Mnih et al., 2015) as a plain MLP; scores are Q-values.

    Rules: `GreedyRule` (default), `EpsilonGreedyRule` (with probability epsilon a uniform
    eligible action: the greedy action's propensity is ``1 - eps + eps / n_eligible``), or
    `SoftmaxRule` (Boltzmann over ``Q / temperature``).

    Args: as `MLPPolicy`.
    """

    kind = "qnetwork"
    supported_rules = (GreedyRule, EpsilonGreedyRule, SoftmaxRule)

    def q_values(self, contexts: np.ndarray) -> FloatArray:
        """Q-values ``(n, n_actions)`` float64 (unmasked)."""
        return self.scores(contexts)


class ActorPolicy(MLPPolicy):
    """A policy-gradient actor (PPO, A2C) as a plain MLP; scores are action logits.

    Rules: `SoftmaxRule` (default, temperature 1: the actor's distribution renormalised
    over the eligible actions) or `GreedyRule` (its mode).

    Args: as `MLPPolicy`; ``activation`` defaults to tanh, SB3's for PPO/A2C.
    """

    kind = "actor"
    supported_rules = (SoftmaxRule, GreedyRule)
    default_rule: ClassVar[DecisionRule] = SoftmaxRule(1.0)

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "tanh",
        state_dict: Mapping[str, torch.Tensor] | None = None,
        rule: DecisionRule | Mapping[str, Any] | None = None,
        num_threads: int | None = 1,
    ) -> None:
        super().__init__(layer_sizes, activation, state_dict, rule, num_threads)

    def logits(self, contexts: np.ndarray) -> FloatArray:
        """Action logits ``(n, n_actions)`` float64 (unmasked)."""
        return self.scores(contexts)
