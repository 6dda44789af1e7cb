"""Serving settings, read from ``ALPHARL_SERVE_*`` environment variables (pydantic-settings).

Every field can be given as an environment variable with the ``ALPHARL_SERVE_`` prefix
(``ALPHARL_SERVE_MODEL_NAME=ads``, ``ALPHARL_SERVE_CHALLENGER_SHARE=0.1``) or passed to
`ServeSettings` directly. The API key is a secret: it is never logged and its ``repr``
is masked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alpharl.schema import MAX_TEXT_CHARS
from alpharl.serving.stores import POSTGRES_SCHEMES, REDIS_SCHEMES, SQLITE_SCHEME, redact_url

MODELS_SCHEME = "models:/"
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def is_registry_uri(source: str) -> bool:
    """Whether a policy source names an MLflow registry model (``models:/...``)."""
    return source.startswith(MODELS_SCHEME)


class ServeSettings(BaseSettings):
    """How `alpharl.serving.create_app` serves policies.

    Args:
        model_name: Registered model name in the MLflow registry.
        champion_alias: Alias of the version that serves most traffic.
        challenger_alias: Alias of the challenger version; None for no challenger.
        challenger_share: Fraction of users (by a hash of the user id) sent to the
            challenger, in [0, 1].
        policy_source: Where the champion comes from: a ``models:/...`` URI, or a local
            folder holding a saved policy (``policy.json``) with ``feature_spec.json`` and
            ``catalog.json`` beside it (tests and development). Empty means
            ``models:/<model_name>@<champion_alias>``.
        challenger_source: The same for the challenger; empty means
            ``models:/<model_name>@<challenger_alias>`` when a challenger alias is set.
        tracking_uri: MLflow tracking URI for the registry (``$MLFLOW_TRACKING_URI`` wins;
            empty for the embedded default under ``runs/``).
        decision_log_url: Where the decision log is: ``sqlite:///<path>`` (one host; several
            workers share the file) or ``postgresql://user@host:port/db`` (several hosts; give
            the password in ``$PGPASSWORD`` or ``~/.pgpass`` rather than in the URL). See
            `alpharl.serving.stores`.
        decision_log_synchronous: SQLite ``synchronous`` level of the log. ``NORMAL`` (with
            WAL) keeps every acknowledged decision through a crash or ``kill -9`` of the
            server, but the last transactions can be lost on power failure or an OS crash;
            ``FULL`` also survives those at the cost of an fsync per commit. (PostgreSQL always
            commits with ``synchronous_commit=on``.)
        profile_store_url: Where per-user profiles and fatigue counts live: empty for this
            process only (each worker its own), or ``redis://host:port/db`` to share them
            between workers and hosts (`alpharl.serving.redis_state`).
        api_key: Key required (header ``X-API-Key``) by the feedback and admin routes;
            those routes answer 503 while it is unset.
        poll_interval_s: Seconds between checks of the aliases (or local folders) for a new
            version; 0 turns polling off (``POST /v1/admin/reload`` still works).
        text_enrichment: Build the text enrichment pipeline at startup (False: requests with
            ``text`` get a 503, and startup skips loading the enrichers).
        max_text_chars: Longest post text accepted by ``/v1/decide``.
        max_batch: Most decisions in one ``/v1/decide/batch`` request.
        max_eligible: Longest ``eligible_creatives`` list accepted.
        seed: Seed of the serving random generator (None: fresh entropy).
        experiment_tau: Standard deviation of the normal mixing distribution of the
            mixture SPRT over the difference in mean reward (see `alpharl.serving.experiment`).
        fatigue_half_life_hours: Half-life of an impression in the per-user fatigue counts
            (the profile half-life comes from each policy's feature spec).
        max_body_bytes: Largest request body read, in bytes; a larger one is answered 413
            before it is parsed (checked against ``Content-Length`` and while reading).
        max_clock_skew_s: How far ahead of the server's clock a ``created_at`` may be; a
            later one is refused (422), so no client can pin a profile in the future.
        max_conversion_value: Largest ``conversion_value`` a feedback may carry.
        max_users_in_process: Most users whose profiles and fatigue an in-process store
            holds; beyond it the least recently seen are dropped first.
        experiment_refresh_s: With several workers, seconds between rereads of the
            experiment's running sums from the decision log (each worker counts its own
            commits as they happen; 0: never reread).
        state_idle_half_lives: Per-user state idle for this many half-lives is dropped (its
            weight has decayed by ``2 ** -n``); Redis keys expire after the same time.
        host: Interface uvicorn binds to.
        port: Port uvicorn binds to.
        workers: Number of uvicorn worker processes.
        log_level: Log level of the server.
    """

    model_config = SettingsConfigDict(env_prefix="ALPHARL_SERVE_", extra="forbid")

    model_name: str = "alpharl-policy"
    champion_alias: str = "champion"
    challenger_alias: str | None = None
    challenger_share: float = Field(default=0.0, ge=0.0, le=1.0)
    policy_source: str = ""
    challenger_source: str = ""
    tracking_uri: str = ""
    decision_log_url: str = "sqlite:///runs/decisions.db"
    decision_log_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    profile_store_url: str = ""
    api_key: SecretStr | None = None
    poll_interval_s: float = Field(default=30.0, ge=0.0)
    text_enrichment: bool = True
    max_text_chars: int = Field(default=MAX_TEXT_CHARS, ge=1, le=MAX_TEXT_CHARS)
    max_batch: int = Field(default=64, ge=1, le=10_000)
    max_eligible: int = Field(default=1024, ge=1)
    seed: int | None = None
    experiment_tau: float = Field(default=0.05, gt=0.0)
    fatigue_half_life_hours: float = Field(default=24.0, gt=0.0)
    max_body_bytes: int = Field(default=512 * 1024, ge=1024, le=1 << 30)
    max_clock_skew_s: float = Field(default=300.0, ge=0.0, le=86_400.0)
    max_conversion_value: float = Field(default=1e6, gt=0.0, le=1e12)
    max_users_in_process: int = Field(default=1_000_000, ge=1)
    state_idle_half_lives: float = Field(default=32.0, ge=1.0, le=1024.0)
    experiment_refresh_s: float = Field(default=30.0, ge=0.0)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    @field_validator("champion_alias", "challenger_alias")
    @classmethod
    def _alias(cls, value: str | None) -> str | None:
        if value is not None and (not _ALIAS.match(value) or value.lower() == "latest"):
            raise ValueError(f"must be letters, digits, '_' or '-' and not 'latest'; got {value!r}")
        return value

    @field_validator("decision_log_url")
    @classmethod
    def _log_url(cls, value: str) -> str:
        if value.startswith(POSTGRES_SCHEMES):
            return value
        if not value.startswith(SQLITE_SCHEME) or len(value) <= len(SQLITE_SCHEME):
            raise ValueError(
                f"must be sqlite:///<path> or postgresql://... (got {redact_url(value)!r})"
            )
        return value

    @field_validator("profile_store_url")
    @classmethod
    def _profile_url(cls, value: str) -> str:
        if value and not value.startswith(REDIS_SCHEMES):
            raise ValueError(
                f"must be empty (in process) or redis://host:port/db (got {redact_url(value)!r})"
            )
        return value

    @model_validator(mode="after")
    def _challenger(self) -> ServeSettings:
        if self.challenger_share > 0 and not self.challenger_uri:
            raise ValueError(
                f"challenger_share is {self.challenger_share} but no challenger is configured; "
                "set challenger_alias or challenger_source"
            )
        return self

    @property
    def champion_uri(self) -> str:
        """Where the champion is loaded from."""
        return self.policy_source or f"{MODELS_SCHEME}{self.model_name}@{self.champion_alias}"

    @property
    def challenger_uri(self) -> str | None:
        """Where the challenger is loaded from, or None when there is none."""
        if self.challenger_source:
            return self.challenger_source
        if self.challenger_alias:
            return f"{MODELS_SCHEME}{self.model_name}@{self.challenger_alias}"
        return None

    @property
    def decision_log_path(self) -> Path:
        """The decision log's database file (SQLite logs only)."""
        if not self.decision_log_url.startswith(SQLITE_SCHEME):
            raise ValueError(f"decision_log_url: {redact_url(self.decision_log_url)} is no file")
        return Path(self.decision_log_url[len(SQLITE_SCHEME) :])
