"""Property-based API testing from the OpenAPI schema: no generated request gets a 5xx.

Schemathesis generates valid and invalid requests for every operation in ``/openapi.json``
and sends them to the app in process (ASGI), with the API key so feedback and admin
routes are exercised past authentication.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from serving_fixtures import API_KEY, AUTH, KeywordEnricher, make_model_dir

from alpharl.serving import ServeSettings, create_app

_TMP = Path(tempfile.mkdtemp(prefix="alpharl-schemathesis-"))
_APP = create_app(
    ServeSettings(
        policy_source=str(make_model_dir(_TMP / "m", seed=1)),
        decision_log_url=f"sqlite:///{_TMP / 'd.db'}",
        api_key=API_KEY,
        poll_interval_s=0,
        seed=0,
    ),
    enricher_factory=KeywordEnricher,
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)
_SEEN: defaultdict[tuple[str, str], set[int]] = defaultdict(set)


@pytest.fixture(scope="module", autouse=True)
def _lifespan() -> Iterator[None]:
    """Run the app's lifespan (model loaded, log open) around the generated calls."""
    with TestClient(_APP):
        yield
    shutil.rmtree(_TMP, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors(case: Any) -> None:
    response = case.call_and_validate(headers=AUTH, checks=[not_a_server_error])
    _SEEN[(case.method, case.path)].add(response.status_code)


def test_the_generated_requests_reached_the_handlers() -> None:
    """Guards the run above: it must have produced both accepted and rejected decisions."""
    decide = _SEEN[("POST", "/v1/decide")]
    assert 200 in decide
    assert 422 in decide
    assert _SEEN[("POST", "/v1/feedback")] & {404, 422}
    assert max(code for codes in _SEEN.values() for code in codes) < 500
