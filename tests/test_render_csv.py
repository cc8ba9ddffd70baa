"""render.csv: the entity table (and the document table), sorted, escaped, written atomically."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from docstage import STORY_ID, ConfigError, Document, Drop, Entity, Transform, hookimpl
from docstage.config import config_from_dict
from docstage.resolve import make_plan
from docstage.runner import Runner
from docstage.testing import RunResult
from docstage_plugins.entities.link import EntitiesLink, entity_id_for
from docstage_plugins.render_csv import DOCUMENT_COLUMNS, ENTITY_COLUMNS, RenderCsv

RunPipeline = Callable[..., RunResult]
RunStage = Callable[..., RunResult]

PREVIOUS = b"entity_id,canonical\nyesterday,Old\n"


def mention(text: str, phrase: str, label: str, canonical: str | None = None) -> Entity:
    start = text.index(phrase)
    return Entity(
        label=label, text=phrase, start=start, end=start + len(phrase), canonical=canonical
    )


def doc(doc_id: str, source: str, text: str, *mentions: tuple[Any, ...], **meta: Any) -> Document:
    return Document(
        id=doc_id,
        source=source,
        text=text,
        metadata=meta,
        entities=[mention(text, *m) for m in mentions],
        stages=("read.files", "entities"),
    )


DOCS = [
    doc(
        "harbor-times/1.txt",
        "harbor-times",
        "Vladimir Putin met envoys of the United States in Geneva.",
        ("Vladimir Putin", "PERSON", "Vladimir Putin"),
        ("the United States", "GPE"),
        ("Geneva", "GPE"),
        title="Summit in Geneva",
        published="2021-06-16",
        url="https://harbor.example/1",
        authors=["Ann Lee", "Bo Ek"],
        categories=["World", "Politics"],
    ),
    doc(
        "valley-post/1.txt",
        "valley-post",
        "Putin told U.S. officials in Geneva that the US would listen.",
        ("Putin", "PERSON"),
        ("U.S.", "GPE"),
        ("Geneva", "GPE"),
        ("US", "GPE"),
        title='He said, "Listen"',
    ),
    doc(
        "valley-post/2.txt",
        "valley-post",
        "The United States and Acme, Inc. signed.",
        ("United States", "GPE"),
        ("Acme, Inc.", "ORG"),
    ),
]


def provides(*classes: type[Any]) -> tuple[str, object]:
    """A plugin registering ``classes`` unless an installed plugin already does."""

    class Plugin:
        @hookimpl
        def docstage_register_stages(self, registry: Any) -> None:
            for cls in classes:
                if registry.get(cls.name) is None:
                    registry.add(cls)

    return (f"test-provides-{'-'.join(c.name for c in classes)}", Plugin())


def transform(stage_name: str, process: Callable[[Document], Document | Drop]) -> Any:
    @attrs.define(kw_only=True)
    class Probe(Transform):
        name: ClassVar[str] = stage_name

        def process(self, doc: Document) -> Document | Drop:
            return process(doc)

    return Probe


PLUGINS = [provides(EntitiesLink, RenderCsv)]
LINK = {"use": "entities.link"}
CSV = {"use": "render.csv", "path": "out/entities.csv"}


def rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:  # keep a \r inside a cell
        return list(csv.reader(handle))


def run(
    run_pipeline: RunPipeline, *stages: dict[str, Any], docs: list[Document] = DOCS, **kw: Any
) -> RunResult:
    plugins = kw.pop("plugins", [])
    return run_pipeline(
        {"run": {"batch_size": 1, **kw}, "stages": list(stages)},
        documents=docs,
        plugins=[*PLUGINS, *plugins],
    )


# --- the entity table ---------------------------------------------------------------------


def test_entity_table_after_linking(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    result = run(run_pipeline, LINK, CSV)

    assert result.exit_code == 0
    out = tmp_path / "out" / "entities.csv"
    assert result.summary.outputs == (out,)
    assert rows(out) == [
        list(ENTITY_COLUMNS),
        [
            entity_id_for("GPE", "United States"),
            "United States",
            "GPE",
            "U.S. (1) | US (1) | United States (1) | the United States (1)",
            "4",
            "3",
            "2",
        ],
        [entity_id_for("GPE", "Geneva"), "Geneva", "GPE", "Geneva (2)", "2", "2", "2"],
        [
            entity_id_for("PERSON", "Vladimir Putin"),
            "Vladimir Putin",
            "PERSON",
            "Putin (1) | Vladimir Putin (1)",
            "2",
            "2",
            "2",
        ],
        [entity_id_for("ORG", "Acme, Inc."), "Acme, Inc.", "ORG", "Acme, Inc. (1)", "1", "1", "1"],
    ]
    assert result.ids == [d.id for d in DOCS]  # documents pass through


def test_the_file_is_plain_utf8_csv_with_quoting(run_stage: RunStage, tmp_path: Path) -> None:
    text = 'Zoë "Z" Smith met São Paulo officials.'
    docs = [doc("a", "wire", text, ('Zoë "Z" Smith', "PERSON"), ("São Paulo", "GPE"))]
    run_stage(RenderCsv, docs, path="out/entities.csv")
    data = (tmp_path / "out" / "entities.csv").read_bytes()
    assert data.startswith(b"entity_id,canonical,label,aliases,mentions,documents,sources\n")
    assert b"\r\n" not in data
    assert '"Zoë ""Z"" Smith"'.encode() in data
    assert [r[1] for r in rows(tmp_path / "out" / "entities.csv")[1:]] == [
        "São Paulo",
        'Zoë "Z" Smith',
    ]


def test_a_byte_order_mark_on_request(run_stage: RunStage, tmp_path: Path) -> None:
    run_stage(RenderCsv, DOCS, path="out/entities.csv", bom=True)
    data = (tmp_path / "out" / "entities.csv").read_bytes()
    assert data.startswith("\ufeffentity_id,".encode())


def test_without_linking_mentions_group_by_label_and_canonical_form(
    run_stage: RunStage, tmp_path: Path
) -> None:
    run_stage(RenderCsv, DOCS, path="out/entities.csv")
    table = rows(tmp_path / "out" / "entities.csv")
    canonical = [(r[1], r[2], r[5]) for r in table[1:]]
    # Spellings that normalise alike share an id (the United States, United States).
    assert canonical == [
        ("Geneva", "GPE", "2"),
        ("United States", "GPE", "2"),
        ("Acme, Inc.", "ORG", "1"),
        ("Putin", "PERSON", "1"),
        ("U.S.", "GPE", "1"),
        ("Vladimir Putin", "PERSON", "1"),
    ]
    assert table[2][3] == "United States (1) | the United States (1)"


def test_rows_are_sorted_by_documents_then_canonical_in_any_input_order(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    run(run_pipeline, LINK, CSV)
    first = (tmp_path / "out" / "entities.csv").read_bytes()
    run(run_pipeline, LINK, CSV, docs=list(reversed(DOCS)))
    assert (tmp_path / "out" / "entities.csv").read_bytes() == first


def test_labels_and_min_documents_filter_the_table(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    run(run_pipeline, LINK, {**CSV, "labels": ["GPE", "ORG"], "min_documents": 2})
    table = rows(tmp_path / "out" / "entities.csv")
    assert [r[1] for r in table[1:]] == ["United States", "Geneva"]


def test_an_empty_run_writes_the_header_only(run_stage: RunStage, tmp_path: Path) -> None:
    out = tmp_path / "out" / "entities.csv"
    out.parent.mkdir()
    out.write_bytes(PREVIOUS)
    run_stage(RenderCsv, [], path="out/entities.csv")
    assert rows(out) == [list(ENTITY_COLUMNS)]


# --- the document table -------------------------------------------------------------------


def test_document_table(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    first = DOCS[0].annotate(STORY_ID, "story-1")
    first = first.evolve(annotations={**first.annotations, "duplicates": [{"id": "x"}]})
    docs = [first, *DOCS[1:]]
    run(run_pipeline, LINK, {**CSV, "path": "out/docs.csv", "table": "documents"}, docs=docs)
    table = rows(tmp_path / "out" / "docs.csv")
    assert table[0] == list(DOCUMENT_COLUMNS)
    assert table[1] == [
        "harbor-times/1.txt",
        "harbor-times",
        "Summit in Geneva",
        "2021-06-16",
        "https://harbor.example/1",
        "Ann Lee | Bo Ek",
        "World | Politics",
        "3",
        "3",
        "story-1",
        "1",
    ]
    assert table[2] == [
        "valley-post/1.txt",
        "valley-post",
        'He said, "Listen"',
        "",
        "",
        "",
        "",
        "3",  # Putin, the United States (U.S. and US), Geneva
        "4",
        "",
        "0",
    ]
    assert len(table) == 4


# --- atomic output ------------------------------------------------------------------------


def fail_on(doc_id: str) -> Callable[[Document], Document]:
    def process(doc: Document) -> Document:
        if doc.id == doc_id:
            raise ValueError("feed went away")
        return doc

    return process


@pytest.mark.parametrize("table", ["entities", "documents"])
@pytest.mark.parametrize("previous", [True, False], ids=["previous-output", "first-run"])
def test_a_stage_failing_after_the_renderer_leaves_no_partial_file(
    run_pipeline: RunPipeline, tmp_path: Path, previous: bool, table: str
) -> None:
    out = tmp_path / "out" / "entities.csv"
    out.parent.mkdir()
    if previous:
        out.write_bytes(PREVIOUS)

    result = run(
        run_pipeline,
        LINK,
        {**CSV, "table": table},
        {"use": "test.boom"},
        on_error="fail",
        plugins=[provides(transform("test.boom", fail_on("valley-post/2.txt")))],
    )

    assert result.exit_code == 3
    assert "ValueError: feed went away" in (result.summary.failed or "")
    assert result.summary.outputs == ()
    if previous:
        assert out.read_bytes() == PREVIOUS
        assert os.listdir(out.parent) == ["entities.csv"]
    else:
        assert os.listdir(out.parent) == []


def test_nothing_appears_under_the_final_name_until_the_run_finishes(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "entities.csv"
    seen: list[bool] = []

    def look(doc: Document) -> Document:
        seen.append(out.exists())
        return doc

    result = run(
        run_pipeline,
        {**CSV, "table": "documents"},
        {"use": "test.look"},
        plugins=[provides(transform("test.look", look))],
    )
    assert result.exit_code == 0
    assert seen == [False, False, False]
    assert len(rows(out)) == 4
    assert os.listdir(out.parent) == ["entities.csv"]


def test_a_later_renderer_failing_setup_discards_the_csv(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "entities.csv"
    out.parent.mkdir()
    out.write_bytes(PREVIOUS)
    (tmp_path / "blocked").write_text("a file where a folder should be\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="cannot write to output folder"):
        run(run_pipeline, CSV, {"use": "render.jsonl", "path": "blocked/docs.jsonl"})

    assert out.read_bytes() == PREVIOUS
    assert os.listdir(out.parent) == ["entities.csv"]


def test_an_interrupted_run_leaves_the_previous_file(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "entities.csv"
    out.parent.mkdir()
    out.write_bytes(PREVIOUS)

    def interrupt(doc: Document) -> Document:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(
            run_pipeline,
            CSV,
            {"use": "test.ctrl-c"},
            plugins=[provides(transform("test.ctrl-c", interrupt))],
        )
    assert out.read_bytes() == PREVIOUS
    assert os.listdir(out.parent) == ["entities.csv"]


def test_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    config = config_from_dict({"stages": [CSV]}, tmp_path)
    plan = make_plan(config, extra_plugins=PLUGINS, require_reader=False)
    summary = Runner(plan, documents=DOCS, dry_run=True).execute()
    assert summary.dry_run
    assert not (tmp_path / "out").exists()


# --- bad options --------------------------------------------------------------------------


def test_an_output_path_that_is_a_folder_is_a_config_error(
    run_stage: RunStage, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(ConfigError) as caught:
        run_stage(RenderCsv, DOCS, path="out")
    assert (
        f"[[stages]] #1 (render.csv): option 'path': '{tmp_path / 'out'}' is a folder; "
        "give the path of the .csv file to write"
    ) in str(caught.value)


def test_an_unknown_table_is_a_config_error(run_stage: RunStage) -> None:
    with pytest.raises(ConfigError, match="option 'table' must be one of 'entities', 'documents'"):
        run_stage(RenderCsv, DOCS, path="out/x.csv", table="stories")


def test_min_documents_must_be_positive(run_stage: RunStage) -> None:
    with pytest.raises(ConfigError, match="'min_documents' must be at least 1, got 0"):
        run_stage(RenderCsv, DOCS, path="out/x.csv", min_documents=0)


# --- formulas ---------------------------------------------------------------------------

HOSTILE_TITLES = ['=HYPERLINK("http://x","click")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_a_cell_that_would_be_a_formula_is_written_as_text(
    run_stage: RunStage, tmp_path: Path, title: str
) -> None:
    docs = [doc("=cmd|' /C calc'!A0", "wire", "Port talks.", title=title)]
    run_stage(RenderCsv, docs, path="out/docs.csv", table="documents")
    [_, row] = rows(tmp_path / "out" / "docs.csv")
    assert row[0] == "'=cmd|' /C calc'!A0"
    assert row[2] == "'" + title
    assert row[7:] == ["0", "0", "", "0"]  # counts are never touched


def test_formulas_are_kept_when_asked(run_stage: RunStage, tmp_path: Path) -> None:
    docs = [doc("a", "wire", "Port talks.", title="=1+1")]
    run_stage(RenderCsv, docs, path="out/docs.csv", table="documents", escape_formulas=False)
    assert rows(tmp_path / "out" / "docs.csv")[1][2] == "=1+1"


def test_entity_names_that_look_like_formulas_are_escaped(
    run_stage: RunStage, tmp_path: Path
) -> None:
    docs = [doc("a", "wire", "-Ra met officials.", ("-Ra", "PERSON"))]
    run_stage(RenderCsv, docs, path="out/entities.csv")
    [_, row] = rows(tmp_path / "out" / "entities.csv")
    assert row[1] == "'-Ra"
    assert row[3] == "'-Ra (1)"
