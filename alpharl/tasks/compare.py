"""`alpharl compare`: train several agents on the same stream and print one table.

The main job (``make run``). Every agent of ``cfg.agents`` (names of ``configs/agent``
files) is trained by `alpharl.tasks.train.train` with the same stream, environment, click
model and seed, as a child run of one MLflow parent run. The enriched stream is built once
(the first child misses the cache, the others hit it). The table compares each agent with
the oracle, which plays the simulator's myopic best action.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from alpharl.config import ConfigError, check_targets, config_dir
from alpharl.tasks.metrics import RunMetrics

log = logging.getLogger(__name__)

ORACLE = "oracle"


@dataclass
class CompareRow:
    """One agent's line of the table."""

    agent: str
    metrics: RunMetrics
    run_id: str | None
    model_version: str | None


@dataclass
class Comparison:
    """What `compare` returns: the rows, the parent run and the line opening the UI."""

    rows: list[CompareRow]
    parent_run_id: str
    ui: str
    seconds: float

    def row(self, agent: str) -> CompareRow:
        """The row of ``agent`` (a name of ``cfg.agents``)."""
        for r in self.rows:
            if r.agent == agent:
                return r
        raise KeyError(
            f"agent: {agent!r} is not in the comparison ({[r.agent for r in self.rows]})"
        )

    def render(self) -> str:
        """The table the CLI prints.

        ``gap`` is the oracle's mean reward minus the agent's (per step); ``regret/step``
        is the mean myopic regret the simulator reports for the actions taken.
        """
        oracle = next((r.metrics.mean_reward for r in self.rows if r.agent == ORACLE), None)
        head = (
            f"{'agent':<16}{'reward/step':>12}{'gap':>9}{'regret/step':>12}{'CTR':>8}"
            f"{'impr.':>8}{'clicks':>8}{'spend':>9}{'steps/s':>9}  model"
        )
        lines = [head, "-" * len(head)]
        for r in self.rows:
            m = r.metrics
            gap = f"{oracle - m.mean_reward:>9.4f}" if oracle is not None else f"{'-':>9}"
            model = f"v{r.model_version}" if r.model_version else "-"
            lines.append(
                f"{r.agent:<16}{m.mean_reward:>12.4f}{gap}{m.regret_per_step:>12.4f}"
                f"{m.ctr:>8.2%}{m.impressions:>8,}{m.clicks:>8,}{m.spend:>9.2f}"
                f"{m.steps_per_s:>9,.0f}  {model}"
            )
        return "\n".join(lines)


def agent_config(name: str) -> DictConfig:
    """The ``configs/agent/<name>.yaml`` node."""
    path = config_dir() / "agent" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(f"agents: no agent config {name!r}; known: {known}")
    node = OmegaConf.load(path)
    assert isinstance(node, DictConfig)
    return node


def compare(cfg: DictConfig) -> Comparison:
    """Train every agent of ``cfg.agents`` as a child run of one parent run."""
    from alpharl.tasks.train import train
    from alpharl.tracking import Tracker, resolve_store, ui_command

    names = list(cfg.agents)
    if not names:
        raise ConfigError("agents: give at least one agent name")
    if len(set(names)) != len(names):
        raise ConfigError(f"agents: names repeat ({names})")
    agents = {name: agent_config(name) for name in names}  # fail before any training
    for name, node in agents.items():
        check_targets(OmegaConf.create({"agent": node}))
        log.debug("agent %s: %s", name, node._target_)
    store = resolve_store(runs_dir=cfg.paths.runs_dir, tracking_uri=cfg.tracking.uri)
    tracker = Tracker(store, flush_every=int(cfg.tracking.flush_every))
    start = time.perf_counter()
    rows: list[CompareRow] = []
    with tracker.start_run(
        cfg.tracking.experiment,
        cfg.tracking.run_name or f"compare seed{cfg.seed}",
        tags={"alpharl.task": "compare", "agents": ",".join(names), **cfg.tags},
        seed=int(cfg.seed),
    ) as parent:
        base = OmegaConf.to_container(cfg, resolve=False)
        assert isinstance(base, dict)
        base.pop("agents")
        for name in names:
            child = OmegaConf.merge(
                OmegaConf.create(base),
                {"agent": agents[name], "tracking": {"run_name": f"{name}-seed{cfg.seed}"}},
            )
            assert isinstance(child, DictConfig)
            metrics, result = train(child, parent_run_id=parent.run_id)
            rows.append(CompareRow(name, metrics, result.run_id, result.model_version))
            parent.log_metrics(
                {f"{name}_{k}": v for k, v in metrics.as_dict().items()}, step=metrics.steps
            )
        seconds = time.perf_counter() - start
        ui = ui_command(cfg.paths.runs_dir, cfg.tracking.uri)
        comparison = Comparison(rows, parent.run_id, ui, seconds)
        parent.log_text(comparison.render(), "compare/table.txt")
    return comparison


def main(cfg: DictConfig) -> Any:
    """Hydra entry point: train every agent, print the table and how to open the UI."""
    comparison = compare(cfg)
    print(comparison.render())
    print(
        f"\n{len(comparison.rows)} agents in {comparison.seconds:.0f} s; MLflow parent run "
        f"{comparison.parent_run_id}"
    )
    print(comparison.ui)
    return comparison
