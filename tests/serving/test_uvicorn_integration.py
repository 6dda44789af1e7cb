"""The app in a real uvicorn process: kill -9 under load, hot swap under load, bad versions.

Each test starts ``python -m alpharl.serving`` on 127.0.0.1 on a free port, waits for
``/readyz``, drives it with httpx from several threads, and stops it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from serving_fixtures import API_KEY, AUTH, SPEC, make_model_dir
from serving_server import ServerProcess

from alpharl.serving.decision_log import DecisionLog
from alpharl.serving.model_registry import LocalSource

pytestmark = pytest.mark.integration

D = SPEC.dim
N_THREADS = 4


def _settings(source: Path, db: Path, **extra: object) -> dict[str, object]:
    return {
        "policy_source": source,
        "decision_log_url": f"sqlite:///{db}",
        "api_key": API_KEY,
        "poll_interval_s": 0,
        "text_enrichment": "false",
        "log_level": "warning",
    } | extra


class Load:
    """Closed-loop clients on threads; each records what the server acknowledged.

    Args:
        url: The server.
        feedback_every: Send feedback after every n-th acknowledged decision (0: never).
        max_per_thread: Upper bound of decisions per thread.
    """

    def __init__(self, url: str, feedback_every: int = 2, max_per_thread: int = 5000) -> None:
        self.url = url
        self.feedback_every = feedback_every
        self.max_per_thread = max_per_thread
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.decisions: dict[str, dict[str, Any]] = {}
        self.feedback: dict[str, float] = {}
        self.failures: list[str] = []  # non-200 answers (a dropped connection is not one)
        self.versions: list[list[str]] = [[] for _ in range(N_THREADS)]
        self.threads = [threading.Thread(target=self._run, args=(t,)) for t in range(N_THREADS)]

    def start(self) -> Load:
        for th in self.threads:
            th.start()
        return self

    def join(self) -> None:
        self.stop.set()
        for th in self.threads:
            th.join(30)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("load did not reach the expected state")
            time.sleep(0.01)

    def _run(self, t: int) -> None:
        rng = np.random.default_rng(t)
        with httpx.Client(base_url=self.url, timeout=10.0, headers=AUTH) as client:
            for i in range(self.max_per_thread):
                if self.stop.is_set():
                    return
                body = {"user_id": f"u{t}-{i % 13}", "context": rng.normal(size=D).tolist()}
                try:
                    r = client.post("/v1/decide", json=body)
                except httpx.HTTPError:
                    return  # the server is gone: nothing was acknowledged
                if r.status_code != 200:
                    with self.lock:
                        self.failures.append(f"decide {r.status_code}: {r.text[:200]}")
                    continue
                d = r.json()
                with self.lock:
                    self.decisions[d["decision_id"]] = d
                    self.versions[t].append(d["policy_version"])
                if self.feedback_every and i % self.feedback_every == 0:
                    reward = float(rng.random() < 0.3)
                    fb = {"decision_id": d["decision_id"], "click": bool(reward)}
                    try:
                        f = client.post("/v1/feedback", json=fb)
                    except httpx.HTTPError:
                        return
                    with self.lock:
                        if f.status_code == 200:
                            self.feedback[d["decision_id"]] = reward
                        else:
                            self.failures.append(f"feedback {f.status_code}: {f.text[:200]}")


def test_kill9_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    model = make_model_dir(tmp_path / "m", seed=1)
    db = tmp_path / "decisions.db"
    server = ServerProcess(_settings(model, db), tmp_path / "server1.log")
    try:
        server.wait_ready()
        load = Load(server.url).start()
        load.wait_for(lambda: len(load.decisions) >= 400 and len(load.feedback) >= 150)
        server.kill9()  # mid-load: requests are in flight on every thread
        load.join()
    finally:
        server.stop()
    assert load.failures == []
    assert server.proc.returncode == -9
    acked, acked_fb = dict(load.decisions), dict(load.feedback)

    restarted = ServerProcess(_settings(model, db), tmp_path / "server2.log")
    try:
        restarted.wait_ready()
        log = DecisionLog(db)
        for did, d in acked.items():
            row = log.get(did)
            assert row is not None, f"acknowledged decision {did} lost"
            assert (row["action"], row["propensity"]) == (d["action"], d["propensity"])
            assert row["policy_version"] == d["policy_version"]
        for did, reward in acked_fb.items():
            assert log.get(did)["reward"] == reward, f"acknowledged feedback {did} lost"  # type: ignore[index]
        log.close()
        # The restarted server sees the same: acknowledged feedback again is "unchanged".
        with httpx.Client(base_url=restarted.url, headers=AUTH, timeout=10.0) as client:
            for did, reward in list(acked_fb.items())[:100]:
                r = client.post("/v1/feedback", json={"decision_id": did, "click": bool(reward)})
                assert (r.status_code, r.json()["status"]) == (200, "unchanged")
            pending = [did for did in acked if did not in acked_fb][:50]
            for did in pending:
                r = client.post("/v1/feedback", json={"decision_id": did, "click": True})
                assert r.status_code in (200, 409), r.text  # 409: its feedback beat the kill
            assert client.post("/v1/decide", json={"context": [0.0] * D}).status_code == 200
    finally:
        restarted.stop()


def _relink(link: Path, target: Path) -> None:
    tmp = link.with_name(link.name + ".new")
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)  # atomic: the poller sees the old or the new folder


def test_hot_swap_under_load_fails_nothing_and_bad_version_is_refused(tmp_path: Path) -> None:
    v1 = make_model_dir(tmp_path / "v1", seed=1)
    v2 = make_model_dir(tmp_path / "v2", seed=2)
    v3 = make_model_dir(tmp_path / "v3", seed=3)
    (v3 / "arrays.npz").write_bytes(b"PK\x03\x04 corrupt")
    ver = {p.name: LocalSource(p, "x").current_version() for p in (v1, v2, v3)}
    link = tmp_path / "current"
    _relink(link, v1)
    server = ServerProcess(
        _settings(link, tmp_path / "d.db", poll_interval_s=0.1), tmp_path / "server.log"
    )
    try:
        server.wait_ready()
        load = Load(server.url, feedback_every=5).start()
        load.wait_for(lambda: len(load.decisions) >= 150)
        _relink(link, v2)
        load.wait_for(lambda: any(ver["v2"] in vs for vs in load.versions))
        n_at_v2 = len(load.decisions)
        load.wait_for(lambda: len(load.decisions) >= n_at_v2 + 200)
        _relink(link, v3)
        time.sleep(0.5)  # several polls: each finds v3, which stays refused
        reload = httpx.post(f"{server.url}/v1/admin/reload", headers=AUTH, timeout=10).json()
        n_at_v3 = len(load.decisions)
        load.wait_for(lambda: len(load.decisions) >= n_at_v3 + 200)
        load.join()
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    finally:
        load.stop.set()
        server.stop()
    assert load.failures == []
    for seq in load.versions:  # each client moves from v1 to v2 once, and never sees v3
        assert set(seq) <= {ver["v1"], ver["v2"]}
        first_v2 = seq.index(ver["v2"]) if ver["v2"] in seq else len(seq)
        assert set(seq[first_v2:]) <= {ver["v2"]}
    assert reload["champion"]["status"] == "refused"
    assert reload["champion"]["candidate"] == ver["v3"]
    assert reload["champion"]["version"] == ver["v2"]
    output = server.output()
    errors = [line for line in output.splitlines() if "ERROR" in line and ver["v3"] in line]
    assert len(errors) == 1, output[-3000:]
    assert "arrays.npz" in errors[0]
    assert f"still serving version {ver['v2']}" in errors[0]
    assert API_KEY not in output
    assert (
        f'alpharl_model_info{{arm="champion",name="alpharl-policy",version="{ver["v2"]}"}} 1.0'
        in metrics
    )
    assert 'alpharl_model_refusals_total{arm="champion"} 1.0' in metrics
