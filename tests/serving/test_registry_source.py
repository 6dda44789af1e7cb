"""Serving from the MLflow registry: aliases resolve, move, and a bad version is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serving_fixtures import API_KEY, AUTH, CREATIVES, SPEC, KeywordEnricher, make_model_dir

from alpharl.features.spec import FeatureSpec
from alpharl.serving import ServeSettings, create_app
from alpharl.tracking.models import get_version_by_alias, log_policy_model, set_alias
from alpharl.tracking.runs import Tracker
from alpharl.tracking.store import TrackingStore, artifact_root_for, tracking_uri_for

NAME = "serve-test-ads"
D = SPEC.dim


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three registered versions: 1 and 2 serve; 3 carries a spec of the wrong width."""
    runs_dir = tmp_path_factory.mktemp("runs")
    store = TrackingStore(tracking_uri_for(runs_dir), artifact_root_for(runs_dir), "default")
    tracker = Tracker(store, flush_every=10)
    tmp = tmp_path_factory.mktemp("policies")
    versions = []
    specs = [SPEC, SPEC, FeatureSpec(blocks=("post", "topic"))]
    for i, spec in enumerate(specs):
        folder = make_model_dir(tmp / f"p{i}", seed=i, spec=None, dim=D)
        with tracker.start_run("serving-test", run_name=f"v{i + 1}") as run:
            logged = log_policy_model(
                run, folder, registered_model_name=NAME, feature_spec=spec.to_dict(),
                catalog=[{"id": c} for c in CREATIVES], feature_names=SPEC.names,
            )  # fmt: skip
        versions.append(logged.version)
    set_alias(NAME, "champion", versions[0], store)
    return {"store": store, "versions": versions}


@pytest.fixture
def client(registry: dict[str, Any], tmp_path: Path) -> Iterator[TestClient]:
    store: TrackingStore = registry["store"]
    set_alias(NAME, "champion", registry["versions"][0], store)
    settings = ServeSettings(
        model_name=NAME,
        challenger_alias="challenger",
        tracking_uri=store.tracking_uri,
        decision_log_url=f"sqlite:///{tmp_path / 'd.db'}",
        api_key=API_KEY,
        poll_interval_s=0,
    )
    with TestClient(create_app(settings, enricher_factory=KeywordEnricher)) as c:
        yield c


def _version(client: TestClient, user: str = "u") -> tuple[str, str]:
    r = client.post("/v1/decide", json={"user_id": user, "text": "great phone deal"})
    assert r.status_code == 200, r.text
    return r.json()["policy_version"], r.json()["policy_name"]


def test_alias_moves_are_served_and_bad_versions_refused(
    client: TestClient, registry: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    store = registry["store"]
    v1, v2, v3 = registry["versions"]
    assert _version(client) == (v1, NAME)
    # No challenger alias yet: reported unavailable, all traffic on the champion.
    out = client.post("/v1/admin/reload", headers=AUTH).json()
    assert out["champion"]["status"] == "unchanged"
    assert out["challenger"]["status"] == "unavailable"
    set_alias(NAME, "champion", v2, store)
    out = client.post("/v1/admin/reload", headers=AUTH).json()
    assert (out["champion"]["status"], out["champion"]["version"]) == ("loaded", v2)
    assert _version(client)[0] == v2
    set_alias(NAME, "champion", v3, store)
    with caplog.at_level("ERROR", logger="alpharl.serving.model_holder"):
        out = client.post("/v1/admin/reload", headers=AUTH).json()
    assert out["champion"]["status"] == "refused"
    assert out["champion"]["candidate"] == v3
    assert f"describes 25 features but the policy takes {D}" in out["champion"]["reason"]
    assert any(f"version {v3}" in m and "25 features" in m for m in caplog.messages)
    assert _version(client)[0] == v2
    assert get_version_by_alias(NAME, "champion", store).version == v3
    assert 'alpharl_model_refusals_total{arm="champion"} 1.0' in client.get("/metrics").text


def test_challenger_alias_takes_its_share(registry: dict[str, Any], tmp_path: Path) -> None:
    store = registry["store"]
    v1, v2, _ = registry["versions"]
    set_alias(NAME, "champion", v1, store)
    set_alias(NAME, "challenger", v2, store)
    settings = ServeSettings(
        model_name=NAME, challenger_alias="challenger", challenger_share=1.0,
        tracking_uri=store.tracking_uri, decision_log_url=f"sqlite:///{tmp_path / 'd.db'}",
        poll_interval_s=0,
    )  # fmt: skip
    with TestClient(create_app(settings, enricher_factory=KeywordEnricher)) as client:
        r = client.post("/v1/decide", json={"context": [0.0] * D})
        assert (r.json()["arm"], r.json()["policy_version"]) == ("challenger", v2)
        ready = client.get("/readyz").json()
        assert ready["models"] == {"champion": v1, "challenger": v2}
