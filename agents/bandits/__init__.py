"""Multi-armed and contextual bandits, numpy-only and vectorised over batches."""

from agents.bandits.batched import (
    BatchedLinearBandit,
    BatchedLinearThompsonSampling,
    BatchedLinUCB,
    learn_shared,
)
from agents.bandits.linear import LinearBandit, LinearThompsonSampling, LinUCB
from agents.bandits.tabular import UCB1, EpsilonGreedy, TabularBandit

__all__ = [
    "UCB1",
    "BatchedLinUCB",
    "BatchedLinearBandit",
    "BatchedLinearThompsonSampling",
    "EpsilonGreedy",
    "LinUCB",
    "LinearBandit",
    "LinearThompsonSampling",
    "TabularBandit",
    "learn_shared",
]
