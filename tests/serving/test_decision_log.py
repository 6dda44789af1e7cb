"""The SQLite decision log: round trip, write-once feedback, export for OPE, concurrency."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from alpharl.ope.dataset import LoggedBanditFeedback
from alpharl.serving.decision_log import (
    DecisionLog,
    DecisionNotFoundError,
    DecisionRecord,
    FeedbackConflictError,
    FeedbackStatus,
)


def _record(i: int, arm: str = "champion", mask: bool = False, d: int = 4) -> DecisionRecord:
    ctx = np.arange(d, dtype=np.float32) * 0.25 + i
    m = np.array([True, False, True, True]) if mask else None
    return DecisionRecord(
        decision_id=uuid.uuid4().hex,
        created_at=1_000.0 + i,
        user_id=f"u{i}",
        context=ctx,
        mask=m,
        n_actions=4,
        action=i % 4,
        propensity=0.5 + 0.1 * (i % 3),
        policy_name="ads",
        policy_version="7" if arm == "champion" else "8",
        arm=arm,
    )


@pytest.fixture
def log(tmp_path: Path):  # type: ignore[no-untyped-def]
    dlog = DecisionLog(tmp_path / "sub" / "decisions.db")
    yield dlog
    dlog.close()


def test_wal_mode_and_synchronous(log: DecisionLog) -> None:
    conn = sqlite3.connect(log.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert log._writer.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    full = DecisionLog(log.path, synchronous="FULL")
    assert full._writer.execute("PRAGMA synchronous").fetchone()[0] == 2
    full.close()
    with pytest.raises(ValueError, match="synchronous"):
        DecisionLog(log.path, synchronous="OFF")  # type: ignore[arg-type]


def test_round_trip_keeps_every_field(log: DecisionLog) -> None:
    rec = _record(3, mask=True)
    log.append(rec)
    row = log.get(rec.decision_id)
    assert row is not None
    assert row["context"] == rec.context.astype(np.float64).tolist()
    assert row["mask"] == [True, False, True, True]
    assert (row["action"], row["propensity"], row["arm"]) == (3, rec.propensity, "champion")
    assert (row["policy_name"], row["policy_version"], row["user_id"]) == ("ads", "7", "u3")
    assert row["reward"] is None
    assert row["feedback_at"] is None
    assert log.get("0" * 32) is None


def test_feedback_is_write_once_and_idempotent(log: DecisionLog) -> None:
    rec = _record(1)
    log.append(rec)
    first = log.record_feedback(rec.decision_id, 1.0)
    assert first.status is FeedbackStatus.RECORDED
    assert (first.arm, first.policy_version) == ("champion", "7")
    fb_at = log.get(rec.decision_id)["feedback_at"]  # type: ignore[index]
    again = log.record_feedback(rec.decision_id, 1.0)
    assert again.status is FeedbackStatus.UNCHANGED
    assert log.get(rec.decision_id)["feedback_at"] == fb_at  # type: ignore[index]
    with pytest.raises(FeedbackConflictError, match=r"already has reward 1\.0.*0\.0"):
        log.record_feedback(rec.decision_id, 0.0)
    assert log.get(rec.decision_id)["reward"] == 1.0  # type: ignore[index]
    with pytest.raises(DecisionNotFoundError, match="no decision 'nope'"):
        log.record_feedback("nope", 1.0)
    with pytest.raises(ValueError, match="reward: must be finite"):
        log.record_feedback(rec.decision_id, float("nan"))


def test_export_feeds_logged_bandit_feedback(log: DecisionLog) -> None:
    recs = [_record(i, arm="champion" if i % 2 else "challenger") for i in range(6)]
    log.append_many(recs[:3])
    for r in recs[3:]:
        log.append(r)
    for r, reward in zip(recs[:4], (1.0, 0.0, 2.5, 1.0), strict=True):
        log.record_feedback(r.decision_id, reward)
    rows = log.export_logged_feedback()
    assert [r["decision_id"] for r in rows] == [r.decision_id for r in recs]  # logged order
    data = log.to_logged_feedback()
    assert isinstance(data, LoggedBanditFeedback)
    assert data.n_rounds == 4
    assert data.n_excluded == 2
    assert data.n_actions == 4
    np.testing.assert_allclose(data.reward, [1.0, 0.0, 2.5, 1.0])
    np.testing.assert_allclose(data.pscore, [r.propensity for r in recs[:4]])
    np.testing.assert_allclose(data.context, np.stack([r.context for r in recs[:4]]))
    assert list(data.policy_version) == [r.policy_version for r in recs[:4]]
    champ = log.to_logged_feedback(arm="champion")
    assert champ.n_rounds == 2
    assert set(champ.policy_version) == {"7"}
    later = log.export_logged_feedback(since=1_004.0)
    assert [r["decision_id"] for r in later] == [recs[4].decision_id, recs[5].decision_id]


def test_append_many_is_all_or_nothing(log: DecisionLog) -> None:
    a, b = _record(1), _record(2)
    log.append(a)
    fields = {f: getattr(b, f) for f in b.__slots__}
    dup = DecisionRecord(**(fields | {"decision_id": a.decision_id}))
    with pytest.raises(sqlite3.IntegrityError):
        log.append_many([b, dup])
    assert log.count() == 1
    assert log.get(b.decision_id) is None


def test_arm_totals_and_feedback_order(log: DecisionLog) -> None:
    recs = [_record(i, arm=("champion", "challenger")[i % 2]) for i in range(5)]
    log.append_many(recs)
    for r, reward in ((recs[3], 2.0), (recs[0], 1.0), (recs[1], 3.0)):
        log.record_feedback(r.decision_id, reward)
        time.sleep(0.002)
    totals = log.arm_totals()
    assert (totals["champion"].decisions, totals["champion"].feedback) == (3, 1)
    assert (totals["challenger"].decisions, totals["challenger"].feedback) == (2, 2)
    assert totals["challenger"].reward_sum == 5.0
    assert totals["challenger"].reward_sq_sum == 13.0
    arms, rewards = log.rewards_in_feedback_order()
    assert arms.tolist() == ["challenger", "champion", "challenger"]
    assert rewards.tolist() == [2.0, 1.0, 3.0]


def test_threads_append_concurrently_without_loss(log: DecisionLog) -> None:
    ids: list[list[str]] = [[] for _ in range(6)]

    def work(t: int) -> None:
        for i in range(100):
            rec = _record(i)
            log.append(rec)
            ids[t].append(rec.decision_id)
            if i % 5 == 0:
                assert log.get(rec.decision_id) is not None  # each thread's own reader
                log.record_feedback(rec.decision_id, 1.0)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert log.count() == 600
    stored = {r["decision_id"] for r in log.iter_rows()}
    assert stored == {i for t in ids for i in t}
    assert log.arm_totals()["champion"].feedback == 120


def test_two_logs_on_one_file_race_feedback_atomically(tmp_path: Path) -> None:
    """Two connections (as two workers would have) race different rewards: one wins."""
    a = DecisionLog(tmp_path / "d.db")
    b = DecisionLog(tmp_path / "d.db")
    recs = [_record(i) for i in range(50)]
    a.append_many(recs)
    outcomes: dict[str, list[str]] = {r.decision_id: [] for r in recs}

    def send(log: DecisionLog, reward: float) -> None:
        for r in recs:
            try:
                log.record_feedback(r.decision_id, reward)
                outcomes[r.decision_id].append(f"ok{reward}")
            except FeedbackConflictError:
                outcomes[r.decision_id].append("conflict")

    ta = threading.Thread(target=send, args=(a, 1.0))
    tb = threading.Thread(target=send, args=(b, 0.0))
    ta.start()
    tb.start()
    ta.join()
    tb.join()
    for r in recs:
        assert sorted(outcomes[r.decision_id])[0] == "conflict"
        assert len(outcomes[r.decision_id]) == 2
        winner = next(o for o in outcomes[r.decision_id] if o != "conflict")
        assert a.get(r.decision_id)["reward"] == float(winner[2:])  # type: ignore[index]
    a.close()
    b.close()


def test_closed_log_refuses_and_reopens_with_data(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path / "d.db")
    rec = _record(0)
    log.append(rec)
    log.close()
    with pytest.raises(RuntimeError, match="closed"):
        log.append(_record(1))
    again = DecisionLog(tmp_path / "d.db")
    assert again.get(rec.decision_id) is not None
    again.check_writable()
    again.close()


def test_schema_version_mismatch_is_refused(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path / "d.db")
    log._writer.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    log.close()
    with pytest.raises(RuntimeError, match="schema version 99"):
        DecisionLog(tmp_path / "d.db")


def test_background_checkpoint_replaces_sqlites_in_commit_checkpoint(tmp_path: Path) -> None:
    """Commits never checkpoint; a background thread copies the WAL into the database."""
    log = DecisionLog(tmp_path / "d.db", checkpoint_interval_s=0.05)
    assert log._writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    db_before = log.path.stat().st_size
    log.append_many([_record(i) for i in range(200)])
    for i in range(200, 260):
        log.append(_record(i))
    deadline = time.monotonic() + 10
    while log.path.stat().st_size <= db_before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert log.path.stat().st_size > db_before  # the rows reached the database file
    thread = log._ckpt_thread
    assert thread is not None
    assert thread.is_alive()
    log.close()
    assert not thread.is_alive()
    log.close()  # a second close is harmless
    again = DecisionLog(tmp_path / "d.db", checkpoint_interval_s=0)
    assert again.count() == 260
    assert again._ckpt_thread is None
    assert again._writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    again.close()


def test_read_only_reader_matches_the_log_and_never_writes(tmp_path: Path) -> None:
    from alpharl.serving.log_reader import read_logged_feedback

    db = tmp_path / "d.db"
    log = DecisionLog(db)
    recs = [_record(i, arm=("champion", "challenger")[i % 2], mask=i % 3 == 0) for i in range(9)]
    log.append_many(recs)
    for r in recs[:7]:
        log.record_feedback(r.decision_id, float(r.action % 2))
    # The server is still running (the log is open for writing) while evaluation reads.
    data = read_logged_feedback(db)
    ref = log.to_logged_feedback()
    assert (data.n_rounds, data.n_excluded, data.n_actions) == (7, 2, 4)
    for name in ("context", "action", "reward", "pscore", "action_mask"):
        np.testing.assert_array_equal(getattr(data, name), getattr(ref, name))
    assert data.action_mask is not None
    assert data.action_mask[0].tolist() == [True, False, True, True]
    assert read_logged_feedback(db, arm="challenger").n_rounds == 3
    assert read_logged_feedback(db, since=1_004.0).n_rounds == 3
    log.close()
    mtime = db.stat().st_mtime_ns
    assert read_logged_feedback(db).n_rounds == 7
    assert db.stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match=r"arm: the .* holds no decision of arm 'blue'"):
        read_logged_feedback(db, arm="blue")
    with pytest.raises(FileNotFoundError, match="no decision log at this path"):
        read_logged_feedback(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ValueError, match="not an AlphaRL decision log"):
        read_logged_feedback(other)
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ValueError, match="not an AlphaRL decision log"):
        read_logged_feedback(tmp_path / "junk.db")


def test_concurrent_appends_share_a_commit_and_a_bad_row_fails_alone(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path / "d.db")
    first = _record(0)
    log.append(first)
    sizes: list[int] = []
    commit_group = log._commit_group

    def recording(group):  # type: ignore[no-untyped-def]
        sizes.append(len(group))
        commit_group(group)

    log._commit_group = recording  # type: ignore[method-assign]
    fields = {f: getattr(first, f) for f in first.__slots__}
    duplicate = DecisionRecord(**(fields | {"user_id": "dup"}))  # same decision_id as `first`
    records = [_record(i) for i in range(1, 8)] + [duplicate]
    errors: dict[int, BaseException] = {}

    def send(i: int) -> None:
        try:
            log.append(records[i])
        except sqlite3.Error as exc:
            errors[i] = exc

    log._write_lock.acquire()  # a commit in progress: the appends queue behind it
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(records))]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 10
    while len(log._queue) < len(records) and time.monotonic() < deadline:
        time.sleep(0.005)
    log._write_lock.release()
    for th in threads:
        th.join(10)
    assert sizes[0] == len(records)  # the whole queue went in one group
    assert list(errors) == [len(records) - 1]
    assert isinstance(errors[len(records) - 1], sqlite3.IntegrityError)
    assert log.count() == 8  # first + the seven good rows of the group
    assert log.get(first.decision_id)["user_id"] == "u0"  # type: ignore[index]
    log.close()
    with pytest.raises(RuntimeError, match="closed"):
        log.append(_record(99))
