"""Transformers emotions with a tiny BERT classifier built in the test (nothing downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from alpharl.enrich.emotion_transformers import TransformersEmotionEnricher
from alpharl.schema import EMOTION_COLUMNS, EMOTIONS

WORDS = ["i", "am", "so", "happy", "sad", "wow", "gross", "the", "phone", "is", "great", "bad"]
WORDS += ["not", "scared", "and"]
TEXTS = [
    "i am so happy",
    "the phone is bad",
    "wow",
    "",
    "i am not scared , the phone is great and i am so so happy",
    "zzz unknown words 😀",
    "gross",
]


def build_model(path: Path, labels: list[str], seed: int = 0) -> Path:
    """Save a 1-layer BERT sequence classifier with a word-level tokenizer to ``path``."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab = {w: i for i, w in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_input_names=["input_ids", "attention_mask"],
    )
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def ekman_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    labels = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]
    return build_model(tmp_path_factory.mktemp("ekman"), labels)


@pytest.fixture(scope="module")
def variant_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model(tmp_path_factory.mktemp("variant"), ["Happy", "love", "SAD", "LABEL_3"])


def as_matrix(out: dict) -> np.ndarray:
    assert set(out) == set(EMOTION_COLUMNS)
    m = np.stack([out[c] for c in EMOTION_COLUMNS], axis=1)
    assert m.dtype == np.float32
    return m


def test_shapes_and_rows_sum_to_one(ekman_model: Path) -> None:
    enricher = TransformersEmotionEnricher(str(ekman_model), batch_size=3)
    m = as_matrix(enricher.enrich(TEXTS))
    assert m.shape == (len(TEXTS), len(EMOTIONS))
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-5)
    assert (m > 0).all()  # every label keeps some softmax mass
    assert enricher.labels == EMOTIONS
    assert as_matrix(enricher.enrich([])).shape == (0, len(EMOTIONS))


