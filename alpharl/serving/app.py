"""The FastAPI app: `create_app(settings)` wires settings, model holder, decision log, routes.

The lifespan opens the decision log, loads the champion (and challenger) from their
sources, builds the text enrichment pipeline once, and starts the alias poller; on
shutdown it stops the poller and closes the log. A champion that fails to load does not
stop the server: ``/readyz`` answers 503 (and ``/v1/decide`` 503) until a loadable
version appears, which the poller or ``POST /v1/admin/reload`` picks up.

Errors: a request field the server cannot use is a 422 in FastAPI's own shape
(``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``), an unknown decision id a 404,
a conflicting reward a 409, and a missing model or enricher a 503.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

import alpharl
from alpharl.redaction import redact_text
from alpharl.serving.decision_log import DecisionNotFoundError, FeedbackConflictError
from alpharl.serving.deps import ServingState
from alpharl.serving.limits import RequestLimitMiddleware
from alpharl.serving.metrics import MetricsMiddleware, ServingMetrics
from alpharl.serving.model_holder import CHALLENGER, CHAMPION, ModelHolder
from alpharl.serving.model_registry import PolicySource, make_source
from alpharl.serving.routers import admin, decisions, experiment, feedback, health
from alpharl.serving.service import DecisionService, FieldError, PostEnricher, UnavailableError
from alpharl.serving.settings import ServeSettings
from alpharl.serving.stores import open_decision_log, open_user_state
from alpharl.textcheck import printable_prefix

logger = logging.getLogger(__name__)

EnricherFactory = Callable[[], PostEnricher]
_SHOWN_ITEMS = 10
_SHOWN_ERRORS = 20
SHOWN_CHARS = 80
"""Most characters of a client's string echoed back in an error."""


def default_enricher() -> PostEnricher:
    """The project's default enrichment pipeline (`alpharl.enrich.pipeline.default_pipeline`)."""
    from alpharl.enrich.pipeline import default_pipeline

    pipeline: PostEnricher = default_pipeline()
    return pipeline


def build_state(
    settings: ServeSettings, metrics: ServingMetrics, enricher_factory: EnricherFactory | None
) -> ServingState:
    """Open the log, load the models, build the enricher (the lifespan's blocking part)."""
    profiles, fatigue = open_user_state(
        settings.profile_store_url,
        settings.fatigue_half_life_hours,
        max_users=settings.max_users_in_process,
        idle_half_lives=settings.state_idle_half_lives,
    )
    log = open_decision_log(settings.decision_log_url, settings.decision_log_synchronous)
    sources: dict[str, PolicySource] = {
        CHAMPION: make_source(settings.champion_uri, settings.model_name, settings.tracking_uri)
    }
    challenger = settings.challenger_uri
    if challenger:
        sources[CHALLENGER] = make_source(challenger, settings.model_name, settings.tracking_uri)
    holder = ModelHolder(sources, settings.poll_interval_s)
    holder.add_listener(metrics.model_swapped)
    holder.add_refusal_listener(lambda arm, version, reason: metrics.refusals.labels(arm).inc())
    for arm, outcome in holder.refresh().items():
        if outcome.version is None:
            logger.error("%s: no model serves yet (%s: %s)", arm, outcome.status, outcome.reason)
    enricher: PostEnricher | None = None
    enricher_error: str | None = None
    if not settings.text_enrichment:
        enricher_error = "disabled (ALPHARL_SERVE_TEXT_ENRICHMENT=false)"
    else:
        try:
            enricher = (enricher_factory or default_enricher)()
        except Exception as exc:  # the text route answers 503 with this reason
            enricher_error = redact_text(f"{type(exc).__name__}: {exc}")
            logger.error("text enrichment unavailable: %s", enricher_error)
    service = DecisionService(
        settings, holder, log, metrics, enricher, enricher_error, profiles=profiles, fatigue=fatigue
    )
    return ServingState(settings, holder, log, metrics, service)


