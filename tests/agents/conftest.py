"""Fixtures for the agent tests: every acting agent, fresh and trained."""

from __future__ import annotations

import pytest
from agent_factories import AGENT_NAMES, FACTORIES, train

from agents.base import BanditAgent


@pytest.fixture(params=AGENT_NAMES)
def agent_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def trained_agent(agent_name: str) -> BanditAgent:
    return train(FACTORIES[agent_name](7))
