"""The durable decision log: every served decision and, later, its reward, in SQLite.

One table, ``decisions``, one row per decision: its id (uuid4 hex), time, user, context
(little-endian float32 bytes), eligibility mask (one byte per action, NULL for "all
eligible"), the chosen action and its propensity, the policy's name, version and arm
(``champion`` / ``challenger``), and the reward with its time once feedback arrives.

Durability. The database runs in WAL mode with ``synchronous=NORMAL`` by default: a
commit appends to the write-ahead log without an fsync, so a committed row survives the
server process dying at any point (``kill -9`` included: the bytes are in the operating
system's page cache and the next open replays the WAL), but the last commits before a
power failure or an OS crash can be lost. ``synchronous=FULL`` fsyncs the WAL on every
commit and survives those as well, at the cost of a disk flush per decision. Either way
a decision's row is committed before `append` returns, and the server answers only after
that, so an acknowledged decision is never lost to a crash of the server.

Checkpoints. SQLite's automatic WAL checkpoint would run inside whichever commit crosses
1,000 pages and fsync the database there, a latency spike on that request. The log turns
it off on the writer and checkpoints (``PASSIVE``: never blocks writers or readers) from a
background thread every ``checkpoint_interval_s`` instead.

Concurrency. FastAPI runs plain ``def`` routes in a thread pool. All writes go through
one connection guarded by a lock (SQLite admits one writer at a time anyway), and
concurrent `DecisionLog.append` calls share commits (group commit: rows that queue while
a commit runs are committed together by the next writer, each caller returning once its
own row's transaction has committed). Each transaction that reads before it writes starts
with ``BEGIN IMMEDIATE``, so it is atomic across processes too (``--workers``). Reads
(export, experiment statistics) use one connection per thread, which under WAL never
block the writer.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import numpy as np

from alpharl.serving.log_rows import LogExports, row_dict

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    decision_id    TEXT PRIMARY KEY,
    created_at     REAL NOT NULL,
    user_id        TEXT,
    context        BLOB NOT NULL,
    mask           BLOB,
    n_actions      INTEGER NOT NULL,
    action         INTEGER NOT NULL,
    propensity     REAL NOT NULL,
    policy_name    TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    arm            TEXT NOT NULL,
    reward         REAL,
    feedback_at    REAL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_INSERT = (
    "INSERT INTO decisions (decision_id, created_at, user_id, context, mask, n_actions, "
    "action, propensity, policy_name, policy_version, arm) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)

_EXPORT_COLUMNS = (
    "decision_id, created_at, user_id, context, mask, n_actions, action, propensity, "
    "policy_name, policy_version, arm, reward, feedback_at"
)


class DecisionNotFoundError(KeyError):
    """Feedback for a decision id the log does not hold."""

    def __init__(self, decision_id: str) -> None:
        super().__init__(decision_id)
        self.decision_id = decision_id

    def __str__(self) -> str:
        return f"decision_id: no decision {self.decision_id!r} in the log"


class FeedbackConflictError(ValueError):
    """A different reward for a decision that already has one."""

    def __init__(self, decision_id: str, recorded: float, given: float) -> None:
        super().__init__(
            f"decision_id: decision {decision_id!r} already has reward {recorded!r}; "
            f"refusing the different reward {given!r} (feedback is write-once)"
        )
        self.decision_id = decision_id
        self.recorded = recorded
        self.given = given


class FeedbackStatus(StrEnum):
    """What `DecisionLog.record_feedback` did."""

    RECORDED = "recorded"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision to log.

    Args:
        decision_id: uuid4 hex.
        created_at: Unix time in seconds.
        user_id: Who the decision was for, if known.
        context: The ``(d,)`` float32 context the policy saw.
        mask: ``(n_actions,)`` bool eligibility, or None when every action was eligible.
        n_actions: Number of actions of the policy (K creatives + no ad).
        action: The chosen action.
        propensity: Its probability under the serving policy.
        policy_name: Registered model name (or the local folder's name).
        policy_version: The serving version.
        arm: ``champion`` or ``challenger``.
    """

    decision_id: str
    created_at: float
    user_id: str | None
    context: np.ndarray
    mask: np.ndarray | None
    n_actions: int
    action: int
    propensity: float
    policy_name: str
    policy_version: str
    arm: str

    def as_params(self) -> tuple[Any, ...]:
        """The row's values in `_INSERT`'s order."""
        mask = None if self.mask is None else self.mask.astype(np.uint8).tobytes()
        return (
            self.decision_id,
            self.created_at,
            self.user_id,
            np.ascontiguousarray(self.context, dtype="<f4").tobytes(),
            mask,
            self.n_actions,
            self.action,
            self.propensity,
            self.policy_name,
            self.policy_version,
            self.arm,
        )


