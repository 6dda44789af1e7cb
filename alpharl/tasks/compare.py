"""`alpharl compare`: train several agents over several seeds and print one table.

The main job (``make run``). Every agent of ``cfg.agents`` (names of ``configs/agent``
files) is trained by `alpharl.tasks.train.train` once per seed of ``cfg.seeds`` (default:
``[cfg.seed]``) with the same stream, environment and click model, each run a child of
one MLflow parent run. Seed ``s`` of an agent is exactly ``alpharl train agent=<name>
seed=<s>`` with the same settings. The enriched stream is built once (the first child
misses the cache, the others hit it).

The table's yardstick is the environment's **hindsight bound** (``info
["hindsight_bound"]``): per episode, no policy can expect to earn more. ``gap`` is the
bound minus the agent's reward per episode, and ``% bound`` their ratio. The greedy
oracle (``oracle``: the myopic best action at every step) is a row like any other, not a
bound: under a binding budget a pacing policy beats it. Each figure is the mean over
seeds with its 95% Student-t interval (``± half-width``).
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from alpharl.config import ConfigError, check_targets, config_dir, resolve_target
from alpharl.tasks.compare_vector import batchable, train_batched
from alpharl.tasks.metrics import Interval, RunMetrics, t_interval

log = logging.getLogger(__name__)

BOUND = "hindsight bound"
DISPLAY = {"oracle": "greedy oracle", "paced_oracle": "paced oracle"}
"""Table names of agent configs whose file name could be misread (the greedy oracle is
myopic, never a bound)."""


@dataclass
class CompareRow:
    """One agent's runs, one per seed."""

    agent: str
    seeds: list[int]
    runs: list[RunMetrics]
    run_ids: list[str | None]
    model_versions: list[str | None]

    @property
    def metrics(self) -> RunMetrics:
        """The first seed's metrics (the only ones for a single-seed comparison)."""
        return self.runs[0]

    @property
    def model_version(self) -> str | None:
        return self.model_versions[0]

    def interval(self, key: str, confidence: float = 0.95) -> Interval:
        """Mean and t-interval over seeds of the `RunMetrics` field ``key``."""
        return t_interval([getattr(m, key) for m in self.runs], confidence)


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

    def bound(self) -> Interval:
        """The hindsight bound per episode: per seed, the mean over the agents' episodes."""
        seeds = self.rows[0].seeds if self.rows else []
        per_seed = []
        for i, _ in enumerate(seeds):
            values = [r.runs[i].hindsight_bound for r in self.rows]
            finite = [v for v in values if math.isfinite(v)]
            per_seed.append(sum(finite) / len(finite) if finite else math.nan)
        return t_interval(per_seed)

    def render(self) -> str:
        """The table the CLI prints: one row per agent, the hindsight bound's first.

        ``reward/ep`` is the reward per ended episode, ``gap`` the hindsight bound minus
        it (on the agent's own episodes), ``% bound`` the reward over the bound,
        ``myopic/step`` the mean per-step myopic regret (a diagnostic: pacing raises
        it), ``budget`` the fraction of each episode's budget spent and ``out@`` the
        mean step at which it ran out ("-" if it never did). ``±`` is the half-width of
        the 95% t-interval over the seeds.
        """
        n = len(self.rows[0].seeds) if self.rows else 0
        head = (
            f"{'agent':<16}{'reward/ep':>18}{'gap':>18}{'% bound':>9}{'myopic/step':>12}"
            f"{'CTR':>8}{'budget':>8}{'out@':>7}{'steps/s':>9}  model"
        )
        lines = [head, "-" * len(head)]
        bound = self.bound()
        if math.isfinite(bound.mean):
            lines.append(f"{BOUND:<16}{_pm(bound):>18}{'0':>18}{'100%':>9}")
        for r in self.rows:
            frac = r.interval("bound_fraction").mean
            out = r.interval("budget_out_step").mean
            version = r.model_version if n == 1 else None
            lines.append(
                f"{DISPLAY.get(r.agent, r.agent):<16}{_pm(r.interval('episode_reward')):>18}"
                f"{_pm(r.interval('bound_regret')):>18}"
                f"{(f'{frac:.1%}' if math.isfinite(frac) else '-'):>9}"
                f"{r.interval('myopic_regret_per_step').mean:>12.4f}"
                f"{r.interval('ctr').mean:>8.2%}"
                f"{_pct(r.interval('budget_used').mean):>8}"
                f"{(f'{out:.0f}' if math.isfinite(out) else '-'):>7}"
                f"{r.interval('steps_per_s').mean:>9,.0f}  "
                f"{f'v{version}' if version else '-'}"
            )
        seeds = self.rows[0].seeds if self.rows else []
        lines.append(
            f"\nmean over {n} seed(s) {seeds}; ± = 95% t-interval half-width over seeds. "
            "gap = hindsight bound - reward per episode; the greedy oracle is myopic, "
            "not a bound."
        )
        return "\n".join(lines)


