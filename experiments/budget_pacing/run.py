"""Budget pacing across budget tightness: run the grid, append one CSV row per run.

    python experiments/budget_pacing/run.py --seeds 0 1 2 3 4 --steps 10000 \\
        --out experiments/budget_pacing/results.csv
    python experiments/budget_pacing/summarize.py experiments/budget_pacing/results.csv

Each run is exactly ``alpharl train agent=<a> pacing=<p> env.budget=<b> seed=<s>
steps=<n>`` (the same config composition, `build_env`, `build_agent` and `StepMetrics`)
without MLflow, so that the grid fits a shared machine. Budgets are fractions of the
greedy oracle's spend per episode when the budget does not bind, measured first in the
same process (the greedy oracle with a budget it never exhausts). Rows already in the
CSV are skipped, so an interrupted grid resumes.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir

from alpharl.config import config_dir, register_schemas
from alpharl.tasks.data import enriched_stream
from alpharl.tasks.metrics import StepMetrics
from alpharl.tasks.train import build_agent, build_env

AGENTS = [
    "oracle",
    "paced_oracle",
    "linucb",
    "linucb+dual",
    "thompson+dual",
    "linucb+throttle",
    "dqn",
]
"""Row names: ``agent`` or ``agent+pacing`` (names of configs/agent and configs/pacing)."""


def compose_train(overrides: list[str]) -> Any:
    """The ``train`` config with ``overrides`` (as ``alpharl train`` would compose it)."""
    register_schemas()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose("train", overrides=overrides)


def run_one(name: str, budget: float, seed: int, steps: int, extra: list[str]) -> dict[str, Any]:
    """Train ``name`` for ``steps`` steps at ``budget``; its `RunMetrics` as a dict."""
    agent, _, pacing = name.partition("+")
    overrides = [
        f"agent={agent}",
        f"pacing={pacing or 'none'}",
        f"env.budget={budget}",
        f"seed={seed}",
        f"steps={steps}",
        *extra,
    ]
    cfg = compose_train(overrides)
    stream = enriched_stream(cfg)
    env = build_env(cfg, stream.table)
    learner = build_agent(cfg, env)
    metrics = StepMetrics(steps, int(env.action_space.n) - 1)
    start = time.perf_counter()
    summary = learner.learn(env, steps, callback=metrics)
    out = metrics.finish(episodes=int(summary.episodes)).as_dict()
    out["seconds"] = time.perf_counter() - start
    return out


def greedy_spend(extra: list[str], seed: int = 0, steps: int = 5000) -> float:
    """The greedy oracle's spend per episode when the budget never binds."""
    row = run_one("oracle", 1e6, seed, steps, extra)
    return float(row["budget_used"]) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--agents", nargs="+", default=AGENTS)
    parser.add_argument("--steps", type=int, default=10000, help="steps per bandit run")
    parser.add_argument("--dqn-steps", type=int, default=None, help="default: --steps")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.csv"))
    parser.add_argument("overrides", nargs="*", help="extra config overrides (env.horizon=...)")
    args = parser.parse_args()
    spend = greedy_spend(args.overrides)
    print(f"greedy oracle spend per episode (budget not binding): {spend:.3f}", flush=True)
    done: set[tuple[str, str, str]] = set()
    if args.out.exists():
        with args.out.open() as f:
            done = {(r["fraction"], r["agent"], r["seed"]) for r in csv.DictReader(f)}
    writer = None
    with args.out.open("a", newline="") as f:
        for seed in args.seeds:  # seeds outermost: a cut-short grid still covers every cell
            for fraction in args.fractions:
                for name in args.agents:
                    if (str(fraction), name, str(seed)) in done:
                        continue
                    dqn = name.startswith("dqn") and args.dqn_steps
                    steps = args.dqn_steps if dqn else args.steps
                    budget = round(fraction * spend, 4)
                    row = run_one(name, budget, seed, steps, args.overrides)
                    keys = {"fraction": fraction, "budget": budget, "agent": name, "seed": seed}
                    row = {**keys, **row}
                    if writer is None:
                        writer = csv.DictWriter(f, fieldnames=list(row))
                        if f.tell() == 0:
                            writer.writeheader()
                    writer.writerow(row)
                    f.flush()
                    print(
                        f"{fraction:>5} {name:<16} seed {seed}: reward/ep "
                        f"{row['episode_reward']:.3f} bound {row['hindsight_bound']:.3f} "
                        f"({row['seconds']:.0f} s)",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
