"""Summarise `run.py`'s CSVs: one Markdown table per metric, agents x budget fractions.

    python experiments/budget_pacing/summarize.py results.csv results_dqn.csv  # one grid

Each cell is the mean over seeds with its 95% Student-t half-width (``±``) and the number
of seeds. The "hindsight bound" row is, per seed, the mean of the bound over every
agent's episodes at that budget (each agent's own episodes differ after the first, since
clicks are drawn from the same generator as the episode starts), then the interval over
seeds. ``% of bound`` is each run's reward over the bound of its own episodes.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from alpharl.tasks.metrics import t_interval

BOUND = "hindsight bound"
ORDER = [
    "oracle",
    "paced_oracle",
    "linucb",
    "linucb+dual",
    "thompson+dual",
    "linucb+throttle",
    "dqn",
]
NAMES = {
    "oracle": "greedy oracle (myopic)",
    "paced_oracle": "paced oracle (clairvoyant)",
    "linucb+dual": "LinUCB + dual pacing",
    "thompson+dual": "Thompson + dual pacing",
    "linucb+throttle": "LinUCB + throttling",
    "linucb": "LinUCB (unpaced)",
    "dqn": "DQN",
}


def cell(values: pd.Series, scale: float = 1.0, fmt: str = "{:.2f}") -> str:
    """``mean ± half-width (n)`` of ``values`` over seeds."""
    x = t_interval((values * scale).tolist())
    if not math.isfinite(x.mean):
        return "-"
    return f"{fmt.format(x.mean)} ± {fmt.replace('+', '').format(x.half_width)} ({x.n})"


def table(frame: pd.DataFrame, metric: str, scale: float = 1.0, fmt: str = "{:.2f}") -> str:
    """Agents (rows) x budget fractions (columns) of ``metric``."""
    fractions = sorted(frame["fraction"].unique())
    budgets = {f: frame.loc[frame["fraction"] == f, "budget"].iloc[0] for f in fractions}
    head = "| agent | " + " | ".join(f"{f:.0%} (B={budgets[f]:.2f})" for f in fractions) + " |"
    lines = [head, "|---" * (len(fractions) + 1) + "|"]
    if metric == "episode_reward":
        bound = frame.groupby(["fraction", "seed"])["hindsight_bound"].mean().reset_index()
        cells = [cell(bound.loc[bound["fraction"] == f, "hindsight_bound"]) for f in fractions]
        lines.append(f"| {BOUND} | " + " | ".join(cells) + " |")
    agents = [a for a in ORDER if a in set(frame["agent"])]
    agents += sorted(set(frame["agent"]) - set(agents))
    for agent in agents:
        cells = []
        for f in fractions:
            rows = frame[(frame["agent"] == agent) & (frame["fraction"] == f)]
            cells.append(cell(rows[metric], scale, fmt) if len(rows) else "-")
        lines.append(f"| {NAMES.get(agent, agent)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired(frame: pd.DataFrame, against: str, metric: str = "episode_reward") -> str:
    """Agents x fractions: mean over seeds of ``metric`` minus ``against``'s on the same
    seed, with the paired 95% t-interval (seeds present for both only)."""
    fractions = sorted(frame["fraction"].unique())
    head = f"| agent - {NAMES.get(against, against)} | " + " | ".join(f"{f:.0%}" for f in fractions)
    lines = [head + " |", "|---" * (len(fractions) + 1) + "|"]
    wide = frame.pivot_table(index=["fraction", "seed"], columns="agent", values=metric)
    for agent in [a for a in ORDER if a in wide.columns and a != against]:
        cells = []
        for f in fractions:
            if f not in wide.index.get_level_values(0) or against not in wide.columns:
                cells.append("-")
                continue
            diff = (wide.loc[f, agent] - wide.loc[f, against]).dropna()
            cells.append(cell(diff, fmt="{:+.2f}") if len(diff) else "-")
        lines.append(f"| {NAMES.get(agent, agent)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("csv", type=Path, nargs="+")
    args = parser.parse_args()
    frames = [pd.read_csv(p) for p in args.csv if p.stat().st_size > 0]
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.drop_duplicates(["fraction", "agent", "seed"], keep="first")
    sections = [
        ("Reward per episode", "episode_reward", 1.0, "{:.2f}"),
        ("Share of the hindsight bound (%)", "bound_fraction", 100.0, "{:.1f}"),
        ("Budget used per episode (%)", "budget_used", 100.0, "{:.0f}"),
        ("Step the budget ran out (mean over episodes where it did)", "budget_out_step", 1.0,
         "{:.0f}"),
        ("Myopic regret per step (diagnostic)", "myopic_regret_per_step", 1.0, "{:.4f}"),
    ]  # fmt: skip
    for title, metric, scale, fmt in sections:
        print(f"### {title}\n\n{table(frame, metric, scale, fmt)}\n")
    for against in ("oracle", "linucb", "linucb+dual"):
        title = f"Reward per episode, paired difference against {NAMES[against]}"
        print(f"### {title}\n\n{paired(frame, against)}\n")


if __name__ == "__main__":
    main()
