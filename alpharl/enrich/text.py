"""Text helpers shared by the rule-based enrichers: input checks, one tokenizer, keyword rules.

`tokenize` (and `words`, derived from it) are cached per text, so the lexicon, entity,
intent and topic enrichers of one pipeline split each text of a batch once between them.

`KeywordMatcher` counts, for each text, how often each label's rules fire. A rule is either a
keyword phrase, matched on whole lower-cased words (``"credit card"`` matches "my Credit
Card" but not "discredit cards"; a hashtag ``#tech`` is the word ``tech``), or, with the
prefix ``re:``, a Python regular expression searched case-insensitively in the raw text
(``"re:\\bwhere (can|do) i (get|buy)\\b"``). Phrases are looked up in a dict keyed by their
first word, longest phrase first, and a word that is part of a matched phrase is not matched
again (``video game`` is one hit, not also ``game``), so matching costs a dict lookup per
word whatever the number of rules. Regex rules cost a scan of the text each, so the
defaults use phrases only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

import numpy as np

TOKEN_RE = re.compile(
    r"""
    https?://\S+ | www\.\S+                                  # links, one token
    | \w\w*+(?:'\w+)*+ | [#@]\w+(?:'\w+)*+                    # words, #hashtags, @mentions
                                                             # (and xD, T_T, o_O)
    | >[:;=]['\-o^]?[()\[\]dDpPoO/\\|3&](?!\w)               # >:( >:O
    | [:;=](?<!\d[:;=])['\-o^]?[()\[\]dDpPoO/\\|3&](?!\w)    # :) :-( :'( ;D :P, not 3:30
    | </?3 | \^_?\^ | ;_;                                     # <3 </3 ^_^ ;_;
    | [.,;:!?]                                               # clause punctuation
    | [\u2190-\u21ff\u2300-\u27bf\u2b00-\u2bff\u203c\u2049\u2139\U0001f000-\U0001faff]  # emoji
    """,
    re.VERBOSE,
)
r"""The one tokenizer of the rule-based enrichers: links, words (with inner apostrophes, and
a leading ``#`` or ``@``), emoticons, clause punctuation and emoji; everything else
(spaces, other symbols) is skipped.

Every alternative starts with a literal character or a character set (an emoticon's "no
digit before" is checked after its first character), so the regex engine rules out an
alternative on its first character without entering it, and a word's repeats are
possessive (nothing after them could make them give back a character); written as
``[#@]?\w+(?:'\w+)*`` and ``>?(?<!\d)[:;=]`` the same tokens cost about 30% more."""

REGEX_PREFIX = "re:"


def check_texts(texts: Sequence[str]) -> None:
    """Raise a `TypeError` naming the first item of ``texts`` that is not a string."""
    if isinstance(texts, str):
        raise TypeError("texts: must be a sequence of strings, not a single string")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}]: must be a string (got {type(text).__name__})")


def rules_digest(rules: Mapping[str, Sequence[str]], *params: object) -> str:
    """A short hash of rules (and parameters), for enricher versions."""
    blob = json.dumps([{k: list(v) for k, v in sorted(rules.items())}, params], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def normalise(text: str) -> str:
    """``text`` with typographic apostrophes made plain and emoji variation selectors
    dropped, as the tokenizer sees it."""
    if "’" in text:
        text = text.replace("’", "'")
    if "\ufe0f" in text:
        text = text.replace("\ufe0f", "")
    return text


@lru_cache(maxsize=2048)
def tokenize(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The tokens of ``normalise(text)`` by `TOKEN_RE`, as written and lower-cased.

    Cached (the last 2,048 texts), like `words`: the enrichers of a pipeline read the same
    batch one after the other, and the cache lets them split each text once. A batch larger
    than the cache only loses the sharing; results never depend on the cache.
    """
    tokens = tuple(TOKEN_RE.findall(normalise(text)))
    return tokens, tuple(map(str.lower, tokens))


@lru_cache(maxsize=2048)
def words(text: str) -> tuple[str, ...]:
    """The lower-cased words of ``text`` as `KeywordMatcher` sees them: the `tokenize`
    tokens that are words, without a leading ``#``/``@`` (punctuation, emoticons and emoji
    left out; a link stays one word, which no keyword matches)."""
    lows = tokenize(text)[1]
    return tuple(
        [low[1:] if low[0] in "#@" else low for low in lows if low[0].isalnum() or low[0] in "#@_"]
    )


def word_pieces(text: str) -> tuple[str, ...]:
    """`words` split at apostrophes too ("at&t's" -> ``at``, ``t``, ``s``)."""
    found = words(text)
    if "'" not in text and "’" not in text:
        return found
    return tuple([piece for word in found for piece in word.split("'") if piece])


class KeywordMatcher:
    """Counts rule hits per label.

    Args:
        rules: ``{label: [phrase or "re:" + regex, ...]}``. Every key must be one of
            ``labels``; a label may be left out (it never fires).
        labels: The label set, in output order.
        field: Name of the constructor argument the rules came from, for error messages.
        tokenize: Splits a text (and each phrase) into lower-cased words; `words` by
            default.

    Raises:
        ValueError: If a key is not a label, a rule is not a non-empty string, a phrase has
            no words, or a regex does not compile; the message names the label and rule.
    """

    def __init__(
        self,
        rules: Mapping[str, Sequence[str]],
        labels: Sequence[str],
        field: str,
        tokenize: Callable[[str], tuple[str, ...]] | None = None,
    ):
        if not isinstance(rules, Mapping):
            raise ValueError(f"{field}: must be a mapping of label -> rules (got {rules!r})")
        self.labels = tuple(labels)
        self._tokenize = words if tokenize is None else tokenize
        index = {label: k for k, label in enumerate(self.labels)}
        phrases: dict[tuple[str, ...], list[int]] = {}
        regexes: list[tuple[int, re.Pattern[str]]] = []
        for label, label_rules in rules.items():
            if label not in index:
                raise ValueError(f"{field}: unknown label {label!r} (labels: {list(labels)})")
            if isinstance(label_rules, str) or not isinstance(label_rules, Sequence):
                raise ValueError(
                    f"{field}.{label}: must be a list of strings (got {label_rules!r})"
                )
            for j, rule in enumerate(label_rules):
                where = f"{field}.{label}[{j}]"
                if not isinstance(rule, str) or not rule.strip():
                    raise ValueError(f"{where}: must be a non-empty string (got {rule!r})")
                if rule.startswith(REGEX_PREFIX):
                    try:
                        pattern = re.compile(rule[len(REGEX_PREFIX) :], re.IGNORECASE)
                    except re.error as exc:
                        raise ValueError(
                            f"{where}: bad regular expression {rule!r}: {exc}"
                        ) from None
                    regexes.append((index[label], pattern))
                    continue
                key = tuple(self._tokenize(rule))
                if not key:
                    raise ValueError(f"{where}: phrase {rule!r} has no words")
                hits = phrases.setdefault(key, [])
                if index[label] not in hits:
                    hits.append(index[label])
        by_first: dict[str, list[tuple[tuple[str, ...], tuple[int, ...]]]] = {}
        for key, hit_labels in phrases.items():
            by_first.setdefault(key[0], []).append((key[1:], tuple(hit_labels)))
        for candidates in by_first.values():
            candidates.sort(key=lambda c: -len(c[0]))
        self._by_first = by_first
        self._regexes = regexes
        self.n_rules = len(phrases) + len(regexes)

    def hits(self, text: str) -> list[int]:
        """The label index of every rule hit in ``text``, in order of first word."""
        return self.hits_each((text,))[0]

    def hits_each(self, texts: Sequence[str]) -> list[list[int]]:
        """`hits` of each text, in one loop over the batch."""
        tokenize = self._tokenize
        by_first = self._by_first
        first_words = by_first.keys()
        regexes = self._regexes
        found: list[list[int]] = []
        for text in texts:
            tokens = tokenize(text)
            out: list[int] = []
            found.append(out)
            if not first_words.isdisjoint(tokens):
                skip_to = 0
                for j in [j for j, token in enumerate(tokens) if token in by_first]:
                    if j < skip_to:
                        continue
                    for rest, hit_labels in by_first[tokens[j]]:
                        if not rest:
                            out.extend(hit_labels)
                            break
                        if tokens[j + 1 : j + 1 + len(rest)] == rest:
                            out.extend(hit_labels)
                            skip_to = j + 1 + len(rest)
                            break
            for k, pattern in regexes:
                out.extend([k] * len(pattern.findall(text)))
        return found

    def counts(self, texts: Sequence[str]) -> tuple[np.ndarray, list[list[int]]]:
        """Hit counts per text and label, and each text's hits in order.

        Returns:
            ``(counts, hits)``: a float64 array of shape ``(len(texts), len(labels))`` and,
            per text, the list `hits` returns.
        """
        all_hits = self.hits_each(texts)
        rows = [i for i, h in enumerate(all_hits) for _ in h]
        cols = [k for h in all_hits for k in h]
        n_labels = len(self.labels)
        flat = np.bincount(
            np.asarray(rows, dtype=np.int64) * n_labels + np.asarray(cols, dtype=np.int64),
            minlength=len(texts) * n_labels,
        )
        return flat.reshape(len(texts), n_labels).astype(np.float64), all_hits
