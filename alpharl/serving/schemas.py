"""Request and response bodies of the serving API (pydantic models; they make the OpenAPI docs).

A decide request carries exactly one of three inputs: ``text`` (a raw post, enriched and
folded into the user's profile by the server), ``enriched`` (a post the caller already
enriched), or ``context`` (a ready feature vector of the policy's width). Anything
malformed is a 422 whose ``detail`` names the field (``loc``) and says what is wrong.

Request bodies are strict: a number is never read from a string or a boolean, a boolean
never from ``"yes"`` or ``1``, and ``created_at`` only from an ISO-8601 string. Every string
is refused if it holds a lone surrogate or a NUL character (`alpharl.textcheck`), a text
if it has no visible character; probabilities must sum to 1 (within `SUM_TOLERANCE`).
Bounds the server's settings choose (how far ahead ``created_at`` may be, the largest
``conversion_value``) are checked in `alpharl.serving.service`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FiniteFloat,
    field_validator,
    model_validator,
)

from alpharl.schema import EMOTIONS, INTENTS, MAX_TEXT_CHARS, TOPICS
from alpharl.textcheck import string_problem, text_problem

SUM_TOLERANCE = 0.01
"""How far from 1 a set of probabilities (emotions, intents, VADER pos/neu/neg) may sum."""
MAX_LABEL_CHARS = 256
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def _storable(value: str) -> str:
    problem = string_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _readable(value: str) -> str:
    problem = text_problem(value)
    if problem is not None and problem.startswith("contains"):
        raise ValueError(problem)
    if problem is not None:
        raise ValueError(f"must not be empty or only whitespace ({problem})")
    return value


def _iso_string(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 string")
    if len(value) > 64:
        raise ValueError("must be an ISO-8601 string (at most 64 characters)")
    return value


def _after_epoch(value: datetime) -> datetime:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value < EARLIEST:
        raise ValueError(f"must not be before {EARLIEST.isoformat()}")
    return value


Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Label = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_CHARS), AfterValidator(_storable)]
UserId = Label
PostText = Annotated[str, Field(max_length=MAX_TEXT_CHARS), AfterValidator(_readable)]
Timestamp = Annotated[
    datetime,
    Field(strict=False, description="ISO-8601; naive means UTC"),
    BeforeValidator(_iso_string),
    AfterValidator(_after_epoch),
]
DecisionId = Annotated[
    str, Field(pattern=r"^[0-9a-f]{32}$", description="32 hex digits (a time-ordered UUIDv7)")
]
MAX_CONTEXT = 65_536
MAX_LIST = 100_000
MAX_FATIGUE = 1e9


def _sums_to_one(name: str, values: dict[str, float]) -> None:
    total = math.fsum(values.values())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"{name}: the probabilities must sum to 1 (got {total:.6g})")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SentimentIn(_Body):
    """VADER scores of the post."""

    compound: Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)]
    pos: Probability
    neu: Probability
    neg: Probability

    @model_validator(mode="after")
    def _sum(self) -> SentimentIn:
        _sums_to_one("pos + neu + neg", {"pos": self.pos, "neu": self.neu, "neg": self.neg})
        return self


class EmotionsIn(_Body):
    """Probability of each emotion label."""

    anger: Probability
    disgust: Probability
    fear: Probability
    joy: Probability
    neutral: Probability
    sadness: Probability
    surprise: Probability

    @model_validator(mode="after")
    def _sum(self) -> EmotionsIn:
        _sums_to_one("emotions", self.model_dump())
        return self


class IntentsIn(_Body):
    """Probability of each intent label."""

    purchase: Probability
    complaint: Probability
    research: Probability
    praise: Probability
    other: Probability

    @model_validator(mode="after")
    def _sum(self) -> IntentsIn:
        _sums_to_one("intents", self.model_dump())
        return self


assert tuple(EmotionsIn.model_fields) == EMOTIONS, "EmotionsIn must follow schema.EMOTIONS"
assert tuple(IntentsIn.model_fields) == INTENTS, "IntentsIn must follow schema.INTENTS"


class EnrichedIn(_Body):
    """An already-enriched post (the fields of `alpharl.schema.EnrichedPost` that matter)."""

    text: PostText | None = None
    created_at: Timestamp | None = None
    sentiment: SentimentIn
    emotions: EmotionsIn
    intents: IntentsIn
    topic: str = Field(description=f"one of {list(TOPICS)}", max_length=MAX_LABEL_CHARS)
    brands: list[Label] = Field(default_factory=list, max_length=1000)
    hashtags: list[Label] = Field(default_factory=list, max_length=1000)
    mentions: list[Label] = Field(default_factory=list, max_length=1000)
    cashtags: list[Label] = Field(default_factory=list, max_length=1000)

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if value not in TOPICS:
            raise ValueError(f"must be one of {list(TOPICS)}")
        return value


class CampaignIn(_Body):
    """The campaign's state at this decision (defaults to 1.0 each when absent)."""

    budget_left_frac: Fraction
    time_left_frac: Fraction


