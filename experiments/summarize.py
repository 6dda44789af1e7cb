"""Summarise a sweep from MLflow: mean and 95% t-interval of final metrics per group.

    python experiments/summarize.py emotion_ablation \\
        --by click_model.congruence env.emotion_features

Reads the children of the experiment's most recent parent run (one multirun) from the
embedded store (``--runs-dir``, default ``runs``) or ``$MLFLOW_TRACKING_URI``, and prints a
Markdown table: one row per group, ``mean [low, high]`` over seeds for each metric.
"""

from __future__ import annotations

import argparse

import pandas as pd

from alpharl.tracking.query import mean_ci, runs_frame

METRICS = {
    "final_mean_reward": "reward/step",
    "final_ctr": "CTR",
    "final_episode_reward": "reward/episode",
    "final_bound_fraction": "share of bound",
    "final_myopic_regret_per_step": "myopic regret/step",
    "final_spend": "spend",
}


def summarize(
    experiment: str, by: list[str], runs_dir: str = "runs", all_parents: bool = False
) -> str:
    """The Markdown table of ``experiment`` grouped by the params ``by``."""
    frame = runs_frame(experiment, runs_dir=runs_dir)
    if frame.empty:
        raise SystemExit(f"{experiment}: no finished child runs in {runs_dir}")
    if not all_parents:
        frame = frame[frame["parent_run_id"] == frame["parent_run_id"].iloc[-1]]
    columns = [f"params.{b}" for b in by]
    parts = []
    for metric, label in METRICS.items():
        stats = mean_ci(frame, columns, f"metrics.{metric}")
        stats[label] = [
            f"{m:.4f} [{lo:.4f}, {hi:.4f}]"
            for m, lo, hi in zip(stats["mean"], stats["low"], stats["high"], strict=True)
        ]
        parts.append(
            stats.set_index(columns)[[label]] if parts else stats.set_index(columns)[["n", label]]
        )
    table: pd.DataFrame = pd.concat(parts, axis=1).reset_index()
    table.columns = [c.removeprefix("params.") for c in table.columns]
    return markdown(table)


def markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (no extra dependency)."""
    head = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("--by", nargs="+", required=True, help="param names to group by")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--all-parents", action="store_true", help="every multirun, not the last")
    args = parser.parse_args()
    print(summarize(args.experiment, args.by, args.runs_dir, args.all_parents))


if __name__ == "__main__":
    main()
