"""The decide and feedback logic behind the routes (plain functions of the request models).

A decision: pick the arm (a hash of the user id, so a person stays on one arm), build the
context (use the given vector; or featurize an enriched post; or enrich a raw post
first), turn ``eligible_creatives`` into a mask, ask the arm's policy, commit the row to
the decision log, and only then answer. Everything here is CPU or disk work and runs in
FastAPI's thread pool (the routes are plain ``def``).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from alpharl.features.featurizer import CampaignState
from alpharl.features.profiles import post_profile_values
from alpharl.redaction import redact_text
from alpharl.schema import EnrichedPost, Entity, Post, RecordError, Sentiment
from alpharl.serving.decision_log import (
    DecisionNotFoundError,
    DecisionRecord,
    FeedbackConflictError,
    FeedbackResult,
    FeedbackStatus,
)
from alpharl.serving.experiment import RunningExperiment
from alpharl.serving.metrics import ServingMetrics
from alpharl.serving.model_holder import CHALLENGER, CHAMPION, ModelHolder
from alpharl.serving.model_registry import ServedModel
from alpharl.serving.schemas import DecideRequest, EnrichedIn, FeedbackRequest
from alpharl.serving.settings import ServeSettings
from alpharl.serving.stores import DecisionStore, FatigueLike, ProfileBookLike
from alpharl.serving.user_state import FatigueTracker, ProfileBook

Loc = tuple[str | int, ...]
_TWO_64 = float(1 << 64)
_FULL_CAMPAIGN = CampaignState(1.0, 1.0)


class FieldError(ValueError):
    """A request field the server cannot use; becomes a 422 naming the field.

    Args:
        loc: Where the field is (``("body", "context")``).
        msg: What is wrong, with the value.
        value: The offending value (shortened in the response).
    """

    def __init__(self, loc: Loc, msg: str, value: Any = None) -> None:
        super().__init__(f"{'.'.join(map(str, loc))}: {msg}")
        self.loc = loc
        self.msg = msg
        self.value = value


class UnavailableError(RuntimeError):
    """The server cannot serve this request now (no model, no enricher); becomes a 503."""


class PostEnricher(Protocol):
    """What the text path needs from `alpharl.enrich.pipeline.Pipeline`."""

    def enrich_posts(self, posts: Sequence[Post]) -> pa.Table: ...


def new_decision_id() -> str:
    """A time-ordered random id: a UUIDv7 (RFC 9562) as 32 lowercase hex digits.

    48 bits of Unix milliseconds, then 74 random bits (version and variant between). Ids
    made later sort later, so the decision log's index on them grows at its right edge:
    a commit rewrites the same few index pages instead of a random one per decision,
    which keeps the WAL and its checkpoints small (uuid4 ids dirtied every index page).
    """
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (time.time_ns() // 1_000_000) << 80
        | 0x7 << 76
        | (rand >> 68) << 64
        | 0b10 << 62
        | rand & ((1 << 62) - 1)
    )
    return f"{value:032x}"


def arm_for(key: str, share: float) -> str:
    """``challenger`` for a fraction ``share`` of keys, by a keyed BLAKE2b hash (sticky)."""
    if share <= 0.0:
        return CHAMPION
    if share >= 1.0:
        return CHALLENGER
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"alpharl-arm").digest()
    return CHALLENGER if int.from_bytes(digest, "big") < share * _TWO_64 else CHAMPION


def _mask_or(mask: np.ndarray | None, default: np.ndarray) -> np.ndarray:
    return default if mask is None else mask


@dataclass(slots=True)
class _Planned:
    decision_id: str
    user_id: str | None
    model: ServedModel
    context: np.ndarray
    mask: np.ndarray | None


class DecisionService:
    """Decides, logs and takes feedback.

    Args:
        settings: The serving settings.
        holder: The models serving.
        log: The decision log (SQLite or PostgreSQL, see `alpharl.serving.stores`).
        metrics: Where to count decisions and feedback.
        enricher: The text enrichment pipeline, or None if it could not be built.
        enricher_error: Why there is no enricher (shown in the 503).
        profiles: Per-user profiles (default: in this process; Redis for several workers).
        fatigue: Per-user creative fatigue (default: in this process).
        experiment: Running per-arm sums for ``/v1/experiment`` (default: seeded from the
            log now).

    ``last_write_error`` holds why the last write to the log failed (None once one
    succeeds again): ``/readyz`` reports it without writing anything itself.
    """

    def __init__(
        self,
        settings: ServeSettings,
        holder: ModelHolder,
        log: DecisionStore,
        metrics: ServingMetrics,
        enricher: PostEnricher | None,
        enricher_error: str | None = None,
        *,
        profiles: ProfileBookLike | None = None,
        fatigue: FatigueLike | None = None,
        experiment: RunningExperiment | None = None,
    ) -> None:
        self.settings = settings
        self.holder = holder
        self.log = log
        self.metrics = metrics
        self.enricher = enricher
        self.enricher_error = enricher_error
        self.profiles = (
            profiles
            if profiles is not None
            else ProfileBook(settings.max_users_in_process, settings.state_idle_half_lives)
        )
        self.fatigue = (
            fatigue
            if fatigue is not None
            else FatigueTracker(
                settings.fatigue_half_life_hours,
                settings.max_users_in_process,
                settings.state_idle_half_lives,
            )
        )
        self.experiment = (
            experiment
            if experiment is not None
            else RunningExperiment.from_log(log, settings.experiment_tau)
        )
        self.last_write_error: str | None = None
        self.rng = np.random.default_rng(settings.seed)
        self._enrich_lock = threading.Lock()

    # ------------------------------------------------------------------ decide

    def decide(self, req: DecideRequest) -> dict[str, Any]:
        """One decision, committed to the log before it is returned."""
        now = time.time()
        plan = self._plan(req, ("body",), now)
        mask = None if plan.mask is None else plan.mask[None, :]
        actions, props = plan.model.policy.decide(plan.context[None, :], mask, self.rng)
        record = self._record(plan, int(actions[0]), float(props[0]), now)
        with self._writing():
            self.log.append(record)
        return self._after_commit([record], [plan])[0]

    def decide_batch(self, reqs: Sequence[DecideRequest]) -> list[dict[str, Any]]:
        """Several decisions, one policy call per arm and one commit for all."""
        if len(reqs) > self.settings.max_batch:
            raise FieldError(
                ("body", "requests"),
                f"at most {self.settings.max_batch} requests per batch (got {len(reqs)})",
                len(reqs),
            )
        now = time.time()
        plans = [self._plan(r, ("body", "requests", i), now) for i, r in enumerate(reqs)]
        records: list[DecisionRecord | None] = [None] * len(plans)
        by_model: dict[int, list[int]] = {}
        for i, p in enumerate(plans):
            by_model.setdefault(id(p.model), []).append(i)
        for idx in by_model.values():
            model = plans[idx[0]].model
            x = np.stack([plans[i].context for i in idx])
            masks = None
            if any(plans[i].mask is not None for i in idx):
                masks = np.stack([_mask_or(plans[i].mask, model.all_eligible) for i in idx])
            actions, props = model.policy.decide(x, masks, self.rng)
            for j, i in enumerate(idx):
                records[i] = self._record(plans[i], int(actions[j]), float(props[j]), now)
        done = [r for r in records if r is not None]
        with self._writing():
            self.log.append_many(done)
        return self._after_commit(done, plans)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Remember whether the log took the write (for ``/readyz``)."""
        try:
            yield
        except (DecisionNotFoundError, FeedbackConflictError):
            self.last_write_error = None  # the log answered: the request was wrong
            raise
        except Exception as exc:
            self.last_write_error = redact_text(f"{type(exc).__name__}: {exc}")
            raise
        self.last_write_error = None

    def _record(self, plan: _Planned, action: int, propensity: float, now: float) -> DecisionRecord:
        m = plan.model
        return DecisionRecord(
            decision_id=plan.decision_id,
            created_at=now,
            user_id=plan.user_id,
            context=plan.context,
            mask=plan.mask,
            n_actions=m.n_actions,
            action=action,
            propensity=propensity,
            policy_name=m.name,
            policy_version=m.version,
            arm=m.arm,
        )

    def _after_commit(
        self, records: Sequence[DecisionRecord], plans: Sequence[_Planned]
    ) -> list[dict[str, Any]]:
        out = []
        by_arm: dict[str, list[str | None]] = {}
        for rec, plan in zip(records, plans, strict=True):
            creative = plan.model.creative_of(rec.action)
            self.fatigue.record(rec.user_id, creative, rec.created_at)
            by_arm.setdefault(rec.arm, []).append(creative)
            out.append(
                {
                    "decision_id": rec.decision_id,
                    "creative_id": creative,
                    "action": rec.action,
                    "propensity": rec.propensity,
                    "policy_name": rec.policy_name,
                    "policy_version": rec.policy_version,
                    "arm": rec.arm,
                }
            )
        for arm, creatives in by_arm.items():
            self.metrics.count_decisions(arm, creatives)
            self.experiment.add_decisions(arm, len(creatives))
        return out

    def _pick(self, user_id: str | None, decision_id: str) -> ServedModel:
        models = self.holder.models
        champion = models.get(CHAMPION)
        if champion is None:
            raise UnavailableError("no champion model is loaded yet; see /readyz")
        challenger = models.get(CHALLENGER)
        if challenger is None:
            return champion
        arm = arm_for(
            user_id if user_id is not None else decision_id, self.settings.challenger_share
        )
        return challenger if arm == CHALLENGER else champion

    def _plan(self, req: DecideRequest, loc: Loc, now: float) -> _Planned:
        decision_id = new_decision_id()
        model = self._pick(req.user_id, decision_id)
        if req.context is not None:
            x = self._context(model, req.context, (*loc, "context"))
        elif req.enriched is not None:
            assert req.user_id is not None
            self._check_time(req.enriched.created_at, now, (*loc, "enriched", "created_at"))
            post = self._enriched_post(req.enriched, req.user_id, decision_id, now, loc)
            x = self._featurize(model, post, req, now, (*loc, "enriched"))
        else:
            assert req.text is not None
            assert req.user_id is not None
            self._check_time(req.created_at, now, (*loc, "created_at"))
            post = self._enrich_text(req, decision_id, now, loc)
            x = self._featurize(model, post, req, now, (*loc, "text"))
        mask = self._mask(model, req.eligible_creatives, (*loc, "eligible_creatives"))
        return _Planned(decision_id, req.user_id, model, x, mask)

    def _check_time(self, when: datetime | None, now: float, loc: Loc) -> None:
        """Refuse a post time further ahead of the server's clock than the allowed skew.

        A time in the future would pin the user's profile there: every later post would
        count as older than it and add almost nothing.
        """
        skew = self.settings.max_clock_skew_s
        if when is not None and when.timestamp() > now + skew:
            server = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
            raise FieldError(
                loc,
                f"is more than {skew:g} s ahead of the server's clock ({server})",
                when.isoformat(),
            )

    @staticmethod
    def _context(model: ServedModel, values: list[float], loc: Loc) -> np.ndarray:
        with np.errstate(over="ignore"):  # too large for float32: caught just below
            x = np.array(values, dtype=np.float32)
        if x.shape[0] != model.n_features:
            raise FieldError(
                loc,
                f"must have {model.n_features} values, the context width of {model.arm} "
                f"{model.name} version {model.version} (got {x.shape[0]})",
                len(values),
            )
        if not np.isfinite(x).all():
            bad = int(np.flatnonzero(~np.isfinite(x))[0])
            raise FieldError((*loc, bad), "does not fit in float32", values[bad])
        return x

    def _mask(self, model: ServedModel, ids: list[str] | None, loc: Loc) -> np.ndarray | None:
        if ids is None:
            return None
        if len(ids) > self.settings.max_eligible:
            raise FieldError(
                loc, f"at most {self.settings.max_eligible} ids (got {len(ids)})", len(ids)
            )
        mask = np.zeros(model.n_actions, dtype=bool)
        mask[-1] = True
        index = model.creative_index
        for i, cid in enumerate(ids):
            a = index.get(cid)
            if a is None:
                known = list(model.creative_ids[:20])
                raise FieldError(
                    (*loc, i), f"unknown creative id {cid!r}; the catalog has {known}", cid
                )
            mask[a] = True
        return mask

    def _enriched_post(
        self, e: EnrichedIn, user_id: str, decision_id: str, now: float, loc: Loc
    ) -> EnrichedPost:
        created = e.created_at or datetime.fromtimestamp(now, UTC)
        try:
            post = Post(
                id=decision_id,
                created_at=created,
                platform="serve",
                author_id=user_id,
                text=e.text or "(enriched)",
            )
            return EnrichedPost(
                post=post,
                sentiment=Sentiment(**e.sentiment.model_dump()),
                emotions=e.emotions.model_dump(),
                intents=e.intents.model_dump(),
                topic=e.topic,
                entities=tuple(Entity(b, "BRAND") for b in e.brands),
                brands=tuple(e.brands),
                hashtags=tuple(e.hashtags),
                mentions=tuple(e.mentions),
                cashtags=tuple(e.cashtags),
            )
        except RecordError as exc:
            raise FieldError((*loc, "enriched", exc.field_name), str(exc)) from None

    def _enrich_text(
        self, req: DecideRequest, decision_id: str, now: float, loc: Loc
    ) -> EnrichedPost:
        assert req.text is not None
        assert req.user_id is not None
        if len(req.text) > self.settings.max_text_chars:
            raise FieldError(
                (*loc, "text"),
                f"is longer than {self.settings.max_text_chars} characters (got {len(req.text)})",
                req.text[:80],
            )
        if self.enricher is None:
            raise UnavailableError(f"text enrichment is unavailable: {self.enricher_error}")
        created = req.created_at or datetime.fromtimestamp(now, UTC)
        try:
            post = Post(
                id=decision_id, created_at=created, platform="serve", author_id=req.user_id,
                text=req.text,
            )  # fmt: skip
        except RecordError as exc:
            raise FieldError((*loc, exc.field_name), str(exc)) from None
        with self._enrich_lock:
            table = self.enricher.enrich_posts([post])
        return EnrichedPost.from_row(table.to_pylist()[0])

    def _featurize(
        self, model: ServedModel, post: EnrichedPost, req: DecideRequest, now: float, loc: Loc
    ) -> np.ndarray:
        if model.featurizer is None or model.spec is None:
            raise FieldError(
                loc,
                f"{model.arm} {model.name} version {model.version} was logged without a "
                "feature spec; send a context vector instead",
            )
        spec = model.spec
        t = post.post.created_at.timestamp()
        state = None
        if "profile" in spec.blocks:
            assert req.user_id is not None
            values = post_profile_values(post)
            state = self.profiles.update(req.user_id, values, t, spec.half_life_hours)
        fatigue = None
        if "fatigue" in spec.blocks:
            k = spec.n_creatives
            if req.fatigue is not None:
                if len(req.fatigue) != k:
                    raise FieldError(
                        (*loc[:-1], "fatigue"),
                        f"must have {k} values, one per creative (got {len(req.fatigue)})",
                        len(req.fatigue),
                    )
                fatigue = np.asarray(req.fatigue, dtype=np.float64)
            else:
                fatigue = self.fatigue.vector(req.user_id, model.creative_ids, now)
        campaign = _FULL_CAMPAIGN
        if req.campaign is not None:
            campaign = CampaignState(req.campaign.budget_left_frac, req.campaign.time_left_frac)
        return model.featurizer.vector(post, state, campaign, fatigue)

    # ------------------------------------------------------------------ feedback

    def feedback(self, req: FeedbackRequest) -> FeedbackResult:
        """Record a reward once; the same reward again is a no-op (see `DecisionLog`)."""
        cap = self.settings.max_conversion_value
        if req.conversion_value is not None and req.conversion_value > cap:
            raise FieldError(
                ("body", "conversion_value"),
                f"must be at most {cap:g} (ALPHARL_SERVE_MAX_CONVERSION_VALUE)",
                req.conversion_value,
            )
        with self._writing():
            result = self.log.record_feedback(req.decision_id, req.reward)
        if result.status is FeedbackStatus.RECORDED:
            self.metrics.count_feedback(result.arm, req.kind)
            self.experiment.add_reward(result.arm, req.reward)
        return result
