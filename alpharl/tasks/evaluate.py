"""`alpharl evaluate`: off-policy evaluation of policies on logged feedback, tracked in MLflow.

``evaluate(cfg)`` loads the logged feedback ``cfg.log`` names (`alpharl.tasks.logged`),
loads each of ``cfg.policies`` (``models:/<name>@<alias>``, ``models:/<name>/<version>``,
any model URI MLflow resolves, or a saved policy folder), computes each policy's action
distribution on the logged contexts under the logged eligibility, fits the reward model
once (cross-fitted), and runs every estimator of ``cfg.ope`` with bootstrap intervals.
The table is printed and logged to an MLflow run: one metric per policy and estimator
(``<policy>.<estimator>``, ``.ci_lower``, ``.ci_upper``) and the table as artifacts.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig

from alpharl.config import ConfigError, check_targets, to_container
from alpharl.ope import (
    BaseOffPolicyEstimator,
    LoggedBanditFeedback,
    OffPolicyEvaluation,
    action_dist_from_probabilities,
    render_summary,
)
from alpharl.ope.bootstrap import interval_keys
from alpharl.policy import BasePolicy, load_policy
from alpharl.tasks.logged import feedback_digest, load_logged

log = logging.getLogger(__name__)

_METRIC_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ ]")


@dataclass
class LoadedPolicy:
    """A policy to evaluate and where it came from.

    Args:
        spec: As given in the config.
        key: Its metric-safe label (``<name>.v<version>`` or the folder's name).
        policy: The policy.
        name: Registered model name, if it came from the registry.
        version: Registry version, if it came from the registry.
    """

    spec: str
    key: str
    policy: BasePolicy
    name: str | None = None
    version: str | None = None


@dataclass
class EvaluateResult:
    """What `evaluate` returns.

    Args:
        feedback: The logged feedback evaluated on.
        log_hash: `alpharl.tasks.logged.feedback_digest` of it.
        summaries: Per policy key, OBP's summary frame (one row per estimator).
        policies: The policies, in config order.
        run_id: The MLflow run the results were logged to.
        alpha: Significance level of the intervals.
    """

    feedback: LoggedBanditFeedback
    log_hash: str
    summaries: dict[str, pd.DataFrame]
    policies: list[LoadedPolicy]
    run_id: str | None = None
    alpha: float = 0.05
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """Every estimate in one long frame: policy, estimator, estimate, ci_lower, ci_upper."""
        lower, upper = interval_keys(self.alpha)
        rows = []
        for p in self.policies:
            for estimator, row in self.summaries[p.key].iterrows():
                rows.append(
                    {
                        "policy": p.key,
                        "source": p.spec,
                        "estimator": estimator,
                        "estimate": row["estimated_policy_value"],
                        "ci_lower": row[lower],
                        "ci_upper": row[upper],
                        "relative_to_logged": row["relative_estimated_policy_value"],
                    }
                )
        return pd.DataFrame(rows)

    def render(self) -> str:
        """The text the CLI prints: one table per policy, then the log's figures."""
        blocks = [
            render_summary(self.summaries[p.key], title=f"policy {p.key}  ({p.spec})")
            for p in self.policies
        ]
        return "\n\n".join([*blocks, "\n".join(self.notes)])


def load_policies(specs: list[str], store: Any) -> list[LoadedPolicy]:
    """Load each policy spec: a model URI (contains ``:/``) or a saved policy folder.

    Raises:
        ConfigError: ``policies`` is empty or a folder does not exist.
    """
    if not specs:
        raise ConfigError(
            "policies: name at least one policy (models:/<name>@<alias>, "
            "models:/<name>/<version>, or a saved policy folder)"
        )
    out: list[LoadedPolicy] = []
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        spec = str(spec)
        if ":/" in spec:
            from alpharl.tracking.models import load_policy_from_registry

            got = load_policy_from_registry(spec, store)
            policy, name, version = got.policy, got.name, got.version
            key = f"{name}.v{version}" if name else spec.rsplit("/", 1)[-1]
        else:
            folder = Path(spec)
            if not folder.is_dir():
                raise ConfigError(f"policies[{i}]: {spec!r} is neither a model URI nor a folder")
            policy, name, version = load_policy(folder), None, None
            key = folder.resolve().name
        key = _METRIC_UNSAFE.sub("_", key)
        while key in seen:
            key += f"_{i}"
        seen.add(key)
        out.append(LoadedPolicy(spec, key, policy, name, version))
    return out


def policy_action_dist(
    policy: BasePolicy, feedback: LoggedBanditFeedback, where: str = "policy"
) -> np.ndarray:
    """The policy's OBP-shaped action distribution on the logged contexts and eligibility.

    Raises:
        ConfigError: The policy's actions or context width do not match the log's.
    """
    if policy.n_actions != feedback.n_actions:
        raise ConfigError(
            f"{where}: has {policy.n_actions} actions but the log has {feedback.n_actions} "
            "(K creatives + no ad); it was trained for another catalog"
        )
    if policy.n_features is not None and policy.n_features != feedback.dim_context:
        raise ConfigError(
            f"{where}: takes {policy.n_features} context features but the log's contexts have "
            f"{feedback.dim_context}; it was trained with another feature spec"
        )
    probs = policy.action_probabilities(feedback.context, feedback.action_mask)
    return action_dist_from_probabilities(probs)


def build_estimators(ope: Any, key: str = "ope") -> list[BaseOffPolicyEstimator]:
    """Instantiate ``ope.estimators``; raise naming the key when the list is empty or wrong."""
    estimators = instantiate(ope.estimators, _convert_="all") if ope.estimators else []
    if not estimators:
        raise ConfigError(f"{key}.estimators: name at least one estimator (_target_ nodes)")
    for i, e in enumerate(estimators):
        if not isinstance(e, BaseOffPolicyEstimator):
            raise ConfigError(f"{key}.estimators[{i}]: {type(e).__name__} is not an estimator")
    return list(estimators)


def reward_model_estimates(
    ope: Any, estimators: list[BaseOffPolicyEstimator], feedback: LoggedBanditFeedback, key: str
) -> np.ndarray | None:
    """Cross-fitted ``q_hat`` when an estimator needs one (the same for every policy)."""
    needing = [e.estimator_name for e in estimators if e.requires_reward_model]
    if not needing:
        return None
    if ope.reward_model is None:
        raise ConfigError(f"{key}.reward_model: is required by {', '.join(needing)}")
    model = instantiate(
        ope.reward_model, n_actions=feedback.n_actions, len_list=feedback.len_list, _convert_="all"
    )
    q_hat: np.ndarray = model.fit_predict(
        feedback.context,
        feedback.action,
        feedback.reward,
        feedback.position,
        n_folds=int(ope.n_folds),
        random_state=int(ope.seed),
    )
    return q_hat


def evaluate(cfg: DictConfig) -> EvaluateResult:
    """Estimate each of ``cfg.policies`` on ``cfg.log`` with ``cfg.ope``; log to MLflow.

    Args:
        cfg: A composed ``evaluate`` config.
    """
    from alpharl.tracking import resolve_store

    check_targets(cfg)
    store = resolve_store(runs_dir=cfg.paths.runs_dir, tracking_uri=cfg.tracking.uri)
    feedback = load_logged(cfg.log)
    policies = load_policies(list(cfg.policies), store)
    dists = {
        p.key: policy_action_dist(p.policy, feedback, f"policies[{i}] {p.spec!r}")
        for i, p in enumerate(policies)
    }
    estimators = build_estimators(cfg.ope)
    q_hat = reward_model_estimates(cfg.ope, estimators, feedback, "ope")
    ope = OffPolicyEvaluation(feedback, estimators)
    alpha = float(cfg.ope.alpha)
    summaries = {
        key: ope.summarize_off_policy_estimates(
            dist, q_hat, alpha, int(cfg.ope.n_bootstrap_samples), int(cfg.ope.seed)
        )
        for key, dist in dists.items()
    }
    digest = feedback_digest(feedback)
    notes = [
        f"log: {cfg.log.source} ({feedback.n_rounds:,} rounds with a reward, "
        f"{feedback.n_excluded:,} awaiting feedback; sha256 {digest})",
        f"logged policy's mean reward: {feedback.on_policy_value:.4f}; "
        f"intervals: {100 * (1 - alpha):g}% percentile bootstrap, "
        f"{int(cfg.ope.n_bootstrap_samples)} resamples",
    ]
    result = EvaluateResult(feedback, digest, summaries, policies, alpha=alpha, notes=notes)
    result.run_id = _track(cfg, store, result)
    return result


def _track(cfg: DictConfig, store: Any, result: EvaluateResult) -> str:
    from alpharl.tracking import Tracker

    tracker = Tracker(store, flush_every=int(cfg.tracking.flush_every))
    fb = result.feedback
    tags = {"task": "evaluate", "log_source": str(cfg.log.source), "log_hash": result.log_hash}
    with tracker.start_run(
        cfg.tracking.experiment,
        cfg.tracking.run_name or "evaluate",
        tags={**tags, **cfg.tags},
    ) as run:
        run.log_config(to_container(cfg))
        metrics: dict[str, float] = {
            "log.n_rounds": float(fb.n_rounds),
            "log.n_excluded": float(fb.n_excluded),
            "log.mean_reward": fb.on_policy_value,
        }
        for row in result.table().itertuples(index=False):
            base = f"{row.policy}.{row.estimator}"
            metrics[base] = float(row.estimate)
            metrics[f"{base}.ci_lower"] = float(row.ci_lower)
            metrics[f"{base}.ci_upper"] = float(row.ci_upper)
        run.log_metrics(metrics, step=0)
        run.log_text(result.render() + "\n", "ope/summary.txt")
        run.log_text(result.table().to_csv(index=False), "ope/summary.csv")
        for p in result.policies:
            run.set_tags({f"policy.{p.key}": p.spec})
    return run.run_id


def main(cfg: DictConfig) -> Any:
    """Hydra entry point: evaluate and print the table."""
    result = evaluate(cfg)
    print(result.render())
    print(f"MLflow run: {result.run_id}")
    return result
