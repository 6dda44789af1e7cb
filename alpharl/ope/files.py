"""Logged bandit feedback as files: NumPy ``.npz`` archives and Parquet tables.

Both hold the fields of `LoggedBanditFeedback` under their own names:

- ``context`` ``(n, d)`` floats (Parquet: a list column, or one column per feature named
  ``context_0``, ``context_1``, ... in order), ``action`` ints, ``reward`` floats and
  ``pscore`` floats in (0, 1] (``propensity`` is accepted as its name);
- optional ``position`` ints, ``policy_version`` strings and ``action_mask`` ``(n, K)``
  booleans (Parquet: a list column);
- ``n_actions``: an ``.npz`` scalar, or the Parquet schema metadata key
  ``alpharl.n_actions``; when absent it is the caller's or ``max(action) + 1``.

`write_logged` writes what `read_logged` reads, so a decision log exported once can be
evaluated again later without the server's database.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from alpharl.ope.dataset import LoggedBanditFeedback
from alpharl.schema import RecordError

FORMATS = (".npz", ".parquet")
N_ACTIONS_KEY = b"alpharl.n_actions"
_REQUIRED = ("context", "action", "reward", "pscore")


def write_logged(feedback: LoggedBanditFeedback, path: str | Path) -> Path:
    """Write ``feedback`` as ``.npz`` or ``.parquet`` (by the file's suffix); return the path."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise RecordError("path", str(out), f"must end in one of {list(FORMATS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fields: dict[str, np.ndarray] = {
        "context": feedback.context,
        "action": feedback.action,
        "reward": feedback.reward,
        "pscore": feedback.pscore,
        "position": feedback.position,
    }
    if feedback.policy_version is not None:
        fields["policy_version"] = feedback.policy_version
    if feedback.action_mask is not None:
        fields["action_mask"] = feedback.action_mask
    if suffix == ".npz":
        arrays: dict[str, Any] = {"n_actions": np.int64(feedback.n_actions), **fields}
        with out.open("wb") as fh:
            np.savez(fh, **arrays)
        return out
    columns: dict[str, pa.Array] = {}
    for name, values in fields.items():
        if values.ndim == 2:
            flat = pa.array(values.reshape(-1))
            columns[name] = pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
        else:
            columns[name] = pa.array(values.tolist() if values.dtype.kind == "U" else values)
    table = pa.table(columns).replace_schema_metadata(
        {N_ACTIONS_KEY: str(feedback.n_actions).encode()}
    )
    pq.write_table(table, out)
    return out


def read_logged(path: str | Path, n_actions: int | None = None) -> LoggedBanditFeedback:
    """Read logged feedback written by `write_logged` (or by hand in the same layout).

    Args:
        path: An ``.npz`` or ``.parquet`` file.
        n_actions: Number of actions; None takes the file's, else ``max(action) + 1``.

    Raises:
        FileNotFoundError: No such file.
        ValueError: A missing or malformed field (a `RecordError`), named with the file.
    """
    src = Path(path)
    if not src.is_file():
        raise FileNotFoundError(f"{src}: no such file")
    suffix = src.suffix.lower()
    if suffix == ".npz":
        fields, stored_n = _read_npz(src)
    elif suffix == ".parquet":
        fields, stored_n = _read_parquet(src)
    else:
        raise RecordError("path", str(src), f"must end in one of {list(FORMATS)}")
    if "pscore" not in fields and "propensity" in fields:
        fields["pscore"] = fields.pop("propensity")
    missing = [k for k in _REQUIRED if k not in fields]
    if missing:
        raise RecordError("fields", sorted(fields), f"{src}: missing {missing}")
    if n_actions is None:
        n_actions = stored_n
    if n_actions is None:
        action = np.asarray(fields["action"])
        n_actions = int(action.max()) + 1 if action.size else 1
    try:
        return LoggedBanditFeedback.from_arrays(
            fields["context"],
            fields["action"],
            fields["reward"],
            fields["pscore"],
            n_actions=n_actions,
            position=fields.get("position"),
            policy_version=fields.get("policy_version"),
            action_mask=fields.get("action_mask"),
        )
    except RecordError as exc:
        raise ValueError(f"{src}: {exc}") from None


def _read_npz(path: Path) -> tuple[dict[str, Any], int | None]:
    try:
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
            fields: dict[str, Any] = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise RecordError("path", str(path), f"is not a readable .npz archive ({exc})") from None
    stored = fields.pop("n_actions", None)
    if "policy_version" in fields:
        fields["policy_version"] = [str(v) for v in fields["policy_version"]]
    return fields, None if stored is None else int(stored)


def _read_parquet(path: Path) -> tuple[dict[str, Any], int | None]:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise RecordError("path", str(path), f"is not a readable Parquet file ({exc})") from None
    fields: dict[str, Any] = {}
    feature_columns = sorted(
        (c for c in table.column_names if c.startswith("context_")),
        key=lambda c: int(c[8:]) if c[8:].isdigit() else -1,
    )
    for name in table.column_names:
        if name in feature_columns:
            continue
        column = table.column(name)
        if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type):
            fields[name] = _list_column(name, column)
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            fields[name] = column.to_pylist()
        else:
            fields[name] = column.to_numpy(zero_copy_only=False)
    if "context" not in fields and feature_columns:
        bad = [c for c in feature_columns if not c[8:].isdigit()]
        if bad:
            raise RecordError("columns", bad, f"{path}: context columns must be context_<i>")
        fields["context"] = np.column_stack(
            [table.column(c).to_numpy(zero_copy_only=False) for c in feature_columns]
        )
    meta = table.schema.metadata or {}
    stored = meta.get(N_ACTIONS_KEY)
    return fields, None if stored is None else int(stored)


def _list_column(name: str, column: pa.ChunkedArray) -> np.ndarray:
    rows = column.to_pylist()
    widths = {len(r) for r in rows if r is not None}
    if any(r is None for r in rows) or len(widths) > 1:
        i = next(i for i, r in enumerate(rows) if r is None or len(r) != len(rows[0]))
        raise RecordError(f"{name}[{i}]", rows[i], "must be a list as long as the first row's")
    return np.array(rows)
