"""Request and response bodies of the serving API (pydantic models; they make the OpenAPI docs).

A decide request carries exactly one of three inputs: ``text`` (a raw post, enriched and
folded into the user's profile by the server), ``enriched`` (a post the caller already
enriched), or ``context`` (a ready feature vector of the policy's width). Anything
malformed is a 422 whose ``detail`` names the field (``loc``) and says what is wrong.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, field_validator, model_validator

from alpharl.schema import EMOTIONS, INTENTS, MAX_TEXT_CHARS, TOPICS

Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
UserId = Annotated[str, Field(min_length=1, max_length=256)]
DecisionId = Annotated[
    str, Field(pattern=r"^[0-9a-f]{32}$", description="32 hex digits (a time-ordered UUIDv7)")
]
MAX_CONTEXT = 65_536
MAX_LIST = 100_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SentimentIn(_Body):
    """VADER scores of the post."""

    compound: Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)]
    pos: Probability
    neu: Probability
    neg: Probability


class EmotionsIn(_Body):
    """Probability of each emotion label."""

    anger: Probability
    disgust: Probability
    fear: Probability
    joy: Probability
    neutral: Probability
    sadness: Probability
    surprise: Probability


class IntentsIn(_Body):
    """Probability of each intent label."""

    purchase: Probability
    complaint: Probability
    research: Probability
    praise: Probability
    other: Probability


assert tuple(EmotionsIn.model_fields) == EMOTIONS, "EmotionsIn must follow schema.EMOTIONS"
assert tuple(IntentsIn.model_fields) == INTENTS, "IntentsIn must follow schema.INTENTS"


class EnrichedIn(_Body):
    """An already-enriched post (the fields of `alpharl.schema.EnrichedPost` that matter)."""

    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)] | None = None
    created_at: datetime | None = None
    sentiment: SentimentIn
    emotions: EmotionsIn
    intents: IntentsIn
    topic: str = Field(description=f"one of {list(TOPICS)}")
    brands: list[str] = Field(default_factory=list, max_length=1000)
    hashtags: list[str] = Field(default_factory=list, max_length=1000)
    mentions: list[str] = Field(default_factory=list, max_length=1000)
    cashtags: list[str] = Field(default_factory=list, max_length=1000)

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if value not in TOPICS:
            raise ValueError(f"must be one of {list(TOPICS)} (got {value!r})")
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
    text: str | None = Field(None, max_length=MAX_TEXT_CHARS, description="a raw post")
    created_at: datetime | None = Field(None, description="when the post was made (UTC)")
    enriched: EnrichedIn | None = None
    context: list[FiniteFloat] | None = Field(
        None, max_length=MAX_CONTEXT, description="a feature vector of the policy's width"
    )
    eligible_creatives: list[Annotated[str, Field(min_length=1, max_length=256)]] | None = Field(
        None, max_length=MAX_LIST, description="creative ids allowed (default: all)"
    )
    campaign: CampaignIn | None = None
    fatigue: list[Annotated[float, Field(ge=0.0, allow_inf_nan=False)]] | None = Field(
        None, max_length=MAX_LIST, description="decayed impressions per creative (K values)"
    )

    @field_validator("text")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty or only whitespace")
        return value

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
        None, ge=0.0, allow_inf_nan=False, description="the reward itself (>= 0)"
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
