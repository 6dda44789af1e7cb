"""The decision log in PostgreSQL (psycopg 3), for several workers or hosts.

Same interface, rows and semantics as the SQLite `alpharl.serving.decision_log.DecisionLog`
(`alpharl.serving.stores.DecisionStore`): one row per decision in ``alpharl_decisions``
(context as little-endian float32 ``bytea``, mask as one byte per action), feedback
written once (the same reward again is a no-op, a different one a conflict), and the
same exported rows for off-policy evaluation.

Durability. Every connection runs with ``synchronous_commit = on``, whatever the server's
default: a commit returns only after the server has flushed its write-ahead log, so a
decision that `append` returned for survives a crash of the serving process, of the
PostgreSQL server, and a power failure of the database host (with ``fsync`` on, as it is
by default). The server answers the request only after `append` returns.

Concurrency. Connections come from a `psycopg_pool.ConnectionPool` (``pool_size`` per
worker process). Single statements run in autocommit; feedback is one conditional
``UPDATE ... WHERE reward IS NULL``, which PostgreSQL serialises on the row, so two
workers racing with different rewards record one and refuse the other. The schema is
created under an advisory lock, so workers starting together do not collide.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from alpharl.serving.decision_log import (
    SCHEMA_VERSION,
    ArmTotals,
    DecisionNotFoundError,
    DecisionRecord,
    FeedbackConflictError,
    FeedbackResult,
    FeedbackStatus,
)
from alpharl.serving.log_rows import LogExports, row_dict
from alpharl.serving.stores import redact_url

logger = logging.getLogger(__name__)

TABLE = "alpharl_decisions"
META_TABLE = "alpharl_meta"
_SCHEMA_LOCK = 0x414C5048  # pg_advisory_xact_lock key while creating the schema

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    seq            BIGSERIAL,
    decision_id    TEXT PRIMARY KEY,
    created_at     DOUBLE PRECISION NOT NULL,
    user_id        TEXT,
    context        BYTEA NOT NULL,
    mask           BYTEA,
    n_actions      INTEGER NOT NULL,
    action         INTEGER NOT NULL,
    propensity     DOUBLE PRECISION NOT NULL,
    policy_name    TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    arm            TEXT NOT NULL,
    reward         DOUBLE PRECISION,
    feedback_at    DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS {TABLE}_seq ON {TABLE} (seq);
CREATE INDEX IF NOT EXISTS {TABLE}_created_at ON {TABLE} (created_at);
CREATE TABLE IF NOT EXISTS {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_INSERT = (
    f"INSERT INTO {TABLE} (decision_id, created_at, user_id, context, mask, n_actions, "
    "action, propensity, policy_name, policy_version, arm) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)

_EXPORT_COLUMNS = (
    "decision_id, created_at, user_id, context, mask, n_actions, action, propensity, "
    "policy_name, policy_version, arm, reward, feedback_at"
)


def _as_time(value: float | datetime | None) -> float | None:
    if value is None or isinstance(value, float | int):
        return value
    return value.timestamp()


def _configure(conn: Any) -> None:
    conn.execute("SET synchronous_commit = on")


class PostgresDecisionLog(LogExports):
    """A PostgreSQL decision log (see the module docstring for durability and concurrency).

    Args:
        url: ``postgresql://user:password@host:port/dbname`` (libpq URI).
        pool_size: Most connections this process opens.
        connect_timeout_s: How long opening the log waits for the server.
    """

    def __init__(self, url: str, pool_size: int = 4, connect_timeout_s: float = 10.0) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        if pool_size < 1:
            raise ValueError(f"pool_size: must be >= 1 (got {pool_size!r})")
        self.url = url
        self.shown_url = redact_url(url)
        self._closed = False
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(connect_timeout_s))},
            configure=_configure,
            open=False,
            name="alpharl-decision-log",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
            with self._pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                conn.execute(_SCHEMA)
                conn.execute(
                    f"INSERT INTO {META_TABLE} (key, value) VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO NOTHING",
                    (str(SCHEMA_VERSION),),
                )
                row = conn.execute(
                    f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'"
                ).fetchone()
        except (psycopg.Error, TimeoutError, OSError) as exc:
            self._pool.close()
            raise RuntimeError(f"decision log {self.shown_url}: cannot open ({exc})") from exc
        if row is None or row[0] != str(SCHEMA_VERSION):
            self._pool.close()
            raise RuntimeError(
                f"{self.shown_url}: decision log schema version {row and row[0]}, this code "
                f"writes {SCHEMA_VERSION}"
            )

    def __repr__(self) -> str:
        return f"PostgresDecisionLog({self.shown_url!r})"

    def _conn(self) -> Any:
        if self._closed:
            raise RuntimeError(f"{self.shown_url}: the decision log is closed")
        return self._pool.connection()

    def append(self, record: DecisionRecord) -> None:
        """Commit one decision; when this returns, the row is durable (see module doc)."""
        params = record.as_params()
        with self._conn() as conn:
            conn.execute(_INSERT, params)

    def append_many(self, records: Sequence[DecisionRecord]) -> None:
        """Commit several decisions in one transaction (all or none)."""
        rows = [r.as_params() for r in records]
        if not rows:
            return
        with self._conn() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(_INSERT, rows)

    def record_feedback(self, decision_id: str, reward: float) -> FeedbackResult:
        """Attach a reward to a logged decision, exactly once (see `DecisionLog`).

        Raises:
            DecisionNotFoundError: No such decision.
            FeedbackConflictError: The decision already has a different reward.
            ValueError: ``reward`` is not finite.
        """
        reward = float(reward)
        if not math.isfinite(reward):
            raise ValueError(f"reward: must be finite (got {reward!r})")
        with self._conn() as conn:
            row = conn.execute(
                f"UPDATE {TABLE} SET reward = %s, feedback_at = %s "
                "WHERE decision_id = %s AND reward IS NULL RETURNING arm, policy_version",
                (reward, time.time(), decision_id),
            ).fetchone()
            if row is not None:
                return FeedbackResult(FeedbackStatus.RECORDED, decision_id, reward, *row)
            row = conn.execute(
                f"SELECT reward, arm, policy_version FROM {TABLE} WHERE decision_id = %s",
                (decision_id,),
            ).fetchone()
        if row is None:
            raise DecisionNotFoundError(decision_id)
        recorded, arm, version = row
        if float(recorded) != reward:
            raise FeedbackConflictError(decision_id, float(recorded), reward)
        return FeedbackResult(FeedbackStatus.UNCHANGED, decision_id, reward, arm, version)

    def check_writable(self) -> None:
        """Write and commit a heartbeat row; raises `RuntimeError` if the log cannot be written."""
        import psycopg

        try:
            with self._conn() as conn:
                conn.execute(
                    f"INSERT INTO {META_TABLE} (key, value) VALUES ('ready_check', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    (repr(time.time()),),
                )
        except (psycopg.Error, TimeoutError) as exc:
            raise RuntimeError(f"decision log {self.shown_url}: not writable ({exc})") from exc

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """One decision as an exported row (see `export_logged_feedback`), or None."""
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {_EXPORT_COLUMNS} FROM {TABLE} WHERE decision_id = %s", (decision_id,)
            ).fetchone()
        return None if row is None else row_dict(row)

    def count(self) -> int:
        """Number of logged decisions."""
        with self._conn() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])

    def iter_rows(
        self, since: float | datetime | None = None, batch_size: int = 10_000
    ) -> Iterator[dict[str, Any]]:
        """Logged decisions in logged order as dicts (a server-side cursor, in batches)."""
        t0 = _as_time(since)
        sql = f"SELECT {_EXPORT_COLUMNS} FROM {TABLE}"
        params: tuple[Any, ...] = ()
        if t0 is not None:
            sql += " WHERE created_at >= %s"
            params = (t0,)
        with (
            self._conn() as conn,
            conn.transaction(),
            conn.cursor(name="alpharl_export") as cur,
        ):
            cur.itersize = batch_size
            cur.execute(sql + " ORDER BY seq", params)
            for row in cur:
                yield row_dict(row)

    def arm_totals(self) -> dict[str, ArmTotals]:
        """Per-arm decisions, rewarded decisions, and reward sums (one aggregate query)."""
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT arm, COUNT(*), COUNT(reward), COALESCE(SUM(reward), 0), "
                f"COALESCE(SUM(reward * reward), 0) FROM {TABLE} GROUP BY arm"
            ).fetchall()
        return {r[0]: ArmTotals(int(r[1]), int(r[2]), float(r[3]), float(r[4])) for r in rows}

    def rewards_in_feedback_order(self) -> tuple[np.ndarray, np.ndarray]:
        """Arms (``str``) and rewards (float64) of the rewarded decisions, by feedback time."""
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT arm, reward FROM {TABLE} WHERE reward IS NOT NULL "
                "ORDER BY feedback_at, seq"
            ).fetchall()
        if not rows:
            return np.array([], dtype=str), np.zeros(0)
        arms, rewards = zip(*rows, strict=True)
        return np.array(arms, dtype=str), np.array(rewards, dtype=np.float64)

    def close(self) -> None:
        """Close every connection; later calls raise."""
        if self._closed:
            return
        self._closed = True
        self._pool.close()
