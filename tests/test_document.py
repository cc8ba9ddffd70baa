"""The document model: immutable values, typed annotation keys, changes by evolve."""

from __future__ import annotations

import pickle

import attrs
import pytest

from docstage.document import REMOVED, Document, Entity, Key, Removal
from docstage.records import to_record

LANGUAGE: Key[str] = Key("language", "ISO 639-1 code")


def make() -> Document:
    return Document(
        id="wire/1.txt",
        text="Putin met Biden in Geneva.",
        source="wire",
        metadata={"title": "Summit", "categories": ["world"]},
        entities=[Entity(label="PERSON", text="Putin", start=0, end=5)],
    )


def test_documents_are_frozen() -> None:
    doc = make()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        doc.text = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError, match="read-only"):
        doc.metadata["title"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError, match="read-only"):
        doc.annotations.update(x=1)  # type: ignore[attr-defined]


def test_evolve_returns_a_changed_copy() -> None:
    doc = make()
    changed = doc.evolve(text="Short.")
    assert changed.text == "Short."
    assert doc.text == "Putin met Biden in Geneva."
    assert changed.metadata == doc.metadata
    assert isinstance(changed.entities, tuple)


def test_typed_annotations() -> None:
    doc = make()
    assert doc.get(LANGUAGE) is None
    assert doc.get(LANGUAGE, "und") == "und"
    tagged = doc.annotate(LANGUAGE, "en")
    assert tagged.get(LANGUAGE) == "en"
    assert doc.get(LANGUAGE) is None


def test_record_removal_keeps_an_audit_trail() -> None:
    doc = make().record_removal("cleanup.metadata:date", "date 2021-06-16", 0)
    doc = doc.record_removal("cleanup.metadata:footer", "Categorized in:")
    assert doc.get(REMOVED) == (
        Removal(rule="cleanup.metadata:date", text="date 2021-06-16", start=0),
        Removal(rule="cleanup.metadata:footer", text="Categorized in:"),
    )
    record = to_record(doc)
    assert record["removed"][0] == {
        "rule": "cleanup.metadata:date",
        "text": "date 2021-06-16",
        "start": 0,
        "inserted": "",
    }


def test_documents_pickle_for_worker_processes() -> None:
    doc = make().annotate(LANGUAGE, "en").with_metadata(published="2021-06-16")
    again = pickle.loads(pickle.dumps(doc))
    assert again == doc
    with pytest.raises(TypeError):
        again.metadata["x"] = 1  # type: ignore[index]


def test_record_has_the_spec_keys() -> None:
    record = to_record(make().annotate(LANGUAGE, "en"))
    assert list(record) == [
        "id",
        "source",
        "text",
        "metadata",
        "entities",
        "story_id",
        "duplicates",
        "shared_passages",
        "removed",
        "annotations",
        "stages",
    ]
    assert record["metadata"]["published"] is None
    assert record["metadata"]["categories"] == ["world"]
    assert record["annotations"] == {"language": "en"}
    assert record["entities"][0]["label"] == "PERSON"
