"""configs/news.toml end to end with the ``dedup`` stage: the canonical case —
one story told by two outlets, both kept, their shared quotes marked with each other's id
and source — on the seed articles (skipped without ``../shared``) and on the invented
examples (always run), where a third outlet's wire copy is dropped with provenance."""

from __future__ import annotations

import json
from pathlib import Path

from docstage.document import Document
from tests.conftest import CONFIGS, news_outputs


def run_news(run_pipeline, out: Path, *overrides: str) -> list[Document]:
    result = run_pipeline(
        CONFIGS / "news.toml",
        overrides=[*overrides, "stages.entities.backend=rules", *news_outputs(out)],
    )
    assert result.summary.exit_code == 0
    assert result.quarantine == []
    return result.documents


def shared_with(doc: Document, quote: str) -> set[tuple[str, str]]:
    """The (id, source) of every document ``doc`` shares a passage containing ``quote`` with."""
    found = set()
    for passage in doc.annotations.get("shared_passages", ()):
        assert doc.text[passage.start : passage.end] == passage.text
        if quote in passage.text:
            found |= {(m.id, m.source) for m in passage.matches}
    return found


def test_seed_articles_are_one_story_with_shared_quotes(
    run_pipeline, shared: Path, tmp_path: Path
) -> None:
    # The seeds come from two outlets but sit in one folder: name each file's source apart.
    docs = run_news(
        run_pipeline,
        tmp_path,
        f"stages.read.files.path={shared.as_posix()}/seeds/*.txt",
        "stages.read.files.source=outlet-{stem}",
    )
    assert len(docs) == 2
    first, second = sorted(docs, key=lambda d: d.id)
    assert first.annotations["story_id"] == second.annotations["story_id"]
    assert first.source != second.source
    assert not first.annotations.get("duplicates")
    assert not second.annotations.get("duplicates")
    for doc, other in ((first, second), (second, first)):
        assert shared_with(doc, "every year") == {(other.id, other.source)}
        assert shared_with(doc, "cyberspace") == {(other.id, other.source)}


def test_invented_examples_story_copies_and_quotes(run_pipeline, tmp_path: Path) -> None:
    docs = {d.id: d for d in run_news(run_pipeline, tmp_path)}
    wire = docs["coastal-wire/port-strike-framework.txt"]
    times = docs["harbor-times/2024-03-12-port-strike-talks.txt"]
    library = docs["valley-post/library-reopens.txt"]
    # the Valley Post's republished wire copy is dropped; the earlier original lists it
    assert "valley-post/dockworkers-framework.txt" not in docs
    (copy,) = wire.annotations["duplicates"]
    assert (copy.id, copy.source, copy.relation) == (
        "valley-post/dockworkers-framework.txt",
        "valley-post",
        "near",
    )
    assert copy.score >= 0.8
    # one story, two outlets; the library story is another
    assert wire.annotations["story_id"] == times.annotations["story_id"]
    assert library.annotations["story_id"] != wire.annotations["story_id"]
    # the quote the two outlets word differently is shared, both ways
    assert shared_with(wire, "line by line") == {(times.id, "harbor-times")}
    assert shared_with(times, "line by line") == {(wire.id, "coastal-wire")}
    assert not library.annotations.get("shared_passages")
    # the JSONL record carries it all under the documented keys
    records = {
        r["id"]: r
        for r in map(json.loads, (tmp_path / "news.jsonl").read_text("utf-8").splitlines())
    }
    record = records[wire.id]
    assert record["story_id"] == wire.annotations["story_id"]
    assert record["duplicates"] == [
        {
            "id": "valley-post/dockworkers-framework.txt",
            "source": "valley-post",
            "relation": "near",
            "score": copy.score,
        }
    ]
    (passage, *_) = [p for p in record["shared_passages"] if "line by line" in p["text"]]
    assert set(passage) == {"start", "end", "text", "matches"}
    assert passage["matches"][0]["id"] == times.id
    assert passage["matches"][0]["source"] == "harbor-times"
    report = [json.loads(x) for x in (tmp_path / "dedup.jsonl").read_text().splitlines()]
    assert [(r["id"], r["original"]["id"], r["action"]) for r in report] == [
        ("valley-post/dockworkers-framework.txt", wire.id, "dropped")
    ]
