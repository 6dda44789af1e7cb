"""Word banks and templates the synthetic stream writes its posts from.

Every bank is keyed by a label of `alpharl.schema` (an emotion, intent or topic) and holds
phrases whose words carry that label, so that lexicon enrichers can recover the latent truth:
joy phrases use VADER-positive joy words, anger phrases anger words, complaint sentences
"worst service", purchase sentences "thinking of buying", topic phrases topic nouns. Topic
nouns and neutral phrases avoid sentiment-bearing words (checked against VADER's lexicon),
so the sentiment of a post comes from its emotion and intent phrases only.
"""

from __future__ import annotations

from alpharl.schema import EMOTIONS, INTENTS, TOPICS

# fmt: off  (word banks read best packed; each tuple is one bank)

EMOTION_PHRASES: dict[str, tuple[str, ...]] = {
    "anger": (
        "so angry",
        "absolutely furious",
        "I hate this",
        "this is outrageous",
        "I'm livid",
        "fuming right now",
        "so mad",
        "this is infuriating",
        "sick and tired of this",
    ),
    "disgust": (
        "disgusting",
        "so gross",
        "that's nasty",
        "this makes me sick",
        "revolting",
        "yuck, so gross",
        "vile",
        "repulsive, honestly disgusting",
    ),
    "fear": (
        "I'm scared",
        "so worried",
        "terrified",
        "really nervous",
        "anxious",
        "freaking out",
        "dreading it",
        "afraid, this is scary",
    ),
    "joy": (
        "so happy",
        "love this",
        "amazing day",
        "feeling great",
        "best day ever",
        "so grateful",
        "this made my day",
        "absolutely love it",
        "so glad",
        "pure joy",
    ),
    "neutral": (
        "thinking about",
        "update on",
        "quick note on",
        "just saw",
        "looking at",
        "talking about",
        "notes on",
        "a thread on",
    ),
    "sadness": (
        "so sad",
        "heartbroken",
        "feeling lonely",
        "really upset",
        "crying over",
        "so depressed",
        "such a sad letdown",
        "feeling miserable",
    ),
    "surprise": (
        "wow",
        "can't believe it",
        "didn't see that coming",
        "what a surprise",
        "totally unexpected",
        "whoa",
        "I'm shocked",
        "omg, surprised",
    ),
}
"""Phrases that express each emotion (neutral ones introduce the topic flatly)."""

EMOTION_EMOJI: dict[str, tuple[str, ...]] = {
    "anger": ("😡", "🤬", "😤"),
    "disgust": ("🤢", "🤮", "😖"),
    "fear": ("😱", "😨", "😰"),
    "joy": ("😂", "😍", "🎉", "😊"),
    "neutral": ("👀", "📌", "🗒️"),
    "sadness": ("😢", "😭", "💔"),
    "surprise": ("😮", "😲", "🤯"),
}

EMOTION_VALENCE: dict[str, float] = {
    "anger": -0.8,
    "disgust": -0.65,
    "fear": -0.55,
    "joy": 0.8,
    "neutral": 0.0,
    "sadness": -0.65,
    "surprise": 0.25,
}
"""Mean valence of a post with each emotion, before the intent's shift."""

TOPIC_NOUNS: dict[str, tuple[str, ...]] = {
    "tech": (
        "my new phone",
        "this laptop",
        "the software update",
        "the new app",
        "my wifi router",
        "this smartwatch",
        "the tablet",
    ),
    "food": (
        "dinner tonight",
        "this pizza place",
        "my coffee order",
        "the new restaurant",
        "this recipe",
        "brunch",
        "the burger",
    ),
    "travel": (
        "my flight",
        "the hotel",
        "this trip",
        "the airport",
        "our vacation plans",
        "the train ride",
        "the beach resort",
    ),
    "sports": (
        "the game last night",
        "my team",
        "the match",
        "the gym",
        "the final score",
        "marathon training",
        "the playoffs",
    ),
    "fashion": (
        "this outfit",
        "my new shoes",
        "the dress",
        "this jacket",
        "the sneaker drop",
        "my wardrobe",
        "this handbag",
    ),
    "finance": (
        "my bank",
        "my savings",
        "the stock market",
        "my budget",
        "the loan",
        "my credit card bill",
        "crypto prices",
    ),
    "entertainment": (
        "the movie",
        "this show",
        "the concert",
        "the new album",
        "the series finale",
        "this podcast",
        "the video game",
    ),
    "health": (
        "my workout",
        "the doctor visit",
        "my sleep",
        "this diet",
        "my vitamins",
        "the yoga class",
        "my running routine",
    ),
    "other": (
        "the weather",
        "my neighbor",
        "this weekend",
        "my errands",
        "the commute",
        "the meeting",
        "my day",
    ),
}
"""Noun phrases naming each topic."""

