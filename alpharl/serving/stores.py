"""Where serving state lives: the decision log and the per-user state, chosen by settings.

Two seams, each a protocol with an embedded default and a shared implementation for
several uvicorn workers (or several hosts):

- `DecisionStore`: the decision log. ``sqlite:///<path>`` opens the SQLite WAL
  `alpharl.serving.decision_log.DecisionLog` (the default); ``postgresql://...`` opens
  `alpharl.serving.pg_decision_log.PostgresDecisionLog`. Both commit a decision before
  `DecisionStore.append` returns, take feedback exactly once, and export the same rows.
- `ProfileBookLike` and `FatigueLike`: per-user emotion profiles and creative fatigue.
  An empty ``profile_store_url`` keeps them in process
  (`alpharl.serving.user_state`); ``redis://...`` keeps them in Redis
  (`alpharl.serving.redis_state`), updated atomically by Lua scripts, so workers never
  lose each other's updates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from alpharl.features.profiles import ProfileState
from alpharl.redaction import redact_url
from alpharl.serving.decision_log import ArmTotals, DecisionRecord, FeedbackResult

if TYPE_CHECKING:
    from alpharl.ope.dataset import LoggedBanditFeedback

SQLITE_SCHEME = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@runtime_checkable
class DecisionStore(Protocol):
    """The decision log's interface (SQLite `DecisionLog`, `PostgresDecisionLog`)."""

    def append(self, record: DecisionRecord) -> None:
        """Commit one decision; durable when this returns."""
        ...

    def append_many(self, records: Sequence[DecisionRecord]) -> None:
        """Commit several decisions in one transaction (all or none)."""
        ...

    def record_feedback(self, decision_id: str, reward: float) -> FeedbackResult:
        """Attach a reward once; the same reward again changes nothing."""
        ...

    def check_writable(self) -> None:
        """Write and commit a heartbeat; raise (``RuntimeError`` or a driver error) if not."""
        ...

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """One decision as an exported row, or None."""
        ...

    def count(self) -> int:
        """Number of logged decisions."""
        ...

    def iter_rows(
        self, since: float | datetime | None = None, batch_size: int = 10_000
    ) -> Iterator[dict[str, Any]]:
        """Logged decisions in logged order, as exported rows."""
        ...

    def export_logged_feedback(self, since: float | datetime | None = None) -> list[dict[str, Any]]:
        """Every decision since ``since``, in logged order."""
        ...

    def to_logged_feedback(
        self,
        since: float | datetime | None = None,
        arm: str | None = None,
        n_actions: int | None = None,
    ) -> LoggedBanditFeedback:
        """The rewarded decisions as `LoggedBanditFeedback`."""
        ...

    def arm_totals(self) -> dict[str, ArmTotals]:
        """Per-arm decisions, rewarded decisions and reward sums."""
        ...

    def rewards_in_feedback_order(self) -> tuple[np.ndarray, np.ndarray]:
        """Arms and rewards of the rewarded decisions, by feedback time."""
        ...

    def close(self) -> None:
        """Release connections; later calls raise."""
        ...


@runtime_checkable
class ProfileBookLike(Protocol):
    """Per-user decayed profiles, one store per half-life, updated together."""

    def ensure(self, half_life_hours: float) -> None:
        """Keep a store for this half-life from now on."""
        ...

    def update(
        self, user_id: str, values: np.ndarray, t: float, half_life_hours: float
    ) -> ProfileState:
        """Fold a post into the user's profile in every store; return the state for one."""
        ...


@runtime_checkable
class FatigueLike(Protocol):
    """Decayed impression counts per (user, creative)."""

    def vector(self, user_id: str | None, creative_ids: Sequence[str], t: float) -> np.ndarray:
        """The user's fatigue for each creative at time ``t``."""
        ...

    def record(self, user_id: str | None, creative_id: str | None, t: float) -> None:
        """Count one impression (None creative = no ad: nothing to count)."""
        ...


def open_decision_log(
    url: str, synchronous: Literal["NORMAL", "FULL"] = "NORMAL", **kwargs: Any
) -> DecisionStore:
    """Open the decision log a URL names.

    Args:
        url: ``sqlite:///<path>`` or ``postgresql://user:password@host:port/db``.
        synchronous: SQLite's ``synchronous`` level (PostgreSQL always commits with
            ``synchronous_commit=on``).
        kwargs: Passed to the log's constructor.

    Raises:
        ValueError: An unknown scheme (the message shows the URL without its password).
    """
    if url.startswith(SQLITE_SCHEME) and len(url) > len(SQLITE_SCHEME):
        from alpharl.serving.decision_log import DecisionLog

        return DecisionLog(url[len(SQLITE_SCHEME) :], synchronous, **kwargs)
    if url.startswith(POSTGRES_SCHEMES):
        from alpharl.serving.pg_decision_log import PostgresDecisionLog

        return PostgresDecisionLog(url, **kwargs)
    raise ValueError(
        f"decision_log_url: must be sqlite:///<path> or postgresql://... (got {redact_url(url)!r})"
    )


def open_user_state(
    profile_store_url: str,
    fatigue_half_life_hours: float,
    *,
    max_users: int = 1_000_000,
    idle_half_lives: float = 32.0,
) -> tuple[ProfileBookLike, FatigueLike]:
    """The profile book and fatigue tracker a URL names ("" = in process, ``redis://``).

    Args:
        profile_store_url: Empty, or ``redis://host:port/db``.
        fatigue_half_life_hours: Half-life of an impression.
        max_users: Most users held in process (least recently seen dropped first).
        idle_half_lives: State idle this many half-lives is dropped (Redis: expires).
    """
    if not profile_store_url:
        from alpharl.serving.user_state import FatigueTracker, ProfileBook

        return ProfileBook(max_users, idle_half_lives), FatigueTracker(
            fatigue_half_life_hours, max_users, idle_half_lives
        )
    if profile_store_url.startswith(REDIS_SCHEMES):
        from alpharl.serving.redis_state import RedisFatigueTracker, RedisProfileBook, connect

        client = connect(profile_store_url)
        return RedisProfileBook(client, idle_half_lives), RedisFatigueTracker(
            client, fatigue_half_life_hours, idle_half_lives
        )
    raise ValueError(
        "profile_store_url: must be empty (in process) or redis://host:port/db "
        f"(got {redact_url(profile_store_url)!r})"
    )
