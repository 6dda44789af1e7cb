"""Decision ids: UUIDv7 hex, unique, ordered by time (the decision log's index grows at its end)."""

from __future__ import annotations

import time
import uuid

from alpharl.serving.schemas import FeedbackRequest
from alpharl.serving.service import new_decision_id


def test_ids_are_uuid7_hex_unique_and_time_ordered() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_decision_id() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for i in ids[:50]:
        u = uuid.UUID(i)
        assert (u.version, u.variant) == (7, uuid.RFC_4122)
        assert u.hex == i
        assert before <= int(i[:12], 16) <= after
        FeedbackRequest(decision_id=i, click=True)  # the feedback route accepts it
    time.sleep(0.002)
    later = new_decision_id()
    assert all(later > i for i in ids)  # a later millisecond sorts after every earlier id
