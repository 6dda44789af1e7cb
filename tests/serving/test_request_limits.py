"""Hostile requests: body size, key before body, strict types, bounds, surrogates, echoes.

Each test sends what once got through (a body of any size parsed on the event loop, a body
parsed before the key was checked, ``"yes"`` as a click, a lone surrogate that became a 500,
a 5 MB key echoed in full, a post dated in year 9999, ...) and checks the answer now.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serving_fixtures import AUTH, SPEC

from alpharl.schema import EMOTIONS

D = SPEC.dim
ENRICHED = {
    "sentiment": {"compound": 0.6, "pos": 0.5, "neu": 0.5, "neg": 0.0},
    "emotions": dict.fromkeys(EMOTIONS, 0.0) | {"joy": 0.7, "neutral": 0.3},
    "intents": {"purchase": 0.6, "complaint": 0.0, "research": 0.2, "praise": 0.2, "other": 0.0},
    "topic": "tech",
}
JSON = {"content-type": "application/json"}


def _post(client: TestClient, path: str, raw: str | bytes, **headers: str) -> Any:
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    return client.post(path, content=data, headers=JSON | headers)


def _decision(client: TestClient) -> str:
    r = client.post("/v1/decide", json={"context": [0.1] * D, "user_id": "u"})
    assert r.status_code == 200, r.text
    return str(r.json()["decision_id"])


def test_a_body_over_the_limit_is_413_before_parsing(
    client_for: Callable[..., TestClient], model_v1: Path
) -> None:
    client = client_for(model_v1, max_body_bytes=4096)
    big = json.dumps({"user_id": "u", "text": "word " * 2000})
    r = _post(client, "/v1/decide", big)
    assert r.status_code == 413
    assert "4096 bytes allowed" in r.json()["detail"]
    assert "ALPHARL_SERVE_MAX_BODY_BYTES" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it is read
        yield b'{"user_id": "u", "text": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    r = client.post("/v1/decide", content=chunks(), headers=JSON)
    assert r.status_code == 413
    assert "read so far" in r.json()["detail"]
    # within the limit, everything works as before
    assert client.post("/v1/decide", json={"user_id": "u", "text": "great deal"}).status_code == 200
    assert client.get("/healthz").status_code == 200


def test_the_key_is_checked_before_the_body(client: TestClient) -> None:
    garbage = b"{not json at all" + b"x" * 10_000_000  # bigger than the limit, and not JSON
    for path in ("/v1/feedback", "/v1/admin/reload"):
        r = _post(client, path, garbage)
        assert r.status_code == 401, r.text  # not 413 or 422: the body was never read
        assert r.headers["www-authenticate"] == "X-API-Key"
        r = _post(client, path, garbage, **{"X-API-Key": "wrong"})
        assert r.status_code == 401
    r = _post(client, "/v1/feedback", b"{not json", **AUTH)
    assert r.status_code == 422  # with the key the body is parsed and refused as usual


def test_no_key_configured_means_503_before_the_body(
    client_for: Callable[..., TestClient], model_v1: Path
) -> None:
    client = client_for(model_v1, api_key=None)
    r = _post(client, "/v1/feedback", b"{not json", **AUTH)
    assert r.status_code == 503
    assert "ALPHARL_SERVE_API_KEY" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"click": "yes"}, ["body", "click"]),
        ({"click": 1}, ["body", "click"]),
        ({"conversion_value": "5"}, ["body", "conversion_value"]),
        ({"conversion_value": True}, ["body", "conversion_value"]),
    ],
)
def test_feedback_types_are_strict(
    client: TestClient, body: dict[str, Any], loc: list[str]
) -> None:
    r = client.post("/v1/feedback", json={"decision_id": _decision(client)} | body, headers=AUTH)
    assert r.status_code == 422, r.text
    assert any(e["loc"] == loc for e in r.json()["detail"])


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"context": [True] + [0.0] * (D - 1)}, ["body", "context", 0]),
        ({"context": ["0.5"] + [0.0] * (D - 1)}, ["body", "context", 0]),
        ({"user_id": 5, "text": "hi"}, ["body", "user_id"]),
        ({"user_id": "u", "text": "hi", "created_at": 1700000000}, ["body", "created_at"]),
        ({"user_id": "u", "text": "\u200b\u200c\u2060\ufeff"}, ["body", "text"]),
        ({"user_id": "u", "text": "hi\x00there"}, ["body", "text"]),
        ({"user_id": "u\x00", "text": "hi"}, ["body", "user_id"]),
        (
            {"context": [0.0] * D, "campaign": {"budget_left_frac": False, "time_left_frac": 1}},
            ["body", "campaign", "budget_left_frac"],
        ),
        ({"user_id": "u", "enriched": ENRICHED | {"emotions": dict.fromkeys(EMOTIONS, 1.0)}},
         ["body", "enriched", "emotions"]),
        ({"user_id": "u", "enriched": ENRICHED | {"intents": {"purchase": 1.0, "complaint": 1.0,
          "research": 1.0, "praise": 1.0, "other": 1.0}}}, ["body", "enriched", "intents"]),
        ({"user_id": "u", "enriched": ENRICHED | {"sentiment": {"compound": 0.0, "pos": 1.0,
          "neu": 1.0, "neg": 1.0}}}, ["body", "enriched", "sentiment"]),
        ({"user_id": "u", "text": "hi", "fatigue": [1e300, 0.0, 0.0]}, ["body", "fatigue", 0]),
    ],
)  # fmt: skip
def test_decide_refuses_nonsense(client: TestClient, body: dict[str, Any], loc: list[Any]) -> None:
    r = client.post("/v1/decide", json=body)
    assert r.status_code == 422, r.text
    assert any(e["loc"] == loc for e in r.json()["detail"]), r.json()


def test_probabilities_summing_to_seven_are_named(client: TestClient) -> None:
    body = {"user_id": "u", "enriched": ENRICHED | {"emotions": dict.fromkeys(EMOTIONS, 1.0)}}
    msg = client.post("/v1/decide", json=body).json()["detail"][0]["msg"]
    assert "must sum to 1 (got 7)" in msg


@pytest.mark.parametrize(
    "raw",
    [
        '{"user_id": "u", "text": "caf\\ud800"}',
        '{"user_id": "\\ud800", "text": "fine"}',
        '{"context": ' + json.dumps([0.0] * D) + ', "eligible_creatives": ["c0", "\\udfff"]}',
        '{"user_id": "u", "\\ud800": 1, "text": "fine"}',
        '{"user_id": "u", "enriched": '
        + json.dumps(ENRICHED | {"brands": ["\\ud800"]}).replace("\\\\ud800", "\\ud800")
        + "}",
    ],
)
def test_a_lone_surrogate_is_a_422_not_a_500(client: TestClient, raw: str) -> None:
    r = _post(client, "/v1/decide", raw)
    assert r.status_code == 422, r.text
    body = json.loads(r.content.decode("utf-8"))  # the answer itself is valid UTF-8
    kinds = {"string_unicode", "extra_forbidden"}  # pydantic's strict str refuses them too
    assert any("surrogate" in e["msg"] or e["type"] in kinds for e in body["detail"]), body


def test_errors_echo_only_a_short_prefix(
    client_for: Callable[..., TestClient], model_v1: Path
) -> None:
    client = client_for(model_v1, max_body_bytes=16 << 20)
    key = "k" * 5_000_000
    r = _post(client, "/v1/decide", json.dumps({"context": [0.0] * D, key: "v" * 5_000_000}))
    assert r.status_code == 422
    assert len(r.content) < 2_000
    (err,) = r.json()["detail"]
    assert err["loc"][1].startswith("kkk")
    assert len(err["loc"][1]) <= 80
    assert len(err["input"]) <= 80
    many = {"context": [True] * 50_000}  # 50,000 errors: the answer lists 20 and a count
    r = client.post("/v1/decide", json=many)
    assert r.status_code == 422
    assert len(r.json()["detail"]) == 21
    assert r.json()["detail"][-1]["msg"] == "49980 more"


def test_a_post_from_the_future_is_refused_and_cannot_pin_a_profile(client: TestClient) -> None:
    r = client.post(
        "/v1/decide",
        json={"user_id": "ann", "text": "great deal", "created_at": "9999-01-01T00:00:00Z"},
    )
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert err["loc"] == ["body", "created_at"]
    assert "ahead of the server's clock" in err["msg"]
    enriched = ENRICHED | {"created_at": "9999-01-01T00:00:00"}
    r = client.post("/v1/decide", json={"user_id": "ann", "enriched": enriched})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "enriched", "created_at"]
    # nothing was folded in: the next post is the profile's first, at its own time
    assert (
        client.post("/v1/decide", json={"user_id": "ann", "text": "great deal"}).status_code == 200
    )
    book = client.app.state.serving.service.profiles  # type: ignore[attr-defined]
    assert book.get("ann", SPEC.half_life_hours).weight == pytest.approx(1.0)
    r = client.post(
        "/v1/decide", json={"user_id": "u", "text": "hi", "created_at": "1969-12-31T00:00:00Z"}
    )
    assert r.status_code == 422


def test_a_huge_conversion_value_is_refused_and_experiment_keeps_answering(
    client: TestClient,
) -> None:
    d = _decision(client)
    r = client.post(
        "/v1/feedback", json={"decision_id": d, "conversion_value": 1e308}, headers=AUTH
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "conversion_value"]
    assert "at most 1e+06" in r.json()["detail"][0]["msg"]
    r = client.post("/v1/feedback", json={"decision_id": d, "conversion_value": 1e6}, headers=AUTH)
    assert r.status_code == 200
    assert client.get("/v1/experiment").status_code == 200
