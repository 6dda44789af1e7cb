"""Features and artifact format of the trained emotion model (`NgramEmotionEnricher`).

A text is the bag of its word unigrams, word bigrams and character n-grams (``NGRAM_MIN``
to ``NGRAM_MAX`` characters of each token wrapped in ``<`` and ``>``, as fastText's subwords:
Bojanowski et al., 2017, *Enriching Word Vectors with Subword Information*, TACL), over the
lower-cased tokens of `alpharl.enrich.text.tokenize`. Each feature in the vocabulary counts
``count * idf`` and the row is divided by ``sqrt(sum over occurrences of idf**2)``: the L2
norm of a TF-IDF vector whose features do not repeat (a repeated feature counts its
occurrences, not their square, so that the norm is a sum over tokens).

That choice makes a linear model's logits a sum over tokens: ``logits = (sum_t v_t) /
sqrt(sum_t q_t) + bias``, where ``v_t = sum_g idf_g * W_g`` and ``q_t = sum_g idf_g**2`` over
the features g a token (its word and its character n-grams) or a bigram brings. The
enricher keeps ``(v_t, q_t)`` per token seen, so scoring a text costs one dict lookup per
token and per bigram; `feature_matrix` builds the same rows as a sparse matrix for
training, and the two agree to float rounding (a test checks it).

The artifact is one ``.npz`` written by `save_artifact`, read with ``allow_pickle=False``:
``weights`` (n_features x 7, float32), ``bias`` (7), ``idf`` (n_features), ``temperature``
(1), ``vocab`` (the feature names, UTF-8, newline separated, as uint8) and ``config`` (JSON
as uint8: n-gram range, label order, model name). Nothing in it is executed on load.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from alpharl.enrich.text import tokenize

NGRAM_MIN = 2
NGRAM_MAX = 5
URL = "<url>"
"""The token every link becomes (its characters carry no emotion)."""

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def tokens(text: str) -> Sequence[str]:
    """The lower-cased tokens the model sees: `tokenize`'s, with links as `URL`."""
    lows = tokenize(text)[1]
    if "http" in text or "www." in text:  # TOKEN_RE's links start with one of these
        return [URL if low.startswith(("http://", "https://", "www.")) else low for low in lows]
    return lows


def token_features(token: str, n_min: int = NGRAM_MIN, n_max: int = NGRAM_MAX) -> list[str]:
    """The feature names one token brings: its word and its character n-grams."""
    out = ["w " + token]
    if len(token) > 1 and token != URL:
        s = "<" + token + ">"
        for n in range(n_min, n_max + 1):
            out.extend("c " + s[i : i + n] for i in range(len(s) - n + 1))
    return out


def bigram_features(toks: Sequence[str]) -> list[str]:
    """The word-bigram feature names of a token sequence."""
    return ["b " + a + " " + b for a, b in pairwise(toks)]


def text_features(text: str, n_min: int = NGRAM_MIN, n_max: int = NGRAM_MAX) -> list[str]:
    """All feature names of ``text``, with repeats (one per occurrence)."""
    toks = tokens(text)
    out: list[str] = []
    for tok in toks:
        out.extend(token_features(tok, n_min, n_max))
    out.extend(bigram_features(toks))
    return out


def feature_matrix(
    texts: Sequence[str], vocab: dict[str, int], idf: np.ndarray, n_min: int, n_max: int
) -> Any:
    """The normalised feature rows of ``texts`` (a ``scipy.sparse.csr_matrix``), for training.

    Features outside ``vocab`` are dropped; a text with none is a zero row.
    """
    from scipy import sparse

    rows: list[int] = []
    cols: list[int] = []
    memo: dict[str, list[int]] = {}
    for r, text in enumerate(texts):
        toks = tokens(text)
        ids: list[int] = []
        for tok in toks:
            found = memo.get(tok)
            if found is None:
                found = [vocab[f] for f in token_features(tok, n_min, n_max) if f in vocab]
                memo[tok] = found
            ids.extend(found)
        ids.extend(vocab[f] for f in bigram_features(toks) if f in vocab)
        rows.extend([r] * len(ids))
        cols.extend(ids)
    r_arr = np.asarray(rows, dtype=np.int64)
    c_arr = np.asarray(cols, dtype=np.int64)
    w = idf[c_arr].astype(np.float64)
    norm2 = np.bincount(r_arr, weights=w * w, minlength=len(texts))
    scale = np.where(norm2 > 0, 1.0 / np.sqrt(np.where(norm2 > 0, norm2, 1.0)), 0.0)
    x = sparse.csr_matrix((w * scale[r_arr], (r_arr, c_arr)), shape=(len(texts), len(idf)))
    x.sum_duplicates()
    return x


def build_vocab(
    texts: Iterable[str], min_df: dict[str, int], n_min: int, n_max: int
) -> tuple[dict[str, int], np.ndarray]:
    """The vocabulary (features in at least ``min_df[kind]`` texts; kinds ``w``, ``b``,
    ``c``) in sorted order, and each feature's smoothed idf ``ln((1 + n) / (1 + df)) + 1``."""
    df: dict[str, int] = {}
    n = 0
    for text in texts:
        n += 1
        for f in set(text_features(text, n_min, n_max)):
            df[f] = df.get(f, 0) + 1
    names = sorted(f for f, c in df.items() if c >= min_df[f[0]])
    vocab = {f: i for i, f in enumerate(names)}
    counts = np.array([df[f] for f in names], dtype=np.float64)
    idf = np.log((1.0 + n) / (1.0 + counts)) + 1.0
    return vocab, idf


def save_artifact(
    path: str | Path,
    vocab: dict[str, int],
    idf: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray,
    temperature: float,
    config: dict[str, Any],
) -> None:
    """Write the model as an ``.npz`` with fixed zip dates, so equal inputs give equal bytes."""
    names = sorted(vocab, key=vocab.__getitem__)
    arrays: dict[str, np.ndarray] = {
        "weights": np.ascontiguousarray(weights, dtype=np.float32),
        "bias": np.asarray(bias, dtype=np.float32),
        "idf": np.asarray(idf, dtype=np.float32),
        "temperature": np.asarray([temperature], dtype=np.float32),
        "vocab": np.frombuffer("\n".join(names).encode("utf-8"), dtype=np.uint8),
        "config": np.frombuffer(json.dumps(config, sort_keys=True).encode(), dtype=np.uint8),
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def load_artifact(path: str | Path) -> dict[str, Any]:
    """Read an artifact written by `save_artifact` (no pickle).

    Returns:
        ``vocab`` (list of feature names), ``idf``, ``weights``, ``bias``, ``temperature``
        (float) and ``config`` (dict).

    Raises:
        ValueError: Naming the file and what is missing or inconsistent.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model: no such file {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"model: {str(path)!r} is not a model artifact ({e})") from None
    missing = {"weights", "bias", "idf", "temperature", "vocab", "config"} - set(data)
    if missing:
        raise ValueError(f"model: {str(path)!r} lacks {sorted(missing)}")
    vocab = bytes(data["vocab"]).decode("utf-8").split("\n")
    weights = data["weights"]
    if weights.shape != (len(vocab), 7) or data["idf"].shape != (len(vocab),):
        raise ValueError(
            f"model: {str(path)!r} has weights {weights.shape} and idf {data['idf'].shape} "
            f"for {len(vocab)} features and 7 emotions"
        )
    return {
        "vocab": vocab,
        "idf": data["idf"],
        "weights": weights,
        "bias": data["bias"],
        "temperature": float(data["temperature"][0]),
        "config": json.loads(bytes(data["config"]).decode()),
    }
