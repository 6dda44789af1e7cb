"""Entities and brand mentions with spaCy, plus hashtags, @mentions and $cashtags.

Without a model the enricher runs ``spacy.blank("en")`` (the rule-based English tokenizer)
and an ``entity_ruler`` whose phrase patterns are the brands' surface forms, matched on
lower-cased tokens (``NIKE``, ``Nike`` and ``nike`` are all the brand Nike). Only texts in
which some surface form appears as consecutive lower-cased words (`KeywordMatcher` over
`word_pieces`: a set test, then a dict lookup per word) go through spaCy. A text without
one cannot match a pattern, except where spaCy's tokenizer splits a run of letters inside a
brand name ("gon|na", "3|pm") or finds a brand inside what `TOKEN_RE` reads as one link;
it gets no entities, so the blank pipeline costs little more than the word scan. With a
model (``en_core_web_sm``, a path, ...) every text goes through the model's entity
recognizer, with the brand ruler placed before it so that brands win overlaps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import spacy

from alpharl.enrich.base import Columns
from alpharl.enrich.text import KeywordMatcher, check_texts, rules_digest, word_pieces

_CODE_VERSION = "1"
_RULER_NAME = "alpharl_brands"
BRAND_LABEL = "BRAND"
"""The entity label of brand mentions."""

_UNNEEDED = ("parser", "tagger", "morphologizer", "lemmatizer", "attribute_ruler", "senter")
"""Components a loaded pipeline does not need for entities; they are skipped."""

TAG_RE = re.compile(
    r"#(?<![\w@#$&].)(\w*[^\W\d]\w*)"
    r"|@(?<![\w@#$&].)(\w+)"
    r"|\$(?<![\w@#$&].)([A-Za-z]{1,6}(?:\.[A-Za-z]{1,2})?)(?!\w)"
)
"""Hashtags (not all digits), @mentions (not inside e-mail addresses) and $cashtags
(1-6 letters, optional class suffix such as ``$BRK.B``; not amounts such as ``$5``); none
right after a word character or ``@#$&``. That check follows the ``#``/``@``/``$``, so the
pattern starts with one of three characters and the regex engine jumps from one of them
to the next (twice as fast as checking before every character)."""

# fmt: off
DEFAULT_BRANDS: dict[str, tuple[str, ...]] = {
    "Apple": ("apple", "iphone", "ipad", "macbook", "airpods", "apple watch"),
    "Samsung": ("samsung", "galaxy s24", "galaxy s23"),
    "Google": ("google", "pixel phone", "google pixel"),
    "Microsoft": ("microsoft", "windows 11", "xbox"),
    "Amazon": ("amazon", "prime video", "alexa", "kindle"),
    "Netflix": ("netflix",),
    "Spotify": ("spotify",),
    "Disney": ("disney", "disney+", "disney plus"),
    "YouTube": ("youtube",),
    "Instagram": ("instagram",),
    "TikTok": ("tiktok", "tik tok"),
    "Facebook": ("facebook",),
    "Sony": ("sony", "playstation", "ps5"),
    "Nintendo": ("nintendo", "switch 2"),
    "Tesla": ("tesla",),
    "Toyota": ("toyota",),
    "Ford": ("ford",),
    "BMW": ("bmw",),
    "Nike": ("nike", "air jordan", "air max"),
    "Adidas": ("adidas",),
    "Puma": ("puma",),
    "Lululemon": ("lululemon",),
    "Zara": ("zara",),
    "H&M": ("h&m",),
    "Uniqlo": ("uniqlo",),
    "Gucci": ("gucci",),
    "Starbucks": ("starbucks",),
    "McDonald's": ("mcdonald's", "mcdonalds", "big mac"),
    "Burger King": ("burger king",),
    "KFC": ("kfc",),
    "Chipotle": ("chipotle",),
    "Domino's": ("domino's", "dominos"),
    "Coca-Cola": ("coca-cola", "coca cola", "coke"),
    "Pepsi": ("pepsi",),
    "Red Bull": ("red bull", "redbull"),
    "Uber": ("uber", "uber eats"),
    "Lyft": ("lyft",),
    "DoorDash": ("doordash",),
    "Airbnb": ("airbnb",),
    "Expedia": ("expedia",),
    "Marriott": ("marriott",),
    "Hilton": ("hilton",),
    "Delta": ("delta airlines", "delta air lines"),
    "Walmart": ("walmart",),
    "Costco": ("costco",),
    "IKEA": ("ikea",),
    "PayPal": ("paypal",),
    "Visa": ("visa card",),
    "Mastercard": ("mastercard",),
    "Chase": ("chase bank",),
    "Coinbase": ("coinbase",),
    "Robinhood": ("robinhood",),
    "Peloton": ("peloton",),
    "Fitbit": ("fitbit",),
    "Verizon": ("verizon",),
    "AT&T": ("at&t",),
    "T-Mobile": ("t-mobile", "tmobile"),
    "Nvidia": ("nvidia",),
    "Intel": ("intel",),
    "Dell": ("dell",),
}
# fmt: on
"""Built-in brands: ``{canonical name: surface forms}``. Surface forms are matched on
lower-cased whole tokens. Ambiguous common words (visa, chase, delta, target, subway) are
listed only in unambiguous phrases; ``apple`` is listed and will also match the fruit."""


def extract_tags(text: str) -> tuple[list[str], list[str], list[str]]:
    """The hashtags, mentions and cashtags of ``text``, without ``#``/``@``/``$``.

    Each list keeps the order of first appearance and drops exact repeats.
    """
    hashtags: list[str] = []
    mentions: list[str] = []
    cashtags: list[str] = []
    if "#" not in text and "@" not in text and "$" not in text:
        return hashtags, mentions, cashtags
    for tag, mention, cash in TAG_RE.findall(text):
        if tag:
            if tag not in hashtags:
                hashtags.append(tag)
        elif mention:
            if mention not in mentions:
                mentions.append(mention)
        elif cash not in cashtags:
            cashtags.append(cash)
    return hashtags, mentions, cashtags


def _check_brands(brands: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(brands, Mapping) or not brands:
        raise ValueError(
            f"brands: must be a non-empty mapping of canonical name -> surface forms "
            f"(got {brands!r})"
        )
    checked: dict[str, tuple[str, ...]] = {}
    for canonical, forms in brands.items():
        if not isinstance(canonical, str) or not canonical.strip():
            raise ValueError(f"brands: canonical name must be a non-empty string ({canonical!r})")
        if isinstance(forms, str) or not isinstance(forms, Sequence) or not forms:
            raise ValueError(
                f"brands.{canonical}: must be a non-empty list of surface forms (got {forms!r})"
            )
        for j, form in enumerate(forms):
            if not isinstance(form, str) or not form.strip():
                raise ValueError(
                    f"brands.{canonical}[{j}]: must be a non-empty string (got {form!r})"
                )
        checked[canonical] = tuple(forms)
    return checked


class EntityEnricher:
    """Fills ``entities``, ``brands``, ``hashtags``, ``mentions`` and ``cashtags``.

    ``entities`` holds ``{"text", "label"}`` for every entity span (brands are labelled
    ``BRAND``; a loaded model adds its own labels, ``ORG``, ``PERSON``, ...); ``brands``
    the canonical names of the brands mentioned; the tags are extracted with `TAG_RE`,
    without their ``#``, ``@`` or ``$``. Lists keep first-appearance order without repeats.

    Args:
        model: A spaCy pipeline name or path to load (its parser, tagger and lemmatizer are
            skipped), or ``None`` for the blank English tokenizer plus the brand ruler.
        brands: ``{canonical name: [surface forms]}``, or ``None`` for `DEFAULT_BRANDS`.
        batch_size: Texts per `spacy.Language.pipe` batch.

    Raises:
        ValueError: If ``brands`` is malformed (the message names the brand and form),
            ``model`` cannot be loaded, or ``batch_size`` is not a positive integer.
    """

    name = "entities"
    columns: tuple[str, ...] = ("entities", "brands", "hashtags", "mentions", "cashtags")

    def __init__(
        self,
        model: str | None = None,
        brands: Mapping[str, Sequence[str]] | None = None,
        batch_size: int = 256,
    ) -> None:
        self.brands = _check_brands(DEFAULT_BRANDS if brands is None else brands)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: must be a positive integer (got {batch_size!r})")
        self.batch_size = batch_size
        self.model = model
        if model is None:
            nlp = spacy.blank("en")
            model_id = "blank_en"
        else:
            if not isinstance(model, str) or not model.strip():
                raise ValueError(f"model: must be a spaCy pipeline name or path (got {model!r})")
            try:
                nlp = spacy.load(model)
            except OSError as exc:
                raise ValueError(
                    f"model: cannot load spaCy pipeline {model!r} (not an installed package "
                    f"or a pipeline folder; nothing is downloaded): {exc}"
                ) from None
            model_id = f"{nlp.meta.get('lang', '')}_{nlp.meta.get('name', '')}-" + str(
                nlp.meta.get("version", "")
            )
        before = "ner" if "ner" in nlp.pipe_names else None
        ruler = nlp.add_pipe(
            "entity_ruler",
            name=_RULER_NAME,
            before=before,
            config={"phrase_matcher_attr": "LOWER", "overwrite_ents": True},
        )
        patterns = [
            {"label": BRAND_LABEL, "pattern": form, "id": canonical}
            for canonical, forms in self.brands.items()
            for form in forms
        ]
        ruler.add_patterns(patterns)  # type: ignore[attr-defined]
        self._nlp = nlp
        self._disabled = [p for p in nlp.pipe_names if p in _UNNEEDED]
        self._only_ruler = model is None
        names = list(self.brands)
        self._candidates = KeywordMatcher(self.brands, names, "brands", tokenize=word_pieces)
        digest = rules_digest(self.brands)
        self.version = f"{_CODE_VERSION}+spacy-{spacy.__version__}+{model_id}+{digest}"

    def __repr__(self) -> str:
        return f"EntityEnricher(model={self.model!r}, {len(self.brands)} brands)"

    def enrich(self, texts: Sequence[str]) -> Columns:
        """Entities, brands and tags of each text (one list per text in each column)."""
        check_texts(texts)
        n = len(texts)
        entities: list[list[dict[str, str]]] = [[] for _ in range(n)]
        brands: list[list[str]] = [[] for _ in range(n)]
        if self._only_ruler:
            todo = [i for i, hits in enumerate(self._candidates.hits_each(texts)) if hits]
        else:
            todo = list(range(n))
        if todo:
            docs = self._nlp.pipe(
                (texts[i] for i in todo), batch_size=self.batch_size, disable=self._disabled
            )
            for i, doc in zip(todo, docs, strict=True):
                row_entities = entities[i]
                row_brands = brands[i]
                for ent in doc.ents:
                    row_entities.append({"text": ent.text, "label": ent.label_})
                    if ent.label_ == BRAND_LABEL and ent.ent_id_ and ent.ent_id_ not in row_brands:
                        row_brands.append(ent.ent_id_)
        hashtags: list[list[str]] = []
        mentions: list[list[str]] = []
        cashtags: list[list[str]] = []
        for text in texts:
            h, m, c = extract_tags(text)
            hashtags.append(h)
            mentions.append(m)
            cashtags.append(c)
        return {
            "entities": entities,
            "brands": brands,
            "hashtags": hashtags,
            "mentions": mentions,
            "cashtags": cashtags,
        }
