"""The PostgreSQL decision log against a real server on 127.0.0.1: the SQLite log's contract
(same rows, write-once feedback, export), concurrency between processes, and durability of
an acknowledged decision through a crash of the database server."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from local_servers import PostgresServer, find_postgres_bindir, free_port

from alpharl.serving.decision_log import (
    DecisionLog,
    DecisionNotFoundError,
    DecisionRecord,
    FeedbackConflictError,
    FeedbackStatus,
)
from alpharl.serving.pg_decision_log import TABLE, PostgresDecisionLog
from alpharl.serving.settings import ServeSettings
from alpharl.serving.stores import DecisionStore, open_decision_log

REPO = Path(__file__).resolve().parents[2]


def _bindir() -> Path:
    bindir = find_postgres_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries: `pip install pgserver` (a dev dependency)")
    return bindir


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    server = PostgresServer(_bindir()).start()
    try:
        yield server
    finally:
        server.stop()


def _record(i: int, arm: str = "champion", mask: bool = False) -> DecisionRecord:
    return DecisionRecord(
        decision_id=uuid.uuid4().hex,
        created_at=1_000.0 + i,
        user_id=f"u{i}" if i % 4 else None,
        context=np.arange(4, dtype=np.float32) * 0.25 + i,
        mask=np.array([True, False, True, True]) if mask else None,
        n_actions=4,
        action=i % 4,
        propensity=0.5 + 0.1 * (i % 3),
        policy_name="ads",
        policy_version="7" if arm == "champion" else "8",
        arm=arm,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DecisionStore]:
    """The same contract, run on both logs."""
    if request.param == "sqlite":
        dlog: DecisionStore = open_decision_log(f"sqlite:///{tmp_path}/decisions.db")
    else:
        server: PostgresServer = request.getfixturevalue("pg")
        dlog = open_decision_log(server.url)
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(f"TRUNCATE {TABLE}")
    yield dlog
    dlog.close()


def test_rows_round_trip_like_the_sqlite_log(log: DecisionStore) -> None:
    records = [_record(i, mask=i % 2 == 0) for i in range(6)]
    log.append(records[0])
    log.append_many(records[1:])
    assert log.count() == 6
    rows = log.export_logged_feedback()
    assert [r["decision_id"] for r in rows] == [r.decision_id for r in records]
    first = rows[0]
    assert first == {
        "decision_id": records[0].decision_id,
        "created_at": 1000.0,
        "user_id": None,
        "context": [0.0, 0.25, 0.5, 0.75],
        "mask": [True, False, True, True],
        "n_actions": 4,
        "action": 0,
        "propensity": 0.5,
        "policy_name": "ads",
        "policy_version": "7",
        "arm": "champion",
        "reward": None,
        "feedback_at": None,
    }
    assert log.get(records[3].decision_id) == rows[3]
    assert log.get("no-such-id") is None
    assert [r["decision_id"] for r in log.iter_rows(since=1003.0)] == [
        r.decision_id for r in records[3:]
    ]


def test_feedback_is_write_once_and_idempotent(log: DecisionStore) -> None:
    rec = _record(1)
    log.append(rec)
    first = log.record_feedback(rec.decision_id, 1.0)
    assert first.status is FeedbackStatus.RECORDED
    assert (first.arm, first.policy_version) == ("champion", "7")
    assert log.record_feedback(rec.decision_id, 1.0).status is FeedbackStatus.UNCHANGED
    with pytest.raises(FeedbackConflictError, match=r"already has reward 1\.0"):
        log.record_feedback(rec.decision_id, 0.0)
    with pytest.raises(DecisionNotFoundError):
        log.record_feedback("missing", 1.0)
    with pytest.raises(ValueError, match="reward: must be finite"):
        log.record_feedback(rec.decision_id, float("nan"))
    row = log.get(rec.decision_id)
    assert row is not None
    assert row["reward"] == 1.0
    assert row["feedback_at"] is not None


def test_append_many_is_all_or_nothing(log: DecisionStore) -> None:
    kept = _record(0)
    log.append(kept)
    clash = dataclasses.replace(_record(1), decision_id=kept.decision_id)
    with pytest.raises((psycopg.errors.UniqueViolation, sqlite3.IntegrityError)):
        log.append_many([_record(2), clash])
    assert log.count() == 1


def test_totals_order_and_ope_export_agree_with_sqlite(log: DecisionStore, tmp_path: Path) -> None:
    reference = DecisionLog(tmp_path / "ref.db")
    records = [_record(i, arm="challenger" if i % 3 == 0 else "champion") for i in range(9)]
    for store in (log, reference):
        store.append_many(records)
        for i, rec in enumerate(records[:7]):
            store.record_feedback(rec.decision_id, float(i % 2))
    assert log.arm_totals() == reference.arm_totals()
    arms, rewards = log.rewards_in_feedback_order()
    ref_arms, ref_rewards = reference.rewards_in_feedback_order()
    assert arms.tolist() == ref_arms.tolist()
    assert rewards.tolist() == ref_rewards.tolist()
    got = log.to_logged_feedback(arm="champion")
    want = reference.to_logged_feedback(arm="champion")
    np.testing.assert_array_equal(got.context, want.context)
    np.testing.assert_array_equal(got.action, want.action)
    np.testing.assert_array_equal(got.reward, want.reward)
    np.testing.assert_array_equal(got.pscore, want.pscore)
    reference.close()


_WORKER = """
import sys, uuid, numpy as np
from alpharl.serving.decision_log import DecisionRecord, FeedbackConflictError
from alpharl.serving.pg_decision_log import PostgresDecisionLog
url, worker, n, shared = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(",")
log = PostgresDecisionLog(url, pool_size=2)
for i in range(n):
    log.append(DecisionRecord(uuid.uuid4().hex, 2000.0 + i, f"w{worker}", np.zeros(4, "f4"),
                              None, 4, i % 4, 0.25, "ads", "7", "champion"))
