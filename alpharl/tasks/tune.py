"""`alpharl tune`: a hyperparameter search with Ray Tune, every trial a nested MLflow run.

``tune(cfg)`` opens one MLflow parent run, then lets Ray Tune sample ``cfg.tune.space``
(a dotted config key -> a sampler written as its call, ``agent.alpha: uniform(0.01, 3.0)``)
with ``cfg.tune.search_alg``. Each trial is `alpharl.tasks.train.train` on the task's
config with the trial's values set, nested under the parent (``parent_run_id``); it
reports the run's metrics to Tune. At the end the parent gets the table of trials, the
best values (``best.<key>`` params) and the best metric, and ends FAILED if a trial failed.

``ray.address`` (or ``$RAY_ADDRESS``) may name a cluster node (``auto``, ``head:6379``) or
a Ray Client address (``ray://head:10001``; Tune then runs its driver on the cluster).

Trials run in Ray worker processes, possibly on other machines, so they get what they
need in their config, not from this process: the tracking URI resolved here (the
embedded SQLite store as an absolute path, or a server's URL) and absolute paths. On a
cluster of several nodes, use a tracking server (``tracking.uri=http://...`` or
``$MLFLOW_TRACKING_URI``) and a ``paths.cache_dir`` every node can read: the stream is
enriched once, here, into the cache before the first trial starts, and every trial reads it.

Why Ray Tune and not Hydra's Ray launcher: hydra-ray-launcher 1.2.x requires
``cloudpickle<3`` (for its AWS launcher), which would downgrade the cloudpickle 3 that
MLflow and stable-baselines3 use here, and files pickled by cloudpickle 3 (SB3's saved
schedules, MLflow's pickled models) do not load under cloudpickle 2. Ray itself ships its
own cloudpickle (``ray.cloudpickle``) and needs no pin. Tune also brings search
algorithms and concurrency limits that a launcher does not.
"""

from __future__ import annotations

import ast
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from alpharl.config import ConfigError, check_targets
from alpharl.tasks.data import enriched_stream

log = logging.getLogger(__name__)

SAMPLERS = (
    "uniform",
    "quniform",
    "loguniform",
    "qloguniform",
    "randn",
    "qrandn",
    "randint",
    "qrandint",
    "lograndint",
    "qlograndint",
    "choice",
    "grid_search",
)
"""The Ray Tune functions a ``tune.space`` entry may call (``ray.tune.<name>``)."""

_MISSING = object()
_MODES = ("max", "min")


# --------------------------------------------------------------------------- the space


def parse_sampler(key: str, text: Any) -> tuple[str, list[Any], dict[str, Any]]:
    """``"uniform(0.01, 3.0)"`` as ``("uniform", [0.01, 3.0], {})``.

    Args:
        key: The entry's config key, for error messages.
        text: The sampler, a call of one of `SAMPLERS` with literal arguments.

    Raises:
        ConfigError: naming ``tune.space.<key>`` and what is wrong.
    """
    where = f"tune.space.{key}"
    if not isinstance(text, str):
        raise ConfigError(
            f"{where}: must be a sampler call such as 'uniform(0.1, 1.0)' (got {text!r})"
        )
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ConfigError(f"{where}: {text!r} is not a call ({exc.msg})") from None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise ConfigError(f"{where}: {text!r} is not a call of one of {list(SAMPLERS)}")
    name = node.func.id
    if name not in SAMPLERS:
        raise ConfigError(f"{where}: unknown sampler {name!r}; known: {list(SAMPLERS)}")
    try:
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {str(k.arg): ast.literal_eval(k.value) for k in node.keywords}
    except ValueError:
        raise ConfigError(f"{where}: the arguments of {text!r} must be literals") from None
    return name, args, kwargs


