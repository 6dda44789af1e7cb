"""The one adapter to MLflow: stores, runs, metrics, SB3 logs and the model registry.

No other AlphaRL module imports MLflow. The submodules:

- `store`: resolve the tracking URI (``$MLFLOW_TRACKING_URI`` or ``runs/mlflow.db``) and
  the command that opens the UI. Does not import MLflow.
- `config`: a config as a YAML artifact and as flat, truncated params.
- `runs`: `Tracker` and `Run`; `metrics`: the batched `MetricsWriter`.
- `sb3_writer`: an SB3 output format that writes SB3's logs through a `MetricsWriter`.
- `models`, `pyfunc`: log an exported policy as an MLflow pyfunc model, register it, move
  aliases and load it back from ``models:/<name>@<alias>``.
- `hydra_callbacks`: one parent run per Hydra multirun.

Importing this package is cheap; `Tracker`, `Run` and `MetricsWriter` are loaded (with
MLflow) on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alpharl.tracking.store import (
    TrackingStore,
    artifact_root_for,
    resolve_store,
    tracking_uri_for,
    ui_command,
)

if TYPE_CHECKING:
    from alpharl.tracking.metrics import MetricsWriter
    from alpharl.tracking.runs import Run, Tracker

__all__ = [
    "MetricsWriter",
    "Run",
    "Tracker",
    "TrackingStore",
    "artifact_root_for",
    "resolve_store",
    "tracking_uri_for",
    "ui_command",
]

_LAZY = {"MetricsWriter", "Run", "Tracker"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from alpharl.tracking import runs

        return getattr(runs, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
