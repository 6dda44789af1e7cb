"""Lexicon emotions: the offline default emotion enricher.

Each text gets a probability distribution over `EMOTIONS`. Every lexicon term found adds its
weight to its emotions' scores, adjusted by a handful of rules in the spirit of VADER
(Hutto & Gilbert, 2014):

- **negation**: a negator (``not``, ``never``, ``don't``, ...) flips or dampens the emotion
  words in the next `NEGATION_SCOPE` words of its clause (`NEGATED`: "not happy" is
  sadness, "not scared" mostly neutral, "never disappoints" a little joy);
- **degree words**: boosters (``so``, ``really``, ``absolutely``) and dampeners (``slightly``,
  ``kinda``) multiply the next emotion word within two words (`DEGREE`);
- **ALL CAPS** words weigh `CAPS_BOOST` times more, unless the whole text is in capitals;
- **elongation** ("sooo haaappy") is collapsed before lookup and weighs `ELONGATION_BOOST`;
- **hashtags** (``#angry``) count as their word, times `HASHTAG_BOOST`;
- **"but"** halves what came before it in the text and weighs what follows 1.5 times;
- **exclamation marks** (up to four) strengthen every emotion by `EXCLAMATION_BOOST` each;
- **emoji and emoticons** are lexicon terms like words (``😡``, ``:(``, ``<3``).

``neutral`` starts with ``neutral_prior`` and the scores are normalised to sum to 1, so a
text without emotion words is neutral with probability 1, and one plain emotion word of
weight 1 gets 69% of the mass with the default prior of 0.45 (a weak word of
weight 0.4 alone leaves the text neutral).

The lexicon (``alpharl/data/emotion_lexicon.tsv``, about 1,000 terms) was written for
AlphaRL and is MIT licensed; it is not derived from the NRC Emotion Lexicon, whose licence
forbids commercial use. Tokenising is one compiled regex, lookups are dict hits and the
scores are accumulated with one `numpy.bincount` per batch.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from alpharl.enrich.base import Columns
from alpharl.enrich.text import TOKEN_RE, check_texts, tokenize
from alpharl.schema import EMOTION_COLUMNS, EMOTIONS

_CODE_VERSION = "1"

LEXICON_PATH = Path(str(files("alpharl").joinpath("data", "emotion_lexicon.tsv")))
"""The shipped lexicon."""

NEGATION_SCOPE = 3
CAPS_BOOST = 1.5
ELONGATION_BOOST = 1.2
HASHTAG_BOOST = 1.2
EXCLAMATION_BOOST = 0.15
BUT_BEFORE, BUT_AFTER = 0.5, 1.5

# fmt: off
NEGATORS = frozenset((
    "not", "no", "never", "nor", "neither", "nobody", "nothing", "nowhere", "none", "without",
    "cannot", "cant", "can't", "don't", "dont", "doesn't", "doesnt", "didn't", "didnt",
    "isn't", "isnt", "aren't", "arent", "wasn't", "wasnt", "weren't", "werent", "won't",
    "wont", "wouldn't", "wouldnt", "shouldn't", "shouldnt", "couldn't", "couldnt", "haven't",
    "havent", "hasn't", "hasnt", "hadn't", "hadnt", "ain't", "aint", "nope",
))
# fmt: on
"""Words that negate the emotion words after them (within the clause)."""

DEGREE: dict[str, float] = {
    **dict.fromkeys(["absolutely", "utterly", "incredibly", "extremely", "fucking"], 1.5),
    **dict.fromkeys(["insanely", "ridiculously", "deeply", "completely", "freaking"], 1.4),
    **dict.fromkeys(["so", "very", "super", "totally", "such", "truly", "really"], 1.4),
    **dict.fromkeys(["highly", "hella", "mega", "most", "too", "quite", "pretty"], 1.2),
    **dict.fromkeys(["slightly", "mildly", "somewhat", "barely", "hardly"], 0.5),
    **dict.fromkeys(["kinda", "sorta", "little", "bit", "partly", "fairly", "almost"], 0.7),
}
"""Degree words and the factor they apply to the next emotion word."""

_E = {e: k for k, e in enumerate(EMOTIONS)}
NEGATED: dict[str, tuple[tuple[str, float], ...]] = {
    "joy": (("sadness", 0.6),),
    "sadness": (("neutral", 0.4), ("joy", 0.3)),
    "anger": (("neutral", 0.5),),
    "disgust": (("neutral", 0.5),),
    "fear": (("neutral", 0.4), ("joy", 0.2)),
    "surprise": (("neutral", 0.5),),
    "neutral": (("neutral", 1.0),),
}
"""Where a negated emotion word's weight goes, and at what fraction."""

_ELONGATED = re.compile(r"([^\W\d_])\1{2,}")
_MAYBE_ELONGATED = re.compile(r"(\w)\1\1")  # which texts to look at (digits too: "000")
_ASCII_WORD = np.array([chr(c).isalnum() or chr(c) == "_" for c in range(128)])
_BOUNDARY = frozenset(".,;:!?")

# entry kinds
_EMO, _NEG, _DEG, _BUT, _BOUND = range(5)
_DEGREE_REACH = 2  # a degree word reaches an emotion word at most this many tokens on