class DecideRequest(_Body):
    """One ad opportunity: give exactly one of ``text``, ``enriched`` or ``context``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"user_id": "u123", "text": "Loving my new phone, great deal!"},
                {
                    "user_id": "u123",
                    "text": "Where can I buy running shoes?",
                    "created_at": "2024-05-04T15:00:00Z",
                    "campaign": {"budget_left_frac": 0.5, "time_left_frac": 0.8},
                },
            ]
        },
    )

    user_id: UserId | None = Field(None, description="required with text or enriched")
    text: PostText | None = Field(None, description="a raw post")
    created_at: Timestamp | None = Field(
        None, description="when the post was made (UTC; at most max_clock_skew_s ahead)"
    )
    enriched: EnrichedIn | None = None
    context: list[FiniteFloat] | None = Field(
        None, max_length=MAX_CONTEXT, description="a feature vector of the policy's width"
    )
    eligible_creatives: list[Label] | None = Field(
        None, max_length=MAX_LIST, description="creative ids allowed (default: all)"
    )
    campaign: CampaignIn | None = None
    fatigue: list[Annotated[float, Field(ge=0.0, le=MAX_FATIGUE, allow_inf_nan=False)]] | None = (
        Field(None, max_length=MAX_LIST, description="decayed impressions per creative (K values)")
    )

    @model_validator(mode="after")
    def _one_input(self) -> DecideRequest:
        given = [k for k in ("text", "enriched", "context") if getattr(self, k) is not None]
        if len(given) != 1:
            got = " and ".join(given) if given else "none of them"
            raise ValueError(f"give exactly one of text, enriched or context (got {got})")
        if given[0] != "context" and self.user_id is None:
            raise ValueError(f"user_id: is required with {given[0]}")
        if self.created_at is not None and given[0] != "text":
            raise ValueError("created_at: only applies to text (enriched has its own)")
        return self


class DecideResponse(BaseModel):
    """The decision made."""

    decision_id: str = Field(description="32 hex digits; send it back with the feedback")
    creative_id: str | None = Field(description="the creative to show; null for no ad")
    action: int = Field(description="0..K-1 the catalog index, K = no ad")
    propensity: float = Field(description="probability of this action under the policy")
    policy_name: str
    policy_version: str
    arm: Literal["champion", "challenger"]


class BatchDecideRequest(_Body):
    """Several decisions in one call (one durable commit for all of them)."""

    requests: list[DecideRequest] = Field(min_length=1, max_length=MAX_LIST)


class BatchDecideResponse(BaseModel):
    """The decisions, in request order."""

    decisions: list[DecideResponse]


class FeedbackRequest(_Body):
    """The outcome of a decision: give exactly one of ``click`` or ``conversion_value``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"decision_id": "0f8c3a4e2b1d4c6f9a7e5d3c1b2a4f6e", "click": True},
                {"decision_id": "0f8c3a4e2b1d4c6f9a7e5d3c1b2a4f6e", "conversion_value": 12.5},
            ]
        },
    )

    decision_id: DecisionId
    click: bool | None = Field(None, description="reward 1.0 if true, 0.0 if false")
    conversion_value: float | None = Field(
        None,
        ge=0.0,
        allow_inf_nan=False,
        description="the reward itself (>= 0, at most the server's max_conversion_value)",
    )

    @model_validator(mode="after")
    def _one_outcome(self) -> FeedbackRequest:
        if (self.click is None) == (self.conversion_value is None):
            got = "both" if self.click is not None else "neither"
            raise ValueError(f"give exactly one of click or conversion_value (got {got})")
        return self

    @property
    def reward(self) -> float:
        """The reward this feedback means."""
        if self.click is not None:
            return 1.0 if self.click else 0.0
        assert self.conversion_value is not None
        assert math.isfinite(self.conversion_value)
        return float(self.conversion_value)

    @property
    def kind(self) -> str:
        """``click`` or ``conversion``."""
        return "click" if self.click is not None else "conversion"


class FeedbackResponse(BaseModel):
    """What happened to the feedback."""

    decision_id: str
    reward: float
    status: Literal["recorded", "unchanged"]
    arm: str
    policy_version: str


class ArmOut(BaseModel):
    """One arm of the experiment."""

    arm: str
    policy_version: str | None
    decisions: int
    feedback: int
    feedback_rate: float | None
    mean_reward: float | None
    ci95_low: float | None
    ci95_high: float | None


class SequentialTestOut(BaseModel):
    """The always-valid test of challenger minus champion mean reward."""

    method: str
    reference: str
    tau: float
    difference: float | None
    log_likelihood_ratio: float | None
    p_value: float = Field(description="always-valid p-value; may be read at any time")
    n_champion: int
    n_challenger: int


class ExperimentOut(BaseModel):
    """The champion/challenger split and how each arm does."""

    challenger_share: float
    arms: list[ArmOut]
    test: SequentialTestOut


class ArmReload(BaseModel):
    """What a reload did for one arm."""

    status: Literal["unchanged", "loaded", "refused", "unavailable"]
    version: str | None
    candidate: str | None
    reason: str | None


class ReadyOut(BaseModel):
    """Readiness: a model serves and the decision log takes writes."""

    ready: bool
    models: dict[str, str]
    problems: list[str]
