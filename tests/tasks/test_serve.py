"""`alpharl serve`: the config becomes serving settings, and the CLI serves with uvicorn."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from ope_campaign import compose_config

from alpharl.config import ConfigError
from alpharl.features.spec import FeatureSpec
from alpharl.policy import LinearPolicy
from alpharl.tasks.serve import serve_settings
from alpharl.tracking.store import tracking_uri_for


def test_config_becomes_settings(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    cfg = compose_config(
        "serve",
        [
            f"paths.runs_dir={runs}",
            "port=9123",
            "challenger_alias=challenger",
            "challenger_share=0.25",
            "seed=3",
            "api_key_env=MY_KEY",
            "profile_store_url=redis://127.0.0.1:6379/2",
        ],
    )
    settings = serve_settings(cfg, environ={"MY_KEY": "s3cret"})
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 9123, 1)
    assert settings.champion_uri == "models:/alpharl-policy@champion"
    assert settings.challenger_uri == "models:/alpharl-policy@challenger"
    assert settings.challenger_share == 0.25
    assert settings.seed == 3
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.decision_log_url == f"sqlite:///{runs}/decisions.db"
    assert settings.profile_store_url == "redis://127.0.0.1:6379/2"
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        assert settings.tracking_uri == tracking_uri_for(runs)
    assert serve_settings(cfg, environ={}).api_key is None  # routes needing it answer 503


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["challenger_share=1.5"], r"challenger_share: .*less than or equal to 1 \(got 1\.5\)"),
        (["challenger_share=0.1"], "no challenger is configured"),
        (["decision_log_url=mysql://x"], r"decision_log_url: .*sqlite:///"),
        (["champion_alias=latest"], "champion_alias"),
        (["log_level=loud"], "log_level"),
        (["profile_store_url=memcached://x"], r"profile_store_url: .*redis://"),
    ],
)
def test_bad_values_name_the_key(overrides: list[str], message: str) -> None:
    cfg = compose_config("serve", overrides)
    with pytest.raises(ConfigError, match=message):
        serve_settings(cfg, environ={})


def test_unknown_key_is_an_error() -> None:
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="chalenger_share"):
        compose_config("serve", ["chalenger_share=0.1"])


def _policy_folder(path: Path, k: int = 3) -> Path:
    spec = FeatureSpec(n_creatives=k)
    theta = np.random.default_rng(0).normal(size=(k + 1, spec.dim))
    LinearPolicy(theta).save(path)
    spec.save(path / "feature_spec.json")
    (path / "catalog.json").write_text(json.dumps([{"id": f"c{i}"} for i in range(k)]))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.integration
def test_alpharl_serve_answers_decisions_and_feedback(tmp_path: Path) -> None:
    folder = _policy_folder(tmp_path / "policy")
    port = _free_port()
    db = tmp_path / "runs" / "decisions.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPHARL_SERVE_")}
    env |= {"SERVE_TEST_KEY": "k-123", "OMP_NUM_THREADS": "1"}
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "alpharl.cli", "serve", f"port={port}",
            f"policy_source={folder}", f"paths.runs_dir={tmp_path / 'runs'}",
            "api_key_env=SERVE_TEST_KEY", "text_enrichment=false", "poll_interval_s=0",
            "log_level=warning",
        ],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        d = FeatureSpec(n_creatives=3).dim
        body = {"context": [0.1] * d, "eligible_creatives": ["c1"]}
        got = httpx.post(f"{url}/v1/decide", json=body, timeout=5).json()
        assert got["creative_id"] in ("c1", None)
        assert got["policy_version"].startswith("sha-")
        fb = {"decision_id": got["decision_id"], "click": True}
        assert httpx.post(f"{url}/v1/feedback", json=fb, timeout=5).status_code == 401
        ok = httpx.post(f"{url}/v1/feedback", json=fb, headers={"X-API-Key": "k-123"}, timeout=5)
        assert ok.status_code == 200, ok.text
        assert ok.json()["status"] == "recorded"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        log.close()
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit by SIGTERM).
    assert proc.returncode in (0, -signal.SIGTERM), (tmp_path / "server.log").read_text()
    assert "Traceback" not in (tmp_path / "server.log").read_text()
    from alpharl.serving.log_reader import read_logged_feedback

    logged = read_logged_feedback(db)
    assert logged.n_rounds == 1
    assert logged.reward.tolist() == [1.0]
