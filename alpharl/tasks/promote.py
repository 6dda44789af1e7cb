"""`alpharl promote`: point a registry alias at a model version, optionally only if it is better.

The candidate is ``version`` or the version ``from_alias`` points at. Without
``if_better.log.source`` it is promoted at once. With it, the candidate and the version
now holding ``alias`` (the incumbent) are both evaluated off-policy on that log with the
estimator ``if_better.estimator``, and the candidate is promoted only when

    lower bound of the paired bootstrap interval of V(candidate) - V(incumbent) > margin

at level ``1 - if_better.alpha``. The interval is *paired*: each bootstrap replicate
estimates both policies on the same resampled rounds, so the correlation between the two
estimates (same contexts, same rewards) cancels instead of widening the interval, as
comparing two separate intervals would. Requiring its lower bound (not the point
estimate) to clear the margin means that a challenger no better than the champion is
promoted with probability at most about ``alpha / 2``, however often promote is run;
the point estimates and both policies' own intervals are recorded for reading.

Every decision (promoted, refused, unchanged) is recorded in the candidate version's
tags under ``alpharl.promotion.*``: the alias, the incumbent, the estimator, each
estimate and interval, the difference and its interval, the margin, the log's source
and SHA-256, the time and the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from omegaconf import DictConfig

from alpharl.config import ConfigError, check_targets
from alpharl.ope.bootstrap import interval_keys
from alpharl.tasks.evaluate import build_estimators, policy_action_dist, reward_model_estimates
from alpharl.tasks.logged import feedback_digest, load_logged

log = logging.getLogger(__name__)

TAG_PREFIX = "alpharl.promotion."
PROMOTED, REFUSED, UNCHANGED = "promoted", "refused", "unchanged"


@dataclass
class PromotionOutcome:
    """What `promote` decided.

    Args:
        decision: ``promoted``, ``refused`` or ``unchanged`` (the alias already pointed
            at the candidate).
        name: Registered model name.
        alias: The alias.
        version: The candidate version.
        incumbent: The version the alias pointed at before, if any.
        reason: Why, in one sentence.
        check: The off-policy figures, when the check ran (also in the version's tags).
    """

    decision: str
    name: str
    alias: str
    version: str
    incumbent: str | None
    reason: str
    check: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def holds_alias(self) -> bool:
        """Whether the candidate holds the alias now."""
        return self.decision in (PROMOTED, UNCHANGED)

    def render(self) -> str:
        """The lines the CLI prints."""
        head = {
            PROMOTED: f"promoted {self.name} version {self.version} to @{self.alias}",
            REFUSED: f"refused: {self.name} version {self.version} stays off @{self.alias}",
            UNCHANGED: f"unchanged: {self.name}@{self.alias} is already version {self.version}",
        }[self.decision]
        lines = [head, f"  reason: {self.reason}"]
        lines += [f"  note: {n}" for n in self.notes]
        if self.incumbent is not None and self.decision != UNCHANGED:
            lines.append(f"  incumbent: version {self.incumbent}")
        c = self.check
        if c:
            lines += [
                f"  {c['estimator']} on {c['log_source']} ({c['log_rounds']:,} rounds, "
                f"sha256 {c['log_hash']}):",
                f"    candidate v{self.version}: {c['candidate_estimate']:.5f}  "
                f"CI [{c['candidate_ci'][0]:.5f}, {c['candidate_ci'][1]:.5f}]",
                f"    incumbent v{self.incumbent}: {c['incumbent_estimate']:.5f}  "
                f"CI [{c['incumbent_ci'][0]:.5f}, {c['incumbent_ci'][1]:.5f}]",
                f"    difference: {c['difference']:+.5f}  paired CI "
                f"[{c['difference_ci'][0]:+.5f}, {c['difference_ci'][1]:+.5f}]  "
                f"(rule: lower bound > margin {c['margin']:g})",
            ]
        return "\n".join(lines)

    def tags(self) -> dict[str, str]:
        """The version tags recording this decision."""
        out = {
            "decision": self.decision,
            "alias": self.alias,
            "incumbent_version": self.incumbent or "none",
            "reason": self.reason,
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        for key, value in self.check.items():
            if isinstance(value, tuple):
                value = f"[{value[0]:.6g}, {value[1]:.6g}]"
            elif isinstance(value, float):
                value = f"{value:.6g}"
            out[key] = str(value)
        return {TAG_PREFIX + k: v for k, v in out.items()}


def _candidate(cfg: DictConfig, store: Any) -> str:
    from alpharl.tracking.models import find_version, find_version_by_alias, list_versions

    name = str(cfg.model_name)
    if (cfg.version is None) == (cfg.from_alias is None):
        got = "both" if cfg.version is not None else "neither"
        raise ConfigError(f"version, from_alias: give exactly one of them (got {got})")
    if cfg.from_alias is not None:
        found = find_version_by_alias(name, str(cfg.from_alias), store)
        if found is None:
            raise ConfigError(f"from_alias: {name}@{cfg.from_alias} does not exist")
        return found.version
    version = str(cfg.version)
    if find_version(name, version, store) is None:
        known = [v.version for v in list_versions(name, store)]
        have = f"versions {known}" if known else "no versions (or no such model)"
        raise ConfigError(f"version: {name} has no version {version}; it has {have}")
    return version


def _ope_check(
    cfg: DictConfig, store: Any, candidate: str, incumbent: str
) -> tuple[bool, str, dict[str, Any]]:
    """Evaluate candidate and incumbent on ``if_better.log``; return (better, reason, figures)."""
    from alpharl.tracking.models import load_policy_from_registry

    ib = cfg.if_better
    estimators = build_estimators(ib, "if_better")
    names = [e.estimator_name for e in estimators]
    if ib.estimator not in names:
        raise ConfigError(f"if_better.estimator: {ib.estimator!r} is not one of {names}")
    estimator = estimators[names.index(ib.estimator)]
    feedback = load_logged(ib.log, "if_better.log")
    name = str(cfg.model_name)
    dists = {}
    for role, version in (("candidate", candidate), ("incumbent", incumbent)):
        policy = load_policy_from_registry(f"models:/{name}/{version}", store).policy
        dists[role] = policy_action_dist(policy, feedback, f"{role} {name} version {version}")
    q_hat = reward_model_estimates(ib, [estimator], feedback, "if_better")
    lower, upper = interval_keys(float(ib.alpha))
    args: dict[str, Any] = {
        "reward": feedback.reward,
        "action": feedback.action,
        "pscore": feedback.pscore,
        "position": feedback.position,
        "estimated_rewards_by_reg_model": q_hat,
        "alpha": float(ib.alpha),
        "n_bootstrap_samples": int(ib.n_bootstrap_samples),
        "random_state": int(ib.seed),
    }
    figures: dict[str, Any] = {
        "estimator": estimator.estimator_name,
        "alpha": float(ib.alpha),
        "margin": float(ib.margin),
        "rule": "paired CI lower bound of (candidate - incumbent) > margin",
        "log_source": str(ib.log.source),
        "log_hash": feedback_digest(feedback),
        "log_rounds": feedback.n_rounds,
    }
    for role, dist in dists.items():
        point = estimator.estimate_policy_value(
            feedback.reward, feedback.action, feedback.pscore, dist, feedback.position, q_hat
        )
        iv = estimator.estimate_interval(action_dist=dist, **args)
        figures[f"{role}_estimate"] = point
        figures[f"{role}_ci"] = (iv[lower], iv[upper])
    diff = estimator.estimate_difference_interval(
        action_dist=dists["candidate"], baseline_action_dist=dists["incumbent"], **args
    )
    figures["difference"] = diff["estimate"]
    figures["difference_ci"] = (diff[lower], diff[upper])
    better = diff[lower] > float(ib.margin)
    level = f"{100 * (1 - float(ib.alpha)):g}%"
    verdict = "exceeds" if better else "does not exceed"
    reason = (
        f"the {level} paired lower bound of {estimator.estimator_name}(v{candidate}) - "
        f"{estimator.estimator_name}(v{incumbent}) is {diff[lower]:+.5f}, which {verdict} "
        f"the margin {float(ib.margin):g}"
    )
    return better, reason, figures


def _determinism_note(name: str, version: str, store: Any) -> str | None:
    """A warning when the version decides deterministically (its log cannot judge others)."""
    from alpharl.policy import EpsilonGreedyRule, GreedyRule, UCBRule
    from alpharl.tracking.models import load_policy_from_registry

    rule = load_policy_from_registry(f"models:/{name}/{version}", store).policy.rule
    deterministic = isinstance(rule, GreedyRule | UCBRule) or (
        isinstance(rule, EpsilonGreedyRule) and rule.epsilon == 0.0
    )
    if not deterministic:
        return None
    return (
        f"version {version} decides deterministically ({rule.name}): what it serves is logged "
        "with propensity 1, so that log cannot evaluate other policies off-policy; serve an "
        "exploring policy (e.g. agent=linear_epsilon_greedy) where the next one must be judged"
    )


def promote(cfg: DictConfig) -> PromotionOutcome:
    """Point ``cfg.model_name@cfg.alias`` at the candidate, if it passes the configured check.

    Args:
        cfg: A composed ``promote`` config.

    Returns:
        The decision, also recorded in the candidate version's tags.
    """
    from alpharl.tracking import resolve_store
    from alpharl.tracking.models import find_version_by_alias, set_alias, set_version_tag

    check_targets(cfg)
    store = resolve_store(runs_dir=cfg.paths.runs_dir, tracking_uri=cfg.tracking.uri)
    name, alias = str(cfg.model_name), str(cfg.alias)
    candidate = _candidate(cfg, store)
    held = find_version_by_alias(name, alias, store)
    incumbent = None if held is None else held.version
    check: dict[str, Any] = {}
    if incumbent == candidate:
        outcome = PromotionOutcome(
            UNCHANGED, name, alias, candidate, incumbent, "the alias already points at it"
        )
    elif cfg.if_better.log.source is None:
        reason = "no off-policy check was asked for (if_better.log.source is null)"
        outcome = PromotionOutcome(PROMOTED, name, alias, candidate, incumbent, reason)
    elif incumbent is None:
        reason = f"no version holds @{alias} yet, so there is nothing to compare against"
        outcome = PromotionOutcome(PROMOTED, name, alias, candidate, incumbent, reason)
    else:
        better, reason, check = _ope_check(cfg, store, candidate, incumbent)
        decision = PROMOTED if better else REFUSED
        outcome = PromotionOutcome(decision, name, alias, candidate, incumbent, reason, check)
    if outcome.decision == PROMOTED:
        set_alias(name, alias, candidate, store)
        note = _determinism_note(name, candidate, store)
        if note:
            outcome.notes.append(note)
    for key, value in outcome.tags().items():
        set_version_tag(name, candidate, key, value, store)
    log.info(
        "%s: %s version %s -> @%s (%s)", outcome.decision, name, candidate, alias, outcome.reason
    )
    return outcome


def main(cfg: DictConfig) -> Any:
    """Hydra entry point: promote, print the outcome; exit 1 if required and not promoted."""
    outcome = promote(cfg)
    print(outcome.render())
    if cfg.require_promotion and not outcome.holds_alias:
        raise SystemExit(1)
    return outcome
