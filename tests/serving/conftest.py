"""Fixtures for the serving tests: policy folders, settings, and an app under TestClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serving_fixtures import API_KEY, KeywordEnricher, make_model_dir

from alpharl.serving import ServeSettings, create_app


@pytest.fixture
def model_v1(tmp_path: Path) -> Path:
    """A saved epsilon-greedy linear policy with spec and catalog."""
    return make_model_dir(tmp_path / "v1", seed=1)


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., ServeSettings]:
    """Settings over a local policy folder and a fresh decision log."""

    def build(source: Path, **overrides: Any) -> ServeSettings:
        values: dict[str, Any] = {
            "policy_source": str(source),
            "decision_log_url": f"sqlite:///{tmp_path / 'decisions.db'}",
            "api_key": API_KEY,
            "poll_interval_s": 0,
            "seed": 0,
        }
        return ServeSettings(**(values | overrides))

    return build


@pytest.fixture
def client_for(settings_for: Callable[..., ServeSettings]) -> Iterator[Callable[..., TestClient]]:
    """Start an app (lifespan included) on a policy folder; stopped at teardown."""
    opened: list[TestClient] = []

    def start(source: Path, **overrides: Any) -> TestClient:
        app = create_app(settings_for(source, **overrides), enricher_factory=KeywordEnricher)
        client = TestClient(app)
        client.__enter__()
        opened.append(client)
        return client

    yield start
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_for: Callable[..., TestClient], model_v1: Path) -> TestClient:
    """An app serving ``model_v1``."""
    return client_for(model_v1)
