"""Rule-based topic: one of `TOPICS` per text from keyword rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from alpharl.enrich.base import Columns
from alpharl.enrich.text import KeywordMatcher, check_texts, rules_digest
from alpharl.schema import TOPICS

_CODE_VERSION = "1"

# fmt: off
DEFAULT_TOPIC_KEYWORDS: dict[str, tuple[str, ...]] = {
    "tech": (
        "tech", "technology", "gadget", "gadgets", "phone", "phones", "smartphone",
        "iphone", "android", "laptop", "laptops", "computer", "pc", "software",
        "software update", "firmware", "app", "apps", "wifi", "router", "smartwatch",
        "tablet", "ipad", "headphones", "earbuds", "charger", "battery", "ai", "chip",
        "gpu", "camera", "keyboard", "bluetooth", "5g", "startup", "coding", "developer",
    ),
    "food": (
        "food", "foodie", "dinner", "lunch", "breakfast", "brunch", "pizza", "coffee",
        "latte", "restaurant", "restaurants", "recipe", "recipes", "burger", "burgers",
        "meal", "meals", "meal kits", "takeout", "delivery order", "blender",
        "coffee machine", "snack", "snacks", "sushi", "tacos", "pasta", "dessert",
        "cafe", "bakery", "cooking", "chef", "menu", "yummy", "delicious", "tasty",
    ),
    "travel": (
        "travel", "traveling", "travelling", "wanderlust", "flight", "flights", "hotel",
        "hotels", "trip", "airport", "vacation", "holiday", "train ride", "train",
        "beach", "resort", "plane", "plane tickets", "suitcase", "luggage", "rail pass",
        "passport", "airline", "cruise", "roadtrip", "road trip", "booking", "airbnb",
        "itinerary", "tourist", "sightseeing",
    ),
    "sports": (
        "sports", "sport", "gameday", "game", "games", "my team", "match",
        "gym", "gym membership", "final score", "score", "marathon", "playoffs",
        "running shoes", "bike", "game tickets", "football", "soccer", "basketball",
        "baseball", "tennis", "golf", "hockey", "nba", "nfl", "league", "season",
        "coach", "stadium", "tournament", "championship", "cycling",
    ),
    "fashion": (
        "fashion", "ootd", "outfit", "outfits", "shoes", "dress", "dresses", "jacket",
        "sneaker", "sneakers", "sneaker drop", "wardrobe", "handbag", "sunglasses",
        "jeans", "shirt", "hoodie", "boots", "style", "streetwear", "designer",
        "accessories", "jewelry", "makeup", "lipstick",
    ),
    "finance": (
        "finance", "money", "bank", "banking", "savings", "savings account",
        "stock market", "stocks", "stock", "budget", "loan", "loans", "mortgage",
        "credit card", "credit", "crypto", "bitcoin", "ethereum", "index funds",
        "invest", "investing", "investment", "insurance", "taxes", "salary", "paycheck",
        "retirement", "interest rates", "debt", "portfolio", "dividend",
    ),
    "entertainment": (
        "entertainment", "movie", "movies", "film", "cinema", "show", "tv", "series",
        "series finale", "episode", "concert", "concert tickets", "album", "new album",
        "song", "songs", "music", "podcast", "video game", "video games", "console",
        "gaming", "streaming", "streaming plan", "netflix", "vinyl", "vinyl records",
        "playlist", "festival", "trailer", "anime", "comedy",
    ),
    "health": (
        "health", "healthy", "fitness", "fitness tracker", "workout", "workouts",
        "doctor", "doctor visit", "sleep", "diet", "vitamins", "yoga", "yoga class",
        "yoga mat", "protein", "protein powder", "running", "running routine",
        "meditation", "therapy", "wellness", "hospital", "medicine", "calories",
        "nutrition", "vaccine", "dentist", "mental health", "cardio",
    ),
}
# fmt: on
"""The default keywords: phrases matched on whole lower-cased words (see `KeywordMatcher`)."""


class RuleTopicEnricher:
    """Fills ``topic``: the topic whose keywords appear most often, ``other`` if none.

    Ties go to the topic whose first keyword comes first in the text. Phrases match whole
    lower-cased words and a longer phrase wins over the words in it, so "the video game"
    is entertainment (``video game``) rather than sports (``game``); a hashtag ``#travel``
    counts as the word ``travel``.

    Args:
        keywords: ``{topic: [phrase or "re:" + regex, ...]}`` replacing the defaults
            (`DEFAULT_TOPIC_KEYWORDS`). Topics must be in `TOPICS`; ``other`` takes no
            keywords. ``None`` = the defaults.

    Raises:
        ValueError: On an unknown topic, keywords for ``other``, an empty or non-string
            keyword, or a regex that does not compile.
    """

    name = "topic_rules"
    columns: tuple[str, ...] = ("topic",)

    def __init__(self, keywords: Mapping[str, Sequence[str]] | None = None) -> None:
        keywords = DEFAULT_TOPIC_KEYWORDS if keywords is None else keywords
        if isinstance(keywords, Mapping) and keywords.get("other"):
            raise ValueError("keywords.other: 'other' is the topic when none matches; no keywords")
        self.matcher = KeywordMatcher(keywords, TOPICS, "keywords")
        self.version = f"{_CODE_VERSION}+{rules_digest(keywords)}"

    def __repr__(self) -> str:
        return f"RuleTopicEnricher({self.matcher.n_rules} keywords, version={self.version!r})"

    def enrich(self, texts: Sequence[str]) -> Columns:
        """The topic of each text, as a list of strings in `TOPICS`."""
        check_texts(texts)
        out: list[str] = []
        for hits in self.matcher.hits_each(texts):
            if not hits:
                out.append("other")
                continue
            if len(hits) == 1:
                out.append(TOPICS[hits[0]])
                continue
            best = max(hits, key=lambda k: (hits.count(k), -hits.index(k)))
            out.append(TOPICS[best])
        return {"topic": out}
