"""The scores of ``pipeline eval entities``: exact spans, label maps, counts per label.

A span is a start, an end and a label; a :class:`LabelMap` renames (or drops) labels
before spans are compared; a predicted span counts only when its start, end and label
equal a gold span's. :class:`EntityScores` keeps the counts per label and overall,
micro-averaged over all documents; an :class:`Evaluation` is the scores with where the
predictions came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from docstage.errors import DataError, display
from docstage_eval.metrics import Counts, total

#: spaCy (OntoNotes) labels -> CoNLL-2003 labels; the others are not CoNLL entities.
CONLL_LABELS: dict[str, str | None] = {
    "PERSON": "PER",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "NORP": "MISC",
    "EVENT": "MISC",
    "PRODUCT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "LANGUAGE": "MISC",
}

#: A span: start, end, label.
Span = tuple[int, int, str]


# --- label maps ---------------------------------------------------------------------------


@attrs.frozen
class LabelMap:
    """Renames labels before spans are compared; a label mapped to None is dropped.

    A label the mapping does not name is kept when it is one of the mapping's targets
    (``PER`` in the CoNLL map, so gold data already in CoNLL labels passes through) and
    dropped otherwise. Without a mapping every label is kept as it is.
    """

    name: str
    mapping: Mapping[str, str | None] | None = None

    def __call__(self, label: str) -> str | None:
        if self.mapping is None:
            return label
        if label in self.mapping:
            return self.mapping[label]
        return label if label in set(self.mapping.values()) else None

    def apply(self, spans: Iterable[Span]) -> set[Span]:
        """The spans with their labels mapped, without the dropped ones."""
        mapped = set()
        for start, end, label in spans:
            target = self(label)
            if target is not None:
                mapped.add((start, end, target))
        return mapped

    @classmethod
    def load(cls, spec: str) -> LabelMap:
        """``conll``, ``none``, or a JSON file of ``{"LABEL": "TARGET" or null}``.

        Raises:
            DataError: The file is missing or not such an object.
        """
        if spec == "conll":
            return cls("conll", CONLL_LABELS)
        if spec == "none":
            return cls("none", None)
        path = Path(spec)
        if not path.is_file():
            what = "is a folder" if path.is_dir() else "no such label map file"
            raise DataError(f"{what}; --label-map takes conll, none or a .json file", file=path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON: {exc.msg}", file=path, line=exc.lineno) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read the label map: {exc}", file=path) from None
        if not isinstance(data, dict) or not all(
            isinstance(v, str) or v is None for v in data.values()
        ):
            raise DataError(
                "expected a JSON object mapping labels to labels (or null to drop one), e.g. "
                '{"PERSON": "PER", "DATE": null}',
                file=path,
            )
        return cls(display(path), data)


# --- scores -------------------------------------------------------------------------------


def _as_dict(counts: Counts) -> dict[str, Any]:
    """One label's (or all labels') scores and counts, as the JSON shows them."""
    return {
        **counts.scores(),
        "support": counts.gold,
        "predicted": counts.predicted,
        "tp": counts.tp,
        "fp": counts.fp,
        "fn": counts.fn,
    }


@attrs.define
class EntityScores:
    """Exact-span counts per label over a set of documents; ``overall`` is their sum."""

    labels: dict[str, Counts] = attrs.Factory(dict)
    documents: int = 0

    def add(self, gold: Iterable[Span], predicted: Iterable[Span]) -> None:
        """Score one document: a predicted span is right only if start, end and label match."""
        gold_set, predicted_set = set(gold), set(predicted)
        for spans, one in (
            (gold_set & predicted_set, Counts(tp=1)),
            (predicted_set - gold_set, Counts(fp=1)),
            (gold_set - predicted_set, Counts(fn=1)),
        ):
            for _, _, label in spans:
                self.labels[label] = self.labels.get(label, Counts()) + one
        self.documents += 1

    @property
    def overall(self) -> Counts:
        """The labels' counts summed (the micro average)."""
        return total(self.labels.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "labels": {label: _as_dict(self.labels[label]) for label in sorted(self.labels)},
            "overall": _as_dict(self.overall),
        }


def score(pairs: Iterable[tuple[Iterable[Span], Iterable[Span]]], labels: LabelMap) -> EntityScores:
    """Score ``(gold, predicted)`` span pairs, one per document, after mapping labels."""
    scores = EntityScores()
    for gold, predicted in pairs:
        scores.add(labels.apply(gold), labels.apply(predicted))
    return scores


@attrs.define
class Evaluation:
    """Scores, where the predictions came from, and the documents left without any."""

    scores: EntityScores
    gold: Path
    label_map: str
    predictions: str
    unscored: list[str] = attrs.Factory(list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "gold": display(self.gold),
            "label_map": self.label_map,
            "predictions": self.predictions,
            "without_predictions": len(self.unscored),
            **self.scores.as_dict(),
        }
