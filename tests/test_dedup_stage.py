"""The ``dedup`` stage: copies dropped with provenance, survivors chosen by a
declared policy, stories and shared passages, and the index of earlier runs."""

from __future__ import annotations

import json
import random
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from docstage import ConfigError
from docstage.document import Document

STRIKE = (
    "Negotiators for striking dockworkers and the Port of Aldermouth emerged late on Tuesday "
    "with what union leader Marta Lindqvist called a framework, not a deal. Lindqvist said "
    "her members would vote only on a written text, and that every promise made in the past "
    "ten years came without the money attached. Henrik Dahl, chief executive of the port "
    "authority, said the offer on shift pay stays on the table until Friday, and the "
    "minister called on both sides to return to the table on Thursday.\n"
)
LIBRARY = (
    "The Riverside public library reopened on Saturday after an eighteen-month renovation "
    "that added a children's wing, a repair cafe and a reading room overlooking the river. "
    "Head librarian Sofia Nyberg said visitor numbers on the first day were twice what the "
    "staff had planned for, and that the new wing would open its doors every evening.\n"
)
FERRY = (
    "The island ferry will run an extra evening crossing from May, the operator said on "
    "Monday, after two winters in which passengers were left waiting on the quay. Timetables "
    "for the summer season go on sale next week at the harbour office and online.\n"
)


def near_copy(text: str) -> str:
    """``text`` with one word changed: Jaccard over word 5-grams about 0.9."""
    return text.replace("Thursday", "Monday", 1)


def doc(id: str, source: str, text: str, published: str | None = None) -> Document:
    metadata = {"published": published} if published else {}
    return Document(id=id, source=source, text=text, metadata=metadata)


def corpus() -> list[Document]:
    return [
        doc("wire/strike", "wire", STRIKE, "2024-03-12"),
        doc("post/strike", "post", STRIKE.upper(), "2024-03-13"),  # exact after case folding
        doc("times/strike", "times", near_copy(STRIKE), "2024-03-11"),
        doc("post/library", "post", LIBRARY, "2024-03-10"),
        doc("times/ferry", "times", FERRY),
    ]


def run(run_stage, docs, tmp_path: Path, **options):
    options.setdefault("stories", False)
    options.setdefault("passages", False)
    return run_stage("dedup", docs, folder=tmp_path, **options)


def test_copies_are_dropped_and_listed_on_the_earliest_survivor(run_stage, tmp_path) -> None:
    result = run(run_stage, corpus(), tmp_path)
    kept = {d.id: d for d in result.documents}
    assert sorted(kept) == ["post/library", "times/ferry", "times/strike"]
    records = kept["times/strike"].annotations["duplicates"]
    assert [(c.id, c.source, c.relation) for c in records] == [
        ("post/strike", "post", "near"),
        ("wire/strike", "wire", "near"),
    ]
    assert all(0.8 <= c.score < 1.0 for c in records)
    assert result.stage("dedup").dropped == {"duplicate (near)": 2}


def test_exact_copies_are_exact(run_stage, tmp_path) -> None:
    docs = [doc("a", "wire", STRIKE), doc("b", "post", "  " + STRIKE.upper() + "\n\n")]
    result = run(run_stage, docs, tmp_path, keep="first")
    (survivor,) = result.documents
    assert survivor.id == "a"
    (copy,) = survivor.annotations["duplicates"]
    assert (copy.id, copy.relation, copy.score) == ("b", "exact", 1.0)
    assert result.stage("dedup").dropped == {"duplicate (exact)": 1}


@pytest.mark.parametrize(
    ("options", "survivor"),
    [
        ({"keep": "earliest"}, "times/strike"),
        ({"keep": "longest"}, "post/strike"),  # as long as wire/strike: the smaller id wins
        ({"keep": "first"}, "wire/strike"),
        ({"keep": "earliest", "source_priority": ["post"]}, "post/strike"),
    ],
)
def test_the_survivor_follows_the_declared_policy(run_stage, tmp_path, options, survivor) -> None:
    docs = [d for d in corpus() if "strike" in d.id]
    result = run(run_stage, docs, tmp_path, **options)
    assert [d.id for d in result.documents] == [survivor]


def test_annotate_mode_keeps_copies_with_duplicate_of(run_stage, tmp_path) -> None:
    result = run(run_stage, corpus(), tmp_path, mode="annotate")
    kept = {d.id: d for d in result.documents}
    assert len(kept) == 5
    original = kept["wire/strike"].annotations["duplicate_of"]
    assert (original.id, original.source, original.relation) == ("times/strike", "times", "near")
    assert original.run_id == result.summary.run_id
    assert "duplicate_of" not in kept["times/strike"].annotations