def build_space(space: Mapping[str, Any], base: DictConfig) -> dict[str, Any]:
    """Ray Tune's ``param_space`` for ``space``, each key checked against ``base``.

    Raises:
        ConfigError: for an empty space, a key ``base`` does not have, or a bad sampler
            (the sampler's own check, e.g. ``uniform(3, 1)``, named with its key).
    """
    from ray import tune

    if not space:
        raise ConfigError("tune.space: give at least one key to search")
    out: dict[str, Any] = {}
    for key, text in space.items():
        key = str(key)
        if OmegaConf.select(base, key, default=_MISSING) is _MISSING:
            raise ConfigError(f"tune.space.{key}: the config has no key {key!r} to search")
        name, args, kwargs = parse_sampler(key, text)
        try:
            out[key] = getattr(tune, name)(*args, **kwargs)
        except Exception as exc:
            raise ConfigError(f"tune.space.{key}: {text!r}: {exc}") from None
    return out


# --------------------------------------------------------------------------- trials


def _absolute_sqlite(uri: str) -> str:
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        return prefix + os.path.abspath(uri[len(prefix) :])
    return uri


def trial_config(cfg: DictConfig) -> dict[str, Any]:
    """The train config every trial starts from: ``cfg`` resolved, with absolute paths
    and the tracking URI this process resolves (trials may run elsewhere), without the
    ``tune`` and ``ray`` sections."""
    from alpharl.tracking import resolve_store

    base = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(base, dict)
    base.pop("tune", None)
    base.pop("ray", None)
    base["paths"] = {k: os.path.abspath(str(v)) for k, v in base["paths"].items()}
    store = resolve_store(runs_dir=base["paths"]["runs_dir"], tracking_uri=cfg.tracking.uri)
    base["tracking"]["uri"] = _absolute_sqlite(store.tracking_uri)
    return {str(k): v for k, v in base.items()}


def run_trial(
    config: dict[str, Any], base: dict[str, Any], parent_run_id: str, metric: str
) -> None:
    """One trial (runs in a Ray worker): train with ``config``'s values, report metrics.

    Args:
        config: The trial's sampled values, by dotted key.
        base: `trial_config` of the task's config.
        parent_run_id: The MLflow parent run to nest under.
        metric: The metric Tune optimises (checked to be among the run's metrics).
    """
    from ray import tune

    from alpharl.tasks.train import agent_name, train

    cfg = OmegaConf.create(base)
    for key, value in config.items():
        OmegaConf.update(cfg, key, value, merge=False)
    trial_id = tune.get_context().get_trial_id() or "trial"
    cfg.tracking.run_name = f"{agent_name(cfg)}-{trial_id}"
    cfg.tags = {**cfg.tags, "alpharl.task": "tune", "alpharl.tune.trial": trial_id}
    metrics, result = train(cfg, parent_run_id=parent_run_id)
    values: dict[str, Any] = metrics.as_dict()
    if metric not in values:
        raise ConfigError(f"tune.metric: {metric!r} is not a run metric; known: {sorted(values)}")
    values["run_id"] = result.run_id or ""
    values["model_version"] = result.model_version or ""
    tune.report(values)


# --------------------------------------------------------------------------- results


@dataclass
class TrialRow:
    """One trial of the table."""

    trial_id: str
    params: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    error: str | None = None


