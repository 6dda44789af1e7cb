"""Feedback, experiment, health, metrics and admin routes through the app."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from serving_fixtures import AUTH, SPEC, make_model_dir

D = SPEC.dim


def _decide(client: TestClient, user: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"context": [0.2] * D}
    if user is not None:
        body["user_id"] = user
    r = client.post("/v1/decide", json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_feedback_write_once_over_http(client: TestClient) -> None:
    d = _decide(client)
    fb = {"decision_id": d["decision_id"], "click": True}
    r = client.post("/v1/feedback", json=fb, headers=AUTH)
    assert r.status_code == 200
    assert r.json() == {
        "decision_id": d["decision_id"], "reward": 1.0, "status": "recorded",
        "arm": "champion", "policy_version": d["policy_version"],
    }  # fmt: skip
    again = client.post("/v1/feedback", json=fb, headers=AUTH)
    assert again.status_code == 200
    assert again.json()["status"] == "unchanged"
    clash = client.post(
        "/v1/feedback", json={"decision_id": d["decision_id"], "click": False}, headers=AUTH
    )
    assert clash.status_code == 409
    assert "already has reward 1.0" in clash.json()["detail"]
    unknown = {"decision_id": "a" * 32, "click": True}
    missing = client.post("/v1/feedback", json=unknown, headers=AUTH)
    assert missing.status_code == 404
    assert "a" * 32 in missing.json()["detail"]
    d2 = _decide(client)
    conv = {"decision_id": d2["decision_id"], "conversion_value": 12.5}
    assert client.post("/v1/feedback", json=conv, headers=AUTH).json()["reward"] == 12.5


@pytest.mark.parametrize(
    ("body", "loc", "needle"),
    [
        ({"decision_id": "x" * 32, "click": True}, ["body", "decision_id"], "pattern"),
        ({"decision_id": "a" * 32}, ["body"], "neither"),
        ({"decision_id": "a" * 32, "click": True, "conversion_value": 1.0}, ["body"], "both"),
        ({"decision_id": "a" * 32, "conversion_value": -1.0}, ["body", "conversion_value"],
         "greater than or equal"),
    ],
)  # fmt: skip
def test_malformed_feedback_names_the_field(
    client: TestClient, body: dict[str, object], loc: list[str], needle: str
) -> None:
    r = client.post("/v1/feedback", json=body, headers=AUTH)
    assert r.status_code == 422
    assert any(e["loc"] == loc and needle in e["msg"] for e in r.json()["detail"]), r.json()


def test_feedback_and_admin_need_the_api_key(
    client_for: Callable[..., TestClient], model_v1: Path
) -> None:
    client = client_for(model_v1)
    d = _decide(client)
    fb = {"decision_id": d["decision_id"], "click": True}
    assert client.post("/v1/feedback", json=fb).status_code == 401
    wrong = client.post("/v1/feedback", json=fb, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    assert "X-API-Key" in wrong.json()["detail"]
    assert client.post("/v1/admin/reload").status_code == 401
    keyless = client_for(model_v1, api_key=None)
    r = keyless.post("/v1/feedback", json=fb)
    assert r.status_code == 503
    assert "ALPHARL_SERVE_API_KEY" in r.json()["detail"]


def test_settings_repr_never_shows_the_key(client: TestClient) -> None:
    settings = client.app.state.serving.settings  # type: ignore[attr-defined]
    assert "test-key-123" not in repr(settings)
    assert "test-key-123" not in str(settings.model_dump())


def test_challenger_split_is_sticky_and_reported(
    client_for: Callable[..., TestClient], tmp_path: Path, model_v1: Path
) -> None:
    v2 = make_model_dir(tmp_path / "v2", seed=2)
    client = client_for(model_v1, challenger_source=str(v2), challenger_share=0.5)
    seen: dict[str, set[str]] = {}
    rng = np.random.default_rng(0)
    for i in range(400):
        user = f"user{i % 40}"
        d = _decide(client, user)
        seen.setdefault(user, set()).add(str(d["arm"]))
        reward = float(rng.random() < (0.6 if d["arm"] == "challenger" else 0.2))
        client.post(
            "/v1/feedback", json={"decision_id": d["decision_id"], "conversion_value": reward},
            headers=AUTH,
        )  # fmt: skip
    assert all(len(arms) == 1 for arms in seen.values())
    n_challenger_users = sum(arms == {"challenger"} for arms in seen.values())
    assert 8 <= n_challenger_users <= 32
    exp = client.get("/v1/experiment").json()
    arms = {a["arm"]: a for a in exp["arms"]}
    assert arms["champion"]["decisions"] + arms["challenger"]["decisions"] == 400
    assert arms["challenger"]["decisions"] == 10 * n_challenger_users
    assert arms["challenger"]["feedback_rate"] == 1.0
    assert arms["challenger"]["mean_reward"] > arms["champion"]["mean_reward"]
    lo, hi = arms["champion"]["ci95_low"], arms["champion"]["ci95_high"]
    assert lo < arms["champion"]["mean_reward"] < hi
    assert arms["challenger"]["policy_version"] != arms["champion"]["policy_version"]
    test = exp["test"]
    assert test["p_value"] < 0.01
    assert test["difference"] > 0
    assert "Johari" in test["reference"]


def test_health_ready_metrics_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    d = _decide(client)
    client.post("/v1/feedback", json={"decision_id": d["decision_id"], "click": True}, headers=AUTH)
    client.post("/v1/decide", json={"context": [1.0]})  # a 422
    text = client.get("/metrics").text
    assert re.search(
        r'alpharl_http_requests_total\{method="POST",route="/v1/decide",status="200"\} 1\.0', text
    )
    assert 'route="/v1/decide",status="422"} 1.0' in text
    assert 'alpharl_http_request_duration_seconds_count{method="POST",route="/v1/decide"}' in text
    creative = d["creative_id"] or "none"
    assert f'alpharl_decisions_total{{arm="champion",creative="{creative}"}} 1.0' in text
    assert 'alpharl_feedback_total{arm="champion",kind="click"} 1.0' in text
    assert 'alpharl_feedback_fraction{arm="champion"} 1.0' in text
    assert f'version="{d["policy_version"]}"}} 1.0' in text
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/decide", "/v1/decide/batch", "/v1/feedback", "/v1/experiment", "/healthz",
            "/readyz", "/metrics", "/v1/admin/reload"} <= set(paths)  # fmt: skip


def test_readyz_is_503_until_a_champion_loads(
    client_for: Callable[..., TestClient], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = make_model_dir(tmp_path / "broken", seed=1)
    (broken / "arrays.npz").write_bytes(b"not a zip")
    with caplog.at_level("ERROR", logger="alpharl.serving"):
        client = client_for(broken)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["problems"] == ["no champion model loaded"]
    assert client.post("/v1/decide", json={"context": [0.0] * D}).status_code == 503
    assert any("refusing champion" in m and "arrays.npz" in m for m in caplog.messages)
    assert client.get("/healthz").status_code == 200
    # Fix the folder in place: a reload picks the new content up (a new digest).
    make_model_dir(broken, seed=1)
    out = client.post("/v1/admin/reload", headers=AUTH).json()
    assert out["champion"]["status"] == "loaded"
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/decide", json={"context": [0.0] * D}).status_code == 200


def test_readyz_reports_an_unusable_log(client: TestClient) -> None:
    client.app.state.serving.log.close()  # type: ignore[attr-defined]
    r = client.get("/readyz")
    assert r.status_code == 503
    assert "decision log not readable" in r.json()["problems"][0]
    # the decide that fails to write is a 500, and readiness says why until a write succeeds
    no_raise = TestClient(client.app, raise_server_exceptions=False)  # no second lifespan
    assert no_raise.post("/v1/decide", json={"context": [0.0] * D}).status_code == 500
    problems = client.get("/readyz").json()["problems"]
    assert any(p.startswith("the last write to the decision log failed") for p in problems)
