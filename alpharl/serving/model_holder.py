"""Holds the serving champion (and challenger) and swaps in new versions while serving.

`ModelHolder.refresh` asks each arm's source for its current version; when it differs
from the one serving, the new version is loaded and checked in full
(`alpharl.serving.model_registry.build_served_model`) and only then swapped in, by
replacing one reference to an immutable mapping, so a request sees either the old model
or the new one, never a mix. A version that fails to load is refused with an ERROR log
line naming the arm, source, version and reason; the old model keeps serving and the
refused version is not retried (registry versions are immutable; a local folder that is
fixed gets a new digest). A background thread calls `refresh` every
``poll_interval_s`` seconds; ``POST /v1/admin/reload`` calls it at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from alpharl.redaction import redact_text
from alpharl.serving.model_registry import (
    ModelRefusedError,
    PolicySource,
    ServedModel,
    build_served_model,
)

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """What `ModelHolder.refresh` did for one arm.

    Args:
        arm: The arm.
        status: ``unchanged``, ``loaded`` (a new version now serves), ``refused`` (it could
            not load; the previous one, if any, still serves), or ``unavailable`` (the
            source could not say which version is current).
        version: The version now serving (None if none).
        candidate: The version that was tried, for ``loaded`` and ``refused``.
        reason: Why it was refused or unavailable.
    """

    arm: str
    status: str
    version: str | None
    candidate: str | None = None
    reason: str | None = None


SwapListener = Callable[[str, ServedModel | None, ServedModel], None]
RefusalListener = Callable[[str, str, str], None]


class ModelHolder:
    """The policies serving now, by arm, and the poller that keeps them current.

    Args:
        sources: ``{arm: source}``; ``champion`` is required.
        poll_interval_s: Seconds between background refreshes; 0 disables the thread.
    """

    def __init__(self, sources: Mapping[str, PolicySource], poll_interval_s: float) -> None:
        if CHAMPION not in sources:
            raise ValueError(f"sources: need a {CHAMPION!r} source (got {sorted(sources)})")
        self.sources = dict(sources)
        self.poll_interval_s = float(poll_interval_s)
        self._models: Mapping[str, ServedModel] = MappingProxyType({})
        self._refused: dict[str, set[str]] = {arm: set() for arm in sources}
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[SwapListener] = []
        self._refusal_listeners: list[RefusalListener] = []

    @property
    def models(self) -> Mapping[str, ServedModel]:
        """A consistent snapshot ``{arm: model}`` of what serves now."""
        return self._models

    def get(self, arm: str) -> ServedModel | None:
        """The model serving ``arm``, or None."""
        return self._models.get(arm)

    def add_listener(self, listener: SwapListener) -> None:
        """Call ``listener(arm, old, new)`` after every swap."""
        self._listeners.append(listener)

    def add_refusal_listener(self, listener: RefusalListener) -> None:
        """Call ``listener(arm, version, reason)`` whenever a version is refused."""
        self._refusal_listeners.append(listener)

    def refresh(self) -> dict[str, RefreshOutcome]:
        """Check every arm's source and swap in new versions (one refresh at a time)."""
        with self._refresh_lock:
            return {arm: self._refresh_arm(arm, src) for arm, src in self.sources.items()}

    def _refresh_arm(self, arm: str, source: PolicySource) -> RefreshOutcome:
        current = self._models.get(arm)
        serving = None if current is None else current.version
        try:
            version = source.current_version()
        except Exception as exc:  # the registry or folder may be unreachable; keep serving
            reason = redact_text(f"{type(exc).__name__}: {exc}")
            logger.error(
                "cannot resolve the %s version from %s (serving %s): %s",
                arm, source.uri, serving, reason,
            )  # fmt: skip
            return RefreshOutcome(arm, "unavailable", serving, reason=reason)
        if version == serving:
            return RefreshOutcome(arm, "unchanged", serving)
        if version in self._refused[arm]:
            return RefreshOutcome(arm, "refused", serving, version, "refused before")
        try:
            model = build_served_model(arm, source.uri, source.load(version))
        except Exception as exc:  # a corrupt or incompatible artifact must not stop serving
            reason = redact_text(
                exc.reason
                if isinstance(exc, ModelRefusedError)
                else (f"{type(exc).__name__}: {exc}")
            )
            self._refused[arm].add(version)
            logger.error(
                "refusing %s model %s version %s: %s; still serving version %s",
                arm, source.uri, version, reason, serving,
            )  # fmt: skip
            for on_refused in self._refusal_listeners:
                on_refused(arm, version, reason)
            return RefreshOutcome(arm, "refused", serving, version, reason)
        self._models = MappingProxyType({**self._models, arm: model})
        logger.info("%s now serves %s version %s (was %s)", arm, source.uri, model.version, serving)
        for listener in self._listeners:
            listener(arm, current, model)
        return RefreshOutcome(arm, "loaded", model.version, version)

    def start(self) -> None:
        """Start the background poller (no-op when ``poll_interval_s`` is 0)."""
        if self.poll_interval_s <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="alpharl-model-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            try:
                self.refresh()
            except Exception:  # never let the poller die silently
                logger.exception("model poll failed")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the poller and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
