"""The scores of ``pipeline eval dedup``: pair precision, recall and F1, and ARI.

Gold ids are matched to predicted ids (exactly, or by their ending after a ``/``); both
sides are closed transitively, and pairs are counted per cluster intersection, never
enumerated. Against pairs every predicted document is scored (one the gold does not name
is alone in the gold); against clusters every gold document is (one without a prediction
is alone in the predictions), and the adjusted Rand index is reported too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from docstage.errors import DataError
from docstage_eval.dedup_gold import Gold, Predictions
from docstage_eval.metrics import Counts


@attrs.frozen
class Matching:
    """Gold ids matched to predicted ids: exactly, or by the path ending (``/`` bounded)."""

    to_predicted: Mapping[str, str]
    by_suffix: int
    ambiguous: tuple[str, ...]


def _tails(ident: str) -> list[str]:
    parts = ident.split("/")
    return ["/".join(parts[i:]) for i in range(len(parts))]


def match_ids(gold: Iterable[str], predicted: Iterable[str]) -> Matching:
    """Match each gold id to the predicted id it equals, else to the one predicted id that
    ends with it or that it ends with (``raw/a/1`` ~ ``a/1``); unmatched when several fit."""
    known = set(predicted)
    endings: dict[str, list[str]] = {}
    for ident in known:
        for tail in _tails(ident)[1:]:
            endings.setdefault(tail, []).append(ident)
    exact: dict[str, str] = {}
    guessed: dict[str, str] = {}
    ambiguous: list[str] = []
    for ident in gold:
        if ident in known:
            exact[ident] = ident
            continue
        found = {*endings.get(ident, ()), *(t for t in _tails(ident)[1:] if t in known)}
        if len(found) == 1:
            guessed[ident] = found.pop()
        elif found:
            ambiguous.append(ident)
    claims = Counter([*exact.values(), *guessed.values()])
    for ident, target in list(guessed.items()):
        if claims[target] > 1:  # two gold ids end like one predicted id
            del guessed[ident]
            ambiguous.append(ident)
    return Matching({**exact, **guessed}, len(guessed), tuple(ambiguous))


def _numbered(labels: Iterable[str | None]) -> list[int]:
    """Cluster labels as numbers; each None is a cluster of its own."""
    numbers: dict[str, int] = {}
    found: list[int] = []
    for label in labels:
        found.append(-1 - len(found) if label is None else numbers.setdefault(label, len(numbers)))
    return found


def _pairs(sizes: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


@attrs.frozen(kw_only=True)
class DedupScores:
    """Pair counts (after the transitive closure), ARI against clusters, and coverage.

    Attributes:
        pairs: True pairs (tp), predicted-only (fp) and gold-only (fn) pairs.
        ari: The adjusted Rand index over the gold documents; None against pairs.
        documents: Documents scored.
        predicted_clusters: Predicted clusters of two or more scored documents.
        gold_clusters: Gold clusters of two or more scored documents.
        gold_ids: Ids the gold file names.
        matched: Gold ids matched to a predicted id, ``by_suffix`` of them by path ending.
        unmatched: Gold ids without a predicted document; ``ambiguous`` had several.
        notes: Warnings for the user.
    """

    pairs: Counts
    ari: float | None
    documents: int
    predicted_clusters: int
    gold_clusters: int
    gold_ids: int
    matched: int
    by_suffix: int
    unmatched: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        pairs = self.pairs
        return {
            **pairs.scores(),
            "ari": round(self.ari, 4) if self.ari is not None else None,
            "documents": self.documents,
            "predicted_clusters": self.predicted_clusters,
            "gold_clusters": self.gold_clusters,
            "true_pairs": pairs.tp,
            "predicted_pairs": pairs.predicted,
            "gold_pairs": pairs.gold,
            "gold_ids": self.gold_ids,
            "matched": self.matched,
            "matched_by_suffix": self.by_suffix,
        }


def score(gold: Gold, predictions: Predictions, relation: str) -> DedupScores:
    """Score ``predictions`` (clustered by ``relation``) against ``gold``.

    Raises:
        DataError: No gold id matches a predicted id.
    """
    matching = match_ids(gold.clusters, predictions.ids)
    found = matching.to_predicted
    if not found:
        first_predicted = next(iter(predictions.ids), None)
        raise DataError(
            f"no gold id matches a predicted id (first gold id {next(iter(gold.clusters))!r}, "
            f"first predicted id {first_predicted!r}); ids match exactly or by their ending "
            "after a '/'",
            file=gold.path,
        )
    predicted = predictions.clusters(relation)
    truth: list[str | None]
    if gold.kind == "clusters":
        truth = list(gold.clusters.values())
        guess = [predicted[found[g]] if g in found else None for g in gold.clusters]
    else:
        back = {p: g for g, p in found.items()}
        truth = [gold.clusters[back[p]] if p in back else None for p in predictions.ids]
        guess = list(predicted.values())
    ours, theirs = _numbered(guess), _numbered(truth)
    sizes_ours, sizes_theirs = Counter(ours), Counter(theirs)
    tp = _pairs(Counter(zip(ours, theirs, strict=True)).values())
    ari = None
    if gold.kind == "clusters":
        from sklearn.metrics import adjusted_rand_score

        ari = float(adjusted_rand_score(theirs, ours))
    notes = []
    if relation == "stories" and not predictions.stories:
        notes.append("no predicted document has a story_id: each copy group is a story")
    if predictions.skipped:
        notes.append(f"{predictions.skipped:,} document(s) a stage failed on were skipped")
    ambiguous = set(matching.ambiguous)
    return DedupScores(
        pairs=Counts.of(tp, _pairs(sizes_ours.values()), _pairs(sizes_theirs.values())),
        ari=ari,
        documents=len(ours),
        predicted_clusters=sum(1 for n in sizes_ours.values() if n > 1),
        gold_clusters=sum(1 for n in sizes_theirs.values() if n > 1),
        gold_ids=len(gold.clusters),
        matched=len(found),
        by_suffix=matching.by_suffix,
        unmatched=tuple(g for g in gold.clusters if g not in found and g not in ambiguous),
        ambiguous=matching.ambiguous,
        notes=tuple(notes),
    )