@dataclass
class TuneSummary:
    """What `tune` returns: the trials (best first), the parent run, the wall time."""

    rows: list[TrialRow]
    metric: str
    mode: str
    parent_run_id: str
    seconds: float
    ui: str = ""

    @property
    def failed(self) -> list[TrialRow]:
        """Trials that raised."""
        return [r for r in self.rows if r.error is not None]

    @property
    def best(self) -> TrialRow | None:
        """The finished trial with the best metric (None if every trial failed)."""
        done = [r for r in self.rows if r.error is None and self.metric in r.metrics]
        return done[0] if done else None

    def best_overrides(self) -> str:
        """The best trial's values as Hydra overrides (``agent.alpha=0.53 ...``)."""
        best = self.best
        return "" if best is None else " ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())

    def render(self) -> str:
        """The table the CLI prints, best first, then the best config."""
        keys = list(self.rows[0].params) if self.rows else []
        shown = ["mean_reward", "myopic_regret_per_step", "ctr", "steps"]
        shown = [self.metric, *(m for m in shown if m != self.metric)]
        widths = [max(len(k), 10) for k in keys]
        head = f"{'trial':<14}" + "".join(
            f"{k:>{w + 2}}" for k, w in zip(keys, widths, strict=True)
        )
        head += "".join(f"{m:>{max(len(m), 8) + 2}}" for m in shown) + "  run"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            line = f"{r.trial_id:<14}" + "".join(
                f"{_fmt(r.params[k]):>{w + 2}}" for k, w in zip(keys, widths, strict=True)
            )
            if r.error is None:
                line += "".join(
                    f"{_fmt(r.metrics.get(m, float('nan'))):>{max(len(m), 8) + 2}}" for m in shown
                )
                line += f"  {r.run_id[:12]}"
            else:
                line += f"  FAILED: {' '.join((r.error or '').split())[:160]}"
            lines.append(line)
        best = self.best
        if best is not None:
            lines += [
                "",
                f"best ({self.mode} {self.metric} = {_fmt(best.metrics[self.metric])}): "
                f"{self.best_overrides()}",
                f"  alpharl train {self.best_overrides()}",
            ]
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _error_text(error: BaseException) -> str:
    """What a trial raised, without Ray's wrapper (``RayTaskError.cause`` is the original)."""
    cause = getattr(error, "cause", None)
    original = cause if isinstance(cause, BaseException) else error
    return f"{type(original).__name__}: {original}"


def _rows(grid: Any, keys: list[str], metric: str, mode: str) -> list[TrialRow]:
    rows = []
    for result in grid:
        trial_id = str((result.metrics or {}).get("trial_id") or Path(result.path).name)
        params = {k: result.config.get(k) for k in keys}
        if result.error is not None:
            rows.append(TrialRow(trial_id, params, error=_error_text(result.error)))
            continue
        metrics = dict(result.metrics or {})
        rows.append(TrialRow(trial_id, params, metrics, str(metrics.get("run_id", ""))))
    sign = -1.0 if mode == "max" else 1.0

    def order(r: TrialRow) -> tuple[int, float]:
        value = r.metrics.get(metric)
        if r.error is not None or not isinstance(value, int | float):
            return (1, 0.0)
        return (0, sign * float(value))

    return sorted(rows, key=order)


# --------------------------------------------------------------------------- the task


def _check(cfg: DictConfig) -> None:
    t = cfg.tune
    if t.mode not in _MODES:
        raise ConfigError(f"tune.mode: must be one of {list(_MODES)} (got {t.mode!r})")
    for name in ("num_samples", "max_concurrent_trials"):
        if int(t[name]) < 1:
            raise ConfigError(f"tune.{name}: must be >= 1 (got {t[name]})")
    if not float(t.cpus_per_trial) > 0:
        raise ConfigError(f"tune.cpus_per_trial: must be > 0 (got {t.cpus_per_trial})")


def _concurrency(search_alg: Any, cfg: DictConfig) -> int | None:
    """``max_concurrent_trials`` for Tune: a `Searcher` is limited by Tune; a search
    generator (`BasicVariantGenerator`) limits itself, so it gets the limit from config."""
    from ray.tune.search import Searcher

    limit = int(cfg.tune.max_concurrent_trials)
    if search_alg is None or isinstance(search_alg, Searcher):
        return limit
    own = getattr(search_alg, "max_concurrent", None)
    if own not in (None, 0, limit):
        raise ConfigError(
            f"tune.search_alg.max_concurrent: {own} differs from tune.max_concurrent_trials "
            f"{limit}; set max_concurrent: ${{tune.max_concurrent_trials}}"
        )
    return None


