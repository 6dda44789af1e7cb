"""O(1) experiment and a read-only readiness probe; credentials never shown."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from serving_fixtures import AUTH, SPEC, make_model_dir

from alpharl.redaction import redact_text, redact_url
from alpharl.serving.experiment import RunningExperiment, msprt, summarize_arm
from alpharl.tasks.serve import startup_line

D = SPEC.dim


def _fail(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("this call scans the log; the route must not make it")


def test_experiment_reads_running_sums_not_the_log(
    client_for: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = client_for(
        make_model_dir(tmp_path / "a", seed=1),
        challenger_source=str(make_model_dir(tmp_path / "b", seed=2)),
        challenger_share=0.5,
    )
    rng = np.random.default_rng(0)
    for i in range(120):
        d = client.post("/v1/decide", json={"context": [0.1] * D, "user_id": f"u{i}"}).json()
        if i % 4:
            reward = float(rng.random() < (0.7 if d["arm"] == "challenger" else 0.3))
            fb = {"decision_id": d["decision_id"], "conversion_value": reward}
            assert client.post("/v1/feedback", json=fb, headers=AUTH).status_code == 200
    log = client.app.state.serving.log  # type: ignore[attr-defined]
    arms, rewards = log.rewards_in_feedback_order()
    want_test = msprt(arms, rewards, tau=0.05)
    want_arms = {a: summarize_arm(a, t) for a, t in log.arm_totals().items()}
    # a server started on this log (a restart) seeds the same numbers from it
    restarted_arms, restarted_test = RunningExperiment.from_log(log, tau=0.05).snapshot()
    running = client.app.state.serving.service.experiment  # type: ignore[attr-defined]
    running_arms, running_test = running.snapshot()
    assert restarted_arms == running_arms  # rewards are 0 or 1 here: the sums are exact
    assert restarted_test.p_value == pytest.approx(running_test.p_value, rel=1e-9)
    assert restarted_test.difference == pytest.approx(running_test.difference, rel=1e-9)
    # the route must not scan the log: make every scanning call fail the test
    log.rewards_in_feedback_order = _fail
    log.arm_totals = _fail
    got = client.get("/v1/experiment").json()
    assert got["test"]["p_value"] == pytest.approx(want_test.p_value, rel=1e-9)
    assert got["test"]["difference"] == pytest.approx(want_test.difference, rel=1e-9)
    assert got["test"]["n_challenger"] == want_test.n_challenger
    for arm in got["arms"]:
        want = want_arms[arm["arm"]]
        assert (arm["decisions"], arm["feedback"]) == (want.decisions, want.feedback)
        assert arm["mean_reward"] == pytest.approx(want.mean_reward, rel=1e-12)
        assert arm["ci95_low"] == pytest.approx(want.ci_low, rel=1e-9)


def test_readyz_never_writes(client: TestClient) -> None:
    log = client.app.state.serving.log  # type: ignore[attr-defined]
    log.check_writable = _fail  # the old probe: a write transaction per call
    log.append = _fail
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["ready"] is True


def test_urls_lose_their_credentials() -> None:
    assert redact_url("postgresql://ads:s3cr@t@db:5432/log") == "postgresql://ads:***@db:5432/log"
    assert redact_url("redis://:pw@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact_url("https://t0ken@mlflow.example/") == "https://***@mlflow.example/"
    assert redact_url("http://mlflow/x?token=abc&a=1") == "http://mlflow/x?token=***&a=1"
    assert redact_url("postgresql://ads@db/log") == "postgresql://ads@db/log"  # no secret
    assert redact_url("sqlite:///runs/decisions.db") == "sqlite:///runs/decisions.db"
    text = "failed: http://u:p1@h1/a and postgres://v:p2@h2/b"
    assert redact_text(text) == "failed: http://u:***@h1/a and postgres://v:***@h2/b"


def test_the_startup_line_hides_passwords(settings_for: Callable[..., Any], model_v1: Path) -> None:
    settings = settings_for(
        model_v1,
        decision_log_url="postgresql://ads:hunter2@db:5432/log",
        profile_store_url="redis://:s3cret@cache:6379/0",
    )
    line = startup_line(settings)
    assert "hunter2" not in line
    assert "s3cret" not in line
    assert "postgresql://ads:***@db:5432/log" in line


def test_tracking_credentials_stay_out_of_logs_and_reload_reasons(
    client_for: Callable[..., TestClient],
    model_v1: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    caplog.set_level(logging.ERROR)
    client = client_for(
        model_v1,
        policy_source="models:/ads@champion",
        tracking_uri="http://alice:s3cret@127.0.0.1:9/",
    )
    out = client.post("/v1/admin/reload", headers=AUTH).json()
    reason = out["champion"]["reason"]
    assert "alice:***@127.0.0.1:9" in reason
    assert "s3cret" not in reason
    assert "s3cret" not in caplog.text
    assert "alice:***@" in caplog.text
