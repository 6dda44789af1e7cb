"""PacedOracleAgent: the priced decision rule, its multiplier's updates, its errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.base import load_agent
from agents.baselines import PacedOracleAgent


def info(lam: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {
        "expected_rewards": np.array([0.30, 0.25, 0.05, 0.0]),
        "action_costs": np.array([0.20, 0.05, 0.01, 0.0]),
        "action_mask": np.array([True, True, True, True]),
        "bound_multiplier": lam,
        **extra,
    }


def test_rule_prices_the_budget() -> None:
    agent = PacedOracleAgent(4, eta=0.0)
    assert agent.act_with_info(info(0.0)) == (0, 1.0)  # no price: the greedy choice
    assert agent.act_with_info(info(1.0)) == (1, 1.0)  # 0.25 - 0.05 beats 0.30 - 0.20
    masked = info(1.0)
    masked["action_mask"] = np.array([True, False, True, True])
    assert agent.act_with_info(masked) == (0, 1.0)  # 0.10 vs 0.04
    assert agent.act_with_info(info(10.0)) == (3, 1.0)  # nothing positive: no ad


def test_multiplier_follows_the_spend_rate() -> None:
    agent = PacedOracleAgent(4, eta=0.1)
    agent.act_with_info(info(1.0))  # a reset: starts at lam*
    assert agent.multiplier == 1.0
    # Spent more than the even rate (0.1 per step): the price rises, and vice versa.
    agent.act_with_info(info(1.0, cost=0.2, budget_left=1.0, steps_left=10))
    assert agent.multiplier == pytest.approx(np.exp(0.1 * (0.2 - 0.1) / 0.1))
    up = agent.multiplier
    agent.act_with_info(info(1.0, cost=0.0, budget_left=1.0, steps_left=10))
    assert agent.multiplier == pytest.approx(up * np.exp(-0.1))
    agent.act_with_info(info(2.0))  # the next episode restarts at its own lam*
    assert agent.multiplier == 2.0
    static = PacedOracleAgent(4, eta=0.0)
    static.act_with_info(info(1.0, cost=0.2, budget_left=1.0, steps_left=10))
    assert static.multiplier == 1.0


def test_bad_info_and_arguments() -> None:
    agent = PacedOracleAgent(4)
    with pytest.raises(KeyError, match="bound_multiplier"):
        agent.act_with_info({k: v for k, v in info().items() if k != "bound_multiplier"})
    with pytest.raises(ValueError, match="bound_multiplier"):
        agent.act_with_info(info(-1.0))
    bad = info()
    bad["action_costs"] = np.zeros(3)
    with pytest.raises(ValueError, match="action_costs"):
        agent.act_with_info(bad)
    with pytest.raises(ValueError, match="eta"):
        PacedOracleAgent(4, eta=-0.1)
    with pytest.raises(TypeError, match=r"PacedOracleAgent\.act"):
        agent.act(np.zeros(3))
    with pytest.raises(NotImplementedError, match="PacedOracleAgent"):
        agent.export()


def test_round_trips(tmp_path: Path) -> None:
    agent = PacedOracleAgent(4, 3, eta=0.05)
    loaded = load_agent(agent.save(tmp_path))
    assert isinstance(loaded, PacedOracleAgent)
    assert loaded.config() == agent.config()
