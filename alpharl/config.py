"""Hydra configuration: where the configs live, their schemas, and checks before a run.

Every task's primary config (``configs/<task>.yaml``) is backed by a dataclass schema
registered in Hydra's ConfigStore, so a misspelt top-level key is an error naming the key.
Swappable parts (stream, enrichers, env, agent, ...) are ``_target_`` nodes; `check_targets`
verifies every key of every such node against the target's signature before any work
starts, so ``agent.alpah=1`` fails at once with the key's name instead of mid-run.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, ListConfig, OmegaConf


def config_dir() -> Path:
    """The folder holding Hydra's configs: ``$ALPHARL_CONFIG_DIR`` or the checkout's ``configs``."""
    override = os.environ.get("ALPHARL_CONFIG_DIR")
    if override:
        return Path(override).resolve()
    here = Path(__file__).resolve().parent.parent / "configs"
    if not here.is_dir():
        raise FileNotFoundError(
            f"AlphaRL's Hydra configs were not found at {here}; install the project from its "
            "checkout (`pip install -e .`) or set ALPHARL_CONFIG_DIR"
        )
    return here


class ConfigError(ValueError):
    """A configuration value or key that cannot work; the message names it."""


@dataclass
class PathsConfig:
    """Where a run reads and writes. Relative paths resolve against the working directory."""

    root_dir: str = "."
    runs_dir: str = "runs"
    cache_dir: str = "runs/cache"
    dead_letter: str = "runs/dead_letters.jsonl"


@dataclass
class EnrichTaskConfig:
    """Schema of ``configs/enrich.yaml``."""

    paths: PathsConfig = field(default_factory=PathsConfig)
    stream: Any = None
    enrich: Any = None
    engine: Any = None
    progress: bool = True
    top_k: int = 10
    use_cache: bool = True
    sink: Any = None
    stream_batch_size: int = 1000
    max_batches: int | None = None


@dataclass
class TrackingConfig:
    """Schema of the ``tracking`` group."""

    uri: str | None = None
    experiment: str = "alpharl"
    run_name: str | None = None
    register_model: str | None = "alpharl-policy"
    log_every: int = 50
    flush_every: int = 200


@dataclass
class TrainTaskConfig:
    """Schema of ``configs/train.yaml``."""

    paths: PathsConfig = field(default_factory=PathsConfig)
    stream: Any = None
    enrich: Any = None
    env: Any = None
    click_model: Any = None
    creatives: Any = None
    agent: Any = None
    pacing: Any = None
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    seed: int = 0
    steps: int = 20000
    progress: bool = False
    use_cache: bool = True
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RayConfig:
    """Where Ray runs (`alpharl.ray_cluster.ray_session`): a cluster, or a local Ray."""

    address: str | None = None
    num_cpus: int | None = 2
    runtime_env: Any = None


@dataclass
class TuneSearchConfig:
    """Schema of ``tune`` in ``configs/tune.yaml``: the search space and the search itself.

    ``space`` maps a dotted config key to a Ray Tune sampler written as a call,
    ``{"agent.alpha": "uniform(0.01, 3.0)", "agent.l2": "loguniform(0.1, 10.0)"}``.
    """

    metric: str = "mean_reward"
    mode: str = "max"
    num_samples: int = 8
    max_concurrent_trials: int = 2
    cpus_per_trial: float = 1.0
    seed: int = 0
    search_alg: Any = None
    space: dict[str, str] = field(default_factory=dict)
    verbose: int = 1


@dataclass
class TuneTaskConfig(TrainTaskConfig):
    """Schema of ``configs/tune.yaml``: the train schema plus the search and Ray settings."""

    tune: TuneSearchConfig = field(default_factory=TuneSearchConfig)
    ray: RayConfig = field(default_factory=RayConfig)


@dataclass
class CompareTaskConfig(TrainTaskConfig):
    """Schema of ``configs/compare.yaml``: the train schema plus the agents and seeds.

    ``seeds`` null means ``[seed]``; ``vectorize`` runs all seeds of a batchable agent
    (LinUCB, linear Thompson sampling) in one vector env.
    """

    agents: list[str] = field(default_factory=list)
    seeds: list[int] | None = None
    vectorize: bool = False


@dataclass
class LogSourceConfig:
    """Where logged bandit feedback comes from (`alpharl.tasks.logged.load_logged`).

    ``source`` is a serving decision log (``sqlite:///<path>``), an Open Bandit Dataset
    CSV (``.csv``), or logged arrays (``.parquet`` / ``.npz``). ``arm`` and ``since`` filter
    a decision log only; ``position_base`` applies to an OBD CSV only.
    """

    source: str | None = None
    n_actions: int | None = None
    arm: str | None = None
    since: float | None = None
    position_base: int = 1


@dataclass
class OPEConfig:
    """Schema of the ``ope`` group: estimators, reward model, bootstrap settings."""

    estimators: list[Any] = field(default_factory=list)
    reward_model: Any = None
    n_folds: int = 2
    alpha: float = 0.05
    n_bootstrap_samples: int = 1000
    seed: int = 0


@dataclass
class EvaluateTaskConfig:
    """Schema of ``configs/evaluate.yaml``."""

    paths: PathsConfig = field(default_factory=PathsConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    log: LogSourceConfig = field(default_factory=LogSourceConfig)
    ope: OPEConfig = field(default_factory=OPEConfig)
    policies: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class IfBetterConfig(OPEConfig):
    """Schema of ``promote``'s ``if_better``: the OPE check a promotion must pass.

    The check is off while ``log.source`` is null.
    """

    log: LogSourceConfig = field(default_factory=LogSourceConfig)
    estimator: str = "dr"
    margin: float = 0.0


@dataclass
class PromoteTaskConfig:
    """Schema of ``configs/promote.yaml``."""

    paths: PathsConfig = field(default_factory=PathsConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    model_name: str = "alpharl-policy"
    version: str | None = None
    from_alias: str | None = None
    alias: str = "champion"
    require_promotion: bool = False
    if_better: IfBetterConfig = field(default_factory=IfBetterConfig)


@dataclass
class ServeTaskConfig:
    """Schema of ``configs/serve.yaml`` (see `alpharl.serving.settings.ServeSettings`)."""

    paths: PathsConfig = field(default_factory=PathsConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    model_name: str = "alpharl-policy"
    champion_alias: str = "champion"
    challenger_alias: str | None = None
    challenger_share: float = 0.0
    policy_source: str = ""
    challenger_source: str = ""
    decision_log_url: str = "sqlite:///runs/decisions.db"
    decision_log_synchronous: str = "NORMAL"
    profile_store_url: str = ""
    api_key_env: str | None = "ALPHARL_SERVE_API_KEY"
    poll_interval_s: float = 30.0
    text_enrichment: bool = True
    seed: int | None = None
    max_batch: int = 64
    max_eligible: int = 1024
    experiment_tau: float = 0.05
    fatigue_half_life_hours: float = 24.0


@dataclass
class SimulateTaskConfig:
    """Schema of ``configs/simulate.yaml``: the world of ``train`` plus the server to use."""

    paths: PathsConfig = field(default_factory=PathsConfig)
    stream: Any = None
    enrich: Any = None
    env: Any = None
    click_model: Any = None
    seed: int = 0
    progress: bool = False
    use_cache: bool = True
    url: str = "http://127.0.0.1:8000"
    n_requests: int = 1000
    feedback: bool = True
    api_key_env: str | None = "ALPHARL_SERVE_API_KEY"
    timeout_s: float = 10.0


def register_schemas() -> None:
    """Register each task's schema in Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="enrich_schema", node=EnrichTaskConfig)
    cs.store(name="train_schema", node=TrainTaskConfig)
    cs.store(name="compare_schema", node=CompareTaskConfig)
    cs.store(name="tune_schema", node=TuneTaskConfig)
    cs.store(name="evaluate_schema", node=EvaluateTaskConfig)
    cs.store(name="promote_schema", node=PromoteTaskConfig)
    cs.store(name="serve_schema", node=ServeTaskConfig)
    cs.store(name="simulate_schema", node=SimulateTaskConfig)


def _nodes_with_target(node: Any, path: str = "") -> Iterator[tuple[str, DictConfig]]:
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield path, node
        for key in node:
            child = node._get_node(key)
            name = str(key)
            yield from _nodes_with_target(child, f"{path}.{name}" if path else name)
    elif isinstance(node, ListConfig):
        for i, child in enumerate(node):
            yield from _nodes_with_target(child, f"{path}[{i}]")


def resolve_target(target: str) -> Any:
    """Import ``module.attr`` named by a ``_target_`` string, with a clear error."""
    module_name, _, attr = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"_target_: cannot import {target!r} ({exc})") from exc


def check_targets(cfg: DictConfig) -> None:
    """Fail early on a ``_target_`` node with a key its target does not accept.

    Raises:
        ConfigError: naming the config path and the unknown key, with the accepted keys.
    """
    for path, node in _nodes_with_target(cfg):
        target = resolve_target(str(node["_target_"]))
        try:
            params = inspect.signature(target).parameters
        except (TypeError, ValueError):
            continue
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            continue
        accepted = {n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL}
        for key in node:
            if str(key).startswith("_"):
                continue
            if key not in accepted:
                name = str(key)
                where = f"{path}.{name}" if path else name
                raise ConfigError(
                    f"{where}: unknown key for {node['_target_']}; accepted: {sorted(accepted)}"
                )


def to_container(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain Python containers."""
    out = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(out, dict)
    return {str(k): v for k, v in out.items()}