def test_no_pair_below_the_threshold_is_linked(run_stage, tmp_path) -> None:
    words = STRIKE.split()
    half = " ".join(words[: len(words) // 2] + LIBRARY.split())
    result = run(run_stage, [doc("a", "x", STRIKE), doc("b", "y", half)], tmp_path)
    assert len(result.documents) == 2


def test_shuffled_input_gives_the_same_survivors_and_stories(run_stage, tmp_path) -> None:
    docs = corpus()
    outcomes = set()
    for seed in range(4):
        random.Random(seed).shuffle(docs)
        result = run(run_stage, docs, tmp_path / str(seed), stories=True, index=False)
        outcomes.add(
            tuple(
                sorted(
                    (d.id, d.annotations.get("story_id"), len(d.annotations.get("duplicates", ())))
                    for d in result.documents
                )
            )
        )
    assert len(outcomes) == 1


def test_a_later_run_drops_copies_of_earlier_documents_and_names_them(
    run_pipeline, tmp_path: Path
) -> None:
    config = {
        "run": {"state": "state.sqlite"},
        "stages": [{"use": "dedup", "stories": False, "passages": False, "report": "dedup.jsonl"}],
    }
    first = run_pipeline(config, documents=corpus()[:1] + corpus()[3:], folder=tmp_path)
    assert len(first.documents) == 3
    second = run_pipeline(config, documents=corpus()[1:3], folder=tmp_path)
    assert second.documents == []
    lines = [json.loads(x) for x in (tmp_path / "dedup.jsonl").read_text().splitlines()]
    assert {(x["id"], x["original"]["id"], x["original"]["run_id"]) for x in lines} == {
        ("post/strike", "wire/strike", first.summary.run_id),
        ("times/strike", "wire/strike", first.summary.run_id),
    }
    # the same documents read again are not copies of themselves
    third = run_pipeline(config, documents=corpus()[:1], folder=tmp_path)
    assert [d.id for d in third.documents] == ["wire/strike"]


def test_running_the_same_input_twice_gives_the_same_documents(
    run_pipeline, tmp_path: Path
) -> None:
    config = {
        "run": {"state": "state.sqlite"},
        "stages": [{"use": "dedup", "stories": False, "passages": False}],
    }
    first = run_pipeline(config, documents=corpus(), folder=tmp_path)
    second = run_pipeline(config, documents=corpus(), folder=tmp_path)
    assert [d.id for d in second.documents] == [d.id for d in first.documents]
    (survivor,) = [d for d in second.documents if d.annotations.get("duplicates")]
    # the survivor read again lists the same copies; they name it and the run that kept it
    assert survivor.id == "times/strike"
    assert [c.id for c in survivor.annotations["duplicates"]] == ["post/strike", "wire/strike"]
    assert second.summary.stages[0].dropped == first.summary.stages[0].dropped
    assert first.summary.stages[0].dropped == {"duplicate (near)": 2}


def test_changed_settings_against_an_existing_index_are_one_clear_error(
    run_pipeline, tmp_path: Path
) -> None:
    config = {"run": {"state": "state.sqlite"}, "stages": [{"use": "dedup"}]}
    run_pipeline(config, documents=corpus(), folder=tmp_path)
    config["stages"][0]["threshold"] = 0.7
    with pytest.raises(ConfigError) as error:
        run_pipeline(config, documents=corpus(), folder=tmp_path)
    message = str(error.value)
    assert "[[stages]] #1 (dedup)" in message
    assert "built with threshold=0.8, the stage now says threshold=0.7" in message
    assert "\n" not in message


def test_the_index_holds_no_text(run_pipeline, tmp_path: Path) -> None:
    config = {"run": {"state": "state.sqlite"}, "stages": [{"use": "dedup"}]}
    run_pipeline(config, documents=corpus(), folder=tmp_path)
    raw = (tmp_path / "state.sqlite").read_bytes()
    assert b"Aldermouth" not in raw
    with closing(sqlite3.connect(tmp_path / "state.sqlite")) as db, db:
        # every document, copies too (with their original): a later copy of a copy is found
        rows = db.execute("SELECT id, original FROM dedup_docs ORDER BY id").fetchall()
    assert rows == [
        ("post/library", None),
        ("post/strike", "times/strike"),
        ("times/ferry", None),
        ("times/strike", None),
        ("wire/strike", "times/strike"),
    ]


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("threshold", 1.5, "'threshold' must be above 0 and at most 1, got 1.5"),
        ("keep", "newest", "'newest'"),
        ("shingle_size", 0, "'shingle_size' must be at least 1, got 0"),
    ],
)
def test_bad_options_are_config_errors(run_stage, tmp_path, option, value, words) -> None:
    with pytest.raises(ConfigError) as error:
        run_stage("dedup", corpus(), folder=tmp_path, **{option: value})
    assert words in str(error.value)
    assert "[[stages]] #1 (dedup)" in str(error.value)


def test_a_document_dedup_fails_on_is_quarantined_and_the_rest_go_on(
    run_pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docstage_plugins.dedup import stage as dedup_stage

    emit = dedup_stage.Dedup._emit

    def failing(self: object, row: int, doc: Document, *args: object) -> object:
        emitted = emit(self, row, doc, *args)  # type: ignore[arg-type]
        if doc.id == "b":  # as if its last annotation could not be made
            raise RuntimeError("passage index unreadable")
        return emitted

    monkeypatch.setattr(dedup_stage.Dedup, "_emit", failing)
    docs = [
        Document(id=name, text=f"{name} wrote about the harbour fees and the storm today")
        for name in ("a", "b", "c")
    ]
    result = run_pipeline({"stages": [{"use": "dedup"}]}, documents=docs)
    assert [d.id for d in result.documents] == ["a", "c"]
    [record] = result.quarantine
    assert (record["stage"], record["error"]) == ("dedup", "RuntimeError: passage index unreadable")
    assert record["document"]["id"] == "b"
