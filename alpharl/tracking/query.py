"""Reading runs back from MLflow as pandas frames, for notebooks and experiment summaries.

`runs_frame` gives one row per run (params, final metrics, tags); `metric_history` one row
per logged point of a metric; `mean_ci` the mean and t-interval of a metric per group, the
table every experiment README shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from alpharl.tracking.store import TrackingStore, resolve_store


def _client(store: TrackingStore) -> Any:
    import mlflow

    return mlflow.MlflowClient(tracking_uri=store.tracking_uri)


def runs_frame(
    experiment: str,
    *,
    runs_dir: str | None = None,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    status: str | None = "FINISHED",
    children_only: bool = True,
) -> pd.DataFrame:
    """Every run of ``experiment`` as a row: ``run_id``, ``run_name``, ``status``,
    ``parent_run_id``, then ``params.*``, ``metrics.*`` (last values) and ``tags.*``.

    Args:
        experiment: Experiment name.
        runs_dir: The runs directory of the embedded store (``paths.runs_dir``).
        tracking_uri: A tracking URI (``$MLFLOW_TRACKING_URI`` still wins).
        parent_run_id: Only the children of this run (a comparison or a multirun).
        status: Only runs in this state (None: any).
        children_only: Leave out parent runs (runs without ``mlflow.parentRunId``).

    Raises:
        ValueError: If the experiment does not exist in the store.
    """
    store = resolve_store(runs_dir, tracking_uri)
    client = _client(store)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = sorted(e.name for e in client.search_experiments())
        raise ValueError(
            f"experiment: {experiment!r} is not in {store.tracking_uri} (it has {names})"
        )
    filters = []
    if parent_run_id is not None:
        filters.append(f"tags.`mlflow.parentRunId` = '{parent_run_id}'")
    if status is not None:
        filters.append(f"attributes.status = '{status}'")
    runs = client.search_runs(
        [exp.experiment_id], filter_string=" and ".join(filters), max_results=50_000
    )
    rows = []
    for run in runs:
        parent = run.data.tags.get("mlflow.parentRunId")
        if children_only and parent is None:
            continue
        row: dict[str, Any] = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "parent_run_id": parent,
            "start_time": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC"),
        }
        row.update({f"params.{k}": v for k, v in run.data.params.items()})
        row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
        row.update({f"tags.{k}": v for k, v in run.data.tags.items()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values("start_time", ignore_index=True) if len(frame) else frame


def metric_history(
    run_ids: Sequence[str],
    key: str,
    *,
    runs_dir: str | None = None,
    tracking_uri: str | None = None,
) -> pd.DataFrame:
    """Every logged point of metric ``key`` of each run: ``run_id``, ``step``, ``value``."""
    client = _client(resolve_store(runs_dir, tracking_uri))
    rows = [
        (run_id, m.step, m.value)
        for run_id in run_ids
        for m in client.get_metric_history(run_id, key)
    ]
    frame = pd.DataFrame(rows, columns=["run_id", "step", "value"])
    return frame.sort_values(["run_id", "step"], ignore_index=True)


def mean_ci(
    frame: pd.DataFrame, by: Sequence[str], value: str, confidence: float = 0.95
) -> pd.DataFrame:
    """Mean of ``value`` per group of ``by`` with a Student-t confidence interval.

    Returns:
        Columns ``by...``, ``n``, ``mean``, ``low``, ``high`` (``low == high == mean``
        for a group of one run).
    """
    from scipy import stats

    missing = [c for c in [*by, value] if c not in frame.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in the frame ({sorted(frame.columns)})")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must be in (0, 1) (got {confidence!r})")
    out = []
    for key, group in frame.groupby(list(by), sort=True, dropna=False):
        x = pd.to_numeric(group[value]).to_numpy(dtype=float)
        n = len(x)
        mean = float(x.mean())
        half = 0.0
        if n > 1:
            half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
        keys = key if isinstance(key, tuple) else (key,)
        out.append(
            {
                **dict(zip(by, keys, strict=True)),
                "n": n,
                "mean": mean,
                "low": mean - half,
                "high": mean + half,
            }
        )
    return pd.DataFrame(out)
