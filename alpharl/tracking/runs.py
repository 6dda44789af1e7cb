"""MLflow runs: start, log config/params/metrics/artifacts/tags, end, nest, fail cleanly.

`Tracker` talks to one tracking store through `mlflow.MlflowClient` (never MLflow's global
"active run" state, so runs in threads and nested runs do not trip over each other).
`Tracker.start_run` returns a `Run`, a context manager::

    tracker = Tracker(resolve_store(runs_dir="runs"))
    with tracker.start_run("dqn-vs-linucb", run_name="seed0", seed=0) as run:
        run.log_config(cfg)                  # config.yaml artifact + dotted params
        for step in range(n):
            run.metrics.log({"reward": r}, step=step)   # buffered, sent in batches
        run.log_figure(fig, "plots/regret.png")

Leaving the block normally ends the run FINISHED. An exception ends it FAILED (after
flushing the metrics buffered so far and logging the traceback as
``error/traceback.txt``) and propagates; ``KeyboardInterrupt`` ends it KILLED.

A Hydra multirun is one parent run with nested children: `Tracker.multirun_parent` finds
(or creates) the parent by a stable tag, the sweep directory, so children launched in
separate processes attach to the same parent.
"""

from __future__ import annotations

import functools
import json
import logging
import subprocess
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.entities import Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException

import alpharl
from alpharl.tracking.config import (
    MAX_PARAMS_PER_BATCH,
    config_yaml,
    flatten_config,
    mlflow_params,
    truncate_tag,
)
from alpharl.tracking.metrics import MetricsWriter
from alpharl.tracking.store import TrackingStore, resolve_store

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

TAG_PARENT = "mlflow.parentRunId"
TAG_RUN_NAME = "mlflow.runName"
TAG_GIT_COMMIT = "mlflow.source.git.commit"
TAG_VERSION = "alpharl.version"
TAG_SEED = "alpharl.seed"
TAG_MULTIRUN = "alpharl.multirun"
CONFIG_ARTIFACT = "config.yaml"
TRACEBACK_ARTIFACT = "error/traceback.txt"
STATUSES = ("FINISHED", "FAILED", "KILLED")

__all__ = ["MetricsWriter", "Run", "Tracker", "ensure_experiment", "git_commit"]


@functools.cache
def git_commit(cwd: str | None = None) -> str | None:
    """The commit checked out at ``cwd`` (``git rev-parse HEAD``), or None outside git.

    Args:
        cwd: Directory to ask git in; the current directory when None.
    """
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit or None