def tune(cfg: DictConfig) -> TuneSummary:
    """Search ``cfg.tune.space`` with Ray Tune; every trial a child run of one parent run.

    Args:
        cfg: A composed ``tune`` config.

    Returns:
        The trials, best first, and the parent run.

    Raises:
        ConfigError: for a bad search space or setting (before Ray starts).
    """
    from alpharl.ray_cluster import import_ray, ray_session
    from alpharl.tracking import Tracker, resolve_store, ui_command

    check_targets(cfg)
    _check(cfg)
    base = trial_config(cfg)
    space = build_space(cfg.tune.space, OmegaConf.create(base))
    keys = list(space)
    metric, mode = str(cfg.tune.metric), str(cfg.tune.mode)
    search_alg = instantiate(cfg.tune.search_alg, _convert_="all") if cfg.tune.search_alg else None
    store = resolve_store(runs_dir=cfg.paths.runs_dir, tracking_uri=cfg.tracking.uri)
    tracker = Tracker(store, flush_every=int(cfg.tracking.flush_every))
    env_cfg = OmegaConf.to_container(cfg.ray.runtime_env) if cfg.ray.runtime_env else {}
    assert isinstance(env_cfg, dict)
    runtime_env: dict[str, Any] = {str(k): v for k, v in env_cfg.items()}
    # Trials keep the driver's working directory where there is one (paths are absolute).
    runtime_env.setdefault("env_vars", {}).setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    start = time.perf_counter()
    with tracker.start_run(
        cfg.tracking.experiment,
        cfg.tracking.run_name or f"tune {','.join(keys)}",
        tags={"alpharl.task": "tune", "alpharl.tune.space": ", ".join(keys), **cfg.tags},
        seed=int(cfg.seed),
    ) as parent:
        parent.log_config(cfg)
        # Enrich once here, through the cache, so that no trial enriches the stream again.
        stream = enriched_stream(OmegaConf.create(base))
        parent.log_dict(stream.manifest, "data/enriched_stream_manifest.json")
        with ray_session(cfg.ray.address, cfg.ray.num_cpus, runtime_env):
            ray = import_ray()
            from ray import tune as ray_tune

            trainable = ray_tune.with_resources(
                ray_tune.with_parameters(
                    run_trial, base=base, parent_run_id=parent.run_id, metric=metric
                ),
                {"cpu": float(cfg.tune.cpus_per_trial)},
            )
            tuner = ray_tune.Tuner(
                trainable,
                param_space=space,
                tune_config=ray_tune.TuneConfig(
                    metric=metric,
                    mode=mode,
                    num_samples=int(cfg.tune.num_samples),
                    max_concurrent_trials=_concurrency(search_alg, cfg),
                    search_alg=search_alg,
                ),
                run_config=ray_tune.RunConfig(
                    name=f"{cfg.tracking.experiment}-{parent.run_id[:8]}",
                    storage_path=str(Path(base["paths"]["runs_dir"]) / "ray_tune"),
                    verbose=int(cfg.tune.verbose),
                ),
            )
            grid = tuner.fit()
            log.debug("ray %s: %d trials", ray.__version__, len(grid))
        rows = _rows(grid, keys, metric, mode)
        summary = TuneSummary(rows, metric, mode, parent.run_id, time.perf_counter() - start)
        parent.log_text(summary.render(), "tune/table.txt")
        parent.log_text(grid.get_dataframe().to_csv(index=False), "tune/results.csv")
        parent.log_metrics({"n_trials": len(rows), "n_failed": len(summary.failed)}, step=len(rows))
        best = summary.best
        if best is not None:
            parent.log_params({f"best.{k}": v for k, v in best.params.items()})
            parent.log_metrics({f"best_{metric}": float(best.metrics[metric])}, step=len(rows))
            parent.set_tags({"alpharl.tune.best_run": best.run_id})
        if summary.failed:
            parent.end("FAILED")
    summary.ui = ui_command(cfg.paths.runs_dir, cfg.tracking.uri)
    return summary


def main(cfg: DictConfig) -> Any:
    """Hydra entry point: search, print the table and the best config; exit 1 on failures."""
    summary = tune(cfg)
    print(summary.render())
    print(
        f"\n{len(summary.rows)} trials in {summary.seconds:.0f} s; MLflow parent run "
        f"{summary.parent_run_id}"
    )
    print(summary.ui)
    if summary.failed:
        print(f"{len(summary.failed)} trial(s) failed; see the table above")
        raise SystemExit(1)
    return summary