@dataclass(slots=True)
class _Pending:
    """A row waiting for a group commit (see `DecisionLog.append`)."""

    params: tuple[Any, ...]
    done: bool = False
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    """The outcome of `DecisionLog.record_feedback`."""

    status: FeedbackStatus
    decision_id: str
    reward: float
    arm: str
    policy_version: str


@dataclass(frozen=True, slots=True)
class ArmTotals:
    """Running totals of one arm: decisions, rewarded decisions, sum and sum of squares."""

    decisions: int
    feedback: int
    reward_sum: float
    reward_sq_sum: float


def _as_time(value: float | datetime | None) -> float | None:
    if value is None or isinstance(value, float | int):
        return value
    return value.timestamp()


class DecisionLog(LogExports):
    """A SQLite decision log (see the module docstring for durability and concurrency).

    Args:
        path: The database file; its folder is created if missing.
        synchronous: ``NORMAL`` (survives a server crash) or ``FULL`` (also power loss).
        busy_timeout_ms: How long a connection waits for another process's write lock.
        checkpoint_interval_s: Seconds between background WAL checkpoints; 0 leaves
            checkpoints to SQLite (inside commits).
    """

    def __init__(
        self,
        path: str | Path,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout_ms: int = 5000,
        checkpoint_interval_s: float = 1.0,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous: must be 'NORMAL' or 'FULL' (got {synchronous!r})")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.synchronous = synchronous
        self._busy_ms = int(busy_timeout_ms)
        self._write_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._writer = self._connect()
        mode = self._writer.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"{self.path}: cannot switch the decision log to WAL (got {mode})")
        self._writer.executescript(_SCHEMA)
        self._writer.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
        found = self._writer.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()[0]
        if found != str(SCHEMA_VERSION):
            raise RuntimeError(
                f"{self.path}: decision log schema version {found}, this code writes "
                f"{SCHEMA_VERSION}"
            )
        self._ckpt_stop = threading.Event()
        self._ckpt_thread: threading.Thread | None = None
        if checkpoint_interval_s > 0:
            self._writer.execute("PRAGMA wal_autocheckpoint=0")
            self._ckpt_thread = threading.Thread(
                target=self._checkpoint_loop,
                args=(self._connect(), float(checkpoint_interval_s)),
                name="alpharl-wal-checkpoint",
                daemon=True,
            )
            self._ckpt_thread.start()

    def _checkpoint_loop(self, conn: sqlite3.Connection, interval: float) -> None:
        try:
            while not self._ckpt_stop.wait(interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # retried next interval; the WAL just grows
                    logger.warning("%s: WAL checkpoint failed: %s", self.path, exc)
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self._busy_ms / 1e3
        )
        conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise RuntimeError(f"{self.path}: the decision log is closed")
            conn = self._connect()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock: ``BEGIN IMMEDIATE`` ... ``COMMIT``."""
        with self._write_lock:
            if self._closed:
                raise RuntimeError(f"{self.path}: the decision log is closed")
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def append(self, record: DecisionRecord) -> None:
        """Commit one decision; when this returns, the row is durable (see module doc).

        Group commit: a thread that finds the writer busy queues its row; the next thread
        to get the writer commits every queued row in one transaction, and each caller
        returns only once the transaction holding its row has committed. One commit's
        cost (a WAL append of the touched pages) is so shared by concurrent requests.

        Raises:
            sqlite3.Error: This row could not be written (others in its group still are).
            RuntimeError: The log is closed.
        """
        slot = _Pending(record.as_params())
        with self._queue_lock:
            self._queue.append(slot)
        with self._write_lock:
            if not slot.done:
                if self._closed:
                    raise RuntimeError(f"{self.path}: the decision log is closed")
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._commit_group(group)
        if slot.error is not None:
            raise slot.error

    def _commit_group(self, group: list[_Pending]) -> None:
        """Insert the queued rows in one transaction (the caller holds the write lock).

        Every row of ``group`` leaves done: committed, or with the error that kept it out.
        """
        conn = self._writer
        try:
            if len(group) == 1:
                conn.execute(_INSERT, group[0].params)  # autocommit: one statement, one commit
            else:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany(_INSERT, [p.params for p in group])
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            for pending in group:
                pending.done = True
        except sqlite3.Error as exc:
            if len(group) == 1:
                group[0].error = exc
            else:  # one bad row must not fail its group: commit them one by one
                for pending in group:
                    try:
                        conn.execute(_INSERT, pending.params)
                    except sqlite3.Error as row_exc:
                        pending.error = row_exc
                    pending.done = True
        finally:
            for pending in group:
                if not pending.done:
                    pending.done = True
                    pending.error = pending.error or RuntimeError(
                        f"{self.path}: the decision was not committed (the commit was interrupted)"
                    )

    def append_many(self, records: Sequence[DecisionRecord]) -> None:
        """Commit several decisions in one transaction (all or none)."""
        rows = [r.as_params() for r in records]
        with self._transaction() as conn:
            conn.executemany(_INSERT, rows)

    def record_feedback(self, decision_id: str, reward: float) -> FeedbackResult:
        """Attach a reward to a logged decision, exactly once.

        The same reward again is accepted and changes nothing (retries are safe).

        Args:
            decision_id: The id `append` logged.
            reward: A finite reward (1.0 / 0.0 for a click, or a conversion value).

        Raises:
            DecisionNotFoundError: No such decision.
            FeedbackConflictError: The decision already has a different reward.
            ValueError: ``reward`` is not finite.
        """
        reward = float(reward)
        if not math.isfinite(reward):
            raise ValueError(f"reward: must be finite (got {reward!r})")
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT reward, arm, policy_version FROM decisions WHERE decision_id = ?",
                (decision_id,),
            ).fetchone()
            if row is None:
                raise DecisionNotFoundError(decision_id)
            recorded, arm, version = row
            if recorded is not None:
                if float(recorded) != reward:
                    raise FeedbackConflictError(decision_id, float(recorded), reward)
                return FeedbackResult(FeedbackStatus.UNCHANGED, decision_id, reward, arm, version)
            conn.execute(
                "UPDATE decisions SET reward = ?, feedback_at = ? WHERE decision_id = ?",
                (reward, time.time(), decision_id),
            )
        return FeedbackResult(FeedbackStatus.RECORDED, decision_id, reward, arm, version)

    def check_writable(self) -> None:
        """Write and commit a heartbeat row; raises `sqlite3.Error` if the log cannot be written."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('ready_check', ?)",
                (repr(time.time()),),
            )

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """One decision as an exported row (see `export_logged_feedback`), or None."""
        row = (
            self._reader()
            .execute(
                f"SELECT {_EXPORT_COLUMNS} FROM decisions WHERE decision_id = ?", (decision_id,)
            )
            .fetchone()
        )
        return None if row is None else row_dict(row)

    def count(self) -> int:
        """Number of logged decisions."""
        return int(self._reader().execute("SELECT COUNT(*) FROM decisions").fetchone()[0])

    def iter_rows(
        self, since: float | datetime | None = None, batch_size: int = 10_000
    ) -> Iterator[dict[str, Any]]:
        """Logged decisions in logged order as dicts (see `export_logged_feedback`)."""
        t0 = _as_time(since)
        sql = f"SELECT {_EXPORT_COLUMNS} FROM decisions"
        params: tuple[Any, ...] = ()
        if t0 is not None:
            sql += " WHERE created_at >= ?"
            params = (t0,)
        cursor = self._reader().execute(sql + " ORDER BY rowid", params)
        while True:
            chunk = cursor.fetchmany(batch_size)
            if not chunk:
                return
            for row in chunk:
                yield row_dict(row)

    def arm_totals(self) -> dict[str, ArmTotals]:
        """Per-arm decisions, rewarded decisions, and reward sums (one aggregate query)."""
        rows = (
            self._reader()
            .execute(
                "SELECT arm, COUNT(*), COUNT(reward), COALESCE(SUM(reward), 0), "
                "COALESCE(SUM(reward * reward), 0) FROM decisions GROUP BY arm"
            )
            .fetchall()
        )
        return {r[0]: ArmTotals(int(r[1]), int(r[2]), float(r[3]), float(r[4])) for r in rows}

    def rewards_in_feedback_order(self) -> tuple[np.ndarray, np.ndarray]:
        """Arms (``str``) and rewards (float64) of the rewarded decisions, by feedback time."""
        rows = (
            self._reader()
            .execute(
                "SELECT arm, reward FROM decisions WHERE reward IS NOT NULL "
                "ORDER BY feedback_at, rowid"
            )
            .fetchall()
        )
        if not rows:
            return np.array([], dtype=str), np.zeros(0)
        arms, rewards = zip(*rows, strict=True)
        return np.array(arms, dtype=str), np.array(rewards, dtype=np.float64)

    def close(self) -> None:
        """Close every connection; later calls raise."""
        self._ckpt_stop.set()
        if self._ckpt_thread is not None:
            self._ckpt_thread.join()
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
