"""LLMCreativeGenerator through the real OpenAI client, against a local chat-completions server."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_server import ChatServer, Reply, start_chat_server
from hydra.utils import instantiate
from omegaconf import OmegaConf

from alpharl.creatives import load_catalog_file
from alpharl.creatives.generated import CATALOG_ARTIFACT
from alpharl.creatives.llm import (
    TONES,
    AnswerError,
    CreativeGenerationError,
    LLMCreativeGenerator,
    parse_answer,
)
from alpharl.schema import Creative

KEY = "sk-test-0123456789abcdef-SECRET"
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "creatives"


@pytest.fixture
def server() -> Iterator[ChatServer]:
    state, httpd = start_chat_server()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ALPHARL_TEST_OPENAI_KEY", KEY)
    return "ALPHARL_TEST_OPENAI_KEY"


def answer(emotion: str, category: str = "tech", k: int = 2, **over: Any) -> str:
    items = [
        {
            "headline": f"Headline {j} for a reader feeling {emotion}.",
            "tone": TONES[j % len(TONES)],
            "emotion_target": emotion,
            "category": category,
        }
        for j in range(k)
    ]
    items[0].update(over)
    return json.dumps({"creatives": items})


def make(server: ChatServer, key_env: str, tmp_path: Path, **kw: Any) -> LLMCreativeGenerator:
    args: dict[str, Any] = {
        "model": "gpt-test-mini",
        "base_url": server.base_url,
        "api_key_env": key_env,
        "timeout_s": 5.0,
        "max_retries": 0,
        "cache_dir": tmp_path / "cache",
    }
    return LLMCreativeGenerator(**(args | kw))


def test_generates_k_variants_per_emotion_with_structured_output(
    server: ChatServer, key_env: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(Reply(answer("joy")), Reply(answer("anger")))
    gen = make(server, key_env, tmp_path, cost_per_impression=0.03, emotion_costs={"anger": 0.05})
    with caplog.at_level(logging.DEBUG):
        creatives = gen.generate(["joy", "anger"], 2, "tech")

    assert [c.emotion_target for c in creatives] == ["joy", "joy", "anger", "anger"]
    assert all(isinstance(c, Creative) and c.category == "tech" for c in creatives)
    assert [c.cost_per_impression for c in creatives] == [0.03, 0.03, 0.05, 0.05]
    assert creatives[0].headline == "Headline 0 for a reader feeling joy."
    assert len({c.id for c in creatives}) == 4
    assert creatives[0].id.startswith("tech-joy-")
    assert creatives[0].id.endswith("-0")

    assert len(server.requests) == 2
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == f"Bearer {KEY}"
    body = req["body"]
    assert body["model"] == "gpt-test-mini"
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    items = fmt["json_schema"]["schema"]["properties"]["creatives"]
    assert items["minItems"] == items["maxItems"] == 2
    assert items["items"]["properties"]["emotion_target"]["enum"] == ["joy"]
    assert "joy" in body["messages"][1]["content"]

    # The key never shows: not in repr, the provenance, the logs, or the cache files.
    assert KEY not in repr(gen)
    assert key_env in repr(gen)
    assert KEY not in json.dumps(gen.describe())
    assert KEY not in caplog.text
    cached = list((tmp_path / "cache").glob("*.json"))
    assert len(cached) == 2
    assert all(KEY not in p.read_text() for p in cached)
    assert {p.stem for p in cached} == {r["prompt_hash"] for r in gen.requests}


def test_cached_answers_need_no_request_and_no_key(
    server: ChatServer, key_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.script(Reply(answer("fear", "travel")))
    first = make(server, key_env, tmp_path).generate(["fear"], 2, "travel")
    monkeypatch.delenv(key_env)
    again = make(server, key_env, tmp_path)
    second = again.generate(["fear"], 2, "travel")
    assert second == first
    assert len(server.requests) == 1
    assert again.requests[0]["cached"] is True
    # A different prompt (another k) is another cache entry: it needs the key again.
    with pytest.raises(CreativeGenerationError, match=r"\$ALPHARL_TEST_OPENAI_KEY is not set"):
        again.generate(["fear"], 3, "travel")
    assert len(server.requests) == 1


def test_malformed_answers_are_retried_then_accepted(
    server: ChatServer, key_env: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(
        Reply("Sure! Here are your headlines: ..."),
        Reply(answer("sadness", tone="sarcastic")),
        Reply(answer("sadness")),
    )
    gen = make(server, key_env, tmp_path, max_retries=2)
    with caplog.at_level(logging.WARNING, logger="alpharl.creatives.llm"):
        creatives = gen.generate(["sadness"], 2, "tech")
    assert len(creatives) == 2
    assert len(server.requests) == 3
    assert gen.requests[0]["attempts"] == 3
    assert "message.content: not JSON" in caplog.text
    assert "creatives[0].tone: must be one of" in caplog.text


def test_malformed_answer_fails_clearly_after_max_retries(
    server: ChatServer, key_env: str, tmp_path: Path
) -> None:
    server.script(
        Reply(answer("joy", tone="sarcastic")), Reply(answer("joy", emotion_target="fear"))
    )
    gen = make(server, key_env, tmp_path, max_retries=1)
    with pytest.raises(CreativeGenerationError) as err:
        gen.generate(["joy"], 2, "tech")
    msg = str(err.value)
    assert "emotion 'joy' after 2 attempts" in msg
    assert "creatives[0].emotion_target: must be 'joy' (got 'fear')" in msg
    assert not list((tmp_path / "cache").glob("*.json"))  # nothing bad is cached


def test_timeout_fails_clearly(server: ChatServer, key_env: str, tmp_path: Path) -> None:
    server.script(Reply(answer("joy"), delay_s=3.0))
    gen = make(server, key_env, tmp_path, timeout_s=0.3, max_retries=0)
    t0 = time.monotonic()
    with pytest.raises(CreativeGenerationError, match=r"timed out after 0.3 s \(1 tries\)"):
        gen.generate(["joy"], 2, "tech")
    assert time.monotonic() - t0 < 2.5  # gave up at the timeout, not at the server's answer


def test_timeout_is_retried_by_the_client(server: ChatServer, key_env: str, tmp_path: Path) -> None:
    server.script(Reply(answer("joy"), delay_s=2.0), Reply(answer("joy")))
    gen = make(server, key_env, tmp_path, timeout_s=0.3, max_retries=1)
    assert len(gen.generate(["joy"], 2, "tech")) == 2
    assert len(server.requests) == 2


def test_http_error_names_the_status(server: ChatServer, key_env: str, tmp_path: Path) -> None:
    server.script(Reply(status=400))
    with pytest.raises(CreativeGenerationError, match="failed: Error code: 400 - scripted error"):
        make(server, key_env, tmp_path).generate(["joy"], 2, "tech")


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (Reply(refusal="I can't help with that."), "message.refusal: the model refused"),
        (Reply('{"creatives": [', finish_reason="length"), "finish_reason: the answer was cut off"),
    ],
)
def test_refusal_and_truncation_are_malformed(
    server: ChatServer, key_env: str, tmp_path: Path, reply: Reply, problem: str
) -> None:
    server.script(reply)
    with pytest.raises(CreativeGenerationError, match=problem):
        make(server, key_env, tmp_path).generate(["joy"], 2, "tech")


def test_missing_key_names_the_variable(
    server: ChatServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALPHARL_NO_SUCH_KEY", raising=False)
    gen = make(server, "ALPHARL_NO_SUCH_KEY", tmp_path)
    with pytest.raises(CreativeGenerationError, match=r"\$ALPHARL_NO_SUCH_KEY is not set"):
        gen.generate(["joy"], 2, "tech")
    assert server.requests == []


def _items(k: int = 2, **over: Any) -> list[dict[str, Any]]:
    return json.loads(answer("joy", k=k, **over))["creatives"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "message.content: empty answer"),
        ("[1, 2]", "creatives: missing"),
        (json.dumps({"creatives": "x"}), "creatives: must be a list"),
        (json.dumps({"creatives": _items(3)}), r"creatives: must hold 2 variants \(got 3\)"),
        (json.dumps({"creatives": [1, 2]}), r"creatives\[0\]: must be an object"),
        (json.dumps({"creatives": _items(url="http://x")}), r"creatives\[0\]: unknown fields"),
        (
            json.dumps({"creatives": _items(headline=7)}),
            r"creatives\[0\].headline: must be a string",
        ),
        (json.dumps({"creatives": _items(headline="  ")}), r"creatives\[0\].headline: is empty"),
        (json.dumps({"creatives": _items(headline="x" * 200)}), "longer than 120 characters"),
        (json.dumps({"creatives": _items(category="food")}), r"creatives\[0\].category: must be"),
    ],
)
def test_parse_answer_names_the_field(content: str, problem: str) -> None:
    with pytest.raises(AnswerError, match=problem):
        parse_answer(
            content, emotion="joy", k=2, category="tech", tones=TONES, max_headline_chars=120
        )


def test_parse_answer_rejects_repeated_headlines() -> None:
    items = _items()
    items[1]["headline"] = items[0]["headline"].upper()
    with pytest.raises(AnswerError, match=r"creatives\[1\].headline: repeats creatives\[0\]"):
        parse_answer(
            json.dumps({"creatives": items}),
            emotion="joy", k=2, category="tech", tones=TONES, max_headline_chars=120,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("kw", "problem"),
    [
        ({"model": ""}, "model: must be a non-empty string"),
        ({"n_per_emotion": 0}, "n_per_emotion: must be a positive integer"),
        ({"timeout_s": 0}, "timeout_s: must be a positive number"),
        ({"max_retries": -1}, "max_retries: must be an integer >= 0"),
        ({"emotion_costs": {"glee": 0.1}}, "emotion_costs: unknown emotion 'glee'"),
        ({"temperature": 3}, r"temperature: must be in \[0, 2\]"),
    ],
)
def test_bad_arguments_name_the_argument(kw: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        LLMCreativeGenerator(**({"model": "m"} | kw))


def test_bad_generate_arguments(server: ChatServer, key_env: str, tmp_path: Path) -> None:
    gen = make(server, key_env, tmp_path)
    with pytest.raises(ValueError, match="emotion_targets: unknown emotion 'glee'"):
        gen.generate(["glee"], 2, "tech")
    with pytest.raises(ValueError, match="category: must be one of"):
        gen.generate(["joy"], 2, "cars")
    assert server.requests == []


def test_configs_instantiate_and_log_the_catalog(
    server: ChatServer, key_env: str, tmp_path: Path
) -> None:
    from alpharl.tracking.runs import Tracker
    from alpharl.tracking.store import TrackingStore, artifact_root_for, tracking_uri_for

    paths = OmegaConf.create({"paths": {"cache_dir": str(tmp_path / "cache")}})

    template = OmegaConf.merge(paths, {"creatives": OmegaConf.load(CONFIGS / "template.yaml")})
    catalog = instantiate(template.creatives)()
    assert len(catalog) == 7
    assert {c.emotion_target for c in catalog} == {
        "anger",
        "disgust",
        "fear",
        "joy",
        "neutral",
        "sadness",
        "surprise",
    }

    llm = OmegaConf.merge(paths, {"creatives": OmegaConf.load(CONFIGS / "llm.yaml")})
    llm.creatives.generator.base_url = server.base_url
    llm.creatives.generator.api_key_env = key_env
    llm.creatives.emotion_targets = ["joy", "surprise"]
    server.script(Reply(answer("joy", "other")), Reply(answer("surprise", "other")))
    make_catalog = instantiate(llm.creatives)

    runs = tmp_path / "runs"
    store = TrackingStore(tracking_uri_for(runs), artifact_root_for(runs), "default")
    with Tracker(store) as tracker, tracker.start_run("creatives-test") as run:
        creatives = make_catalog(run=run)
        local = tracker.client.download_artifacts(run.run_id, CATALOG_ARTIFACT, str(tmp_path))
    assert len(creatives) == 4
    assert load_catalog_file(local) == creatives
    logged = json.loads(Path(local).read_text())
    assert logged["generator"]["model"] == "gpt-4o-mini"
    assert [r["emotion"] for r in logged["generator"]["requests"]] == ["joy", "surprise"]
    assert KEY not in Path(local).read_text()
