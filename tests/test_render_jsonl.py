"""render.jsonl: the documented record, one line per document, encoding, atomic output."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
import structlog
from click.testing import CliRunner, Result

from docstage import CorpusStage, Document, Drop, Entity, Removal, Transform, hookimpl
from docstage.cli import cli
from docstage.errors import ConfigError
from docstage.testing import RunResult

RunPipeline = Callable[..., RunResult]
RunStage = Callable[..., RunResult]

# The keys every record carries (more may be added).
RECORD_KEYS = {
    "id",
    "source",
    "text",
    "metadata",
    "entities",
    "story_id",
    "duplicates",
    "shared_passages",
    "removed",
    "stages",
}
METADATA_KEYS = {"title", "published", "categories", "tags", "authors", "url"}
ENTITY_KEYS = {"label", "text", "start", "end", "canonical", "entity_id"}

PREVIOUS = b'{"id": "yesterday"}\n'


def article(number: int, text: str | None = None) -> Document:
    return Document(
        id=f"harbor-times/{number:03}.txt",
        source="harbor-times",
        text=text if text is not None else f"Port talks, day {number}: negotiators met again.",
        stages=("read.files",),
    )


def lines_of(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.decode("utf-8").split("\n")[:-1]]


def stage_plugin(cls: type[Any]) -> tuple[str, object]:
    class Plugin:
        @hookimpl
        def docstage_register_stages(self, registry: Any) -> None:
            registry.add(cls)

    return (f"test-{cls.name}", Plugin())


def transform_plugin(
    stage_name: str, process: Callable[[Document], Document | Drop]
) -> tuple[str, object]:
    """A plugin contributing a transform called ``stage_name`` that runs ``process``."""

    @attrs.define(kw_only=True)
    class Probe(Transform):
        name: ClassVar[str] = stage_name

        def process(self, doc: Document) -> Document | Drop:
            return process(doc)

    return stage_plugin(Probe)


def fail_on(number: int, error: BaseException) -> Callable[[Document], Document]:
    def process(doc: Document) -> Document:
        if doc.id.endswith(f"{number:03}.txt"):
            raise error
        return doc

    return process


def pipeline(*stages: dict[str, Any], **run: Any) -> dict[str, Any]:
    return {"run": {"batch_size": 1, **run}, "stages": list(stages)}


RENDER = {"use": "render.jsonl", "path": "out/docs.jsonl"}


def folder_listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# --- the record ---------------------------------------------------------------------------


def test_record_has_the_spec_keys(run_stage: RunStage, tmp_path: Path) -> None:
    doc = Document(
        id="harbor-times/2024-03-12-port-talks.txt",
        source="harbor-times",
        text="Vladimir Putin met Joe Biden in Geneva.",
        metadata={
            "title": "Summit in Geneva",
            "published": "2021-06-16",
            "categories": ["World", "Politics"],
            "path": "2024-03-12-port-talks.txt",
        },
        entities=[
            Entity(label="PERSON", text="Vladimir Putin", start=0, end=14),
            Entity(
                label="GPE",
                text="Geneva",
                start=32,
                end=38,
                canonical="Geneva",
                entity_id="gpe:geneva",
            ),
        ],
        annotations={
            "story_id": "story-7",
            "duplicates": [
                {
                    "id": "valley-post/x.txt",
                    "source": "valley-post",
                    "relation": "near",
                    "score": 0.9,
                }
            ],
            "removed": (Removal(rule="cleanup.metadata:date-prefix", text="date 2021-06-16 "),),
        },
        stages=("read.files", "cleanup.metadata"),
    )

    result = run_stage("render.jsonl", [doc], path="out/docs.jsonl")

    assert result.exit_code == 0
    [record] = lines_of(tmp_path / "out" / "docs.jsonl")
    assert set(record) == RECORD_KEYS
    assert record["id"] == doc.id
    assert record["source"] == "harbor-times"
    assert record["text"] == doc.text
    assert set(record["metadata"]) == METADATA_KEYS | {"path"}
    assert record["metadata"]["published"] == "2021-06-16"
    assert record["metadata"]["categories"] == ["World", "Politics"]
    assert record["metadata"]["tags"] == []
    assert record["metadata"]["authors"] == []
    assert record["metadata"]["url"] is None
    assert [set(entity) for entity in record["entities"]] == [ENTITY_KEYS, ENTITY_KEYS]
    assert record["entities"][1] == {
        "label": "GPE",
        "text": "Geneva",
        "start": 32,
        "end": 38,
        "canonical": "Geneva",
        "entity_id": "gpe:geneva",
    }
    assert record["story_id"] == "story-7"
    assert record["duplicates"][0]["relation"] == "near"
    assert record["shared_passages"] == []
    assert record["removed"] == [
        {
            "rule": "cleanup.metadata:date-prefix",
            "text": "date 2021-06-16 ",
            "start": None,
            "inserted": "",
        }
    ]
    assert record["stages"] == ["read.files", "cleanup.metadata"]


def test_a_bare_document_still_has_every_key(run_stage: RunStage, tmp_path: Path) -> None:
    run_stage("render.jsonl", [Document(id="1", text="Short item.")], path="out/docs.jsonl")
    [record] = lines_of(tmp_path / "out" / "docs.jsonl")
    assert set(record) == RECORD_KEYS
    assert record["metadata"] == dict.fromkeys(("title", "published", "url")) | {
        "categories": [],
        "tags": [],
        "authors": [],
    }
    assert record["entities"] == record["duplicates"] == record["shared_passages"] == []
    assert record["removed"] == record["stages"] == []
    assert record["story_id"] is None


def test_one_line_per_document_in_order(run_stage: RunStage, tmp_path: Path) -> None:
    awkward = "Line one.\nLine two.\r\nTab\there, a \u2028 separator, a \x00 NUL and \\ backslash."
    docs = [article(1), article(2, awkward), article(3, ""), article(4)]

    result = run_stage("render.jsonl", docs, path="out/docs.jsonl")

    out = tmp_path / "out" / "docs.jsonl"
    assert out.read_bytes().count(b"\n") == 4
    records = lines_of(out)
    assert [r["id"] for r in records] == [d.id for d in docs]
    assert records[1]["text"] == awkward
    assert result.summary.outputs == (out,)
    assert result.ids == [d.id for d in docs]  # documents pass through unchanged


def test_output_is_utf8_by_default_and_ascii_on_request(
    run_stage: RunStage, tmp_path: Path
) -> None:
    text = "Le maire a déclaré « c'est un été à marquer » — 2,5 M€ 🚢"
    doc = Document(id="valley-post/été.txt", source="Vallée", text=text)

    run_stage("render.jsonl", [doc], path="out/utf8.jsonl")
    run_stage("render.jsonl", [doc], path="out/ascii.jsonl", ensure_ascii=True)

    utf8 = (tmp_path / "out" / "utf8.jsonl").read_bytes()
    ascii_ = (tmp_path / "out" / "ascii.jsonl").read_bytes()
    assert text.encode("utf-8") in utf8
    assert b"\\u00e9" not in utf8
    assert ascii_.isascii()
    assert b"d\\u00e9clar\\u00e9" in ascii_
    assert b"\\ud83d\\udea2" in ascii_  # the ship, as a surrogate pair
    for path in ("utf8.jsonl", "ascii.jsonl"):
        [record] = lines_of(tmp_path / "out" / path)
        assert (record["id"], record["source"], record["text"]) == (doc.id, doc.source, text)


def test_the_output_folder_is_created(run_stage: RunStage, tmp_path: Path) -> None:
    run_stage("render.jsonl", [article(1)], path="out/2024/03/12/docs.jsonl")
    assert len(lines_of(tmp_path / "out" / "2024" / "03" / "12" / "docs.jsonl")) == 1


def test_a_run_without_documents_writes_an_empty_file(run_stage: RunStage, tmp_path: Path) -> None:
    out = tmp_path / "out" / "docs.jsonl"
    out.parent.mkdir()
    out.write_bytes(PREVIOUS)
    run_stage("render.jsonl", [], path="out/docs.jsonl")
    assert out.read_bytes() == b""


# --- atomic output ------------------------------------------------------------------------


def test_nothing_appears_under_the_final_name_until_the_run_finishes(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "docs.jsonl"
    seen: list[bool] = []

    def look(doc: Document) -> Document:
        seen.append(out.exists())
        return doc

    result = run_pipeline(
        pipeline(RENDER, {"use": "test.look"}),  # the probe runs after the renderer wrote
        documents=[article(n) for n in range(1, 4)],
        plugins=[transform_plugin("test.look", look)],
    )

    assert result.exit_code == 0
    assert seen == [False, False, False]
    assert len(lines_of(out)) == 3
    assert folder_listing(out.parent) == ["docs.jsonl"]


def test_previous_output_stays_whole_while_the_run_writes(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "docs.jsonl"
    out.parent.mkdir()
    out.write_bytes(PREVIOUS)
    seen: list[bytes] = []

    def look(doc: Document) -> Document:
        seen.append(out.read_bytes())
        return doc

    run_pipeline(
        pipeline(RENDER, {"use": "test.look"}),
        documents=[article(n) for n in range(1, 4)],
        plugins=[transform_plugin("test.look", look)],
    )

    assert seen == [PREVIOUS] * 3
    assert [r["id"] for r in lines_of(out)] == [article(n).id for n in range(1, 4)]


@pytest.mark.parametrize("previous", [True, False], ids=["previous-output", "first-run"])
def test_a_stage_failing_mid_run_leaves_no_partial_output(
    run_pipeline: RunPipeline, tmp_path: Path, previous: bool
) -> None:
    out = tmp_path / "out" / "docs.jsonl"
    out.parent.mkdir()
    if previous:
        out.write_bytes(PREVIOUS)

    result = run_pipeline(
        # The renderer has written documents 1 and 2 when the stage after it fails on 3.
        pipeline(RENDER, {"use": "test.boom"}, on_error="fail"),
        documents=[article(n) for n in range(1, 5)],
        plugins=[transform_plugin("test.boom", fail_on(3, ValueError("feed went away")))],
    )

    assert result.exit_code == 3
    assert result.summary.failed is not None
    assert "ValueError: feed went away" in result.summary.failed
    assert result.summary.outputs == ()
    if previous:
        assert out.read_bytes() == PREVIOUS
        assert folder_listing(out.parent) == ["docs.jsonl"]
    else:
        assert folder_listing(out.parent) == []


def test_a_failing_corpus_stage_leaves_the_previous_output(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    @attrs.define(kw_only=True)
    class Exploding(CorpusStage):
        name: ClassVar[str] = "test.exploding"

        def process_stream(self, docs: Iterator[Document]) -> Iterable[Document | Drop]:
            for number, doc in enumerate(docs, start=1):
                if number == 3:
                    raise RuntimeError("index corrupted")
                yield doc

    out = tmp_path / "out" / "docs.jsonl"
    out.parent.mkdir()
    out.write_bytes(PREVIOUS)

    result = run_pipeline(
        pipeline(RENDER, {"use": "test.exploding"}),
        documents=[article(n) for n in range(1, 5)],
        plugins=[stage_plugin(Exploding)],
    )

    assert result.exit_code == 3
    assert result.summary.failed is not None
    assert "RuntimeError: index corrupted" in result.summary.failed
    assert out.read_bytes() == PREVIOUS
    assert folder_listing(out.parent) == ["docs.jsonl"]


def test_an_interrupted_run_leaves_the_previous_output(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "docs.jsonl"
    out.parent.mkdir()
    out.write_bytes(PREVIOUS)

    with pytest.raises(KeyboardInterrupt):
        run_pipeline(
            pipeline(RENDER, {"use": "test.ctrl-c"}),
            documents=[article(n) for n in range(1, 5)],
            plugins=[transform_plugin("test.ctrl-c", fail_on(2, KeyboardInterrupt()))],
        )

    assert out.read_bytes() == PREVIOUS
    assert folder_listing(out.parent) == ["docs.jsonl"]


def test_a_failed_rename_leaves_no_temporary_file(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "docs.jsonl"

    def block(doc: Document) -> Document:
        out.mkdir(exist_ok=True)  # something takes the output's name during the run
        return doc

    result = run_pipeline(
        pipeline(RENDER, {"use": "test.block"}),
        documents=[article(1)],
        plugins=[transform_plugin("test.block", block)],
    )

    assert result.exit_code == 3
    assert result.summary.failed is not None
    assert result.summary.failed.startswith("publishing the outputs failed: ")
    assert result.summary.failed.endswith("docs.jsonl: Is a directory")
    assert folder_listing(out.parent) == ["docs.jsonl"]
    assert out.is_dir()


def test_a_later_stage_failing_setup_discards_the_opened_output(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "docs.jsonl"
    out.parent.mkdir()
    out.write_bytes(PREVIOUS)
    (tmp_path / "blocked").write_text("a file where a folder should be\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="cannot write to output folder"):
        run_pipeline(
            {
                "stages": [
                    RENDER,
                    {"use": "render.jsonl", "name": "second", "path": "blocked/docs.jsonl"},
                ]
            },
            documents=[article(1)],
        )

    assert out.read_bytes() == PREVIOUS
    assert folder_listing(out.parent) == ["docs.jsonl"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_output_permissions_follow_the_umask(
    run_stage: RunStage, tmp_path: Path, umask: int, mode: int
) -> None:
    previous = os.umask(umask)
    try:
        run_stage("render.jsonl", [article(1)], path="out/docs.jsonl")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out" / "docs.jsonl").stat().st_mode) == mode


# --- bad output paths ---------------------------------------------------------------------


def test_an_output_path_that_is_a_folder_is_a_config_error(
    run_stage: RunStage, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(ConfigError) as caught:
        run_stage("render.jsonl", [article(1)], path="out")
    assert (
        f"[[stages]] #1 (render.jsonl): option 'path': '{tmp_path / 'out'}' is a folder; "
        "give the path of the .jsonl file to write"
    ) in str(caught.value)
    assert folder_listing(tmp_path / "out") == []


def test_an_output_folder_blocked_by_a_file_is_a_config_error(
    run_stage: RunStage, tmp_path: Path
) -> None:
    (tmp_path / "out").write_text("not a folder\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        run_stage("render.jsonl", [article(1)], path="out/docs.jsonl")
    assert f"option 'path': cannot write to output folder '{tmp_path / 'out'}'" in str(caught.value)
    assert "choose a writable path" in str(caught.value)


# --- through the command line -------------------------------------------------------------


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """Run ``pipeline ARGS pipeline.toml`` in ``tmp_path`` with the config given."""
    monkeypatch.chdir(tmp_path)

    def invoke(config: str, *args: str) -> Result:
        (tmp_path / "pipeline.toml").write_text(textwrap.dedent(config), encoding="utf-8")
        return CliRunner().invoke(cli, [*args, "pipeline.toml"], prog_name="pipeline")

    yield invoke
    structlog.reset_defaults()  # the CLI configured logging for its captured streams


CONFIG = """
    [[stages]]
    use = "read.files"
    path = "news/**/*.txt"

    [[stages]]
    use = "render.jsonl"
    path = "out/news.jsonl"
    """


def write_news(tmp_path: Path) -> None:
    for name, text in {
        "harbor-times/port-talks.txt": "Dock workers and the port authority resumed talks.\n",
        "valley-post/library.txt": "The city library reopens on Monday.\n",
    }.items():
        path = tmp_path / "news" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_cli_run_writes_the_file_and_says_so(
    run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    write_news(tmp_path)
    result = run_cli(CONFIG, "run")
    assert result.exit_code == 0, result.output
    assert "wrote out/news.jsonl" in result.stdout
    records = lines_of(tmp_path / "out" / "news.jsonl")
    assert [(r["id"], r["source"]) for r in records] == [
        ("harbor-times/port-talks.txt", "harbor-times"),
        ("valley-post/library.txt", "valley-post"),
    ]
    assert all(r["stages"] == ["read.files"] for r in records)


def test_cli_dry_run_writes_nothing(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    write_news(tmp_path)
    result = run_cli(CONFIG, "run", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "2 input document(s)" in result.stdout
    assert not (tmp_path / "out").exists()


def test_cli_output_path_that_is_a_folder_is_one_line_and_exit_2(
    run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    write_news(tmp_path)
    (tmp_path / "out" / "news.jsonl").mkdir(parents=True)
    result = run_cli(CONFIG, "run")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: pipeline.toml:8: [[stages]] #2 (render.jsonl): option 'path': "
        f"'{tmp_path / 'out' / 'news.jsonl'}' is a folder; give the path of the .jsonl "
        "file to write\n"
    )
