"""Benchmark: `compare`'s learning loops, one seed at a time against all seeds at once.

Question (issue #10): can ``alpharl compare seeds=[0..9]`` (10 seeds x 7 agents at the
default steps) finish faster than one seed of the 7 agents did before seeds were
vectorised? Each agent is timed here without MLflow, exactly as `compare` runs it:

* ``1 seed``: ``agent.learn(env, steps)`` on one `AdDeliveryEnv`, the single-seed path
  (``alpharl train``); every agent has it.
* ``N seeds``: for LinUCB and linear Thompson sampling, one `BatchedLinUCB` /
  `BatchedLinearThompsonSampling` in one `AdDeliveryVectorEnv` of N campaigns, with one
  `StepMetrics` per seed fed by `VectorStepMetrics` (what `compare` does; tests show each
  seed equals its single run); for every other agent N times the 1-seed time (they still
  run seed after seed, measured once and multiplied, stated as such).

The verdict line compares the sum over agents of the N-seed times with the sum of the
1-seed times. All figures come from this run; the machine may be shared (say so).

    python experiments/perf/bench_compare.py --steps 20000 --seeds 10 paths.root_dir=...
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from alpharl.tasks.compare_vector import BATCHED, build_vector_env
from alpharl.tasks.metrics import StepMetrics, VectorStepMetrics
from alpharl.tasks.train import build_agent, build_env

AGENTS = ["random", "oracle", "epsilon_greedy", "ucb1", "linucb", "thompson", "dqn"]


def _compose(overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_dir

    from alpharl.config import config_dir, register_schemas

    register_schemas()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose("train", overrides=overrides)


def one_seed(cfg: Any, table: Any) -> float:
    """Seconds of one single-env learn loop with its `StepMetrics`."""
    env = build_env(cfg, table)
    agent = build_agent(cfg, env)
    metrics = StepMetrics(int(cfg.steps), int(env.action_space.n) - 1)
    start = time.perf_counter()
    agent.learn(env, int(cfg.steps), callback=metrics)
    metrics.finish()
    return time.perf_counter() - start


def all_seeds(cfg: Any, table: Any, n: int) -> float:
    """Seconds of one batched learn loop over ``n`` seeds with ``n`` `StepMetrics`."""
    from alpharl.config import resolve_target

    env = build_vector_env(cfg, table, n)
    target, args = BATCHED[str(cfg.agent._target_)]
    learner = resolve_target(target)(
        n_learners=n,
        n_actions=int(env.single_action_space.n),
        n_features=int(env.single_observation_space.shape[0]),
        seeds=list(range(n)),
        **{k: cfg.agent[k] for k in args if k in cfg.agent},
    )
    steps = int(cfg.steps)
    recording = VectorStepMetrics(n, steps, int(env.single_action_space.n) - 1)

    start = time.perf_counter()
    learner.learn(env, steps, callback=recording)
    for r in recording.finish():
        r.finish()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--agents", nargs="+", default=AGENTS)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    from alpharl.tasks.data import enriched_stream

    total_one, total_all = 0.0, 0.0
    print(f"{'agent':<16}{'1 seed (s)':>12}{f'{args.seeds} seeds (s)':>14}  how")
    for name in args.agents:
        cfg = _compose([f"agent={name}", f"steps={args.steps}", *args.overrides])
        table = enriched_stream(cfg).table
        t1 = one_seed(cfg, table)
        if str(cfg.agent._target_) in BATCHED:
            tn, how = all_seeds(cfg, table, args.seeds), "one vector env, batched learner"
        else:
            tn, how = t1 * args.seeds, f"seed after seed (1-seed time x {args.seeds})"
        total_one += t1
        total_all += tn
        print(f"{name:<16}{t1:>12.1f}{tn:>14.1f}  {how}", flush=True)
    print(
        f"\nall agents: 1 seed {total_one:.1f} s, {args.seeds} seeds {total_all:.1f} s "
        f"({total_all / total_one:.2f}x the 1-seed time; the goal of #10 is < 1x)"
    )


if __name__ == "__main__":
    main()