def test_probabilities_are_the_models_softmax(ekman_model: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    enricher = TransformersEmotionEnricher(str(ekman_model))
    tokenizer = AutoTokenizer.from_pretrained(ekman_model)
    model = AutoModelForSequenceClassification.from_pretrained(ekman_model).eval()
    with torch.inference_mode():
        expected = torch.softmax(model(**tokenizer(["wow"], return_tensors="pt")).logits, -1)
    np.testing.assert_allclose(as_matrix(enricher.enrich(["wow"]))[0], expected[0], atol=1e-6)


def test_batch_independence(ekman_model: Path) -> None:
    batched = TransformersEmotionEnricher(str(ekman_model), batch_size=32)
    together = as_matrix(batched.enrich(TEXTS))
    alone = np.vstack([as_matrix(batched.enrich([t])) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_variant_labels_are_mapped_and_summed(variant_model: Path) -> None:
    with pytest.raises(ValueError, match=r"labels \['LABEL_3'\] map to no emotion"):
        TransformersEmotionEnricher(str(variant_model))
    enricher = TransformersEmotionEnricher(str(variant_model), label_map={"label_3": "surprise"})
    m = as_matrix(enricher.enrich(TEXTS))
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-5)
    present = {EMOTIONS.index(e) for e in ("joy", "sadness", "surprise")}
    absent = [k for k in range(len(EMOTIONS)) if k not in present]
    assert (m[:, absent] == 0).all()
    assert (m[:, sorted(present)] > 0).all()
    # joy is Happy + love: larger than either alone would be on average
    assert m[:, EMOTIONS.index("joy")].mean() > m[:, EMOTIONS.index("sadness")].mean()
    # the user's map overrides the default one
    remapped = TransformersEmotionEnricher(
        str(variant_model), label_map={"LABEL_3": "neutral", "love": "surprise"}
    )
    r = as_matrix(remapped.enrich(TEXTS))
    np.testing.assert_allclose(
        r[:, EMOTIONS.index("joy")] + r[:, EMOTIONS.index("surprise")],
        m[:, EMOTIONS.index("joy")]
        + m[:, EMOTIONS.index("surprise")]
        - r[:, EMOTIONS.index("neutral")],
        atol=1e-5,
    )
    assert remapped.version != enricher.version


def test_version_follows_model_weights_labels_and_length(tmp_path: Path) -> None:
    first = build_model(tmp_path / "a" / "model", list(EMOTIONS), seed=0)
    retrained = build_model(tmp_path / "b" / "model", list(EMOTIONS), seed=1)  # same name
    v = TransformersEmotionEnricher(str(first)).version
    assert v.split("+")[1] == "model"
    assert TransformersEmotionEnricher(str(first), batch_size=5).version == v
    assert TransformersEmotionEnricher(str(retrained)).version != v
    assert TransformersEmotionEnricher(str(first), max_length=64).version != v
    assert TransformersEmotionEnricher(str(first), label_map={"joy": "surprise"}).version != v


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size: must be a positive integer"),
        ({"max_length": -1}, "max_length"),
        ({"device": "toaster"}, "device: 'toaster'"),
        ({"label_map": {"anger": "rage"}}, r"label_map\.anger: 'rage' is not an emotion"),
        ({"label_map": {"LABEL_9": "joy"}}, r"\['label_9'\] are not labels"),
        ({"label_map": ["joy"]}, "label_map: must be a mapping"),
    ],
)
def test_bad_arguments_are_named(ekman_model: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TransformersEmotionEnricher(str(ekman_model), **kwargs)


def test_missing_model_is_not_downloaded(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing is downloaded"):
        TransformersEmotionEnricher(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="nothing is downloaded"):
        TransformersEmotionEnricher("alpharl-test/no-such-model-anywhere")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error(ekman_model: Path) -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        TransformersEmotionEnricher(str(ekman_model), device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(ekman_model: Path) -> None:
    cpu = as_matrix(TransformersEmotionEnricher(str(ekman_model)).enrich(TEXTS))
    gpu = as_matrix(TransformersEmotionEnricher(str(ekman_model), device="cuda").enrich(TEXTS))
    np.testing.assert_allclose(gpu, cpu, atol=1e-4)


# GoEmotions' ekman_mapping.json (Demszky et al., 2020), written out here as the paper gives it.
PAPER_EKMAN_MAPPING = {
    "anger": ["anger", "annoyance", "disapproval"],
    "disgust": ["disgust"],
    "fear": ["fear", "nervousness"],
    "joy": [
        "joy", "amusement", "approval", "excitement", "gratitude", "love", "optimism",
        "relief", "pride", "admiration", "desire", "caring",
    ],
    "sadness": ["sadness", "disappointment", "embarrassment", "grief", "remorse"],
    "surprise": ["surprise", "realization", "confusion", "curiosity"],
}  # fmt: skip
GOEMOTIONS_LABELS = [  # the 28 labels in GoEmotions' own order (emotions.txt)
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
    "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
    "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
    "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
]  # fmt: skip


def test_goemotions_28_labels_fold_into_ekman_by_the_papers_mapping(tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = build_model(tmp_path / "goemotions", GOEMOTIONS_LABELS, seed=3)
    enricher = TransformersEmotionEnricher(str(path))
    got = as_matrix(enricher.enrich(TEXTS))
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.inference_mode():
        enc = tokenizer(TEXTS, return_tensors="pt", padding=True)
        p28 = torch.softmax(model(**enc).logits, -1).numpy()
    mapping = {**PAPER_EKMAN_MAPPING, "neutral": ["neutral"]}
    folded = [label for labels in mapping.values() for label in labels]
    assert sorted(folded) == sorted(GOEMOTIONS_LABELS)  # all 28, once each
    expected = np.stack(
        [p28[:, [GOEMOTIONS_LABELS.index(lb) for lb in mapping[e]]].sum(axis=1) for e in EMOTIONS],
        axis=1,
    )
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # joy gathers twelve labels: on a random model it holds about 12/28 of the mass
    assert got[:, EMOTIONS.index("joy")].mean() > got[:, EMOTIONS.index("disgust")].mean()
