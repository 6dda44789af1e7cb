"""All seeds of one agent in one process: a native vector env and N batched learners.

`compare` hands an agent's seeds here when the agent has a batched form (LinUCB and
linear Thompson sampling without a pacing part, on the env's own catalog): seed ``s`` is
learner ``i`` of a `agents.bandits.BatchedLinearBandit` acting in sub-env ``i`` of an
`envs.vector.AdDeliveryVectorEnv`, which reproduces ``alpharl train agent=<name>
seed=<s>`` decision for decision (the learner draws what the single agent draws, the
sub-env is the single env seeded ``s``). Each seed is still its own MLflow child run with
the same config, metrics, plots, saved agent and registered policy as ``train`` logs;
its metrics are recorded during the joint loop and written to its run afterwards.
Other agents (oracles, tabular bandits, DQN, paced agents) run seed after seed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from omegaconf import DictConfig, OmegaConf

from alpharl.config import resolve_target, to_container
from alpharl.tasks.metrics import RunMetrics, VectorStepMetrics

log = logging.getLogger(__name__)

BATCHED: dict[str, tuple[str, tuple[str, ...]]] = {
    "agents.bandits.LinUCB": ("agents.bandits.batched.BatchedLinUCB", ("alpha", "l2")),
    "agents.bandits.LinearThompsonSampling": (
        "agents.bandits.batched.BatchedLinearThompsonSampling",
        ("v", "l2", "n_samples", "propensity_seed"),
    ),
}
"""Single agent ``_target_`` -> (its batched class, the constructor arguments passed on)."""


def batchable(cfg: DictConfig, agent: DictConfig, pacing: DictConfig | None) -> bool:
    """Whether ``agent``'s seeds can run as one batched learner in one vector env."""
    target = str(agent._target_)
    if target not in BATCHED or pacing is not None or cfg.get("creatives") is not None:
        return False
    known = {"_target_", *BATCHED[target][1]}
    return set(agent.keys()) <= known


def build_vector_env(cfg: DictConfig, posts: Any, num_envs: int) -> Any:
    """``num_envs`` campaigns of ``cfg.env`` (sub-env i = `build_env`'s env)."""
    import envs  # noqa: F401  (registers the environments)
    from envs.vector import AdDeliveryVectorEnv

    kwargs = to_container(cfg.env)
    kwargs.pop("_target_")
    click_model = to_container(cfg.click_model) if cfg.get("click_model") else None
    return AdDeliveryVectorEnv(num_envs, posts=posts, click_model=click_model, **kwargs)


def train_batched(
    cfg: DictConfig, name: str, agent: DictConfig, seeds: list[int], parent_run_id: str
) -> tuple[list[RunMetrics], list[str | None], list[str | None]]:
    """Train ``agent`` for every seed at once; log one child run per seed.

    Returns:
        Per seed (in order): its metrics, run id and registered model version.
    """
    from alpharl.tasks.data import enriched_stream
    from alpharl.tasks.train import _log_agent_and_policy, agent_name
    from alpharl.tracking import Tracker, resolve_store

    stream = enriched_stream(cfg)
    steps, n = int(cfg.steps), len(seeds)
    env = build_vector_env(cfg, stream.table, n)
    batched_target, args = BATCHED[str(agent._target_)]
    learner = resolve_target(batched_target)(
        n_learners=n,
        n_actions=int(env.single_action_space.n),
        n_features=int(env.single_observation_space.shape[0]),
        seeds=seeds,
        **{k: agent[k] for k in args if k in agent},
    )
    no_ad = int(env.single_action_space.n) - 1
    recording = VectorStepMetrics(n, steps, no_ad, int(cfg.tracking.log_every))
    start = time.perf_counter()
    summaries = learner.learn(env, steps, callback=recording)
    seconds = time.perf_counter() - start
    recorders = recording.finish()
    log.info("%s: %d seeds x %d steps in one vector env: %.1f s", name, n, steps, seconds)
    store = resolve_store(runs_dir=cfg.paths.runs_dir, tracking_uri=cfg.tracking.uri)
    tracker = Tracker(store, flush_every=int(cfg.tracking.flush_every))
    metrics: list[RunMetrics] = []
    run_ids: list[str | None] = []
    versions: list[str | None] = []
    for i, seed in enumerate(seeds):
        child = OmegaConf.merge(cfg, {"agent": agent, "seed": seed})
        assert isinstance(child, DictConfig)
        label = agent_name(child)
        with tracker.start_run(
            cfg.tracking.experiment,
            f"{name}-seed{seed}",
            tags={"agent": label, "alpharl.vectorized": n, **cfg.tags},
            parent_run_id=parent_run_id,
            seed=seed,
        ) as run:
            run.log_config(to_container(child))
            run.log_dict(stream.manifest, "data/enriched_stream_manifest.json")
            recorders[i].writer = run.metrics
            result = recorders[i].replay(episodes=summaries[i].episodes, seconds=seconds)
            final = result.as_dict(finite_only=True)
            run.log_metrics({f"final_{k}": v for k, v in final.items()}, step=result.steps)
            for path, fig in recorders[i].figures(label).items():
                run.log_figure(fig, path)
            versions.append(_log_agent_and_policy(child, run, learner.learner(i), env.template))
        metrics.append(result)
        run_ids.append(run.run_id)
    return metrics, run_ids, versions