def _reseed_experiment(state: ServingState) -> Callable[[], None]:
    """With several workers, reread the experiment's sums from the log every so often.

    Each worker keeps running sums of what it committed itself; the others' feedback
    reaches it when it rereads the log (every ``experiment_refresh_s``, off the request
    path). One worker needs no rereading: its sums are the log's. Returns a stop function.
    """
    interval = state.settings.experiment_refresh_s
    if state.settings.workers <= 1 or interval <= 0:
        return lambda: None
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                state.service.experiment.reseed(state.log)
            except Exception:  # keep serving the last sums; try again next time
                logger.exception("rereading the experiment's sums from the decision log failed")

    thread = threading.Thread(target=loop, name="experiment-reseed", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join()

    return halt


def _shown(value: Any, depth: int = 0) -> Any:
    """A JSON-safe, shortened copy of an offending input for a 422's ``input``.

    Strings keep a short prefix (`SHOWN_CHARS`) with lone surrogates escaped, so nothing a
    client sent is echoed in full and every answer can be encoded.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # 'nan', 'inf': JSON has no literal for them
    if isinstance(value, str):
        return printable_prefix(value, SHOWN_CHARS)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if depth >= 3:
        return "..."
    if isinstance(value, Mapping):
        items = list(value.items())
        out = {
            printable_prefix(str(k), SHOWN_CHARS): _shown(v, depth + 1)
            for k, v in items[:_SHOWN_ITEMS]
        }
        return out | (
            {"...": f"{len(items) - _SHOWN_ITEMS} more"} if len(items) > _SHOWN_ITEMS else {}
        )
    if isinstance(value, list | tuple):
        out_list = [_shown(v, depth + 1) for v in value[:_SHOWN_ITEMS]]
        return out_list + (
            [f"... {len(value) - _SHOWN_ITEMS} more"] if len(value) > _SHOWN_ITEMS else []
        )
    return _shown(str(value), depth)


def _loc(loc: Any) -> list[str | int]:
    """An error's location, each part shortened (a body key is client input too)."""
    return [p if isinstance(p, int) else printable_prefix(str(p), SHOWN_CHARS) for p in loc]


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 body, made safe: inputs and keys shortened and encodable, errors capped."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    detail: list[dict[str, Any]] = []
    for err in errors[:_SHOWN_ERRORS]:
        item = {
            "type": err.get("type"),
            "loc": _loc(err.get("loc", ())),
            "msg": printable_prefix(str(err.get("msg")), 300),
        }
        if "input" in err:
            item["input"] = _shown(err["input"])
        detail.append(item)
    if len(errors) > _SHOWN_ERRORS:
        detail.append({"type": "more", "loc": [], "msg": f"{len(errors) - _SHOWN_ERRORS} more"})
    return JSONResponse({"detail": detail}, status_code=422)


def _field_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FieldError)
    detail = [
        {
            "type": "value_error",
            "loc": _loc(exc.loc),
            "msg": printable_prefix(exc.msg, 300),
            "input": _shown(exc.value),
        }
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def _plain(status_code: int) -> Callable[[Request, Exception], JSONResponse]:
    def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status_code)

    return handler


def create_app(
    settings: ServeSettings | None = None, enricher_factory: EnricherFactory | None = None
) -> FastAPI:
    """The serving app.

    Args:
        settings: Serving settings; None reads them from ``ALPHARL_SERVE_*``.
        enricher_factory: Builds the text enrichment pipeline at startup (default:
            `default_enricher`); tests pass a small one.
    """
    settings = settings if settings is not None else ServeSettings()
    metrics = ServingMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await anyio.to_thread.run_sync(
            partial(build_state, settings, metrics, enricher_factory)
        )
        app.state.serving = state
        state.holder.start()
        stop_reseeding = _reseed_experiment(state)
        try:
            yield
        finally:
            stop_reseeding()
            state.holder.stop()
            state.log.close()

    app = FastAPI(
        title="AlphaRL serving",
        version=alpharl.__version__,
        summary="Emotion-aware ad decisions with a durable decision log.",
        lifespan=lifespan,
    )
    app.add_middleware(RequestLimitMiddleware, settings=settings)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: counts 401s and 413s
    for module in (decisions, feedback, experiment, admin, health):
        app.include_router(module.router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(FieldError, _field_error)
    app.add_exception_handler(UnavailableError, _plain(503))
    app.add_exception_handler(DecisionNotFoundError, _plain(404))
    app.add_exception_handler(FeedbackConflictError, _plain(409))
    return app


def create_app_from_env() -> FastAPI:
    """`create_app` with settings from the environment (for ``uvicorn --factory``)."""
    return create_app(ServeSettings())
