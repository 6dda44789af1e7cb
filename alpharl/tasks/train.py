"""`alpharl train`: learn one agent on the ad-delivery environment, tracked in MLflow.

``train(cfg)`` is a plain function (the Hydra entry point only calls it): it enriches
the configured stream through the cache, builds the environment and the agent from their
``_target_`` configs, runs the agent's learn loop while `StepMetrics` logs windowed
curves, then logs plots, the stream's manifest, the saved agent and the exported policy
(registered in the model registry). A crash leaves the run FAILED with what it logged.
"""

from __future__ import annotations

import inspect
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from hydra.utils import instantiate
from omegaconf import DictConfig

from alpharl.config import ConfigError, check_targets, resolve_target, to_container
from alpharl.tasks.data import enriched_stream
from alpharl.tasks.metrics import RunMetrics, StepMetrics

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What `train` returns besides its metrics."""

    agent: Any
    env: Any
    run_id: str | None
    model_version: str | None
    agent_name: str
    objects: dict[str, Any] = field(default_factory=dict)


def agent_name(cfg: DictConfig) -> str:
    """A short display name of the configured agent (its class, or algorithm for SB3),
    with ``+<pacing>`` when paced (``LinUCB+dual``)."""
    target = str(cfg.agent._target_).rsplit(".", 1)[-1]
    algo = cfg.agent.get("algo")
    name = str(algo) if algo else target
    pacing = cfg.get("pacing") or cfg.agent.get("pacing")
    if pacing and "_target_" in pacing:
        name += "+" + str(getattr(resolve_target(str(pacing._target_)), "name", "paced"))
    return name


def build_catalog(cfg: DictConfig, run: Any = None) -> list[Any] | None:
    """The creatives ``cfg.creatives`` generates (logged to ``run``), or None for the env's.

    ``cfg.creatives`` is a partial of `alpharl.creatives.generated.generate_catalog`
    (``creatives=template`` or ``creatives=llm``).
    """
    if cfg.get("creatives") is None:
        return None
    generate = instantiate(cfg.creatives, _convert_="all")
    return list(generate(run=run))


def build_env(cfg: DictConfig, posts: pa.Table, catalog: list[Any] | None = None) -> Any:
    """The environment of ``cfg.env`` on an enriched table, with ``cfg.click_model``.

    Args:
        cfg: A composed ``train`` config.
        posts: The enriched stream.
        catalog: Creatives (`alpharl.schema.Creative`) replacing ``cfg.env.catalog``.
    """
    import envs  # noqa: F401  (registers the environments)
    from alpharl.creatives.catalog import catalog_to_dicts

    kwargs = to_container(cfg.env)
    if catalog is not None:
        kwargs["catalog"] = catalog_to_dicts(catalog)
    env_class = resolve_target(str(kwargs.pop("_target_")))
    click_model = to_container(cfg.click_model) if cfg.get("click_model") else None
    # Not hydra's instantiate: the click model's `_target_` is for the env to build with
    # the env's own catalog, not for hydra to instantiate first without it.
    return env_class(posts=posts, click_model=click_model, **kwargs)


def check_pacing(cfg: DictConfig) -> bool:
    """Whether ``cfg`` paces its agent; raises `ConfigError` if the agent cannot be paced."""
    pacing = cfg.get("pacing")
    if not pacing:
        return False
    if cfg.agent.get("pacing"):
        raise ConfigError(
            f"pacing={str(pacing._target_).rsplit('.', 1)[-1]}: the agent config already "
            "paces (agent.pacing); choose one, e.g. agent=linucb pacing=dual"
        )
    target = resolve_target(str(cfg.agent._target_))
    if "pacing" not in inspect.signature(target).parameters:
        raise ConfigError(
            f"pacing={str(pacing._target_).rsplit('.', 1)[-1]}: agent "
            f"{cfg.agent._target_} cannot be paced; pacing composes with the bandit "
            "agents (linucb, thompson, linear_epsilon_greedy, epsilon_greedy, ucb1)"
        )
    return True


def build_agent(cfg: DictConfig, env: Any) -> Any:
    """The agent of ``cfg.agent`` sized for ``env``'s spaces and seeded with ``cfg.seed``.

    A ``cfg.pacing`` node (``pacing=dual`` or ``pacing=throttle``) is built and handed to
    the agent as its ``pacing`` part; an agent that takes no pacing is a config error.
    """
    target = resolve_target(str(cfg.agent._target_))
    params = inspect.signature(target).parameters
    sized: dict[str, Any] = {}
    if check_pacing(cfg):
        sized["pacing"] = instantiate(cfg.pacing, _convert_="all")
    if "n_actions" in params:
        sized["n_actions"] = int(env.action_space.n)
    if "n_features" in params:
        sized["n_features"] = int(env.observation_space.shape[0])
    if "seed" in params:
        sized["seed"] = int(cfg.seed)
    return instantiate(cfg.agent, **sized, _convert_="all")


def train(cfg: DictConfig, parent_run_id: str | None = None) -> tuple[RunMetrics, TrainResult]:
    """Train ``cfg.agent`` on ``cfg.env`` for ``cfg.steps`` steps, tracked in MLflow.

    Args:
        cfg: A composed ``train`` config.
        parent_run_id: Nest the run under this MLflow run (a comparison or multirun).

    Returns:
        The run's summary metrics and the trained objects.
    """
    from alpharl.tracking import Tracker, resolve_store
    from alpharl.tracking.hydra_callbacks import parent_run_id_for_job

    check_targets(cfg)
    check_pacing(cfg)
    name = agent_name(cfg)
    store = resolve_store(runs_dir=cfg.paths.runs_dir, tracking_uri=cfg.tracking.uri)
    tracker = Tracker(store, flush_every=int(cfg.tracking.flush_every))
    parent = parent_run_id or parent_run_id_for_job(tracker, cfg.tracking.experiment)
    run_name = cfg.tracking.run_name or f"{name}-seed{cfg.seed}"
    with tracker.start_run(
        cfg.tracking.experiment,
        run_name,
        tags={"agent": name, **cfg.tags},
        parent_run_id=parent,
        seed=int(cfg.seed),
    ) as run:
        run.log_config(to_container(cfg))
        stream = enriched_stream(cfg)
        run.log_dict(stream.manifest, "data/enriched_stream_manifest.json")
        env = build_env(cfg, stream.table, build_catalog(cfg, run))
        agent = build_agent(cfg, env)
        if hasattr(agent, "set_metrics_writer"):  # SB3: losses, epsilon, lr, Q-values
            agent.set_metrics_writer(run.metrics)
        no_ad = int(env.action_space.n) - 1
        metrics = StepMetrics(int(cfg.steps), no_ad, run.metrics, int(cfg.tracking.log_every))
        log.info("training %s for %d steps on %d posts", name, cfg.steps, stream.table.num_rows)
        summary = agent.learn(env, int(cfg.steps), callback=metrics)
        result = metrics.finish(episodes=int(summary.episodes))
        final = result.as_dict(finite_only=True)
        run.log_metrics({f"final_{k}": v for k, v in final.items()}, step=result.steps)
        for path, fig in metrics.figures(name).items():
            run.log_figure(fig, path)
        version = _log_agent_and_policy(cfg, run, agent, env)
    log.info("%s: %s", name, result)
    return result, TrainResult(agent, env, run.run_id, version, name)


def _log_agent_and_policy(cfg: DictConfig, run: Any, agent: Any, env: Any) -> str | None:
    """Save the agent and its exported policy in the run; register the policy if asked."""
    from alpharl.tracking.models import log_policy_model

    unwrapped = env.unwrapped
    with tempfile.TemporaryDirectory(prefix="alpharl-train-") as tmp:
        agent_dir = Path(tmp) / "agent"
        agent.save(agent_dir)
        run.log_artifact(agent_dir, "agent")
        try:
            policy = agent.export()
        except NotImplementedError as exc:  # the oracle is simulation-only
            log.info("%s exports no policy: %s", type(agent).__name__, exc)
            return None
        if getattr(policy, "n_features", None) is None:
            log.info("%s is context-free: its policy is logged, not registered", agent_name(cfg))
            policy.save(Path(tmp) / "policy")
            run.log_artifact(Path(tmp) / "policy", "policy_files")
            return None
        policy_dir = Path(tmp) / "policy"
        policy.save(policy_dir)
        logged = log_policy_model(
            run,
            policy_dir,
            registered_model_name=cfg.tracking.register_model or None,
            feature_spec=unwrapped.feature_spec.to_dict(),
            catalog=[c.__dict__ if hasattr(c, "__dict__") else c for c in unwrapped.catalog_dicts],
            feature_names=list(unwrapped.feature_spec.names),
            tags={"agent": agent_name(cfg), "seed": cfg.seed},
        )
    return logged.version


def main(cfg: DictConfig) -> Any:
    """Hydra entry point: train and print the run's summary; returns the objective."""
    result, objects = train(cfg)
    print(
        f"{objects.agent_name}: " + ", ".join(f"{k}={v:.4g}" for k, v in result.as_dict().items())
    )
    return result.mean_reward
