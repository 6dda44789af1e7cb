"""Creatives written by a language model through the OpenAI client (chat completions).

`LLMCreativeGenerator` asks the model, once per emotion target, for ``k`` headline
variants as structured JSON output (``response_format`` of type ``json_schema``, strict),
checks the answer field by field and then against the catalog schema
(`alpharl.creatives.catalog.catalog_from_dicts`), and caches each accepted answer in a
JSON file named by the hash of the request, so a rerun with the same prompt costs nothing
and needs no key. Any server speaking the chat-completions protocol works (``base_url``).

The API key is read from the environment variable named by ``api_key_env`` when the first
request is sent; it is never a constructor argument, never stored on the generator, and
never logged or shown in ``repr``.

A malformed answer (not JSON, a missing or wrong field, the wrong number of variants, a
refusal, an answer cut off at the token limit) is retried up to ``max_retries`` times;
then `CreativeGenerationError` names the emotion, the attempts and the last problem
(``creatives[1].tone: must be one of [...]``). Timeouts, connection errors, 429 and 5xx
answers are retried by the OpenAI client itself (``max_retries`` times, with its backoff).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alpharl.creatives.catalog import CatalogError, catalog_from_dicts
from alpharl.schema import EMOTIONS, TOPICS, Creative

logger = logging.getLogger(__name__)

TONES: tuple[str, ...] = ("calm", "empathetic", "informative", "playful", "reassuring", "urgent")
"""Tones a generated creative may take (the ones the click models know)."""

ANSWER_FIELDS: tuple[str, ...] = ("headline", "tone", "emotion_target", "category")
"""The fields the model writes for each variant; id and cost are set by the generator."""

CACHE_FORMAT = 1

SYSTEM_PROMPT = (
    "You write short display-ad headlines for an ad-delivery research system. Each headline "
    "is written for a reader who currently feels a given emotion and must suit that mood: "
    "acknowledge it without exploiting it, promise nothing false, no emojis, no hashtags."
)


class CreativeGenerationError(RuntimeError):
    """The model gave no usable creatives (after retries), or could not be reached."""


class AnswerError(ValueError):
    """One malformed model answer; the message names the field (``creatives[2].tone``)."""


def _emotion_args(emotion_targets: Sequence[str]) -> list[str]:
    if isinstance(emotion_targets, str) or not emotion_targets:
        raise ValueError(f"emotion_targets: must be a non-empty list (got {emotion_targets!r})")
    targets = list(emotion_targets)
    if len(set(targets)) != len(targets):
        raise ValueError(f"emotion_targets: must not repeat (got {targets})")
    for e in targets:
        if e not in EMOTIONS:
            raise ValueError(f"emotion_targets: unknown emotion {e!r}; allowed: {list(EMOTIONS)}")
    return targets


def answer_schema(emotion: str, k: int, category: str, tones: Sequence[str]) -> dict[str, Any]:
    """The JSON schema of one answer: ``{"creatives": [k x {headline, tone, ...}]}``."""
    item = {
        "type": "object",
        "properties": {
            "headline": {"type": "string", "description": "The ad's text, one sentence."},
            "tone": {"type": "string", "enum": list(tones)},
            "emotion_target": {"type": "string", "enum": [emotion]},
            "category": {"type": "string", "enum": [category]},
        },
        "required": list(ANSWER_FIELDS),
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"creatives": {"type": "array", "items": item, "minItems": k, "maxItems": k}},
        "required": ["creatives"],
        "additionalProperties": False,
    }


def parse_answer(
    content: str | None,
    *,
    emotion: str,
    k: int,
    category: str,
    tones: Sequence[str],
    max_headline_chars: int,
) -> list[dict[str, str]]:
    """Check one answer's JSON text and return its ``k`` variants.

    Raises:
        AnswerError: Naming the first bad field (``creatives[1].headline: ...``).
    """
    if content is None or not content.strip():
        raise AnswerError("message.content: empty answer")
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise AnswerError(f"message.content: not JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(data, Mapping) or "creatives" not in data:
        raise AnswerError(
            "creatives: missing (the answer must be an object with a 'creatives' list)"
        )
    items = data["creatives"]
    if not isinstance(items, list):
        raise AnswerError(f"creatives: must be a list (got {type(items).__name__})")
    if len(items) != k:
        raise AnswerError(f"creatives: must hold {k} variants (got {len(items)})")
    out: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        where = f"creatives[{i}]"
        if not isinstance(item, Mapping):
            raise AnswerError(f"{where}: must be an object (got {item!r:.80})")
        unknown = sorted(set(item) - set(ANSWER_FIELDS))
        if unknown:
            raise AnswerError(f"{where}: unknown fields {unknown}; expected {list(ANSWER_FIELDS)}")
        missing = [f for f in ANSWER_FIELDS if f not in item]
        if missing:
            raise AnswerError(f"{where}: missing fields {missing}")
        for name in ANSWER_FIELDS:
            if not isinstance(item[name], str):
                raise AnswerError(f"{where}.{name}: must be a string (got {item[name]!r:.80})")
        headline = " ".join(item["headline"].split())
        if not headline:
            raise AnswerError(f"{where}.headline: is empty")
        if len(headline) > max_headline_chars:
            raise AnswerError(
                f"{where}.headline: longer than {max_headline_chars} characters "
                f"(got {len(headline)})"
            )
        if headline.lower() in seen:
            raise AnswerError(f"{where}.headline: repeats creatives[{seen[headline.lower()]}]")
        seen[headline.lower()] = i
        if item["tone"] not in tones:
            raise AnswerError(f"{where}.tone: must be one of {list(tones)} (got {item['tone']!r})")
        if item["emotion_target"] != emotion:
            raise AnswerError(
                f"{where}.emotion_target: must be {emotion!r} (got {item['emotion_target']!r})"
            )
        if item["category"] != category:
            raise AnswerError(f"{where}.category: must be {category!r} (got {item['category']!r})")
        out.append({**{f: item[f] for f in ANSWER_FIELDS}, "headline": headline})
    return out


class LLMCreativeGenerator:
    """Writes ``k`` creatives per emotion target with a chat model (OpenAI client).

    Args:
        model: Chat model name (``gpt-4o-mini``, or what a compatible server serves).
        base_url: API base URL; None for OpenAI's (``$OPENAI_BASE_URL`` if set).
        api_key_env: Name of the environment variable holding the API key.
        n_per_emotion: Variants per emotion when `generate` is not given ``k``.
        timeout_s: Seconds one request may take.
        max_retries: Extra attempts after a malformed answer; the client also retries
            timeouts, connection errors, 429 and 5xx this many times.
        cache_dir: Folder of cached answers (one JSON file per request hash); None
            turns the cache off.
        cost_per_impression: Cost of each generated creative's impression.
        emotion_costs: Optional per-emotion-target costs.
        temperature: Sampling temperature sent with each request.
        tones: Tones the model may choose from.
        max_headline_chars: Longest headline accepted.
        brief: What is advertised, added to the prompt (e.g. the campaign's product).
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        n_per_emotion: int = 2,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        cache_dir: str | Path | None = "runs/cache/creatives",
        cost_per_impression: float = 0.02,
        emotion_costs: Mapping[str, float] | None = None,
        temperature: float = 0.7,
        tones: Sequence[str] = TONES,
        max_headline_chars: int = 120,
        brief: str | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"model: must be a non-empty string (got {model!r})")
        if not isinstance(api_key_env, str) or not api_key_env:
            raise ValueError(
                f"api_key_env: must name an environment variable (got {api_key_env!r})"
            )
        if (
            isinstance(n_per_emotion, bool)
            or not isinstance(n_per_emotion, int)
            or n_per_emotion < 1
        ):
            raise ValueError(f"n_per_emotion: must be a positive integer (got {n_per_emotion!r})")
        if not (isinstance(timeout_s, int | float) and math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s: must be a positive number (got {timeout_s!r})")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries: must be an integer >= 0 (got {max_retries!r})")
        if not (
            isinstance(cost_per_impression, int | float)
            and math.isfinite(cost_per_impression)
            and cost_per_impression >= 0
        ):
            raise ValueError(
                f"cost_per_impression: must be a finite number >= 0 (got {cost_per_impression!r})"
            )
        self.emotion_costs = {str(e): float(c) for e, c in (emotion_costs or {}).items()}
        for emotion in self.emotion_costs:
            if emotion not in EMOTIONS:
                raise ValueError(
                    f"emotion_costs: unknown emotion {emotion!r}; allowed: {list(EMOTIONS)}"
                )
        if isinstance(tones, str) or not tones or not all(isinstance(t, str) for t in tones):
            raise ValueError(f"tones: must be a non-empty list of strings (got {tones!r})")
        if not (isinstance(temperature, int | float) and 0 <= temperature <= 2):
            raise ValueError(f"temperature: must be in [0, 2] (got {temperature!r})")
        if isinstance(max_headline_chars, bool) or not isinstance(max_headline_chars, int):
            raise ValueError(f"max_headline_chars: must be an integer (got {max_headline_chars!r})")
        if max_headline_chars < 10:
            raise ValueError(f"max_headline_chars: must be >= 10 (got {max_headline_chars!r})")
        self.model = model
        self.base_url = base_url or None
        self.api_key_env = api_key_env
        self.n_per_emotion = n_per_emotion
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.cost_per_impression = float(cost_per_impression)
        self.temperature = float(temperature)
        self.tones = tuple(tones)
        self.max_headline_chars = max_headline_chars
        self.brief = brief
        self.requests: list[dict[str, Any]] = []
        """One entry per emotion of the last `generate` call: hash, cached, attempts."""
        self._client: Any = None

    def __repr__(self) -> str:
        return (
            f"LLMCreativeGenerator(model={self.model!r}, base_url={self.base_url!r}, "
            f"api_key_env={self.api_key_env!r}, n_per_emotion={self.n_per_emotion}, "
            f"cache_dir={str(self.cache_dir) if self.cache_dir else None!r})"
        )

    # ------------------------------------------------------------------ requests

    def request(self, emotion: str, k: int, category: str) -> dict[str, Any]:
        """The chat-completions request for one emotion (everything but the model's key)."""
        about = f" The campaign advertises: {self.brief}." if self.brief else ""
        user = (
            f"Write {k} distinct ad headlines for {category} products, each for a reader who "
            f"feels {emotion}.{about} For each, choose the tone that suits that reader from "
            f"{list(self.tones)}. Headlines are at most {self.max_headline_chars} characters. "
            f'Answer with JSON: {{"creatives": [{{"headline": ..., "tone": ..., '
            f'"emotion_target": "{emotion}", "category": "{category}"}}, ...]}}.'
        )
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": user},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "ad_creatives",
                    "strict": True,
                    "schema": answer_schema(emotion, k, category, self.tones),
                },
            },
            "temperature": self.temperature,
        }

    @staticmethod
    def prompt_hash(request: Mapping[str, Any]) -> str:
        """SHA-256 of the request's canonical JSON (the cache key)."""
        text = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _openai(self) -> Any:
        if self._client is None:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise CreativeGenerationError(
                    f"${self.api_key_env} is not set: the API key is read only from the "
                    "environment (set it, or point api_key_env at the variable that holds it)"
                )
            import openai

            self._client = openai.OpenAI(
                api_key=key,
                base_url=self.base_url,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
            )
        return self._client

    # ------------------------------------------------------------------ cache

    def _cache_path(self, digest: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / f"{digest}.json"

    def _load_cached(
        self, digest: str, emotion: str, k: int, category: str
    ) -> list[dict[str, str]] | None:
        path = self._cache_path(digest)
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return parse_answer(
                json.dumps({"creatives": data["answer"]}),
                emotion=emotion,
                k=k,
                category=category,
                tones=self.tones,
                max_headline_chars=self.max_headline_chars,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("%s: unusable cached answer (%s); asking the model again", path, exc)
            return None

    def _store(self, digest: str, request: Mapping[str, Any], answer: list[dict[str, str]]) -> None:
        path = self._cache_path(digest)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": CACHE_FORMAT,
            "prompt_hash": digest,
            "created_at": time.time(),
            "request": request,
            "answer": answer,
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{digest[:16]}-", suffix=".json", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, ensure_ascii=False)
        os.replace(tmp, path)

    # ------------------------------------------------------------------ generate

    def _ask(
        self, request: dict[str, Any], emotion: str, k: int, category: str
    ) -> tuple[list[dict[str, str]], int]:
        import openai

        client = self._openai()
        attempts = 1 + self.max_retries
        last: AnswerError | None = None
        for attempt in range(1, attempts + 1):
            try:
                response = client.chat.completions.create(**request)
            except openai.APITimeoutError as exc:
                raise CreativeGenerationError(
                    f"{self.model} at {self.base_url or 'the OpenAI API'}: request for emotion "
                    f"{emotion!r} timed out after {self.timeout_s:g} s "
                    f"({1 + self.max_retries} tries)"
                ) from exc
            except openai.APIStatusError as exc:
                raise CreativeGenerationError(
                    f"{self.model} at {self.base_url or 'the OpenAI API'}: request for emotion "
                    f"{emotion!r} failed: {exc.message}"
                ) from exc
            except openai.APIConnectionError as exc:
                raise CreativeGenerationError(
                    f"{self.model} at {self.base_url or 'the OpenAI API'}: cannot connect "
                    f"for emotion {emotion!r}: {exc}"
                ) from exc
            try:
                answer = self._answer(response, emotion, k, category)
            except AnswerError as exc:
                last = exc
                logger.warning(
                    "%s: malformed answer for emotion %r (attempt %d of %d): %s",
                    self.model, emotion, attempt, attempts, exc,
                )  # fmt: skip
                continue
            return answer, attempt
        raise CreativeGenerationError(
            f"{self.model}: no valid answer for emotion {emotion!r} after {attempts} attempts; "
            f"last problem: {last}"
        )

    def _answer(self, response: Any, emotion: str, k: int, category: str) -> list[dict[str, str]]:
        choices = getattr(response, "choices", None) or []
        if not choices:
            raise AnswerError("choices: the answer has no choices")
        choice = choices[0]
        message = choice.message
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise AnswerError(f"message.refusal: the model refused ({refusal!r:.120})")
        if choice.finish_reason == "length":
            raise AnswerError("finish_reason: the answer was cut off at the token limit")
        return parse_answer(
            message.content,
            emotion=emotion,
            k=k,
            category=category,
            tones=self.tones,
            max_headline_chars=self.max_headline_chars,
        )

    def generate(
        self, emotion_targets: Sequence[str], k: int | None = None, category: str = "other"
    ) -> list[Creative]:
        """``k`` creatives per emotion target, for products of ``category``.

        Args:
            emotion_targets: Emotions (from `EMOTIONS`), each once.
            k: Variants per emotion (default ``n_per_emotion``).
            category: Product category (one of `TOPICS`).

        Raises:
            CreativeGenerationError: The model could not be reached or gave no valid
                answer within ``max_retries`` retries.
        """
        targets = _emotion_args(emotion_targets)
        k = self.n_per_emotion if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k: must be a positive integer (got {k!r})")
        if category not in TOPICS:
            raise ValueError(f"category: must be one of {list(TOPICS)} (got {category!r})")
        items: list[dict[str, Any]] = []
        self.requests = []
        for emotion in targets:
            request = self.request(emotion, k, category)
            digest = self.prompt_hash(request)
            answer = self._load_cached(digest, emotion, k, category)
            cached, attempts = answer is not None, 0
            if answer is None:
                answer, attempts = self._ask(request, emotion, k, category)
                self._store(digest, request, answer)
            logger.info(
                "%s: %d creatives for %r (%s)", self.model, k, emotion,
                "cached" if cached else f"{attempts} attempt(s)",
            )  # fmt: skip
            self.requests.append(
                {"emotion": emotion, "prompt_hash": digest, "cached": cached, "attempts": attempts}
            )
            cost = self.emotion_costs.get(emotion, self.cost_per_impression)
            for j, a in enumerate(answer):
                items.append(
                    {
                        **a,
                        "id": f"{category}-{emotion}-{digest[:8]}-{j}",
                        "cost_per_impression": cost,
                    }
                )
        try:
            return catalog_from_dicts(items)
        except CatalogError as exc:  # parse_answer checks these; kept as a last guard
            raise CreativeGenerationError(
                f"{self.model}: generated catalog is invalid: {exc}"
            ) from exc

    def describe(self) -> dict[str, Any]:
        """Provenance of the last `generate` call (for the catalog artifact); no secrets."""
        return {
            "generator": type(self).__name__,
            "model": self.model,
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            "temperature": self.temperature,
            "requests": list(self.requests),
        }
