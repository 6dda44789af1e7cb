"""Prometheus metrics of the serving app, in a registry of its own (one per app).

Exposed at ``GET /metrics``:

- ``alpharl_http_requests_total{route, method, status}`` and
  ``alpharl_http_request_duration_seconds{route, method}`` (histogram), per route template;
- ``alpharl_decisions_total{arm, creative}`` (``creative="none"`` for no ad);
- ``alpharl_feedback_total{arm, kind}`` (``kind`` is ``click`` or ``conversion``) and
  ``alpharl_feedback_fraction{arm}``, feedback received / decisions made since start;
- ``alpharl_model_info{arm, name, version}`` = 1 for the version serving each arm, and
  ``alpharl_model_refusals_total{arm}``.

The HTTP metrics come from `MetricsMiddleware`, a plain ASGI middleware (Starlette's
``BaseHTTPMiddleware`` costs a task per request).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alpharl.serving.model_registry import ServedModel

_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServingMetrics:
    """The app's metrics (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "alpharl_http_requests", "HTTP requests", ("route", "method", "status"), registry=r
        )
        self.latency = Histogram(
            "alpharl_http_request_duration_seconds",
            "HTTP request latency",
            ("route", "method"),
            buckets=_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "alpharl_decisions", "Decisions served", ("arm", "creative"), registry=r
        )
        self.feedback = Counter(
            "alpharl_feedback", "Feedback recorded", ("arm", "kind"), registry=r
        )
        self.feedback_fraction = Gauge(
            "alpharl_feedback_fraction",
            "Feedback recorded / decisions served since start",
            ("arm",),
            registry=r,
        )
        self.model_info = Gauge(
            "alpharl_model_info", "The model version serving each arm", ("arm", "name", "version"),
            registry=r,
        )  # fmt: skip
        self.refusals = Counter(
            "alpharl_model_refusals", "Model versions refused at load", ("arm",), registry=r
        )
        self._counts: dict[str, list[int]] = {}  # arm -> [decisions, feedback]
        self._children: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, cached (the lookup costs more than the increment)."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency."""
        self._child(self.requests, route, method, str(status)).inc()
        self._child(self.latency, route, method).observe(seconds)

    def count_decisions(self, arm: str, creatives: list[str | None]) -> None:
        """Count served decisions of one arm (None = no ad)."""
        for creative in creatives:
            self._child(self.decisions, arm, creative or "none").inc()
        with self._lock:
            self._counts.setdefault(arm, [0, 0])[0] += len(creatives)

    def count_feedback(self, arm: str, kind: str) -> None:
        """Count one recorded (new) feedback."""
        self._child(self.feedback, arm, kind).inc()
        with self._lock:
            self._counts.setdefault(arm, [0, 0])[1] += 1

    def model_swapped(self, arm: str, old: ServedModel | None, new: ServedModel) -> None:
        """Point ``model_info`` at the new version (a `ModelHolder` swap listener)."""
        if old is not None:
            with contextlib.suppress(KeyError):
                self.model_info.remove(arm, old.name, old.version)
        self.model_info.labels(arm, new.name, new.version).set(1)

    def render(self) -> bytes:
        """The exposition text (the feedback fractions are computed now)."""
        with self._lock:
            counts = {arm: tuple(c) for arm, c in self._counts.items()}
        for arm, (decisions, feedback) in counts.items():
            if decisions:
                self.feedback_fraction.labels(arm).set(feedback / decisions)
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Times every HTTP request and counts it by route template, method and status.

    Args:
        app: The ASGI app to wrap.
        metrics: Where to record.
    """

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(path, scope["method"], status, time.perf_counter() - start)
