"""`alpharl serve`: the decision API in uvicorn, configured by Hydra.

``serve_settings(cfg)`` turns the composed ``serve`` config into
`alpharl.serving.ServeSettings` (a plain function, so tests check it without a server);
``main`` then runs uvicorn with them. The API key is never in the config: ``api_key_env``
names the environment variable that holds it. The registry is the one the other tasks
use: ``$MLFLOW_TRACKING_URI``, else ``tracking.uri``, else ``<paths.runs_dir>/mlflow.db``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from omegaconf import DictConfig
from pydantic import ValidationError

from alpharl.config import ConfigError
from alpharl.redaction import redact_url
from alpharl.serving.settings import ServeSettings

log = logging.getLogger(__name__)

SETTINGS_KEYS = (
    "host",
    "port",
    "workers",
    "log_level",
    "model_name",
    "champion_alias",
    "challenger_alias",
    "challenger_share",
    "policy_source",
    "challenger_source",
    "decision_log_url",
    "decision_log_synchronous",
    "profile_store_url",
    "poll_interval_s",
    "text_enrichment",
    "seed",
    "max_batch",
    "max_eligible",
    "experiment_tau",
    "fatigue_half_life_hours",
)
"""Config keys passed to `ServeSettings` under the same name."""


def serve_settings(cfg: DictConfig, environ: dict[str, str] | None = None) -> ServeSettings:
    """The serving settings of a composed ``serve`` config.

    Args:
        cfg: The config.
        environ: Where to read the API key variable (``os.environ`` when None).

    Raises:
        ConfigError: A value the server cannot use, named by its config key.
    """
    from alpharl.tracking import resolve_store

    env = os.environ if environ is None else environ
    values: dict[str, Any] = {k: cfg[k] for k in SETTINGS_KEYS}
    key_var = str(cfg.api_key_env) if cfg.api_key_env else ""
    values["api_key"] = (env.get(key_var) or None) if key_var else None
    store = resolve_store(runs_dir=cfg.paths.runs_dir, tracking_uri=cfg.tracking.uri)
    values["tracking_uri"] = store.tracking_uri
    try:
        # Values given here win over ALPHARL_SERVE_* variables (pydantic-settings' order).
        return ServeSettings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "serve"
        raise ConfigError(f"{where}: {err.get('msg')} (got {err.get('input')!r})") from None


def startup_line(settings: ServeSettings) -> str:
    """What the server serves and where it writes, every URL without its credentials."""
    return (
        f"serving {redact_url(settings.champion_uri)} "
        f"(challenger: {redact_url(settings.challenger_uri or 'none')}) "
        f"on http://{settings.host}:{settings.port}, "
        f"decision log {redact_url(settings.decision_log_url)}, "
        f"profile store {redact_url(settings.profile_store_url) or 'in process'}"
    )


def main(cfg: DictConfig) -> Any:
    """Hydra entry point: serve until interrupted."""
    from alpharl.serving import run

    settings = serve_settings(cfg)
    if settings.api_key is None:
        log.warning(
            "%s is not set: /v1/feedback and the admin routes will answer 503",
            cfg.api_key_env or "api_key_env",
        )
    log.info("%s", startup_line(settings))
    run(settings)
    return settings
