"""The trained offline emotion model: the default emotion enricher.

A multinomial logistic regression over word unigrams, word bigrams and character 2-5-grams
(`alpharl.enrich.emotion_features`), its logits summed with a complement naive Bayes
model's on the same features (one weight matrix: `alpharl.enrich.emotion_training`),
trained on GoEmotions (Demszky et al., 2020,
*GoEmotions: A Dataset of Fine-Grained Emotions*, ACL) with Ekman's labels, calibrated by
temperature scaling on GoEmotions' dev split (Guo et al., 2017, *On Calibration of Modern
Neural Networks*, ICML). It outputs a probability distribution over `EMOTIONS`.

The shipped artifact is ``alpharl/data/emotion_model.npz`` (no pickle), with its model card
``emotion_model.md`` and the card's figures as ``emotion_model.json`` beside it; ``alpharl
train-emotion`` (`alpharl.enrich.emotion_training`) rebuilds all three from the data in
``experiments/emotion_model/data``.

Scoring is a sum over tokens (see `alpharl.enrich.emotion_features`): each distinct token's
and bigram's contribution to the seven logits is computed once, kept in a table, and a
batch is one gather and one `numpy.add.reduceat`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from alpharl.enrich.base import Columns
from alpharl.enrich.emotion_features import load_artifact, token_features, tokens
from alpharl.enrich.text import check_texts
from alpharl.schema import EMOTION_COLUMNS, EMOTIONS

_CODE_VERSION = "1"

MODEL_PATH = Path(str(files("alpharl").joinpath("data", "emotion_model.npz")))
"""The shipped model."""

CARD_PATH = MODEL_PATH.with_suffix(".json")
"""The shipped model's figures (the model card's numbers, machine-readable)."""

MAX_TOKENS_KEPT = 500_000
"""Unseen (out-of-vocabulary) tokens whose rows are kept; past that, at the start of a
batch, they are dropped and computed again when seen."""


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class NgramEmotionEnricher:
    """Fills ``emotion_anger`` ... ``emotion_surprise`` from the trained n-gram model.

    Args:
        model: Path of a model ``.npz`` (`alpharl.enrich.emotion_features.save_artifact`);
            ``None`` = the shipped one.

    Attributes:
        model_name: The model's name from its config (``goemotions-ekman-ngram-lr``).
        card: The figures of the model card beside the artifact (``{}`` if there is none):
            ``dev`` metrics, ``sha256``, ...

    Raises:
        ValueError: If the file is missing or is not a model artifact for `EMOTIONS`.
    """

    name = "emotion_model"
    columns: tuple[str, ...] = EMOTION_COLUMNS

    def __init__(self, model: str | Path | None = None) -> None:
        path = MODEL_PATH if model is None else Path(model)
        art = load_artifact(path)
        labels = art["config"].get("labels")
        if labels != list(EMOTIONS):
            raise ValueError(f"model: {str(path)!r} has labels {labels}, expected {list(EMOTIONS)}")
        self.model_path = path
        self.config: dict[str, Any] = art["config"]
        self.model_name = str(self.config.get("name", path.stem))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self.version = f"{_CODE_VERSION}+{self.model_name}+{digest[:10]}"
        card_path = path.with_suffix(".json")
        self.card: dict[str, Any] = (
            json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
        )
        self._n_min = int(self.config["ngram_min"])
        self._n_max = int(self.config["ngram_max"])
        self._temperature = art["temperature"]
        self._bias = art["bias"].astype(np.float64)
        idf = art["idf"].astype(np.float64)
        # Per feature: its 7 logit contributions (idf * weight) and its norm term (idf**2).
        self._feat = np.hstack([art["weights"] * idf[:, None], (idf * idf)[:, None]])
        self._vocab = {f: i for i, f in enumerate(art["vocab"])}
        self._build_tables()

    def _build_tables(self) -> None:
        """The token table and the bigram index.

        Row 0 of the token table is zeros: it opens every text, so no text's segment is
        empty and no bigram spans two texts. Rows 1 .. n_words-1 are the vocabulary's words
        (every word of a vocabulary bigram is one: a bigram in two training texts has both
        words in them), so a bigram is the integer key ``row_a * n_words + row_b``, looked
        up in a sorted array for the whole batch at once. Tokens outside the vocabulary get
        rows as they are seen (their character n-grams still count).
        """
        vocab = self._vocab
        words = sorted(f[2:] for f in vocab if f.startswith("w "))
        self._n_words = n = 1 + len(words)
        self._memo: dict[str, int] = {w: r for r, w in enumerate(words, 1)}
        self._table = np.zeros((n + 4096, 8))
        for w, r in self._memo.items():
            self._table[r] = self._token_row(w)
        self._n_rows = n
        keys, rows = [], []
        for f, i in vocab.items():
            if f.startswith("b "):
                a, b = f[2:].split(" ")
                keys.append(self._memo[a] * n + self._memo[b])
                rows.append(i)
        order = np.argsort(keys)
        self._bigram_keys = np.asarray(keys, dtype=np.int64)[order]
        self._bigram_feat = self._feat[np.asarray(rows, dtype=np.int64)[order]]

    def __repr__(self) -> str:
        return f"NgramEmotionEnricher({self.model_name!r}, version={self.version!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Rebuilt from the artifact's path in another process, not copied."""
        return (type(self), (str(self.model_path),))

    def _token_row(self, token: str) -> np.ndarray:
        """A token's contributions: its word's and its character n-grams' (8 values)."""
        vocab = self._vocab
        ids = [vocab[f] for f in token_features(token, self._n_min, self._n_max) if f in vocab]
        return self._feat[ids].sum(axis=0) if ids else np.zeros(8)

    def _add_token(self, token: str) -> int:
        """Keep an unseen token's row in the table; return its index."""
        if self._n_rows == len(self._table):
            self._table = np.vstack([self._table, np.zeros((len(self._table), 8))])
        self._table[self._n_rows] = self._token_row(token)
        self._memo[token] = self._n_rows
        self._n_rows += 1
        return self._n_rows - 1

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Uncalibrated logits, shape ``(len(texts), len(EMOTIONS))``."""
        check_texts(texts)
        if not texts:
            return np.zeros((0, len(EMOTIONS)))
        if self._n_rows - self._n_words >= MAX_TOKENS_KEPT:  # start the unseen ones over
            self._memo = {w: r for w, r in self._memo.items() if r < self._n_words}
            self._n_rows = self._n_words
        get = self._memo.get
        flat: list[int] = []
        starts: list[int] = []
        for text in texts:
            starts.append(len(flat))
            flat.append(0)
            toks = tokens(text)
            rows = [get(t, -1) for t in toks]
            if -1 in rows:
                rows = [
                    r if r >= 0 else self._add_token(t) for r, t in zip(rows, toks, strict=True)
                ]
            flat.extend(rows)
        arr = np.asarray(flat, dtype=np.int64)
        sums = np.add.reduceat(self._table[arr], starts, axis=0)
        # bigrams: consecutive rows that are both vocabulary words (row 0 separates texts)
        a, b = arr[:-1], arr[1:]
        n = self._n_words
        at = np.flatnonzero((a > 0) & (a < n) & (b > 0) & (b < n))
        if len(at) and len(self._bigram_keys):
            keys = a[at] * n + b[at]
            pos = np.minimum(np.searchsorted(self._bigram_keys, keys), len(self._bigram_keys) - 1)
            hit = self._bigram_keys[pos] == keys
            if hit.any():
                text_of = np.searchsorted(starts, at[hit], side="right") - 1
                np.add.at(sums, text_of, self._bigram_feat[pos[hit]])
        norm2 = sums[:, 7:]
        scale = np.divide(1.0, np.sqrt(norm2), out=np.zeros_like(norm2), where=norm2 > 0)
        return sums[:, :7] * scale + self._bias

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, shape ``(len(texts), len(EMOTIONS))``, rows sum to 1."""
        return softmax(self.logits(texts) / self._temperature)

    def enrich(self, texts: Sequence[str]) -> Columns:
        """Emotion probabilities for each text (float32 arrays, rows sum to 1)."""
        probs = self.predict_proba(texts).astype(np.float32)
        return {c: probs[:, k].copy() for k, c in enumerate(EMOTION_COLUMNS)}


def describe_version(version: str) -> str:
    """A run summary's line for an ``emotion_model`` version: the model's name and, when
    the version is the shipped artifact's, its dev macro-F1 from the model card."""
    _, _, rest = version.partition("+")
    name, _, digest = rest.rpartition("+")
    card = json.loads(CARD_PATH.read_text(encoding="utf-8")) if CARD_PATH.is_file() else {}
    if digest and str(card.get("sha256", "")).startswith(digest):
        f1 = card["dev"]["macro_f1_any"]
        return f"{name}, dev macro-F1 {f1:.3f} (GoEmotions-Ekman dev, top emotion)"
    return f"{name or version} (not the shipped model: see its own card)"
