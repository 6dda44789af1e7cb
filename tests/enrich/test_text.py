"""The shared tokenizer: its fast regex finds what the plainly written one finds."""

from __future__ import annotations

import random
import re

from alpharl.enrich.text import TOKEN_RE, normalise, tokenize, words

PLAIN_TOKEN_RE = re.compile(
    r"""
    https?://\S+ | www\.\S+
    | [#@]?\w+(?:'\w+)*
    | >?(?<!\d)[:;=]['\-o^]?[()\[\]dDpPoO/\\|3&](?!\w)
    | </?3 | \^_?\^ | ;_;
    | [.,;:!?]
    | [\u2190-\u21ff\u2300-\u27bf\u2b00-\u2bff\u203c\u2049\u2139\U0001f000-\U0001faff]
    """,
    re.VERBOSE,
)
"""`TOKEN_RE` as first written: the same alternatives, in the same order."""

PIECES = [
    *"ab1 9_#@$&'’:;=>-o^()[]dDpP/\\|3<.,!?hw",
    "http://",
    "https://",
    "www.",
    "😡",
    "↔",
    "①",
    "İ",
    "ß",
    "٣",
    "\u00a0",
    "\n",
    "\x00",
    "\ufe0f",
]
"""Characters and fragments around which the alternatives differ."""


def fuzz_texts(n: int, seed: int) -> list[str]:
    """``n`` random short strings of `PIECES`."""
    rng = random.Random(seed)
    return ["".join(rng.choices(PIECES, k=rng.randint(0, 24))) for _ in range(n)]


def test_token_re_finds_what_the_plain_form_finds() -> None:
    texts = [
        *fuzz_texts(20000, seed=0),
        "3:30 :) >:( >:-O :'( ;D x:P <3 </3 ^_^ ;_; #tag @you don't",
        "see http://x.co/a:( and www.y.com, ok?!",
    ]
    for text in texts:
        assert TOKEN_RE.findall(text) == PLAIN_TOKEN_RE.findall(text), text


def test_tokenize_and_words() -> None:
    tokens, lows = tokenize("Don’t STOP #Believing :) 3:30 😡️")
    assert tokens == ("Don't", "STOP", "#Believing", ":)", "3", ":", "30", "😡")
    assert lows == tuple(t.lower() for t in tokens)
    assert words("Don’t STOP #Believing :) 3:30") == ("don't", "stop", "believing", "3", "30")
    assert tokenize("") == ((), ())
    assert normalise("it’s\ufe0f") == "it's"
