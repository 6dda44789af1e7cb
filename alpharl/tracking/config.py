"""Turn a run's configuration into what MLflow stores: a YAML document and flat params.

A resolved Hydra config (or any nested mapping or dataclass) is logged twice: whole, as
the ``config.yaml`` artifact that reproduces the run, and flattened into dotted params
(``agent.algo_kwargs.learning_rate``) that the UI can filter and compare. MLflow limits
param keys to 250 characters, values to 6000 and a batch to 100 params; `mlflow_params`
applies those limits so logging a large config never fails halfway.

This module does not import MLflow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

# MLflow's limits (mlflow.utils.validation); checked against MLflow by the tests.
MAX_PARAM_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_TAG_VALUE_LENGTH = 8000

TRUNCATION_MARK = "...[truncated]"
_BAD_KEY_CHARS = re.compile(r"[^\w./\- :]")


def to_container(config: Any) -> Any:
    """Plain Python containers for a config: OmegaConf nodes resolved, dataclasses as dicts.

    Args:
        config: A mapping, sequence, dataclass instance, OmegaConf container or scalar.
    """
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    else:
        if isinstance(config, DictConfig | ListConfig):
            return OmegaConf.to_container(config, resolve=True)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_container(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return {str(k): to_container(v) for k, v in config.items()}
    if isinstance(config, list | tuple):
        return [to_container(v) for v in config]
    return config


def _is_scalar_list(value: Sequence[Any]) -> bool:
    return all(not isinstance(v, Mapping | list | tuple) for v in value)


def flatten_config(config: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a nested config into dotted keys.

    Mappings recurse (``a.b.c``); lists of scalars stay one value (``[64, 64]``); lists
    holding mappings or lists recurse with the index as key (``layers.0.units``).

    Args:
        config: A mapping or anything `to_container` accepts that yields a mapping.
        prefix: Prepended to every key (with a dot).

    Raises:
        TypeError: If the config is not a mapping.
    """
    container = to_container(config)
    if not isinstance(container, Mapping):
        raise TypeError(f"config: must be a mapping (got {type(container).__name__})")
    out: dict[str, Any] = {}

    def walk(node: Any, key: str) -> None:
        if isinstance(node, Mapping):
            if not node and key:
                out[key] = {}
            for k, v in node.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(node, list | tuple) and not _is_scalar_list(node):
            for i, v in enumerate(node):
                walk(v, f"{key}.{i}" if key else str(i))
        else:
            out[key] = list(node) if isinstance(node, tuple) else node

    walk(container, prefix)
    return out


def is_valid_key(key: str) -> bool:
    """Whether MLflow accepts ``key`` as a param or metric name.

    Allowed: letters, digits, ``_ . / - :`` and spaces, and the key must be its own
    normalised path (no ``//``, no leading ``/`` or ``..``, not ``.``).
    """
    if not key or _BAD_KEY_CHARS.search(key):
        return False
    norm = posixpath.normpath(key)
    return norm == key and norm != "." and not norm.startswith(("..", "/"))


def clean_key(key: str) -> str:
    """``key`` made acceptable to MLflow: bad characters become ``_``, long keys are cut.

    A key longer than 250 characters keeps its first 241 and ends in ``-`` plus 8 hex
    digits of a hash of the full key, so two long keys stay distinct.
    """
    clean = _BAD_KEY_CHARS.sub("_", key) or "_"
    if not is_valid_key(clean):
        clean = clean.replace("/", "_").lstrip(".") or "_"
    if len(clean) <= MAX_PARAM_KEY_LENGTH:
        return clean
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    return clean[: MAX_PARAM_KEY_LENGTH - 9] + "-" + digest


def _as_text(value: Any, limit: int) -> str:
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[: limit - len(TRUNCATION_MARK)] + TRUNCATION_MARK
    return text


def mlflow_params(flat: Mapping[str, Any]) -> dict[str, str]:
    """Flat params as MLflow accepts them: clean keys within 250 chars, values within 6000.

    Characters MLflow rejects in a key become ``_``; an over-long key is cut and ends in a
    short hash of the full key, so two long keys never collide. Over-long values are cut
    and end in ``...[truncated]`` (the whole config is in ``config.yaml``).

    Args:
        flat: Dotted key -> value, e.g. from `flatten_config`.

    Raises:
        ValueError: If two keys clean to the same MLflow key.
    """
    out: dict[str, str] = {}
    origin: dict[str, str] = {}
    for key, value in flat.items():
        clean = clean_key(str(key))
        if clean in origin:
            raise ValueError(f"param key {key!r}: becomes {clean!r}, the same as {origin[clean]!r}")
        origin[clean] = str(key)
        out[clean] = _as_text(value, MAX_PARAM_VALUE_LENGTH)
    return out


def truncate_tag(value: Any) -> str:
    """A tag value as a string within MLflow's 8000-character limit."""
    return _as_text(value, MAX_TAG_VALUE_LENGTH)


def config_yaml(config: Any) -> str:
    """The config as a YAML document (keys in their original order).

    Args:
        config: Anything `to_container` accepts.
    """
    container = to_container(config)
    return yaml.safe_dump(_yaml_safe(container), sort_keys=False, allow_unicode=True)


def _yaml_safe(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _yaml_safe(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_yaml_safe(v) for v in node]
    if node is None or isinstance(node, str | bool | int | float):
        return node
    item = getattr(node, "item", None)  # numpy scalars
    if callable(item):
        value = item()
        if isinstance(value, str | bool | int | float):
            return value
    return str(node)