won = 0
for did in shared:  # both workers race to give each shared decision a different reward
    try:
        won += log.record_feedback(did, float(worker)).status == "recorded"
    except FeedbackConflictError:
        pass
print(won)
log.close()
"""


def test_two_processes_append_and_race_feedback(pg: PostgresServer) -> None:
    log = PostgresDecisionLog(pg.url)
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLE}")
    shared = [_record(i) for i in range(40)]
    log.append_many(shared)
    ids = ",".join(r.decision_id for r in shared)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_WORKER), pg.url, str(w), "150", ids],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in (0, 1)
    ]
    won = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert log.count() == 40 + 2 * 150
    assert sum(won) == 40  # each shared decision got exactly one reward
    rewards = [log.get(r.decision_id)["reward"] for r in shared]  # type: ignore[index]
    assert set(rewards) <= {0.0, 1.0}
    assert rewards.count(1.0) == won[1]
    log.close()


def test_threads_share_the_pool(pg: PostgresServer) -> None:
    log = PostgresDecisionLog(pg.url, pool_size=3)
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLE}")
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(30):
                log.append(_record(100 * k + i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert log.count() == 240
    log.close()


_ACK = """
import sys, uuid, numpy as np
from alpharl.serving.decision_log import DecisionRecord
from alpharl.serving.pg_decision_log import PostgresDecisionLog
log = PostgresDecisionLog(sys.argv[1])
for i in range(int(sys.argv[2])):
    did = uuid.uuid4().hex
    log.append(DecisionRecord(did, 3000.0 + i, "u", np.ones(4, "f4"), None, 4, 1, 0.5,
                              "ads", "7", "champion"))
    print(did, flush=True)  # the acknowledgement: sent only after append returned
"""


def test_acknowledged_decisions_survive_a_database_crash() -> None:
    # The server's default is synchronous_commit=off, under which a commit returns before
    # its WAL reaches the kernel and a crash loses the last ~200 ms of commits; the log
    # turns it on for its own connections, so every acknowledged decision must survive.
    server = PostgresServer(_bindir(), {"synchronous_commit": "off", "wal_writer_delay": "10s"})
    server.start()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_ACK), server.url, "200"],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        acked = [line.split()[0] for line in proc.stdout or []]
        proc.wait(60)
        assert len(acked) == 200
        server.kill9()  # postmaster and backends, no shutdown checkpoint
        server.start()  # crash recovery replays the WAL
        log = PostgresDecisionLog(server.url)
        assert log.count() == 200
        assert all(log.get(did) is not None for did in acked[-5:])
        with log._pool.connection() as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        log.close()
    finally:
        server.stop()


def test_schema_version_mismatch_is_refused(pg: PostgresServer) -> None:
    PostgresDecisionLog(pg.url).close()
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute("UPDATE alpharl_meta SET value = '99' WHERE key = 'schema_version'")
    try:
        with pytest.raises(RuntimeError, match="schema version 99, this code writes 1"):
            PostgresDecisionLog(pg.url)
    finally:
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute("UPDATE alpharl_meta SET value = '1' WHERE key = 'schema_version'")


def test_unreachable_and_closed_logs_fail_clearly(pg: PostgresServer) -> None:
    url = f"postgresql://ads:s3cret@127.0.0.1:{free_port()}/ads"
    with pytest.raises(RuntimeError, match="cannot open") as err:
        PostgresDecisionLog(url, connect_timeout_s=1.0)
    assert "s3cret" not in str(err.value)
    assert "ads:***@" in str(err.value)
    log = PostgresDecisionLog(pg.url)
    log.check_writable()
    log.close()
    with pytest.raises(RuntimeError, match="is closed"):
        log.append(_record(0))


def test_settings_accept_postgresql_urls(pg: PostgresServer) -> None:
    settings = ServeSettings(decision_log_url=pg.url)
    assert settings.decision_log_url == pg.url
    with pytest.raises(ValueError, match="is no file"):
        _ = settings.decision_log_path
    with pytest.raises(ValueError, match="must be sqlite:///<path> or postgresql://"):
        ServeSettings(decision_log_url="mysql://db/ads")
    log: Any = open_decision_log(pg.url)
    assert isinstance(log, PostgresDecisionLog)
    log.close()