def _maybe_elongated(texts: Sequence[str]) -> set[int]:
    """The indices of the texts in which `_MAYBE_ELONGATED` finds a run, for a whole batch.

    One pass over the batch's code points (numpy) finds the positions where a character is
    repeated three times; a run of an ASCII word character is a match, a run of another
    character (an emoji, a letter outside ASCII) is checked with the regex on its text.
    Only these texts can hold an elongated word, and the per-text regex search costs
    about as much as the rest of the scoring.
    """
    if not texts:
        return set()
    # "\n" between texts is not a word character: no run of one crosses two texts.
    joined = "\n".join(texts)
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    runs = np.flatnonzero((codes[:-2] == codes[1:-1]) & (codes[1:-1] == codes[2:]))
    if not len(runs):
        return set()
    chars = codes[runs]
    is_ascii = chars < 128
    word = is_ascii & _ASCII_WORD[np.minimum(chars, 127)]
    starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]])
    which = np.searchsorted(starts, runs, side="right") - 1
    found = set(which[word].tolist())
    for i in set(which[~is_ascii].tolist()) - found:
        if _MAYBE_ELONGATED.search(texts[i]) is not None:
            found.add(i)
    return found


def _collapse_elongations(
    lows: Sequence[str], table: Mapping[str, object]
) -> tuple[tuple[str, ...], set[int]]:
    """Map elongated tokens not in ``table`` ("sooo", "haaappy") to a form that is.

    Runs of three or more letters become two ("goood" -> "good"), else one ("haaappy" ->
    "happy"). Returns the new tokens and the positions that were changed.
    """
    out = list(lows)
    stretched: set[int] = set()
    for j, low in enumerate(lows):
        if low in table or _ELONGATED.search(low) is None:
            continue
        for short in (_ELONGATED.sub(r"\1\1", low), _ELONGATED.sub(r"\1", low)):
            if short in table:
                out[j] = short
                stretched.add(j)
                break
    return tuple(out), stretched


def load_lexicon(path: str | Path) -> dict[str, dict[str, float]]:
    """Read a lexicon TSV (``term<TAB>emotion<TAB>weight``, ``#`` comments, one header row).

    Raises:
        ValueError: Naming the file and line of a malformed row, an unknown emotion or a
            weight outside (0, 2].
    """
    lexicon: dict[str, dict[str, float]] = {}
    header_seen = False
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if not header_seen:
                header_seen = True
                if parts == ["term", "emotion", "weight"]:
                    continue
            where = f"{path}:{lineno}"
            if len(parts) != 3 or not parts[0].strip():
                raise ValueError(f"{where}: expected 'term<TAB>emotion<TAB>weight' (got {line!r})")
            term, emotion, raw = parts
            if emotion not in _E:
                raise ValueError(f"{where}: unknown emotion {emotion!r} (one of {list(EMOTIONS)})")
            try:
                weight = float(raw)
            except ValueError:
                raise ValueError(f"{where}: weight {raw!r} is not a number") from None
            if not 0.0 < weight <= 2.0:
                raise ValueError(f"{where}: weight {weight} is outside (0, 2]")
            lexicon.setdefault(term, {})[emotion] = weight
    if not lexicon:
        raise ValueError(f"{path}: the lexicon has no terms")
    return lexicon


