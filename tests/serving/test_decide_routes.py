"""``/v1/decide`` through the app: the three inputs, masks, logging, and 422s naming the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from serving_fixtures import CREATIVES, SPEC, K, make_model_dir

from alpharl.features.featurizer import Featurizer
from alpharl.policy import load_policy
from alpharl.schema import EMOTIONS, EnrichedPost, Post, Sentiment

D = SPEC.dim
IDX = {name: i for i, name in enumerate(SPEC.names)}

ENRICHED: dict[str, Any] = {
    "created_at": "2024-05-04T15:00:00Z",
    "sentiment": {"compound": 0.6, "pos": 0.5, "neu": 0.5, "neg": 0.0},
    "emotions": dict.fromkeys(EMOTIONS, 0.0) | {"joy": 0.7, "neutral": 0.3},
    "intents": {"purchase": 0.6, "complaint": 0.0, "research": 0.2, "praise": 0.2, "other": 0.0},
    "topic": "tech",
}


def _log_row(client: TestClient, decision_id: str) -> dict[str, Any]:
    row = client.app.state.serving.log.get(decision_id)  # type: ignore[attr-defined]
    assert row is not None
    return row  # type: ignore[no-any-return]


def test_context_decision_is_logged_with_its_propensity(client: TestClient, model_v1: Path) -> None:
    x = np.linspace(-1, 1, D).round(3).tolist()
    r = client.post("/v1/decide", json={"context": x})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "decision_id", "creative_id", "action", "propensity", "policy_name", "policy_version",
        "arm",
    }  # fmt: skip
    assert body["arm"] == "champion"
    assert body["policy_version"].startswith("sha-")
    action = body["action"]
    assert body["creative_id"] == (CREATIVES[action] if action < K else None)
    policy = load_policy(model_v1)
    probs = policy.action_probabilities(np.array([x], dtype=np.float32))[0]
    assert body["propensity"] == pytest.approx(probs[action])
    row = _log_row(client, body["decision_id"])
    np.testing.assert_allclose(row["context"], np.float32(x))
    assert (row["action"], row["propensity"], row["mask"]) == (action, body["propensity"], None)
    assert (row["n_actions"], row["arm"], row["user_id"]) == (K + 1, "champion", None)


def test_eligible_creatives_restrict_the_choice(
    client_for: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = client_for(make_model_dir(tmp_path / "greedy", seed=3, epsilon=0.0))
    rng = np.random.default_rng(0)
    for _ in range(30):
        x = rng.normal(size=D).tolist()
        r = client.post("/v1/decide", json={"context": x, "eligible_creatives": ["c1"]})
        assert r.status_code == 200
        assert r.json()["creative_id"] in ("c1", None)
        row = _log_row(client, r.json()["decision_id"])
        assert row["mask"] == [False, True, False, True]
        assert r.json()["propensity"] == 1.0


def test_enriched_post_is_featurized_with_the_saved_spec(client: TestClient) -> None:
    body = {"user_id": "ann", "enriched": ENRICHED, "campaign": {"budget_left_frac": 0.25,
            "time_left_frac": 0.5}, "fatigue": [1.0, 0.0, 2.0]}  # fmt: skip
    r = client.post("/v1/decide", json=body)
    assert r.status_code == 200, r.text
    ctx = np.array(_log_row(client, r.json()["decision_id"])["context"], dtype=np.float32)
    post = Post(id="p", created_at=np.datetime64("2024-05-04T15:00:00").item(),
                platform="x", author_id="ann", text="hi")  # fmt: skip
    ep = EnrichedPost(
        post, Sentiment(0.6, 0.5, 0.5, 0.0), ENRICHED["emotions"], ENRICHED["intents"], "tech"
    )
    from alpharl.features.featurizer import CampaignState
    from alpharl.features.profiles import InMemoryProfileStore, post_profile_values

    store = InMemoryProfileStore(SPEC.half_life_hours)
    state = store.update("ann", post_profile_values(ep), post.created_at.timestamp())
    expected = Featurizer(SPEC).vector(
        ep, state, CampaignState(0.25, 0.5), np.array([1.0, 0.0, 2.0])
    )
    np.testing.assert_array_equal(ctx, expected)
    assert ctx[IDX["topic_tech"]] == 1.0
    assert ctx[IDX["campaign_budget_left"]] == 0.25


def test_text_posts_build_the_users_profile_and_fatigue(
    client_for: Callable[..., TestClient], tmp_path: Path
) -> None:
    theta = np.zeros((K + 1, D))
    theta[0, IDX["campaign_budget_left"]] = 10.0  # c0 always wins while budget is left
    client = client_for(make_model_dir(tmp_path / "c0", seed=0, epsilon=0.0, theta=theta))
    contexts, actions = [], []
    for i in range(3):
        r = client.post(
            "/v1/decide",
            json={"user_id": "bo", "text": f"I love this great phone {i}",
                  "created_at": f"2024-05-04T1{i}:00:00Z"},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        actions.append(r.json()["action"])
        contexts.append(np.array(_log_row(client, r.json()["decision_id"])["context"]))
    activity = [c[IDX["profile_activity"]] for c in contexts]
    assert activity[0] < activity[1] < activity[2]
    assert contexts[0][IDX["post_emotion_joy"]] > 0.5
    assert contexts[0][IDX["topic_tech"]] == 1.0
    other = client.post("/v1/decide", json={"user_id": "cy", "text": "I hate it, awful"})
    ctx = np.array(_log_row(client, other.json()["decision_id"])["context"])
    assert ctx[IDX["profile_activity"]] == pytest.approx(activity[0])
    assert ctx[IDX["profile_sentiment_compound"]] < 0
    # Impressions served to "bo" count as fatigue in later contexts (no ad counts none);
    # fatigue decays in serving time, so over this test it stays within 1% of the count.
    expected = np.bincount([a for a in actions[:2] if a < K], minlength=K + 1)[:K]
    assert actions == [0, 0, 0]
    fatigue = contexts[2][[IDX[f"fatigue_{k}"] for k in range(K)]]
    np.testing.assert_allclose(fatigue, expected, atol=0.01)


def test_batch_decides_in_order_and_logs_all(client: TestClient) -> None:
    reqs = [{"context": [0.1 * i] * D} for i in range(5)]
    reqs.append({"user_id": "dee", "text": "great deal, buy now"})
    r = client.post("/v1/decide/batch", json={"requests": reqs})
    assert r.status_code == 200, r.text
    decisions = r.json()["decisions"]
    assert len(decisions) == 6
    for i, d in enumerate(decisions[:5]):
        row = _log_row(client, d["decision_id"])
        np.testing.assert_allclose(row["context"], np.float32([0.1 * i] * D))
        assert row["action"] == d["action"]
    assert _log_row(client, decisions[5]["decision_id"])["user_id"] == "dee"


@pytest.mark.parametrize(
    ("body", "loc", "needle"),
    [
        ({"context": [1.0] * (D - 1)}, ["body", "context"], f"must have {D} values"),
        ({"user_id": "u", "text": "   "}, ["body", "text"], "empty"),
        ({"user_id": "u", "text": ""}, ["body", "text"], "empty"),
        ({"user_id": "u", "text": "hi", "context": [0.0] * D}, ["body"], "text and context"),
        ({"user_id": "u"}, ["body"], "none of them"),
        ({"text": "hello"}, ["body"], "user_id: is required with text"),
        ({"context": [0.0] * D, "eligible_creatives": ["c0", "zz"]},
         ["body", "eligible_creatives", 1], "unknown creative id 'zz'"),
        ({"context": [0.0] * D, "bogus": 1}, ["body", "bogus"], "Extra inputs"),
        ({"context": ["a"] + [0.0] * (D - 1)}, ["body", "context", 0], "valid number"),
        ({"context": [1e39] + [0.0] * (D - 1)}, ["body", "context", 0], "float32"),
        ({"user_id": "u", "enriched": {**ENRICHED, "topic": "cars"}},
         ["body", "enriched", "topic"], "must be one of"),
        ({"user_id": "u", "enriched": {**ENRICHED, "emotions": {"joy": 1.0}}},
         ["body", "enriched", "emotions", "anger"], "Field required"),
        ({"user_id": "u", "text": "hi", "fatigue": [1.0]}, ["body", "fatigue"], "must have 3"),
        ({"context": [0.0] * D, "campaign": {"budget_left_frac": 2, "time_left_frac": 0}},
         ["body", "campaign", "budget_left_frac"], "less than or equal"),
    ],
)  # fmt: skip
def test_malformed_requests_name_the_field(
    client: TestClient, body: dict[str, Any], loc: list[Any], needle: str
) -> None:
    r = client.post("/v1/decide", json=body)
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]
    assert any(e["loc"] == loc and needle in e["msg"] for e in errors), errors


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_context_is_a_422_not_a_500(client: TestClient, literal: str) -> None:
    raw = '{"context": [' + ",".join([literal] + ["0"] * (D - 1)) + "]}"
    r = client.post("/v1/decide", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert err["loc"] == ["body", "context", 0]
    assert "finite" in err["msg"]
    assert err["input"] in ("nan", "inf", "-inf")


def test_limits_from_settings(client_for: Callable[..., TestClient], model_v1: Path) -> None:
    client = client_for(model_v1, max_text_chars=10, max_batch=2, max_eligible=1)
    r = client.post("/v1/decide", json={"user_id": "u", "text": "x" * 11})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "text"]
    r = client.post("/v1/decide/batch", json={"requests": [{"context": [0.0] * D}] * 3})
    assert r.json()["detail"][0]["loc"] == ["body", "requests"]
    r = client.post("/v1/decide", json={"context": [0.0] * D, "eligible_creatives": ["c0", "c1"]})
    assert r.json()["detail"][0]["loc"] == ["body", "eligible_creatives"]


def test_text_without_enricher_is_503(
    client_for: Callable[..., TestClient], model_v1: Path
) -> None:
    client = client_for(model_v1, text_enrichment=False)
    r = client.post("/v1/decide", json={"user_id": "u", "text": "hello"})
    assert r.status_code == 503
    assert "text enrichment is unavailable" in r.json()["detail"]
    assert client.post("/v1/decide", json={"context": [0.0] * D}).status_code == 200


def test_model_without_spec_takes_only_contexts(
    client_for: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = client_for(make_model_dir(tmp_path / "nospec", seed=2, spec=None, dim=5))
    assert client.post("/v1/decide", json={"context": [0.5] * 5}).status_code == 200
    r = client.post("/v1/decide", json={"user_id": "u", "text": "hello"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "text"]
    assert "without a feature spec" in r.json()["detail"][0]["msg"]
