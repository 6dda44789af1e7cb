"""Logged bandit feedback: the checked data contract every off-policy estimate starts from.

`LoggedBanditFeedback` holds what a logging (behaviour) policy saw, did and got: the
context, the action it took, the reward that followed and the probability it had of
taking that action (the propensity score). Its fields and `to_dict` follow the Open Bandit
Pipeline's ``bandit_feedback`` (Saito et al., "Open Bandit Dataset and Pipeline", 2020),
so results can be compared with OBP's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from alpharl.ope.checks import (
    check_float_array,
    check_int_array,
    check_length,
    check_positive_int,
    check_pscore,
    is_integer,
    is_real,
)
from alpharl.schema import RecordError

OBD_REQUIRED_COLUMNS: tuple[str, ...] = ("item_id", "position", "click", "propensity_score")
"""Columns an Open Bandit Dataset CSV must have (``timestamp`` is read past if present)."""


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False, kw_only=True)
class LoggedBanditFeedback:
    """Logged bandit feedback of a logging policy, checked on construction.

    Arrays are copied and made read-only. Every violation raises
    `alpharl.schema.RecordError` (a `ValueError`) naming the field, the first offending
    index and its value, e.g. ``pscore[17]: must be in (0, 1] (got 0.0)``.

    Args:
        context: Context of each round, shape ``(n_rounds, dim_context)``, finite floats.
        action: Logged action of each round, shape ``(n_rounds,)``, in ``[0, n_actions)``.
        reward: Observed reward of each round, shape ``(n_rounds,)``, finite.
        pscore: Logging-policy probability of the logged action, shape ``(n_rounds,)``,
            each in (0, 1].
        n_actions: Number of actions.
        position: Slot of each round in a ranked list, shape ``(n_rounds,)``; None (the
            default) means every round is at position 0.
        len_list: Number of positions; None (the default) means ``max(position) + 1``.
        policy_version: Version of the logging policy that made each decision, shape
            ``(n_rounds,)`` of strings, or None.
        action_context: Features of each action, shape ``(n_actions, dim_action_context)``,
            or None.
        context_names: Name of each context column, or None.
        n_excluded: Rows of the source that were left out because their reward had not
            arrived yet (see `from_decision_log`); 0 for other sources. Splits keep it.
        action_mask: Which actions were eligible in each round, shape
            ``(n_rounds, n_actions)`` bool, or None when every action always was. An
            evaluation policy is scored on the same eligibility (its action distribution
            should come from ``action_probabilities(context, action_mask)``); each logged
            action must be eligible in its round.
    """

    context: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    pscore: np.ndarray
    n_actions: int
    position: np.ndarray = None  # type: ignore[assignment]  # None -> zeros
    len_list: int = None  # type: ignore[assignment]  # None -> max(position) + 1
    policy_version: np.ndarray | None = None
    action_context: np.ndarray | None = None
    context_names: tuple[str, ...] | None = None
    n_excluded: int = 0
    action_mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        n_actions = check_positive_int("n_actions", self.n_actions)
        context = check_float_array("context", self.context, ndim=2)
        n = context.shape[0]
        if n == 0:
            raise RecordError("context", context.shape, "must have at least one round")
        action = check_int_array("action", self.action, 0, n_actions, "n_actions")
        check_length("action", action, n)
        reward = check_float_array("reward", self.reward, ndim=1)
        check_length("reward", reward, n)
        pscore = check_pscore("pscore", self.pscore)
        check_length("pscore", pscore, n)
        position, len_list = self._check_position(n)
        values = {
            "n_actions": n_actions,
            "context": context,
            "action": action,
            "reward": reward,
            "pscore": pscore,
            "position": position,
            "len_list": len_list,
            "policy_version": self._check_policy_version(n),
            "action_context": self._check_action_context(n_actions),
            "context_names": self._check_context_names(context.shape[1]),
            "n_excluded": check_positive_int("n_excluded", self.n_excluded, minimum=0),
            "action_mask": self._check_action_mask(n, n_actions, action),
        }
        for name, value in values.items():
            if isinstance(value, np.ndarray):
                value = _read_only(value)
            object.__setattr__(self, name, value)

    def _check_position(self, n: int) -> tuple[np.ndarray, int]:
        given = None if self.len_list is None else check_positive_int("len_list", self.len_list)
        if self.position is None:
            position = np.zeros(n, dtype=np.int64)
        else:
            position = check_int_array("position", self.position, 0, given, "len_list")
            check_length("position", position, n)
        return position, int(position.max()) + 1 if given is None else given

    def _check_policy_version(self, n: int) -> np.ndarray | None:
        if self.policy_version is None:
            return None
        versions = list(self.policy_version)
        if len(versions) != n:
            raise RecordError("policy_version", len(versions), f"must have {n} entries")
        for i, version in enumerate(versions):
            if not isinstance(version, str):
                raise RecordError(f"policy_version[{i}]", version, "must be a string")
        return np.array(versions, dtype=str)

    def _check_action_context(self, n_actions: int) -> np.ndarray | None:
        if self.action_context is None:
            return None
        action_context = check_float_array("action_context", self.action_context, ndim=2)
        if action_context.shape[0] != n_actions:
            raise RecordError(
                "action_context", action_context.shape, f"must have n_actions={n_actions} rows"
            )
        return action_context

    def _check_action_mask(self, n: int, n_actions: int, action: np.ndarray) -> np.ndarray | None:
        if self.action_mask is None:
            return None
        mask = np.asarray(self.action_mask)
        if mask.dtype != bool:
            if mask.dtype.kind not in "iuf" or not np.isin(mask, (0, 1)).all():
                raise RecordError("action_mask", mask.dtype.name, "must hold booleans")
            mask = mask.astype(bool)
        if mask.shape != (n, n_actions):
            raise RecordError("action_mask", mask.shape, f"must have shape ({n}, {n_actions})")
        mask = mask.copy()
        ineligible = ~mask[np.arange(n), action]
        if ineligible.any():
            i = int(np.argmax(ineligible))
            raise RecordError(
                f"action_mask[{i}]", mask[i].tolist(), f"must allow the logged action {action[i]}"
            )
        return mask

    def _check_context_names(self, dim: int) -> tuple[str, ...] | None:
        if self.context_names is None:
            return None
        names = tuple(self.context_names)
        if len(names) != dim or not all(isinstance(s, str) for s in names):
            raise RecordError("context_names", names, f"must be {dim} strings, one per column")
        return names

    @property
    def n_rounds(self) -> int:
        """Number of logged rounds."""
        return int(self.action.shape[0])

    @property
    def dim_context(self) -> int:
        """Number of context features."""
        return int(self.context.shape[1])

    @property
    def on_policy_value(self) -> float:
        """Mean logged reward: the logging policy's own (on-policy) value estimate."""
        return float(self.reward.mean())

    @classmethod
    def from_arrays(
        cls,
        context: Any,
        action: Any,
        reward: Any,
        pscore: Any,
        n_actions: int,
        position: Any = None,
        policy_version: Any = None,
        action_context: Any = None,
        len_list: int | None = None,
        action_mask: Any = None,
    ) -> LoggedBanditFeedback:
        """Build feedback from array-likes (lists, numpy arrays, pandas columns).

        Args:
            context, action, reward, pscore, n_actions, position, policy_version,
                action_context, len_list, action_mask: As the class's fields.
        """
        return cls(
            context=context,
            action=action,
            reward=reward,
            pscore=pscore,
            n_actions=n_actions,
            position=position,
            len_list=cast(int, len_list),  # None -> max(position) + 1
            policy_version=policy_version,
            action_context=action_context,
            action_mask=action_mask,
        )

    def to_dict(self) -> dict[str, Any]:
        """OBP's ``bandit_feedback`` dict.

        Keys: ``n_rounds``, ``n_actions``, ``action``, ``position``, ``reward``, ``pscore``,
        ``context`` and ``action_context`` (the identity matrix, OBP's one-hot action
        representation, when the feedback has none).
        """
        action_context = self.action_context
        if action_context is None:
            action_context = np.eye(self.n_actions)
        return {
            "n_rounds": self.n_rounds,
            "n_actions": self.n_actions,
            "action": self.action,
            "position": self.position,
            "reward": self.reward,
            "pscore": self.pscore,
            "context": self.context,
            "action_context": action_context,
        }

    def subset(self, rows: Any) -> LoggedBanditFeedback:
        """The feedback of the given rounds (an index array or boolean mask), in that order."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return replace(
            self,
            context=self.context[rows],
            action=self.action[rows],
            reward=self.reward[rows],
            pscore=self.pscore[rows],
            position=self.position[rows],
            policy_version=None if self.policy_version is None else self.policy_version[rows],
            action_mask=None if self.action_mask is None else self.action_mask[rows],
        )

    def split(
        self, fraction: float, seed: int | None = None
    ) -> tuple[LoggedBanditFeedback, LoggedBanditFeedback]:
        """Split the rounds at random into two parts, each kept in logged order.

        Args:
            fraction: Share of rounds in the first part, in (0, 1); both parts must be
                non-empty.
            seed: Seed of the random assignment.

        Returns:
            ``(first, second)``; both keep ``n_actions`` and ``len_list``.
        """
        if not is_real(fraction):
            raise RecordError("fraction", fraction, "must be a number in (0, 1)")
        n_first = round(float(fraction) * self.n_rounds)
        if not 0.0 < fraction < 1.0 or not 0 < n_first < self.n_rounds:
            raise RecordError(
                "fraction",
                fraction,
                f"must be in (0, 1) and leave both parts of {self.n_rounds} rounds non-empty",
            )
        order = np.random.default_rng(seed).permutation(self.n_rounds)
        return self.subset(np.sort(order[:n_first])), self.subset(np.sort(order[n_first:]))

    @classmethod
    def from_decision_log(
        cls, rows: Iterable[Mapping[str, Any]], n_actions: int | None = None
    ) -> LoggedBanditFeedback:
        """Build feedback from decision-log rows, as the serving decision log exports them.

        Each row is a mapping with ``context`` (a sequence of floats), ``action`` (int),
        ``reward`` (float, or None / absent while the feedback has not arrived),
        ``propensity`` (the serving policy's probability of ``action``, in (0, 1]),
        ``policy_version`` (str) and optionally ``position`` (int) and ``mask`` (the
        eligible actions as a list of bools, or None for all). Rows without a reward are
        left out and counted in ``n_excluded``. When some kept row has a mask, the
        feedback's ``action_mask`` holds every kept row's (all True for a None).

        Args:
            rows: The decision-log rows, in logged order.
            n_actions: Number of actions; None means ``max(action) + 1`` of the rows kept.

        Raises:
            RecordError: naming ``rows[i].<key>`` for a malformed row, or ``rows`` when no
                row has a reward yet.
        """
        kept: dict[str, list[Any]] = {
            k: [] for k in ("context", "action", "reward", "pscore", "position", "version", "mask")
        }
        n_excluded = 0
        dim: int | None = None
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise RecordError(f"rows[{i}]", row, "must be a mapping")
            if row.get("reward") is None:
                n_excluded += 1
                continue
            for key in ("context", "action", "propensity", "policy_version"):
                if key not in row:
                    raise RecordError(f"rows[{i}].{key}", None, "is missing")
            context = check_float_array(f"rows[{i}].context", row["context"], ndim=1)
            if dim is None:
                dim = context.shape[0]
            elif context.shape[0] != dim:
                raise RecordError(
                    f"rows[{i}].context", context.shape[0], f"must have {dim} features"
                )
            action = _check_row_int(i, "action", row["action"], n_actions, "n_actions")
            position = _check_row_int(i, "position", row.get("position", 0), None, "")
            reward = row["reward"]
            if not is_real(reward) or not math.isfinite(reward):
                raise RecordError(f"rows[{i}].reward", reward, "must be a finite number")
            propensity = row["propensity"]
            if not is_real(propensity) or not 0.0 < float(propensity) <= 1.0:
                raise RecordError(f"rows[{i}].propensity", propensity, "must be in (0, 1]")
            version = row["policy_version"]
            if not isinstance(version, str):
                raise RecordError(f"rows[{i}].policy_version", version, "must be a string")
            mask = _check_row_mask(i, row.get("mask"), n_actions)
            for key, value in zip(
                kept, (context, action, reward, propensity, position, version, mask), strict=True
            ):
                kept[key].append(value)
        if not kept["action"]:
            raise RecordError("rows", n_excluded, "no row has a reward yet (rows excluded)")
        if n_actions is None:
            widths = [len(m) for m in kept["mask"] if m is not None]
            n_actions = max([max(kept["action"]) + 1, *widths])
        return cls(
            context=np.stack(kept["context"]),
            action=np.array(kept["action"], dtype=np.int64),
            reward=np.array(kept["reward"], dtype=np.float64),
            pscore=np.array(kept["pscore"], dtype=np.float64),
            n_actions=n_actions,
            position=np.array(kept["position"], dtype=np.int64),
            policy_version=np.array(kept["version"], dtype=str),
            n_excluded=n_excluded,
            action_mask=_stack_masks(kept["mask"], n_actions),
        )

    @classmethod
    def from_obd_csv(
        cls, path: str | Path, n_actions: int | None = None, position_base: int = 1
    ) -> LoggedBanditFeedback:
        """Read an Open Bandit Dataset CSV (e.g. ``random/all/all.csv``).

        The layout is OBD's: an unnamed index column, ``timestamp``, ``item_id``,
        ``position``, ``click``, ``propensity_score``, ``user_feature_*`` and
        ``user-item_affinity_*``. Mapping, as OBP's ``OpenBanditDataset.pre_process``:

        - ``item_id`` -> ``action``; ``click`` -> ``reward``; ``propensity_score`` -> ``pscore``;
        - ``position`` -> ``position - position_base`` (OBD's positions are 1, 2, 3);
        - context = each ``user_feature_*`` column in file order (numeric ones as they are;
          string ones one-hot encoded over their sorted values with the first value
          dropped, as ``pandas.get_dummies(drop_first=True)``; the column is named
          ``<column>=<value>``), then the ``user-item_affinity_*`` columns as numbers;
        - ``timestamp`` is not used; rows keep the file's order.

        Args:
            path: The CSV file.
            n_actions: Number of actions; None means ``max(item_id) + 1`` (as OBP).
            position_base: The value of the first position in the file.
        """
        frame = pd.read_csv(path)
        first = str(frame.columns[0])
        if first == "" or first.startswith("Unnamed:"):
            frame = frame.drop(columns=frame.columns[0])
        for column in OBD_REQUIRED_COLUMNS:
            if column not in frame.columns:
                raise RecordError("columns", list(frame.columns), f"{path}: missing {column!r}")
        parts: list[np.ndarray] = []
        names: list[str] = []
        for column in [c for c in frame.columns if str(c).startswith("user_feature_")]:
            _encode_user_feature(frame[column], str(column), parts, names)
        for column in [c for c in frame.columns if str(c).startswith("user-item_affinity_")]:
            parts.append(check_float_array(str(column), frame[column].to_numpy(), ndim=1))
            names.append(str(column))
        n = len(frame)
        context = np.column_stack(parts) if parts else np.zeros((n, 0))
        position = check_int_array("position", frame["position"].to_numpy(), position_base)
        action = check_int_array("item_id", frame["item_id"].to_numpy())
        if n_actions is None and n > 0:
            n_actions = int(action.max()) + 1
        return cls(
            context=context,
            action=action,
            reward=frame["click"].to_numpy(),
            pscore=frame["propensity_score"].to_numpy(),
            n_actions=n_actions if n_actions is not None else 1,
            position=position - position_base,
            context_names=tuple(names),
        )


def _check_row_mask(i: int, mask: Any, n_actions: int | None) -> np.ndarray | None:
    if mask is None:
        return None
    row = np.asarray(mask)
    if row.ndim != 1 or row.dtype.kind not in "biu" or not np.isin(row, (0, 1)).all():
        raise RecordError(f"rows[{i}].mask", mask, "must be a list of booleans or None")
    if n_actions is not None and row.shape[0] != n_actions:
        raise RecordError(f"rows[{i}].mask", mask, f"must have n_actions={n_actions} entries")
    return row.astype(bool)


def _stack_masks(masks: list[np.ndarray | None], n_actions: int) -> np.ndarray | None:
    """Row masks as ``(n, n_actions)`` bool (None rows all True), or None if every row is None."""
    if all(m is None for m in masks):
        return None
    out = np.ones((len(masks), n_actions), dtype=bool)
    for i, m in enumerate(masks):
        if m is not None:
            if m.shape[0] != n_actions:
                raise RecordError(
                    "rows.mask", m.shape[0], f"must have n_actions={n_actions} entries"
                )
            out[i] = m
    return out


def _check_row_int(i: int, key: str, value: Any, high: int | None, high_name: str) -> int:
    if not is_integer(value) or int(value) < 0:
        raise RecordError(f"rows[{i}].{key}", value, "must be an integer >= 0")
    if high is not None and int(value) >= high:
        raise RecordError(f"rows[{i}].{key}", value, f"is out of range for {high_name}={high}")
    return int(value)


def _encode_user_feature(
    series: pd.Series, column: str, parts: list[np.ndarray], names: list[str]
) -> None:
    """Append a user-feature column to ``parts``: numeric as is, strings one-hot (drop first)."""
    missing = series.isna().to_numpy()
    if missing.any():
        raise RecordError(f"{column}[{int(np.argmax(missing))}]", None, "is missing")
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        parts.append(check_float_array(column, series.to_numpy(), ndim=1))
        names.append(column)
        return
    codes, categories = pd.factorize(series.astype(str), sort=True)
    for code in range(1, len(categories)):
        parts.append((codes == code).astype(np.float64))
        names.append(f"{column}={categories[code]}")
