"""Precision, recall and F1: the one set of counts the three evaluations score with.

Each evaluation counts something different (tokens of a page, entity spans, pairs of
documents in one cluster), but all three end in the same three numbers, computed here
once: a :class:`Counts` of hits, false alarms and misses, summed over pages, labels or
documents (:func:`total`, the micro average) or averaged by F1 (:func:`macro_f1`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs


@attrs.frozen
class Counts:
    """True positives, false positives and false negatives; ``+`` adds them up.

    Attributes:
        tp: Predicted and in the gold (hits).
        fp: Predicted, not in the gold.
        fn: In the gold, not predicted.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @classmethod
    def of(cls, hits: int, predicted: int, gold: int) -> Counts:
        """The counts of ``hits`` among ``predicted`` items and ``gold`` items."""
        return cls(tp=hits, fp=predicted - hits, fn=gold - hits)

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def predicted(self) -> int:
        """Items predicted."""
        return self.tp + self.fp

    @property
    def gold(self) -> int:
        """Items in the gold (the support)."""
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        """Hits per predicted item; 0.0 when nothing was predicted."""
        return self.tp / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        """Hits per gold item; 0.0 when the gold is empty."""
        return self.tp / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        """The harmonic mean of precision and recall; 0.0 when both are 0."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def scores(self) -> dict[str, float]:
        """``precision``, ``recall`` and ``f1``, rounded to 4 places, as the JSON shows them."""
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


def total(counts: Iterable[Counts]) -> Counts:
    """The counts summed: their precision, recall and F1 are the micro average."""
    return sum(counts, Counts())


def macro_f1(counts: Sequence[Counts]) -> float:
    """The mean of the F1s (each item weighs the same); 0.0 for none."""
    return sum(c.f1 for c in counts) / len(counts) if counts else 0.0