class LexiconEmotionEnricher:
    """Fills ``emotion_anger`` ... ``emotion_surprise`` from the emotion lexicon and rules.

    Args:
        lexicon: Path of a lexicon TSV (see `load_lexicon`); ``None`` = the shipped one.
        neutral_prior: Score ``neutral`` starts with (> 0): the larger, the more emotion
            words a text needs to move away from neutral.

    Raises:
        ValueError: If the lexicon is malformed or ``neutral_prior`` is not positive.
    """

    name = "emotion_lexicon"
    columns: tuple[str, ...] = EMOTION_COLUMNS

    def __init__(self, lexicon: str | Path | None = None, neutral_prior: float = 0.45) -> None:
        if not (isinstance(neutral_prior, int | float) and neutral_prior > 0):
            raise ValueError(f"neutral_prior: must be a positive number (got {neutral_prior!r})")
        path = LEXICON_PATH if lexicon is None else Path(lexicon)
        if not path.is_file():
            raise ValueError(f"lexicon: no such file {str(path)!r}")
        self.lexicon_path = path
        self.neutral_prior = float(neutral_prior)
        terms = load_lexicon(path)
        self.n_terms = len(terms)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        self.version = f"{_CODE_VERSION}+{digest}+prior{self.neutral_prior:g}"
        self._build(terms)

    def __repr__(self) -> str:
        return f"LexiconEmotionEnricher({self.n_terms} terms, version={self.version!r})"

    def _build(self, terms: dict[str, dict[str, float]]) -> None:
        """One lookup table: token -> (kind, payload, multi-word continuations)."""
        negated = {_E[e]: tuple((_E[t], f) for t, f in targets) for e, targets in NEGATED.items()}
        self._negated = negated
        table: dict[str, tuple[int, Any, Any]] = {}
        for word in NEGATORS:
            table[word] = (_NEG, None, None)
        for word, factor in DEGREE.items():
            table[word] = (_DEG, factor, None)
        table["but"] = (_BUT, None, None)
        for p in _BOUNDARY:
            table[p] = (_BOUND, None, None)
        multi: dict[str, list[tuple[tuple[str, ...], Any]]] = {}
        for term, emotions in terms.items():
            payload = tuple((_E[e], w) for e, w in emotions.items())
            tokens = TOKEN_RE.findall(term)
            is_word = term[:1].isalnum() or term[:1] == "_"
            key = term.lower() if is_word else term
            if len(tokens) > 1 and is_word:
                multi.setdefault(tokens[0].lower(), []).append(
                    (tuple(t.lower() for t in tokens[1:]), payload)
                )
                table.setdefault(tokens[0].lower(), (-1, None, None))
                continue
            table[key] = (_EMO, payload, None)
            if not is_word:  # emoticons are looked up lower-cased too: XD, :D, :P
                table.setdefault(term.lower(), (_EMO, payload, None))
            if is_word:
                boosted = tuple((k, w * HASHTAG_BOOST) for k, w in payload)
                table["#" + key] = (_EMO, boosted, None)
        for first, continuations in multi.items():
            continuations.sort(key=lambda c: -len(c[0]))
            kind, payload, _ = table.get(first, (-1, None, None))
            table[first] = (kind, payload, continuations)
        self._table = table

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Unnormalised scores, shape ``(len(texts), len(EMOTIONS))`` (no neutral prior)."""
        check_texts(texts)
        table = self._table
        negated = self._negated
        elongated = _maybe_elongated(texts)
        no_stretch: set[int] = set()
        n_e = len(EMOTIONS)
        cells: list[int] = []  # row * n_e + emotion, one per contribution
        vals: list[float] = []
        boost = np.ones(len(texts))
        for r, text in enumerate(texts):
            tokens, lows = tokenize(text)
            stretched = no_stretch
            if r in elongated:
                lows, stretched = _collapse_elongations(lows, table)
            # Only tokens in the table matter; distances between them give the scopes.
            hits = [j for j, low in enumerate(lows) if low in table]
            if not hits:
                continue
            all_caps: bool | None = None
            row = r * n_e
            start = len(vals)
            neg_at = -100  # position of the last negator in the clause
            degree, degree_at = 1.0, -100
            clause = 1.0
            skip_to = 0
            for j in hits:
                if j < skip_to:
                    continue
                kind, payload, continuations = table[lows[j]]
                if continuations is not None:
                    for rest, multi_payload in continuations:
                        if lows[j + 1 : j + 1 + len(rest)] == rest:
                            kind, payload = _EMO, multi_payload
                            skip_to = j + 1 + len(rest)
                            break
                if kind == _EMO:
                    w = clause
                    if j - degree_at <= _DEGREE_REACH:
                        w *= degree
                    degree, degree_at = 1.0, -100
                    if j in stretched:
                        w *= ELONGATION_BOOST
                    tok = tokens[j]
                    if tok.isupper() and len(tok) > 1 and tok[0].isalpha():
                        if all_caps is None:
                            all_caps = text.isupper()
                        if not all_caps:
                            w *= CAPS_BOOST
                    if j - neg_at <= NEGATION_SCOPE:
                        for k, weight in payload:
                            for target, fraction in negated[k]:
                                cells.append(row + target)
                                vals.append(weight * w * fraction)
                    else:
                        for k, weight in payload:
                            cells.append(row + k)
                            vals.append(weight * w)
                elif kind == _BOUND:
                    neg_at, degree_at = -100, -100
                elif kind == _NEG:
                    neg_at = j
                elif kind == _DEG:
                    if j - degree_at <= _DEGREE_REACH:  # "so very": the factors multiply
                        degree *= payload
                    else:
                        degree = payload
                    degree_at = j
                elif kind == _BUT:
                    for m in range(start, len(vals)):
                        vals[m] *= BUT_BEFORE
                    neg_at, degree_at = -100, -100
                    clause = BUT_AFTER
            if len(vals) > start:
                bangs = text.count("!")
                if bangs:
                    boost[r] = 1.0 + EXCLAMATION_BOOST * min(bangs, 4)
        flat = np.bincount(
            np.asarray(cells, dtype=np.int64),
            weights=np.asarray(vals, dtype=np.float64),
            minlength=len(texts) * n_e,
        )
        out = flat.reshape(len(texts), n_e).astype(np.float64, copy=False)
        emotional = [k for k, e in enumerate(EMOTIONS) if e != "neutral"]
        out[:, emotional] *= boost[:, None]
        return out

    def enrich(self, texts: Sequence[str]) -> Columns:
        """Emotion probabilities for each text (float32 arrays, rows sum to 1)."""
        scores = self.scores(texts)
        scores[:, _E["neutral"]] += self.neutral_prior
        probs = (scores / scores.sum(axis=1, keepdims=True)).astype(np.float32)
        return {c: probs[:, k].copy() for k, c in enumerate(EMOTION_COLUMNS)}