def ensure_experiment(client: mlflow.MlflowClient, name: str, artifact_root: str | None) -> str:
    """The id of experiment ``name``, created (with ``artifact_root``) if it does not exist.

    Args:
        client: Client of the tracking store.
        name: Experiment name.
        artifact_root: Artifact location for a new experiment; None lets the store choose.

    Raises:
        ValueError: If the name is empty or the experiment exists but is deleted.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"experiment: must be a non-empty string (got {name!r})")
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return str(client.create_experiment(name, artifact_location=artifact_root))
        except MlflowException:
            # Another process created it between our lookup and create.
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        raise ValueError(
            f"experiment: {name!r} exists but is deleted (id {exp.experiment_id}); restore it "
            "with `mlflow experiments restore` or choose another name"
        )
    return str(exp.experiment_id)


class Run:
    """One MLflow run; use it as a context manager (see the module docstring).

    Args:
        tracker: The tracker that started it.
        run_id: MLflow run id.
        experiment_id: MLflow experiment id.
        metrics: The run's buffered metrics writer.
    """

    def __init__(
        self, tracker: Tracker, run_id: str, experiment_id: str, metrics: MetricsWriter
    ) -> None:
        self.tracker = tracker
        self.client = tracker.client
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.metrics = metrics
        self.status: str | None = None

    def __repr__(self) -> str:
        return f"Run(run_id={self.run_id!r}, status={self.status or 'RUNNING'})"

    @property
    def artifact_uri(self) -> str:
        """Where this run's artifacts are stored."""
        return str(self.client.get_run(self.run_id).info.artifact_uri)

    def log_params(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Log params (nested mappings are flattened to dotted keys), batched and truncated.

        Args:
            params: Key -> value; values become strings.

        Returns:
            The params as sent to MLflow.
        """
        sent = mlflow_params(flatten_config(params))
        items = [Param(k, v) for k, v in sent.items()]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + MAX_PARAMS_PER_BATCH])
        return sent

    def log_config(self, config: Any, artifact_file: str = CONFIG_ARTIFACT) -> dict[str, str]:
        """Log the resolved config: the whole as a YAML artifact, flattened as params.

        Args:
            config: A mapping, dataclass or OmegaConf config.
            artifact_file: Path of the YAML artifact in the run.

        Returns:
            The params as sent to MLflow.
        """
        self.client.log_text(self.run_id, config_yaml(config), artifact_file)
        return self.log_params(flatten_config(config))

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        """Buffer metrics at ``step``; see `MetricsWriter.log`."""
        self.metrics.log(metrics, step)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (values become strings, cut to MLflow's limit)."""
        items = [RunTag(str(k), truncate_tag(v)) for k, v in tags.items()]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, tags=items[i : i + MAX_PARAMS_PER_BATCH])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Log a file, or a directory's contents, under ``artifact_path``.

        Raises:
            FileNotFoundError: If ``path`` does not exist.
        """
        p = Path(path)
        if p.is_dir():
            self.client.log_artifacts(self.run_id, str(p), artifact_path)
        elif p.is_file():
            self.client.log_artifact(self.run_id, str(p), artifact_path)
        else:
            raise FileNotFoundError(f"artifact path: {str(p)!r} does not exist")

    def log_dict(self, data: Mapping[str, Any], artifact_file: str) -> None:
        """Log a mapping as a JSON artifact (``artifact_file`` ends in ``.json``)."""
        if not artifact_file.endswith(".json"):
            raise ValueError(f"artifact_file: must end in .json (got {artifact_file!r})")
        text = json.dumps(dict(data), indent=2, sort_keys=True, default=str)
        self.client.log_text(self.run_id, text, artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        """Log a string as a text artifact."""
        self.client.log_text(self.run_id, text, artifact_file)

    def log_figure(self, figure: Figure, artifact_file: str) -> None:
        """Log a matplotlib figure as a PNG artifact (``artifact_file`` ends in ``.png``)."""
        if not artifact_file.endswith(".png"):
            raise ValueError(f"artifact_file: must end in .png (got {artifact_file!r})")
        self.client.log_figure(self.run_id, figure, artifact_file)

    def end(self, status: str = "FINISHED") -> None:
        """Flush the metrics and end the run with ``status`` (FINISHED, FAILED or KILLED).

        Ending an ended run does nothing.
        """
        if status not in STATUSES:
            raise ValueError(f"status: must be one of {STATUSES} (got {status!r})")
        if self.status is not None:
            return
        try:
            self.metrics.close()
        finally:
            self.client.set_terminated(self.run_id, status=status)
            self.status = status
            self.tracker._forget(self)

    def fail(self, exc: BaseException) -> None:
        """End the run FAILED (KILLED for KeyboardInterrupt) after saving what was logged.

        The metrics buffered so far are flushed and the traceback is logged as
        ``error/traceback.txt``; a failure to do either is logged, not raised, so the
        original error is the one the caller sees.
        """
        if self.status is not None:
            return
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            self.metrics.close()
        except Exception:
            log.exception("could not flush the metrics of failed run %s", self.run_id)
        try:
            self.client.log_text(self.run_id, text, TRACEBACK_ARTIFACT)
            self.client.set_tag(self.run_id, "alpharl.error", truncate_tag(repr(exc)))
        except Exception:
            log.exception("could not log the traceback of failed run %s", self.run_id)
        try:
            self.client.set_terminated(self.run_id, status=status)
        finally:
            self.status = status
            self.tracker._forget(self)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.end("FINISHED")
        else:
            self.fail(exc)


class Tracker:
    """Starts and ends MLflow runs in one tracking store; a context manager.

    Leaving ``with Tracker(...) as tracker:`` ends every run it started that is still
    open: FINISHED normally, FAILED (KILLED on KeyboardInterrupt) on an exception.

    Args:
        store: Where to track; `resolve_store()` (environment, then ``./runs``) when None.
        flush_every: `MetricsWriter.flush_every` for the runs it starts.
        flush_interval_s: `MetricsWriter.flush_interval_s` for the runs it starts.
    """

    def __init__(
        self,
        store: TrackingStore | None = None,
        flush_every: int = 100,
        flush_interval_s: float = 30.0,
    ) -> None:
        self.store = store if store is not None else resolve_store()
        self.client = mlflow.MlflowClient(tracking_uri=self.store.tracking_uri)
        self.flush_every = flush_every
        self.flush_interval_s = flush_interval_s
        self._open: list[Run] = []
        self._experiments: dict[str, str] = {}

    @property
    def active_run(self) -> Run | None:
        """The most recently started run that is still open."""
        return self._open[-1] if self._open else None

    def experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, created in this store if needed."""
        if name not in self._experiments:
            self._experiments[name] = ensure_experiment(self.client, name, self.store.artifact_root)
        return self._experiments[name]

    def start_run(
        self,
        experiment: str,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        *,
        parent_run_id: str | None = None,
        nested: bool = False,
        seed: int | None = None,
    ) -> Run:
        """Start a run.

        Args:
            experiment: Experiment name (created if missing).
            run_name: Display name; MLflow picks one when None.
            tags: Extra tags.
            parent_run_id: Make the run a child of this run (e.g. a multirun's parent).
            nested: Make the run a child of this tracker's active run.
            seed: Recorded as the ``alpharl.seed`` tag.

        Raises:
            ValueError: If ``nested`` is set with no active run, or with ``parent_run_id``.
        """
        if nested and parent_run_id is not None:
            raise ValueError("nested: give either nested=True or parent_run_id, not both")
        if nested:
            if self.active_run is None:
                raise ValueError("nested: True needs an active run of this tracker to nest in")
            parent_run_id = self.active_run.run_id
        exp_id = self.experiment_id(experiment)
        all_tags: dict[str, Any] = {TAG_VERSION: alpharl.__version__}
        commit = git_commit()
        if commit is not None:
            all_tags[TAG_GIT_COMMIT] = commit
        if seed is not None:
            all_tags[TAG_SEED] = seed
        if parent_run_id is not None:
            all_tags[TAG_PARENT] = parent_run_id
        all_tags.update(tags or {})
        created = self.client.create_run(
            exp_id,
            tags={str(k): truncate_tag(v) for k, v in all_tags.items()},
            run_name=run_name,
        )
        run_id = created.info.run_id
        writer = MetricsWriter(self.client, run_id, self.flush_every, self.flush_interval_s)
        run = Run(self, run_id, exp_id, writer)
        self._open.append(run)
        return run

    def multirun_parent(
        self,
        experiment: str,
        sweep_key: str,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        """The id of the parent run of a multirun, found by its key or created.

        The parent carries the tag ``alpharl.multirun=<sweep_key>`` (use the sweep
        directory); every process of the sweep asking for the same key gets the same run,
        the oldest one if a race created two.

        Args:
            experiment: Experiment name.
            sweep_key: Stable identifier of the multirun.
            run_name: Display name of a new parent run.
            tags: Extra tags of a new parent run.
        """
        if not isinstance(sweep_key, str) or not sweep_key or ('"' in sweep_key):
            raise ValueError(f"sweep_key: must be a non-empty string without '\"' ({sweep_key!r})")
        exp_id = self.experiment_id(experiment)
        found = self._find_parent(exp_id, sweep_key)
        if found is not None:
            return found
        created = self.client.create_run(
            exp_id,
            tags={
                TAG_MULTIRUN: sweep_key,
                TAG_VERSION: alpharl.__version__,
                **{str(k): truncate_tag(v) for k, v in (tags or {}).items()},
            },
            run_name=run_name or f"multirun {Path(sweep_key).name}",
        )
        found = self._find_parent(exp_id, sweep_key)
        return found if found is not None else created.info.run_id

    def _find_parent(self, experiment_id: str, sweep_key: str) -> str | None:
        runs = self.client.search_runs(
            [experiment_id],
            filter_string=f'tags.`{TAG_MULTIRUN}` = "{sweep_key}"',
            order_by=["attributes.start_time ASC"],
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def finish_run(self, run_id: str, status: str = "FINISHED") -> None:
        """End a run this tracker does not hold open (e.g. a multirun's parent).

        Args:
            run_id: The run.
            status: FINISHED, FAILED or KILLED.
        """
        if status not in STATUSES:
            raise ValueError(f"status: must be one of {STATUSES} (got {status!r})")
        self.client.set_terminated(run_id, status=status)

    def run_status(self, run_id: str) -> str:
        """The status of a run as MLflow records it (RUNNING, FINISHED, FAILED, KILLED)."""
        status = self.client.get_run(run_id).info.status
        return status if isinstance(status, str) else RunStatus.to_string(status)

    def _forget(self, run: Run) -> None:
        if run in self._open:
            self._open.remove(run)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for run in reversed(list(self._open)):
            if exc is None:
                run.end("FINISHED")
            else:
                run.fail(exc)
