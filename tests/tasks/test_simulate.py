"""`alpharl simulate`: simulated people use a decision server; the log matches what they sent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from alpharl.config import ConfigError
from alpharl.creatives import load_catalog
from alpharl.features.spec import FeatureSpec
from alpharl.policy import EpsilonGreedyRule, LinearPolicy
from alpharl.serving import ServeSettings, create_app
from alpharl.serving.log_reader import read_logged_feedback
from alpharl.tasks.simulate import simulate

KEY = "sim-key"


def _policy_folder(path: Path) -> tuple[Path, LinearPolicy]:
    catalog = load_catalog(None)
    spec = FeatureSpec(n_creatives=len(catalog))
    theta = np.random.default_rng(0).normal(size=(len(catalog) + 1, spec.dim))
    policy = LinearPolicy(theta, rule=EpsilonGreedyRule(0.3))
    policy.save(path)
    spec.save(path / "feature_spec.json")
    (path / "catalog.json").write_text(json.dumps([{"id": c.id} for c in catalog]))
    return path, policy


def test_simulated_traffic_lands_in_the_decision_log(
    compose_task,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, policy = _policy_folder(tmp_path / "policy")
    db = tmp_path / "served.db"
    settings = ServeSettings(
        policy_source=str(folder), decision_log_url=f"sqlite:///{db}", api_key=KEY,
        poll_interval_s=0, text_enrichment=False, seed=0,
    )  # fmt: skip
    monkeypatch.setenv("ALPHARL_SERVE_API_KEY", KEY)
    cfg = compose_task("simulate", ["n_requests=300", "env.horizon=100", "seed=3"])
    with TestClient(create_app(settings)) as client:
        result = simulate(cfg, client)
    assert result.n_requests == 300
    assert result.masks[np.arange(300), result.actions].all()  # the server kept to them
    assert set(result.arms) == {"champion"}
    assert result.versions[0].startswith("sha-")
    assert 0.0 < result.expected_ctr < 1.0
    assert "requests       300 (champion v" in result.render()
    logged = read_logged_feedback(db)
    assert (logged.n_rounds, logged.n_excluded) == (300, 0)
    np.testing.assert_array_equal(logged.action, result.actions)
    np.testing.assert_array_equal(logged.reward, result.clicks)
    np.testing.assert_allclose(logged.context, result.contexts, rtol=1e-6)
    np.testing.assert_array_equal(logged.action_mask, result.masks)  # type: ignore[arg-type]
    # The served policy's true value on this traffic is what its clicks estimate.
    truth = result.true_value(policy)
    assert abs(truth - result.expected_ctr) < 0.05
    assert abs(result.clicks.mean() - truth) < 4 * np.sqrt(truth * (1 - truth) / 300) + 0.02


def test_feedback_needs_the_key(compose_task, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ALPHARL_SERVE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"api_key_env: \$ALPHARL_SERVE_API_KEY is not set"):
        simulate(compose_task("simulate", ["n_requests=1"]))


def test_a_refused_request_stops_with_the_servers_answer(
    compose_task,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, _ = _policy_folder(tmp_path / "policy")
    (folder / "catalog.json").write_text(json.dumps([{"id": f"other{i}"} for i in range(8)]))
    settings = ServeSettings(
        policy_source=str(folder), decision_log_url=f"sqlite:///{tmp_path / 'd.db'}",
        poll_interval_s=0, text_enrichment=False,
    )  # fmt: skip
    cfg = compose_task("simulate", ["n_requests=5", "feedback=false"])
    with (
        TestClient(create_app(settings)) as client,
        pytest.raises(RuntimeError, match=r"POST /v1/decide answered 422: .*unknown creative id"),
    ):
        simulate(cfg, client)
