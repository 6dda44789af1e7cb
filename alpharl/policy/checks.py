"""Input checks shared by policies and agents; each error names the argument and value."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def check_number(name: str, value: Any, low: float, high: float = math.inf) -> float:
    """A real-number hyperparameter, finite and within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number; got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and low <= value <= high):
        bounds = f"[{low}, {high}]" if math.isfinite(high) else f">= {low}"
        raise ValueError(f"{name} must be finite and {bounds}; got {value!r}")
    return value


def check_size(name: str, value: Any, low: int) -> int:
    """An integer hyperparameter such as ``n_actions``, at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def check_matrix(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A finite float64 array of exactly ``shape``; errors name the argument."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has non-finite entries")
    return arr


def check_contexts(contexts: Any, n_features: int | None, name: str = "contexts") -> np.ndarray:
    """A finite float64 ``(n, d)`` array, with ``d == n_features`` unless that is None.

    Args:
        contexts: The batch to check.
        n_features: Required width, or None to accept any.
        name: Argument name used in error messages.
    """
    x = np.asarray(contexts)
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a numeric array; got dtype {x.dtype}")
    if x.ndim != 2 or (n_features is not None and x.shape[1] != n_features):
        want = f"(n, {n_features})" if n_features is not None else "(n, d)"
        raise ValueError(f"{name} must have shape {want}; got {x.shape}")
    x = x.astype(np.float64, copy=False)
    if not np.isfinite(x).all():
        rows = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise ValueError(f"{name} has non-finite values in rows {rows[:10].tolist()}")
    return x


def check_masks(masks: Any, n: int, n_actions: int, name: str = "masks") -> np.ndarray | None:
    """A bool ``(n, n_actions)`` array whose last column ("no ad") is True, or None.

    Integer 0/1 masks are accepted (Gymnasium's ``Discrete.sample(mask=...)`` uses int8).
    The last action is always eligible: a False there is overridden on a copy.

    Args:
        masks: The masks to check, or None for "every action eligible".
        n: Number of context rows.
        n_actions: Number of actions.
        name: Argument name used in error messages.
    """
    if masks is None:
        return None
    m = np.asarray(masks)
    if m.shape != (n, n_actions):
        raise ValueError(f"{name} must have shape (n, n_actions)={(n, n_actions)}; got {m.shape}")
    if m.dtype != np.bool_:
        if m.dtype.kind not in "iu" or ((m != 0) & (m != 1)).any():
            raise TypeError(f"{name} must be a bool (or 0/1 integer) array; got dtype {m.dtype}")
        m = m.astype(np.bool_)
    if not m[:, -1].all():
        m = m.copy()
        m[:, -1] = True
    return m
