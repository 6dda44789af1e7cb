"""Emotions from a transformers text classifier, mapped onto `EMOTIONS`.

Any sequence-classification model whose labels name emotions works: for example
j-hartmann/emotion-english-distilroberta-base (exactly our seven labels), GoEmotions models
(27 emotions plus neutral, folded into Ekman's six as in Demszky et al., 2020,
*GoEmotions: A Dataset of Fine-Grained Emotions*, ACL) or models with ``love``/``happy``/
``sad`` labels. The model is loaded from a local folder or the local Hugging Face cache
only (``local_files_only=True``): nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from alpharl.enrich.base import Columns
from alpharl.enrich.text import check_texts
from alpharl.schema import EMOTION_COLUMNS, EMOTIONS

_CODE_VERSION = "1"

_GOEMOTIONS_EKMAN = {
    "anger": ("anger", "annoyance", "disapproval"),
    "disgust": ("disgust",),
    "fear": ("fear", "nervousness"),
    "joy": (
        "joy", "amusement", "approval", "excitement", "gratitude", "love", "optimism",
        "relief", "pride", "admiration", "desire", "caring",
    ),
    "sadness": ("sadness", "disappointment", "embarrassment", "grief", "remorse"),
    "surprise": ("surprise", "realization", "confusion", "curiosity"),
    "neutral": ("neutral",),
}  # fmt: skip

DEFAULT_LABEL_MAP: dict[str, str] = {
    **{label: e for e, labels in _GOEMOTIONS_EKMAN.items() for label in labels},
    **dict.fromkeys(["angry", "rage", "mad", "hate", "frustration"], "anger"),
    **dict.fromkeys(["disgusted", "contempt"], "disgust"),
    **dict.fromkeys(["scared", "afraid", "fearful", "worry", "anxiety", "nervous"], "fear"),
    **dict.fromkeys(["happy", "happiness", "enjoyment", "fun", "enthusiasm"], "joy"),
    **dict.fromkeys(["sad", "unhappy", "empty", "boredom"], "sadness"),
    **dict.fromkeys(["surprised", "shock", "amazement"], "surprise"),
    **dict.fromkeys(["none", "no_emotion", "others", "other", "calm"], "neutral"),
}
"""Model label (lower-cased, spaces and hyphens as ``_``) -> emotion. Covers the seven
Ekman-plus-neutral labels, the GoEmotions taxonomy (Demszky et al.'s Ekman grouping) and
common variants (``happy``, ``love``, ``sad``, ``surprised``, ``no_emotion``)."""


def _normalise(label: str) -> str:
    return re.sub(r"[\s\-]+", "_", label.strip().lower())


class TransformersEmotionEnricher:
    """Fills ``emotion_*`` with a transformers classifier's probabilities.

    The model's logits are soft-maxed over all its labels, and each label's probability is
    added to the emotion it maps to (several labels may map to one emotion, e.g. GoEmotions'
    ``annoyance`` and ``anger``), so rows sum to 1.

    Args:
        model: A local folder with a saved model and tokenizer, or a hub id already in the
            local cache.
        batch_size: Texts per forward pass.
        label_map: ``{model label: emotion}``, consulted before `DEFAULT_LABEL_MAP`; needed
            for models whose labels are not emotion names (``LABEL_0``, ...). Keys match
            the model's labels case-insensitively.
        device: Torch device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
        max_length: Longest input in tokens; longer texts are truncated.

    The version combines the model's name, a hash of its config, of the label map and of
    ``max_length``, and a fingerprint of its weights (every tensor's name, shape and first
    256 values), so a retrained model saved under the same name gets a new version.

    Raises:
        ValueError: If an argument is malformed, the model cannot be loaded locally, or some
            of the model's labels map to no emotion (the message lists them).
    """

    name = "emotion_transformers"
    columns: tuple[str, ...] = EMOTION_COLUMNS

    def __init__(
        self,
        model: str,
        batch_size: int = 32,
        label_map: Mapping[str, str] | None = None,
        device: str = "cpu",
        max_length: int = 128,
    ) -> None:
        import torch

        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"model: must be a local path or hub id (got {model!r})")
        for arg, value in (("batch_size", batch_size), ("max_length", max_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg}: must be a positive integer (got {value!r})")
        if label_map is not None and not isinstance(label_map, Mapping):
            raise ValueError(f"label_map: must be a mapping of label -> emotion ({label_map!r})")
        user_map = {_normalise(str(k)): v for k, v in (label_map or {}).items()}
        for key, target in (label_map or {}).items():
            if target not in EMOTIONS:
                raise ValueError(
                    f"label_map.{key}: {target!r} is not an emotion (one of {list(EMOTIONS)})"
                )
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"device: {device!r} is not a torch device ({exc})") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device: {device!r} requested but CUDA is not available")

        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
            self._model = AutoModelForSequenceClassification.from_pretrained(
                model, local_files_only=True
            )
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"model: cannot load {model!r} from a local folder or the local Hugging Face "
                f"cache (nothing is downloaded): {exc}"
            ) from None
        self._model.to(self.device)
        self._model.eval()
        config = self._model.config
        id2label: dict[int, str] = {int(k): str(v) for k, v in config.id2label.items()}
        labels = [id2label[i] for i in range(len(id2label))]
        unknown_keys = sorted(set(user_map) - {_normalise(label) for label in labels})
        if unknown_keys:
            raise ValueError(
                f"label_map: {unknown_keys} are not labels of {model!r} (its labels: {labels})"
            )
        mapping = np.zeros((len(labels), len(EMOTIONS)), dtype=np.float32)
        unmapped: list[str] = []
        for i, label in enumerate(labels):
            key = _normalise(label)
            emotion: str | None = user_map.get(key) or DEFAULT_LABEL_MAP.get(key)
            if emotion is None:
                unmapped.append(label)
            else:
                mapping[i, EMOTIONS.index(emotion)] = 1.0
        if unmapped:
            raise ValueError(
                f"model {model!r}: labels {unmapped} map to no emotion; pass label_map "
                f"(e.g. {{{unmapped[0]!r}: 'joy'}}) to map them onto {list(EMOTIONS)}"
            )
        self.labels = tuple(labels)
        self._mapping = torch.from_numpy(mapping).to(self.device)
        self.model = model
        self.batch_size = batch_size
        self.max_length = max_length
        weights = hashlib.sha256()
        for pname, param in self._model.state_dict().items():
            weights.update(f"{pname}{tuple(param.shape)}".encode())
            weights.update(param.detach().flatten()[:256].float().cpu().numpy().tobytes())
        blob = json.dumps(
            {
                "config": config.to_dict(),
                "weights": weights.hexdigest(),
                "commit": getattr(config, "_commit_hash", None),
                "label_map": {k: user_map[k] for k in sorted(user_map)},
                "max_length": max_length,
            },
            sort_keys=True,
            default=str,
        )
        digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
        short = str(getattr(config, "_name_or_path", "") or model).rstrip("/").split("/")[-1]
        self.version = f"{_CODE_VERSION}+{short}+{digest}"

    def __repr__(self) -> str:
        return (
            f"TransformersEmotionEnricher(model={self.model!r}, labels={list(self.labels)}, "
            f"device={str(self.device)!r})"
        )

    def enrich(self, texts: Sequence[str]) -> Columns:
        """Emotion probabilities for each text (float32 arrays, rows sum to 1)."""
        import torch

        check_texts(texts)
        out = np.zeros((len(texts), len(EMOTIONS)), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start : start + self.batch_size])
                encoded: Any = self._tokenizer(
                    batch,
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                encoded = {k: v.to(self.device) for k, v in encoded.items()}
                logits = self._model(**encoded).logits.float()
                probs = torch.softmax(logits, dim=-1) @ self._mapping
                out[start : start + len(batch)] = probs.cpu().numpy()
        return {c: out[:, k].copy() for k, c in enumerate(EMOTION_COLUMNS)}
