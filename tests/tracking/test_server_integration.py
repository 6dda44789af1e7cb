"""A run logged over HTTP to a real ``mlflow server`` started on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from alpharl.tracking.runs import Tracker
from alpharl.tracking.store import resolve_store

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"mlflow server at {url} not healthy after {timeout_s}s")


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("wb")
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    cmd = [
        str(mlflow_bin),
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'server.db'}",
        "--default-artifact-root",
        str(tmp_path / "server-artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def test_run_logged_over_http_reads_back(mlflow_server: str) -> None:
    import mlflow

    store = resolve_store(environ={"MLFLOW_TRACKING_URI": mlflow_server})
    assert store.is_server
    with Tracker(store, flush_every=5) as tracker:
        with tracker.start_run("http-test", run_name="over-http", seed=1) as run:
            run.log_config({"agent": {"lr": 0.01}})
            for step in range(12):
                run.metrics.log({"reward": float(step)}, step=step)
            run.log_dict({"ok": True}, "summary.json")
        with pytest.raises(ValueError, match="bad"), tracker.start_run("http-test") as failed:  # noqa: PT012
            failed.metrics.log({"x": 1.0}, step=0)
            raise ValueError("bad")
    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"agent.lr": "0.01"}
    assert [m.value for m in client.get_metric_history(run.run_id, "reward")] == [
        float(s) for s in range(12)
    ]
    assert {a.path for a in client.list_artifacts(run.run_id)} == {"config.yaml", "summary.json"}
    bad = client.get_run(failed.run_id)
    assert bad.info.status == "FAILED"
    assert bad.data.metrics == {"x": 1.0}