TOPIC_ITEMS: dict[str, tuple[str, ...]] = {
    "tech": ("a new phone", "a laptop", "headphones", "a smartwatch"),
    "food": ("a coffee machine", "meal kits", "a blender", "takeout"),
    "travel": ("plane tickets", "a hotel room", "a suitcase", "a rail pass"),
    "sports": ("running shoes", "a gym membership", "a bike", "game tickets"),
    "fashion": ("a jacket", "sneakers", "a dress", "sunglasses"),
    "finance": ("a savings account", "index funds", "a credit card", "insurance"),
    "entertainment": ("concert tickets", "a streaming plan", "a console", "vinyl records"),
    "health": ("protein powder", "a fitness tracker", "vitamins", "a yoga mat"),
    "other": ("a gift card", "a lamp", "a backpack", "a planner"),
}
"""Things one could buy within each topic, for intent sentences."""

TOPIC_HASHTAGS: dict[str, tuple[str, ...]] = {
    "tech": ("#tech", "#gadgets"),
    "food": ("#foodie", "#food"),
    "travel": ("#travel", "#wanderlust"),
    "sports": ("#sports", "#gameday"),
    "fashion": ("#fashion", "#ootd"),
    "finance": ("#finance", "#money"),
    "entertainment": ("#movies", "#music"),
    "health": ("#health", "#fitness"),
    "other": ("#life", "#weekend"),
}

INTENT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "purchase": (
        "thinking of buying {item}",
        "where can I get {item}?",
        "about to order {item} from {brand}",
        "want to buy {item} this week",
        "does {brand} sell {item}? need one",
        "adding {item} to my cart",
    ),
    "complaint": (
        "worst service ever from {brand}",
        "{brand} still hasn't fixed my order",
        "I want a refund, {brand}",
        "{brand} customer service never answers",
        "third time {brand} got it wrong",
        "terrible experience with {brand}",
    ),
    "research": (
        "anyone compared {item} options?",
        "looking for reviews of {item}",
        "which {item} should I pick?",
        "how does {brand} compare to others?",
        "any advice on {item}?",
        "researching {item} before deciding",
    ),
    "praise": (
        "shoutout to {brand}",
        "highly recommend {brand}",
        "{brand} nailed it",
        "great job {brand}",
        "{brand} never disappoints",
        "thank you {brand}, great service",
    ),
    "other": ("", "", "", "just thinking out loud", "more later", "that's all for now"),
}
"""Sentences expressing each intent; ``{item}`` is a topic item, ``{brand}`` a brand."""

INTENT_VALENCE: dict[str, float] = {
    "purchase": 0.1,
    "complaint": -0.35,
    "research": 0.0,
    "praise": 0.35,
    "other": 0.0,
}
"""Shift of a post's valence by its intent."""

INTENT_AFFINITY: dict[str, dict[str, float]] = {
    "anger": {"complaint": 1.5, "praise": -1.5, "purchase": -0.5},
    "disgust": {"complaint": 1.2, "praise": -1.2},
    "fear": {"research": 0.8, "praise": -0.5},
    "joy": {"praise": 1.2, "purchase": 0.5, "complaint": -1.5},
    "neutral": {"research": 0.5, "other": 0.3},
    "sadness": {"complaint": 0.5, "praise": -0.8},
    "surprise": {"research": 0.3, "praise": 0.3},
}
"""Added to a user's intent logits given the post's emotion (angry posts complain, ...)."""

DEFAULT_BRANDS: tuple[str, ...] = (
    "Acme",
    "Zephyr Phones",
    "Nimbus Air",
    "Bluefin Bank",
    "Orchard Eats",
    "Stride Sports",
    "Lumen Studios",
    "Velvet Threads",
)
"""Fictional brands the synthetic posts mention by default."""

HOURLY_ACTIVITY: tuple[float, ...] = (
    0.6,
    0.4,
    0.25,
    0.2,
    0.2,
    0.25,
    0.4,
    0.6,
    0.8,
    0.9,
    0.95,
    1.0,
    1.1,
    1.05,
    1.0,
    1.0,
    1.1,
    1.3,
    1.6,
    1.9,
    2.0,
    1.9,
    1.5,
    1.0,
)
"""Relative posting rate in each hour of the day (UTC): quiet at night, busiest 19-22h."""

# fmt: on

assert set(EMOTION_PHRASES) == set(EMOTIONS) == set(EMOTION_EMOJI) == set(EMOTION_VALENCE)
assert set(INTENT_TEMPLATES) == set(INTENTS) == set(INTENT_VALENCE)
assert set(TOPIC_NOUNS) == set(TOPICS) == set(TOPIC_ITEMS) == set(TOPIC_HASHTAGS)
assert len(HOURLY_ACTIVITY) == 24
