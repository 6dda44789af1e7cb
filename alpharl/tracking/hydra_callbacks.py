"""One MLflow parent run per Hydra multirun, with every job's run nested under it.

Register the callback in a task's config::

    hydra:
      callbacks:
        mlflow_parent:
          _target_: alpharl.tracking.hydra_callbacks.MultirunParentRun
          experiment: ${tracking.experiment}
          runs_dir: ${paths.runs_dir}

`MultirunParentRun.on_multirun_start` creates the parent (tagged with the sweep
directory) before any job starts and exports its id in ``ALPHARL_PARENT_RUN_ID``, which
the jobs inherit (in-process and local-process launchers). Each job calls
`parent_run_id_for_job` and passes the result to `Tracker.start_run(parent_run_id=...)`;
a job that did not inherit the variable (a remote launcher) finds the parent by the
sweep-directory tag. `on_multirun_end` ends the parent: FAILED if any child failed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from alpharl.tracking.store import resolve_store

ENV_PARENT_RUN_ID = "ALPHARL_PARENT_RUN_ID"


def sweep_key(sweep_dir: str | os.PathLike[str]) -> str:
    """The multirun's key: its sweep directory as an absolute path."""
    return str(Path(sweep_dir).resolve())


class MultirunParentRun(Callback):
    """Hydra callback: create the multirun's parent run at start, end it at the end.

    Args:
        experiment: MLflow experiment of the parent and its children.
        runs_dir: The runs directory (``paths.runs_dir``) for the embedded store.
        tracking_uri: A configured tracking URI (``$MLFLOW_TRACKING_URI`` still wins).
        run_name: Name of the parent run (default ``multirun <sweep folder>``).
    """

    def __init__(
        self,
        experiment: str,
        runs_dir: str = "runs",
        tracking_uri: str | None = None,
        run_name: str | None = None,
    ) -> None:
        if not isinstance(experiment, str) or not experiment.strip():
            raise ValueError(f"experiment: must be a non-empty string (got {experiment!r})")
        self.experiment = experiment
        self.runs_dir = runs_dir
        self.tracking_uri = tracking_uri
        self.run_name = run_name
        self.parent_run_id: str | None = None

    def _tracker(self) -> Any:
        from alpharl.tracking.runs import Tracker

        return Tracker(resolve_store(self.runs_dir, self.tracking_uri))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Create (or find) the parent run and export its id to the jobs."""
        key = sweep_key(config.hydra.sweep.dir)
        self.parent_run_id = self._tracker().multirun_parent(
            self.experiment, key, run_name=self.run_name
        )
        os.environ[ENV_PARENT_RUN_ID] = self.parent_run_id

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """End the parent run: FAILED if any child run failed, else FINISHED."""
        if self.parent_run_id is None:
            return
        tracker = self._tracker()
        children = tracker.client.search_runs(
            [tracker.experiment_id(self.experiment)],
            filter_string=f"tags.`mlflow.parentRunId` = '{self.parent_run_id}'",
        )
        failed = any(r.info.status in ("FAILED", "KILLED") for r in children)
        tracker.finish_run(self.parent_run_id, "FAILED" if failed else "FINISHED")
        if os.environ.get(ENV_PARENT_RUN_ID) == self.parent_run_id:
            del os.environ[ENV_PARENT_RUN_ID]
        self.parent_run_id = None


def parent_run_id_for_job(tracker: Any, experiment: str) -> str | None:
    """The parent run a Hydra job's run should nest under, or None outside a multirun.

    Args:
        tracker: The job's `alpharl.tracking.runs.Tracker`.
        experiment: The experiment the parent lives in.
    """
    inherited = os.environ.get(ENV_PARENT_RUN_ID)
    if inherited:
        return inherited
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    parent: str = tracker.multirun_parent(experiment, sweep_key(hydra_cfg.sweep.dir))
    return parent
