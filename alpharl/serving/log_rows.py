"""Decision-log rows as exported, and as logged bandit feedback: shared by every log backend.

A backend (`alpharl.serving.decision_log.DecisionLog` on SQLite,
`alpharl.serving.pg_decision_log.PgDecisionLog` on PostgreSQL) selects the columns in the
order `row_dict` reads and yields them from ``iter_rows``; `LogExports` gives it the two
export methods on top of that.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from alpharl.ope.dataset import LoggedBanditFeedback


class LogExports:
    """``export_logged_feedback`` and ``to_logged_feedback`` for a log with ``iter_rows``."""

    def iter_rows(
        self, since: float | datetime | None = None, batch_size: int = 10_000
    ) -> Iterator[dict[str, Any]]:
        """Logged decisions in logged order, as `row_dict` makes them (the backend's)."""
        raise NotImplementedError

    def export_logged_feedback(self, since: float | datetime | None = None) -> list[dict[str, Any]]:
        """Every decision since ``since`` (unix seconds or datetime), in logged order.

        Each row has the keys `LoggedBanditFeedback.from_decision_log` reads — ``context``
        (list of floats), ``action``, ``reward`` (None until feedback), ``propensity``,
        ``policy_version`` — plus ``decision_id``, ``created_at``, ``user_id``, ``mask``
        (list of bools or None), ``n_actions``, ``policy_name``, ``arm``, ``feedback_at``.
        """
        return list(self.iter_rows(since))

    def to_logged_feedback(
        self,
        since: float | datetime | None = None,
        arm: str | None = None,
        n_actions: int | None = None,
    ) -> LoggedBanditFeedback:
        """The rewarded decisions as `LoggedBanditFeedback` for off-policy evaluation.

        Args:
            since: Only decisions made at or after this time.
            arm: Only this arm's decisions (``champion`` / ``challenger``), when given.
            n_actions: Number of actions; None takes the largest the log recorded.
        """
        return feedback_from_rows(self.iter_rows(since), arm, n_actions)


def feedback_from_rows(
    rows: Iterable[dict[str, Any]],
    arm: str | None,
    n_actions: int | None,
    where: str = "decision log",
) -> LoggedBanditFeedback:
    """Exported rows (see `DecisionLog.export_logged_feedback`) as `LoggedBanditFeedback`.

    Args:
        rows: Exported rows in logged order.
        arm: Keep only this arm's rows, when given.
        n_actions: Number of actions; None takes the largest the rows recorded.
        where: How the source is named in errors.
    """
    from alpharl.ope.dataset import LoggedBanditFeedback

    kept = [r for r in rows if arm is None or r["arm"] == arm]
    if arm is not None and not kept:
        raise ValueError(f"arm: the {where} holds no decision of arm {arm!r}")
    if n_actions is None and kept:
        n_actions = max(int(r["n_actions"]) for r in kept)
    return LoggedBanditFeedback.from_decision_log(kept, n_actions=n_actions)


def row_dict(row: Sequence[Any]) -> dict[str, Any]:
    (did, created, user, ctx, mask, n_actions, action, prop, name, version, arm, rew, fb) = row
    return {
        "decision_id": did,
        "created_at": created,
        "user_id": user,
        "context": np.frombuffer(ctx, dtype="<f4").astype(np.float64).tolist(),
        "mask": None if mask is None else [bool(b) for b in mask],
        "n_actions": n_actions,
        "action": action,
        "propensity": prop,
        "policy_name": name,
        "policy_version": version,
        "arm": arm,
        "reward": rew,
        "feedback_at": fb,
    }
