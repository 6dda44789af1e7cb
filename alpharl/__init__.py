"""AlphaRL: a reinforcement-learning research framework for emotion-aware ad delivery."""

__version__ = "0.1.0"
