"""The trained emotion model: the shipped artifact against its card, scoring, training."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from alpharl.enrich import emotion_model as em
from alpharl.enrich.emotion_features import feature_matrix, load_artifact, save_artifact
from alpharl.enrich.emotion_model import CARD_PATH, MODEL_PATH, NgramEmotionEnricher
from alpharl.enrich.emotion_training import SUBSET, evaluate, read_split, train
from alpharl.schema import EMOTION_COLUMNS, EMOTIONS

DATA_DIR = Path(__file__).resolve().parents[2] / "experiments" / "emotion_model" / "data"
TEXTS = [
    "I am so angry at this, it is infuriating",
    "That is disgusting, gross",
    "I'm terrified and scared of what happens next",
    "Thank you so much, I love it!",
    "The meeting is on Tuesday.",
    "I miss her so much, this is heartbreaking",
    "Wow, I did not expect that at all!",
    "",
    "!!! 😀 http://example.com [NAME] qqqzzzx",
    "so so so so happy happy",
]


@pytest.fixture(scope="module")
def model() -> NgramEmotionEnricher:
    return NgramEmotionEnricher()


def matrix(out: dict) -> np.ndarray:
    assert set(out) == set(EMOTION_COLUMNS)
    m = np.stack([out[c] for c in EMOTION_COLUMNS], axis=1)
    assert m.dtype == np.float32
    return m


def test_shipped_artifact_matches_its_model_card(model: NgramEmotionEnricher) -> None:
    card = json.loads(CARD_PATH.read_text())
    assert hashlib.sha256(MODEL_PATH.read_bytes()).hexdigest() == card["sha256"]
    assert MODEL_PATH.stat().st_size == card["size_bytes"] <= 25_000_000
    assert MODEL_PATH.with_suffix(".md").read_text().count(card["sha256"]) == 1
    assert model.card == card
    assert card["sha256"][:10] in model.version
    assert card["name"] in model.version
    # the card's figures on the first dev texts, recomputed from the shipped artifact
    texts, labels = read_split(DATA_DIR / "dev.tsv")
    got = evaluate(model.predict_proba(texts[:SUBSET]), labels[:SUBSET])
    want = card[f"dev_first_{SUBSET}"]
    for key in ("macro_f1_any", "macro_f1_first", "accuracy_any", "ece"):
        assert got[key] == pytest.approx(want[key], abs=1e-9), key
    assert got["f1_per_class"] == pytest.approx(want["f1_per_class"], abs=1e-9)
    # and it is a real model: well above the lexicon's 0.44 on the full dev split
    assert card["dev"]["macro_f1_any"] > 0.55


def test_shipped_model_card_is_generated_from_its_figures(tmp_path: Path) -> None:
    from alpharl.enrich.emotion_training import write_model_card

    card = json.loads(CARD_PATH.read_text())
    write_model_card(tmp_path / "card.md", card)
    assert (tmp_path / "card.md").read_text() == MODEL_PATH.with_suffix(".md").read_text()


def test_scoring_by_token_equals_the_sparse_training_features(
    model: NgramEmotionEnricher,
) -> None:
    art = load_artifact(MODEL_PATH)
    vocab = {f: i for i, f in enumerate(art["vocab"])}
    x = feature_matrix(TEXTS, vocab, art["idf"].astype(np.float64), 2, 5)
    want = np.asarray(x @ art["weights"].astype(np.float64)) + art["bias"]
    np.testing.assert_allclose(model.logits(TEXTS), want, rtol=1e-5, atol=1e-5)


def test_probabilities_are_calibrated_distributions(model: NgramEmotionEnricher) -> None:
    m = matrix(model.enrich(TEXTS))
    assert m.shape == (len(TEXTS), len(EMOTIONS))
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-6)
    assert (m > 0).all()
    t = model.card["temperature"]
    expected = em.softmax(model.logits(TEXTS) / t).astype(np.float32)
    np.testing.assert_allclose(m, expected, atol=1e-7)
    assert matrix(model.enrich([])).shape == (0, len(EMOTIONS))


def test_clear_texts_get_their_emotion(model: NgramEmotionEnricher) -> None:
    top = [EMOTIONS[k] for k in model.predict_proba(TEXTS[:7]).argmax(axis=1)]
    assert top == ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]


def test_batch_equals_one_by_one_and_token_table_overflow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fresh = NgramEmotionEnricher()
    together = fresh.predict_proba(TEXTS)
    monkeypatch.setattr(em, "MAX_TOKENS_KEPT", 3)  # unseen tokens start over often
    small = NgramEmotionEnricher()
    alone = np.vstack([small.predict_proba([t]) for t in TEXTS * 2])
    np.testing.assert_allclose(alone, np.vstack([together, together]), atol=1e-12)
    assert len(small._memo) <= small._n_words - 1 + 3


def test_bad_input_is_named(model: NgramEmotionEnricher, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        model.enrich(["fine", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="no such file"):
        NgramEmotionEnricher(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a model artifact"):
        NgramEmotionEnricher(tmp_path / "junk.npz")


def test_pickles_as_its_path(model: NgramEmotionEnricher) -> None:
    blob = pickle.dumps(model)
    assert len(blob) < 1000  # rebuilt from the artifact, not copied
    again = pickle.loads(blob)
    assert again.version == model.version
    np.testing.assert_array_equal(again.predict_proba(TEXTS), model.predict_proba(TEXTS))


def _tiny_data(path: Path) -> Path:
    train_lines = (DATA_DIR / "train.tsv").read_text(encoding="utf-8").splitlines()[:600]
    dev_lines = (DATA_DIR / "dev.tsv").read_text(encoding="utf-8").splitlines()[:200]
    path.mkdir()
    (path / "train.tsv").write_text("\n".join(train_lines) + "\n", encoding="utf-8")
    (path / "dev.tsv").write_text("\n".join(dev_lines) + "\n", encoding="utf-8")
    return path


def test_training_is_reproducible_and_changes_the_version(
    tmp_path: Path, model: NgramEmotionEnricher
) -> None:
    data = _tiny_data(tmp_path / "data")
    card = train(data, tmp_path / "a" / "m.npz", c=2.0, class_weight_power=0.75)
    again = train(data, tmp_path / "b" / "m.npz", c=2.0, class_weight_power=0.75)
    a, b = (tmp_path / "a" / "m.npz").read_bytes(), (tmp_path / "b" / "m.npz").read_bytes()
    assert a == b
    assert card["sha256"] == again["sha256"]
    assert (tmp_path / "a" / "m.json").read_text() == (tmp_path / "b" / "m.json").read_text()
    assert "Apache" in (tmp_path / "a" / "m.md").read_text()
    small = NgramEmotionEnricher(tmp_path / "a" / "m.npz")
    assert small.version != model.version
    assert small.card["dev"]["n"] == 200
    other = train(data, tmp_path / "c" / "m.npz", c=0.5, class_weight_power=0.75)
    assert other["sha256"] != card["sha256"]
    lr_only = train(data, tmp_path / "d" / "m.npz", c=2.0, class_weight_power=0.75, nb_weight=0)
    assert lr_only["sha256"] != card["sha256"]
    assert lr_only["config"]["nb_weight"] == 0


def test_artifact_without_pickle_and_with_checked_shapes(tmp_path: Path) -> None:
    vocab = {"w a": 0, "w b": 1}
    path = tmp_path / "m.npz"
    config = {"labels": list(EMOTIONS), "ngram_min": 2, "ngram_max": 5, "name": "t"}
    save_artifact(path, vocab, np.ones(2), np.zeros((2, 7)), np.zeros(7), 1.0, config)
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == {"weights", "bias", "idf", "temperature", "vocab", "config"}
    assert NgramEmotionEnricher(path).model_name == "t"
    save_artifact(path, vocab, np.ones(3), np.zeros((2, 7)), np.zeros(7), 1.0, config)
    with pytest.raises(ValueError, match="for 2 features"):
        NgramEmotionEnricher(path)
    bad = {**config, "labels": ["joy"]}
    save_artifact(path, vocab, np.ones(2), np.zeros((2, 7)), np.zeros(7), 1.0, bad)
    with pytest.raises(ValueError, match="has labels"):
        NgramEmotionEnricher(path)


def test_read_split_names_bad_rows(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("fine\t3\tid1\nbroken\t9\tid2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.tsv:2: label ids \[9\]"):
        read_split(bad)
