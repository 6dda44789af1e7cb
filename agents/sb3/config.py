"""The SB3 agents' plain-config side: algorithm lookup and its keyword arguments.

Configs name algorithms (``"DQN"`` or ``"module:Class"``), activations (``"relu"``) and
classes (``"module:Class"`` for any ``*_class`` argument) as strings; this module turns
them into the objects SB3 wants and back into JSON for ``agent.json``. A misspelt
argument fails when the agent is built, naming the key and the accepted ones.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np
import stable_baselines3
from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

from alpharl.policy.qnetwork import ACTIVATIONS, activation_name

ALGORITHMS: tuple[str, ...] = tuple(
    sorted(
        name
        for name in stable_baselines3.__all__
        if isinstance(getattr(stable_baselines3, name), type)
        and issubclass(getattr(stable_baselines3, name), BaseAlgorithm)
    )
)
"""Algorithms by name: those `stable_baselines3` exports (its namespace is the lookup, no
table of ours); any other `BaseAlgorithm` subclass may be given as a class or path."""

RESERVED_KWARGS = ("policy", "env", "seed", "device", "verbose", "_init_setup_model")
"""Algorithm arguments the agents set themselves."""


def import_class(field: str, path: str) -> type:
    """The class at ``module:Class`` (or ``module.Class``); errors name ``field``."""
    module, _, name = path.replace(":", ".").rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"{field}: cannot import {path!r} ({exc})") from exc
    if not isinstance(cls, type):
        raise ValueError(f"{field}: {path!r} is not a class")
    return cls


def resolve_algorithm(algo: str | type[BaseAlgorithm]) -> type[BaseAlgorithm]:
    """An algorithm class from a name in `ALGORITHMS`, a ``module:Class`` path, or a class."""
    if isinstance(algo, str) and algo in ALGORITHMS:
        cls: Any = getattr(stable_baselines3, algo)
        return cls
    if isinstance(algo, str) and (":" in algo or "." in algo):
        cls = import_class("algo", algo)
    elif isinstance(algo, type):
        cls = algo
    else:
        raise ValueError(
            f"algo: must be one of {sorted(ALGORITHMS)} or 'module:Class'; got {algo!r}"
        )
    if not issubclass(cls, BaseAlgorithm):
        raise ValueError(f"algo: {algo!r} is not a stable_baselines3 BaseAlgorithm subclass")
    return cls


def algorithm_name(cls: type[BaseAlgorithm]) -> str:
    """The name `resolve_algorithm` maps back to ``cls``."""
    if cls.__name__ in ALGORITHMS and getattr(stable_baselines3, cls.__name__) is cls:
        return cls.__name__
    return f"{cls.__module__}:{cls.__qualname__}"


def check_algo_kwargs(algo: type[BaseAlgorithm], kwargs: Mapping[str, Any]) -> None:
    """Fail on a keyword the algorithm does not take, or one `SB3Agent` sets itself."""
    params = inspect.signature(algo.__init__).parameters
    for key in kwargs:
        if key in RESERVED_KWARGS:
            raise ValueError(f"algo_kwargs.{key}: set by SB3Agent; use its own argument")
        if key not in params:
            accepted = sorted(p for p in params if p not in ("self", "kwargs", *RESERVED_KWARGS))
            raise ValueError(
                f"algo_kwargs.{key}: not an argument of {algo.__name__}; accepted: {accepted}"
            )


def _resolve_classes(kwargs: dict[str, Any], prefix: str) -> dict[str, Any]:
    for key, value in list(kwargs.items()):
        if key.endswith("_class") and isinstance(value, str):
            kwargs[key] = import_class(f"{prefix}.{key}", value)
    return kwargs


def resolve_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Algorithm kwargs as SB3 wants them: activations, ``*_class`` paths, tuple train_freq."""
    out = _resolve_classes(dict(kwargs), "algo_kwargs")
    if isinstance(out.get("train_freq"), list):  # configs carry tuples as lists
        out["train_freq"] = tuple(out["train_freq"])
    pk = out.get("policy_kwargs")
    if isinstance(pk, Mapping):
        pk = _resolve_classes(dict(pk), "algo_kwargs.policy_kwargs")
        act = pk.get("activation_fn")
        if isinstance(act, str):
            pk["activation_fn"] = ACTIVATIONS.get(act) or import_class(
                "algo_kwargs.policy_kwargs.activation_fn", act
            )
        out["policy_kwargs"] = pk
    return out


def to_json(value: Any) -> Any:
    """``value`` with classes as names/paths, tuples as lists, numpy scalars as numbers."""
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, type):
        if issubclass(value, nn.Module) and value in ACTIVATIONS.values():
            return activation_name(value)
        return f"{value.__module__}:{value.__qualname__}"
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"algo_kwargs: {value!r} cannot be saved in agent.json")
