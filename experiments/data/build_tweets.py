"""Derive ``alpharl/data/hutto2014_tweets.jsonl`` from the VADER sdist's tweet ratings.

Source: ``tweets_GroundTruth.txt`` of Hutto & Gilbert (2014), *VADER: A Parsimonious
Rule-based Model for Sentiment Analysis of Social Media Text*, ICWSM-14, shipped in the
vaderSentiment 3.3.2 sdist as ``additional_resources/hutto_ICWSM_2014.tar.gz`` (MIT). Each
line is ``id <TAB> mean human rating in [-4, 4] <TAB> text``, UTF-8 (two tweets hold a
non-ASCII character), CRLF line ends, 4,200 tweets.

Derivation (the rule is also documented in ``alpharl/streams/tweets.py`` and
``alpharl/data/README.md``):

- ``id``: the tweet's id in the source; ``text``: the tweet with HTML entities
  (``&amp;``, ``&lt;``, ``&gt;``) unescaped; ``annotations.human_sentiment``: the rating.
- Authors and times are not in the source and are assigned from ``h = SHA-256("hutto2014/<id>")``:
  ``h[0:8]`` (big-endian, divided by 2^64) picks the author by inverse CDF over ranks
  1..600 with weights r^-0.7 (author ``u%03d``); ``h[8:16]`` picks an hour of the 14-day
  window starting 2024-03-01T00:00Z by inverse CDF over the hours, each weighted by
  `HOURLY_PROFILE` for its hour of day; ``h[16:24]`` picks the second within that hour.
- Lines are sorted by (time, id) and written as compact JSON, UTF-8, ``\\n`` line ends.

Everything is integer or IEEE arithmetic in plain Python, so the output is identical byte
for byte on every machine.

Usage::

    pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d /tmp/vs
    python experiments/data/build_tweets.py --source /tmp/vs/vaderSentiment-3.3.2.tar.gz

``--source`` may also name an unpacked ``tweets_GroundTruth.txt``.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import html
import io
import json
import tarfile
from datetime import timedelta
from itertools import accumulate
from pathlib import Path

from alpharl.streams.tweets import N_AUTHORS, N_TWEETS, TWEETS_PATH, WINDOW_DAYS, WINDOW_START

ZIPF_EXPONENT = 0.7
# fmt: off
HOURLY_PROFILE: tuple[float, ...] = (
    0.6, 0.4, 0.25, 0.2, 0.2, 0.25, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0,
    1.1, 1.05, 1.0, 1.0, 1.1, 1.3, 1.6, 1.9, 2.0, 1.9, 1.5, 1.0,
)
# fmt: on
"""Relative tweeting rate in each hour of the day (UTC)."""

_NESTED = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
_MEMBER = "hutto_ICWSM_2014/tweets_GroundTruth.txt"


def read_source(path: Path) -> bytes:
    """The bytes of ``tweets_GroundTruth.txt``, from the sdist tarball or the file itself."""
    if path.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path) as sdist:
            nested = sdist.extractfile(_NESTED)
            if nested is None:
                raise FileNotFoundError(f"{path} has no {_NESTED}")
            with tarfile.open(fileobj=io.BytesIO(nested.read())) as inner:
                member = inner.extractfile(_MEMBER)
                if member is None:
                    raise FileNotFoundError(f"{_NESTED} has no {_MEMBER}")
                return member.read()
    return path.read_bytes()


def parse(data: bytes) -> list[tuple[int, float, str]]:
    """``(id, rating, text)`` for each tweet, text unescaped."""
    out = []
    for lineno, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise ValueError(f"line {lineno}: expected 3 tab-separated fields, got {len(fields)}")
        tweet_id, rating, text = fields
        out.append((int(tweet_id), float(rating), html.unescape(text)))
    return out


def _inverse_cdf(cumulative: list[float], u: float) -> int:
    return min(bisect.bisect_right(cumulative, u * cumulative[-1]), len(cumulative) - 1)


def _uniform(chunk: bytes) -> float:
    return int.from_bytes(chunk, "big") / 2.0**64


_AUTHOR_CDF = list(accumulate(r**-ZIPF_EXPONENT for r in range(1, N_AUTHORS + 1)))
_HOUR_CDF = list(accumulate(HOURLY_PROFILE[h % 24] for h in range(WINDOW_DAYS * 24)))


def assign(tweet_id: int) -> tuple[str, str]:
    """The author id and ISO-8601 time assigned to a tweet (see the module docstring)."""
    h = hashlib.sha256(f"hutto2014/{tweet_id}".encode()).digest()
    rank = _inverse_cdf(_AUTHOR_CDF, _uniform(h[0:8])) + 1
    hour = _inverse_cdf(_HOUR_CDF, _uniform(h[8:16]))
    second = int(_uniform(h[16:24]) * 3600)
    when = WINDOW_START + timedelta(hours=hour, seconds=second)
    return f"u{rank:03d}", when.strftime("%Y-%m-%dT%H:%M:%SZ")


def build(data: bytes) -> bytes:
    """The derived JSONL file's bytes."""
    tweets = parse(data)
    if len(tweets) != N_TWEETS or len({t[0] for t in tweets}) != N_TWEETS:
        raise ValueError(f"expected {N_TWEETS} tweets with distinct ids, got {len(tweets)}")
    rows = []
    for tweet_id, rating, text in tweets:
        author, when = assign(tweet_id)
        record = {
            "id": str(tweet_id),
            "created_at": when,
            "author_id": author,
            "text": text,
            "annotations": {"human_sentiment": rating},
        }
        rows.append((when, tweet_id, json.dumps(record, ensure_ascii=False, separators=(",", ":"))))
    rows.sort()
    return "".join(line + "\n" for _, _, line in rows).encode("utf-8")


def main() -> None:
    """Command line: read the source, write the derived file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--source",
        type=Path,
        required=True,
        help="vaderSentiment-3.3.2.tar.gz or tweets_GroundTruth.txt",
    )
    parser.add_argument("--out", type=Path, default=TWEETS_PATH)
    args = parser.parse_args()
    out = build(read_source(args.source))
    args.out.write_bytes(out)
    digest = hashlib.sha256(out).hexdigest()
    print(f"wrote {args.out} ({len(out):,} bytes, sha256 {digest})")


if __name__ == "__main__":
    main()
