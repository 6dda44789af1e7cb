"""The shipped sample: 4,200 real tweets with mean human sentiment ratings.

The tweets and their ratings are the tweet set of Hutto, C.J. & Gilbert, E.E. (2014),
*VADER: A Parsimonious Rule-based Model for Sentiment Analysis of Social Media Text*,
ICWSM-14 (MIT License; see ``alpharl/data/README.md`` and ``LICENSE-hutto2014.txt``). Each
post keeps the tweet's id, its text (HTML entities such as ``&amp;`` unescaped) and the mean
of about 20 human ratings on [-4, 4] as the annotation ``human_sentiment``.

The original tweets have no authors or times; ``experiments/data/build_tweets.py`` assigns
them deterministically from a SHA-256 hash of ``"hutto2014/<tweet id>"``, so the file is
reproducible byte for byte:

- author: the first 8 bytes, as a uniform number, pick one of `N_AUTHORS` users
  (``u001`` ... ``u600``) from a Zipf-like distribution (weight of rank r is r^-0.7), so
  most users post several times (about 7 posts per user on average, the busiest about 200);
- time: the next 8 bytes pick an hour of the `WINDOW_DAYS`-day window starting at
  `WINDOW_START`, weighted by a time-of-day profile (quiet at night, busiest in the
  evening, UTC); the next 8 bytes pick the second within that hour.

The file is sorted by time (then by tweet id), one `Post`-shaped JSON object per line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

from alpharl.streams.replay import ReplayStream

WINDOW_START = datetime(2024, 3, 1, tzinfo=UTC)
"""Start of the campaign window the shipped tweets are spread over."""

WINDOW_DAYS = 14
"""Length of that window in days."""

WINDOW_END = WINDOW_START + timedelta(days=WINDOW_DAYS)

N_AUTHORS = 600
"""Number of user ids the tweets are assigned to."""

N_TWEETS = 4200
"""Number of tweets in the shipped file."""

TWEETS_PATH = Path(str(files("alpharl").joinpath("data", "hutto2014_tweets.jsonl")))
"""Where the shipped JSONL file lives (inside the installed package)."""


def shipped_tweets(**replay_kwargs: Any) -> ReplayStream:
    """A `ReplayStream` over the shipped tweets.

    Args:
        **replay_kwargs: Passed on to `ReplayStream` (``loop``, ``start``, ``end``,
            ``pace``, ``dead_letter``, ...); ``name`` defaults to ``hutto2014_tweets``.
    """
    replay_kwargs.setdefault("name", "hutto2014_tweets")
    return ReplayStream(TWEETS_PATH, format="jsonl", **replay_kwargs)
