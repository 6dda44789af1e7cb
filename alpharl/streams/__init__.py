"""Sources of posts: file replay, the shipped tweets, and a seeded synthetic generator.

Every source implements `StreamSource`: it iterates `alpharl.schema.Post` objects in
event-time order, ``reset(seed)`` rewinds it, and ``stats`` counts what it read, yielded and
dead-lettered.
"""

from alpharl.streams.base import DeadLetterWriter, StreamSource, StreamStats
from alpharl.streams.replay import ReplayStream
from alpharl.streams.synthetic import SyntheticStream
from alpharl.streams.tweets import TWEETS_PATH, shipped_tweets

__all__ = [
    "TWEETS_PATH",
    "DeadLetterWriter",
    "ReplayStream",
    "StreamSource",
    "StreamStats",
    "SyntheticStream",
    "shipped_tweets",
]
