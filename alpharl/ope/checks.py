"""Input checks shared by the logged-feedback dataset and the off-policy estimators.

Each check turns an array-like into a numpy array of the expected shape and dtype, or
raises `alpharl.schema.RecordError` (a `ValueError`) whose message names the field, the
first offending index and its value, e.g. ``pscore[17]: must be in (0, 1] (got 0.0)``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from alpharl.schema import RecordError

SUM_TOLERANCE = 1e-6
"""How far an action distribution's sum over actions may stray from 1."""


def _where(name: str, index: tuple[int, ...] | np.ndarray) -> str:
    idx = tuple(int(i) for i in np.atleast_1d(index))
    return f"{name}[{', '.join(str(i) for i in idx)}]"


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def is_integer(value: Any) -> bool:
    """Whether ``value`` is an integer (Python or numpy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (Python or numpy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= ``minimum``."""
    if not is_integer(value) or int(value) < minimum:
        raise RecordError(name, value, f"must be an integer >= {minimum}")
    return int(value)


def check_float_array(name: str, value: Any, ndim: int) -> np.ndarray:
    """Return ``value`` as a finite float64 array with ``ndim`` dimensions (a copy)."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RecordError(name, value, f"must be numeric ({exc})") from exc
    if array.ndim != ndim:
        raise RecordError(name, array.shape, f"must be a {ndim}-D array")
    bad = ~np.isfinite(array)
    if bad.any():
        index = _first(bad)
        raise RecordError(_where(name, index), float(array[index]), "must be finite")
    return array


def check_int_array(
    name: str, value: Any, low: int = 0, high: int | None = None, high_name: str = ""
) -> np.ndarray:
    """Return ``value`` as a 1-D int64 array with every entry in ``[low, high)`` (a copy).

    Args:
        name: Field name used in error messages.
        value: Array-like of integers (floats holding whole numbers are accepted).
        low: Smallest allowed value.
        high: One past the largest allowed value; None means no upper bound.
        high_name: How ``high`` is named in the error, e.g. ``n_actions``.
    """
    raw = np.asarray(value)
    if raw.ndim != 1:
        raise RecordError(name, raw.shape, "must be a 1-D array")
    if raw.dtype.kind not in "iuf":
        raise RecordError(name, raw.dtype.name, "must hold integers")
    if raw.dtype.kind == "f":
        bad = ~np.isfinite(raw) | (raw != np.round(raw))
        if bad.any():
            i = int(np.argmax(bad))
            raise RecordError(f"{name}[{i}]", float(raw[i]), "must be an integer")
    array = raw.astype(np.int64)
    below = array < low
    if below.any():
        i = int(np.argmax(below))
        raise RecordError(f"{name}[{i}]", int(array[i]), f"must be >= {low}")
    if high is not None:
        above = array >= high
        if above.any():
            i = int(np.argmax(above))
            raise RecordError(
                f"{name}[{i}]", int(array[i]), f"is out of range for {high_name}={high}"
            )
    return array


def check_length(name: str, array: np.ndarray, n_rounds: int) -> None:
    """Raise unless ``array`` has ``n_rounds`` rows."""
    if array.shape[0] != n_rounds:
        raise RecordError(name, array.shape, f"must have {n_rounds} rows, one per round")


def check_pscore(name: str, value: Any) -> np.ndarray:
    """Return propensities as a 1-D float64 array, each in (0, 1]."""
    pscore = check_float_array(name, value, ndim=1)
    bad = (pscore <= 0.0) | (pscore > 1.0)
    if bad.any():
        i = int(np.argmax(bad))
        raise RecordError(f"{name}[{i}]", float(pscore[i]), "must be in (0, 1]")
    return pscore


def check_action_dist(
    action_dist: Any,
    n_rounds: int | None = None,
    n_actions: int | None = None,
    name: str = "action_dist",
) -> np.ndarray:
    """Check an evaluation policy's action distribution in OBP's shape.

    Args:
        action_dist: Probabilities of shape ``(n_rounds, n_actions, len_list)``; for each
            round and position they are non-negative and sum to 1 over actions.
        n_rounds: Expected number of rounds, when known.
        n_actions: Expected number of actions, when known.
        name: Field name used in error messages.

    Returns:
        The distribution as a float64 array.
    """
    dist = check_float_array(name, action_dist, ndim=3)
    if n_rounds is not None and dist.shape[0] != n_rounds:
        raise RecordError(name, dist.shape, f"must have {n_rounds} rounds on axis 0")
    if n_actions is not None and dist.shape[1] != n_actions:
        raise RecordError(name, dist.shape, f"must have n_actions={n_actions} on axis 1")
    if 0 in dist.shape:
        raise RecordError(name, dist.shape, "must not be empty")
    negative = dist < 0.0
    if negative.any():
        index = _first(negative)
        raise RecordError(_where(name, index), float(dist[index]), "must be >= 0")
    sums = dist.sum(axis=1)
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if off.any():
        i, pos = _first(off)
        raise RecordError(
            f"{name}[{i}, :, {pos}]", float(sums[i, pos]), "must sum to 1 over actions"
        )
    return dist


@dataclass(frozen=True)
class OPEInputs:
    """Checked estimator inputs (see `check_ope_inputs`).

    Args:
        reward: Observed rewards, shape ``(n_rounds,)``.
        action: Logged actions, shape ``(n_rounds,)``.
        pscore: Logging-policy propensities of the logged actions, shape ``(n_rounds,)``.
        action_dist: Evaluation policy, shape ``(n_rounds, n_actions, len_list)``.
        position: Positions, shape ``(n_rounds,)`` (zeros when none were given).
        estimated_rewards_by_reg_model: q_hat with the shape of ``action_dist``, or None.
    """

    reward: np.ndarray
    action: np.ndarray
    pscore: np.ndarray
    action_dist: np.ndarray
    position: np.ndarray
    estimated_rewards_by_reg_model: np.ndarray | None

    @property
    def n_rounds(self) -> int:
        """Number of logged rounds."""
        return int(self.reward.shape[0])


def check_ope_inputs(
    reward: Any,
    action: Any,
    pscore: Any,
    action_dist: Any,
    position: Any = None,
    estimated_rewards_by_reg_model: Any = None,
) -> OPEInputs:
    """Check the arrays an estimator receives, each on its own and against each other.

    Args:
        reward: Observed rewards, shape ``(n_rounds,)``, finite.
        action: Logged actions, shape ``(n_rounds,)``, each in ``[0, n_actions)``.
        pscore: Logging-policy propensities, shape ``(n_rounds,)``, each in (0, 1].
        action_dist: Evaluation policy, shape ``(n_rounds, n_actions, len_list)``.
        position: Positions in ``[0, len_list)``, shape ``(n_rounds,)``; None means 0.
        estimated_rewards_by_reg_model: q_hat with the shape of ``action_dist``, or None.
    """
    dist = check_action_dist(action_dist)
    n_rounds, n_actions, len_list = dist.shape
    reward_ = check_float_array("reward", reward, ndim=1)
    check_length("reward", reward_, n_rounds)
    action_ = check_int_array("action", action, 0, n_actions, "n_actions")
    check_length("action", action_, n_rounds)
    pscore_ = check_pscore("pscore", pscore)
    check_length("pscore", pscore_, n_rounds)
    if position is None:
        position_ = np.zeros(n_rounds, dtype=np.int64)
    else:
        position_ = check_int_array("position", position, 0, len_list, "len_list")
        check_length("position", position_, n_rounds)
    q_hat = None
    if estimated_rewards_by_reg_model is not None:
        q_hat = check_float_array(
            "estimated_rewards_by_reg_model", estimated_rewards_by_reg_model, ndim=3
        )
        if q_hat.shape != dist.shape:
            raise RecordError(
                "estimated_rewards_by_reg_model",
                q_hat.shape,
                f"must have the shape of action_dist {dist.shape}",
            )
    return OPEInputs(reward_, action_, pscore_, dist, position_, q_hat)