def _pm(x: Interval) -> str:
    if not math.isfinite(x.mean):
        return "-"
    return f"{x.mean:.3f}" if x.n < 2 else f"{x.mean:.3f} ± {x.half_width:.3f}"


def _pct(x: float) -> str:
    return f"{x:.0%}" if math.isfinite(x) else "-"


def _group_node(group: str, name: str, field: str) -> DictConfig:
    path = config_dir() / group / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(f"{field}: no {group} config {name!r}; known: {known}")
    node = OmegaConf.load(path)
    assert isinstance(node, DictConfig)
    return node


def agent_config(name: str) -> DictConfig:
    """The ``agent`` node that ``agent=<name>`` composes (defaults lists included, so a
    paced agent config such as ``linucb_dual`` carries its ``pacing``)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from alpharl.config import register_schemas

    _group_node("agent", name, "agents")  # a clear error for an unknown name
    register_schemas()
    if GlobalHydra.instance().is_initialized():  # inside `alpharl compare`
        node = compose("train", overrides=[f"agent={name}"]).agent
    else:
        with initialize_config_dir(str(config_dir()), version_base="1.3"):
            node = compose("train", overrides=[f"agent={name}"]).agent
    assert isinstance(node, DictConfig)
    return node


def agent_and_pacing(name: str) -> tuple[DictConfig, DictConfig | None]:
    """The agent node of ``name`` and its pacing node: ``linucb+dual`` is ``agent=linucb
    pacing=dual``; a name without ``+`` has no pacing of its own."""
    agent, _, pacing = name.partition("+")
    if not pacing:
        return agent_config(agent), None
    node = _group_node("pacing", pacing, "agents")
    base = agent_config(agent)
    if base.get("pacing") and "_target_" in node:
        raise ConfigError(f"agents: {name!r}: agent config {agent!r} already paces; drop +{pacing}")
    return base, (node if "_target_" in node else None)


def compare_seeds(cfg: DictConfig) -> list[int]:
    """``cfg.seeds`` checked (distinct integers), or ``[cfg.seed]`` when it is null."""
    raw = cfg.get("seeds")
    if raw is None:
        return [int(cfg.seed)]
    seeds = list(raw)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
        raise ConfigError(f"seeds: give a non-empty list of integers (got {seeds!r})")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds: values repeat ({seeds})")
    return seeds


def compare(cfg: DictConfig) -> Comparison:
    """Train every agent of ``cfg.agents`` for every seed as child runs of one parent run."""
    from alpharl.tracking import Tracker, resolve_store, ui_command

    names = list(cfg.agents)
    if not names:
        raise ConfigError("agents: give at least one agent name")
    if len(set(names)) != len(names):
        raise ConfigError(f"agents: names repeat ({names})")
    seeds = compare_seeds(cfg)
    agents = {name: agent_and_pacing(name) for name in names}  # fail before any training
    for name, (node, pacing) in agents.items():
        check_targets(OmegaConf.create({"agent": node, "pacing": pacing}))
        log.debug("agent %s: %s (pacing %s)", name, node._target_, pacing)
    store = resolve_store(runs_dir=cfg.paths.runs_dir, tracking_uri=cfg.tracking.uri)
    tracker = Tracker(store, flush_every=int(cfg.tracking.flush_every))
    start = time.perf_counter()
    seed_tag = ",".join(map(str, seeds))
    with tracker.start_run(
        cfg.tracking.experiment,
        cfg.tracking.run_name or f"compare seeds{seed_tag}",
        tags={
            "alpharl.task": "compare",
            "agents": ",".join(names),
            "alpharl.seeds": seed_tag,
            **cfg.tags,
        },
        seed=seeds[0],
    ) as parent:
        rows = [_train_seeds(cfg, name, *agents[name], seeds, parent.run_id) for name in names]
        for row in rows:
            key_name = row.agent.replace("+", "-")  # MLflow keys take no '+'
            summary: dict[str, float] = {}
            for key in row.runs[0].as_dict():
                x = row.interval(key)
                if math.isfinite(x.mean):
                    summary[f"{key_name}_{key}"] = x.mean
                    summary[f"{key_name}_{key}_ci95"] = x.half_width
            parent.log_metrics(summary, step=row.runs[0].steps)
        seconds = time.perf_counter() - start
        ui = ui_command(cfg.paths.runs_dir, cfg.tracking.uri)
        comparison = Comparison(rows, parent.run_id, ui, seconds)
        parent.log_text(comparison.render(), "compare/table.txt")
    return comparison


def _train_seeds(
    cfg: DictConfig,
    name: str,
    agent: DictConfig,
    pacing: DictConfig | None,
    seeds: list[int],
    parent_run_id: str,
) -> CompareRow:
    """Train ``agent`` once per seed (each run equal to ``alpharl train`` with that seed).

    The agent's own pacing (``linucb+dual``) wins; otherwise ``cfg.pacing`` paces the
    agents that take a pacing part and leaves the others (oracles, DQN) as they are.
    """
    from alpharl.tasks.train import train

    base = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(base, dict)
    base.pop("agents")
    base.pop("seeds", None)
    if pacing is None and cfg.get("pacing") and not agent.get("pacing"):
        target = resolve_target(str(agent._target_))
        pacing = cfg.pacing if "pacing" in inspect.signature(target).parameters else None
    base["pacing"] = None
    row = CompareRow(name, [], [], [], [])
    if cfg.get("vectorize", False) and len(seeds) > 1 and batchable(cfg, agent, pacing):
        single = OmegaConf.create(base)
        assert isinstance(single, DictConfig)
        runs, ids, versions = train_batched(single, name, agent, seeds, parent_run_id)
        return CompareRow(name, list(seeds), runs, ids, versions)
    for seed in seeds:
        child = OmegaConf.merge(
            OmegaConf.create(base),
            {
                "agent": agent,
                "pacing": pacing,
                "seed": seed,
                "tracking": {"run_name": f"{name}-seed{seed}"},
            },
        )
        assert isinstance(child, DictConfig)
        metrics, result = train(child, parent_run_id=parent_run_id)
        row.seeds.append(seed)
        row.runs.append(metrics)
        row.run_ids.append(result.run_id)
        row.model_versions.append(result.model_version)
    return row


def main(cfg: DictConfig) -> Any:
    """Hydra entry point: train every agent, print the table and how to open the UI."""
    comparison = compare(cfg)
    print(comparison.render())
    seeds = len(comparison.rows[0].seeds)
    print(
        f"\n{len(comparison.rows)} agents x {seeds} seed(s) in {comparison.seconds:.0f} s; "
        f"MLflow parent run {comparison.parent_run_id}"
    )
    print(comparison.ui)
    return comparison
