"""The JSONL record: the machine contract of docstage's output (docs/stages.md, "render.jsonl").

:func:`to_record` is used by ``render.jsonl`` and by the quarantine file, so both carry
the same shape. The top-level keys below are always present; annotations without a
top-level key of their own appear under ``annotations``.
"""

from __future__ import annotations

from typing import Any

from docstage.document import Document, Entity, to_jsonable

#: Metadata keys every record carries, with the value used when a document lacks one.
METADATA_DEFAULTS: dict[str, Any] = {
    "title": None,
    "published": None,
    "categories": [],
    "tags": [],
    "authors": [],
    "url": None,
}

#: Annotations promoted to top-level record keys, with their value when absent.
TOP_LEVEL_ANNOTATIONS: dict[str, Any] = {
    "story_id": None,
    "duplicates": [],
    "shared_passages": [],
    "removed": [],
}


def entity_record(entity: Entity) -> dict[str, Any]:
    return {
        "label": entity.label,
        "text": entity.text,
        "start": entity.start,
        "end": entity.end,
        "canonical": entity.canonical,
        "entity_id": entity.entity_id,
    }


def to_record(doc: Document) -> dict[str, Any]:
    """The JSON-ready record of a document."""
    metadata = {**METADATA_DEFAULTS, **to_jsonable(doc.metadata)}
    record: dict[str, Any] = {
        "id": doc.id,
        "source": doc.source,
        "text": doc.text,
        "metadata": metadata,
        "entities": [entity_record(e) for e in doc.entities],
    }
    annotations = doc.annotations
    for key, default in TOP_LEVEL_ANNOTATIONS.items():
        record[key] = to_jsonable(annotations.get(key, default))
    if "duplicate_of" in annotations:
        record["duplicate_of"] = to_jsonable(annotations["duplicate_of"])
    rest = {
        k: v
        for k, v in annotations.items()
        if k not in TOP_LEVEL_ANNOTATIONS and k != "duplicate_of"
    }
    if rest:
        record["annotations"] = to_jsonable(rest)
    record["stages"] = list(doc.stages)
    return record
