"""``render.markdown``: a digest grouped by story, single documents after, sections left out
when their stage did not run, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import attrs
import pytest

from docstage import ConfigError
from docstage.document import Document, Duplicate, Entity, PassageMatch, SharedPassage
from docstage.stages import Transform
from tests.conftest import CONFIGS, news_outputs

QUOTE = "We will not sign anything our members have not read line by line"


def story_docs() -> list[Document]:
    wire = Document(
        id="wire/talks",
        source="coastal-wire",
        text=f"Talks resume in Brevik.\n{QUOTE}, she said.",
        metadata={"title": "Talks resume in *Brevik*", "published": "2024-03-12"},
        entities=(Entity(label="GPE", text="Brevik", start=16, end=22),),
        annotations={
            "story_id": "story-1",
            "duplicates": (
                Duplicate(id="post/talks", source="valley-post", relation="near", score=0.9),
            ),
            "shared_passages": (
                SharedPassage(
                    start=24,
                    end=24 + len(QUOTE),
                    text=QUOTE,
                    matches=(PassageMatch(id="times/talks", source="harbor-times", score=0.81),),
                ),
            ),
        },
    )
    times = Document(
        id="times/talks",
        source="harbor-times",
        text="Union says no deal yet.\nWe are not going to sign anything our members have not "
        "read line by line.",
        metadata={"title": "Union says no deal yet", "published": "2024-03-13"},
        entities=(Entity(label="GPE", text="Brevik", start=0, end=6),),
        annotations={
            "story_id": "story-1",
            "shared_passages": (
                SharedPassage(
                    start=24,
                    end=90,
                    text="We are not going to sign anything our members have not read line by line",
                    matches=(PassageMatch(id="wire/talks", source="coastal-wire", score=0.81),),
                ),
            ),
        },
    )
    library = Document(
        id="post/library",
        source="valley-post",
        text="The library reopened on Saturday.",
        annotations={"story_id": "story-2"},
    )
    return [library, times, wire]


def render(run_pipeline, tmp_path: Path, docs: list[Document], **options) -> str:
    stage = {"use": "render.markdown", "path": "out/digest.md", **options}
    result = run_pipeline({"stages": [stage]}, documents=docs, folder=tmp_path)
    assert result.summary.exit_code == 0
    return (tmp_path / "out" / "digest.md").read_text(encoding="utf-8")


def test_a_story_lists_its_sources_entities_copies_and_each_quote_once(
    run_pipeline, tmp_path: Path
) -> None:
    digest = render(run_pipeline, tmp_path, story_docs(), title="Morning digest")
    assert digest.startswith("# Morning digest\n")
    assert "3 documents from 3 sources; 1 story told by two documents or more." in digest
    story, _, rest = digest.partition("## Other documents")
    # the earliest document's title heads the story; Markdown in titles is escaped
    assert "## Talks resume in \\*Brevik\\*" in story
    assert "*2024-03-12 – 2024-03-13 · 2 sources: coastal-wire, harbor-times*" in story
    assert story.index("`wire/talks`") < story.index("`times/talks`")
    assert "1 copy dropped: valley-post" in story
    assert "**Key entities:** Brevik (GPE)" in story
    # the quote is listed once, from the first document, with both sources
    assert story.count("> ") == 2
    assert f"> {QUOTE}\n> — coastal-wire, harbor-times" in story
    assert "`post/library`" in rest


def test_without_dedup_there_are_no_stories_only_documents(run_pipeline, tmp_path) -> None:
    docs = [Document(id="a", source="s", text="First line here\nmore"), Document(id="b", text="x")]
    digest = render(run_pipeline, tmp_path, docs)
    assert "0 stories" in digest
    assert "## Documents" in digest
    assert "**First line here**" in digest
    assert "Key entities" not in digest
    assert "Shared quotes" not in digest


def test_limits_and_singletons_can_be_switched_off(run_pipeline, tmp_path: Path) -> None:
    digest = render(
        run_pipeline, tmp_path, story_docs(), max_entities=0, max_quotes=0, singletons=False
    )
    assert "Key entities" not in digest
    assert "Shared quotes" not in digest
    assert "Other documents" not in digest
    assert "`post/library`" not in digest


def test_a_failed_run_leaves_the_previous_digest(run_pipeline, tmp_path: Path) -> None:
    render(run_pipeline, tmp_path, story_docs())
    before = (tmp_path / "out" / "digest.md").read_text(encoding="utf-8")

    config = {
        "run": {"on_error": "fail"},
        "stages": [
            {"use": "test.boom"},
            {"use": "render.markdown", "path": "out/digest.md"},
        ],
    }

    @attrs.define(kw_only=True)
    class Explode(Transform):
        name: ClassVar[str] = "test.boom"

        def process(self, doc: Document) -> Document:
            raise RuntimeError("boom")

    class Stages:
        def docstage_register_stages(self, registry: object) -> None:
            registry.add(Explode)  # type: ignore[attr-defined]

    result = run_pipeline(
        config, documents=story_docs(), plugins=[("stages", Stages())], folder=tmp_path
    )
    assert result.summary.exit_code != 0
    assert (tmp_path / "out" / "digest.md").read_text(encoding="utf-8") == before
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["digest.md"]


def test_a_folder_as_path_is_one_clear_error(run_pipeline, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(ConfigError, match=r"'path'.*is a folder"):
        run_pipeline(
            {"stages": [{"use": "render.markdown", "path": "out"}]},
            documents=[Document(id="a", text="a")],
            folder=tmp_path,
        )


def test_a_negative_limit_names_the_option(run_pipeline, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'max_quotes' must be at least 0, got -1"):
        run_pipeline(
            {"stages": [{"use": "render.markdown", "path": "digest.md", "max_quotes": -1}]},
            documents=[Document(id="a", text="a")],
            folder=tmp_path,
        )


def test_the_news_pipeline_writes_a_digest_of_the_examples(run_pipeline, tmp_path) -> None:
    result = run_pipeline(
        CONFIGS / "news.toml", overrides=["stages.entities.backend=rules", *news_outputs(tmp_path)]
    )
    assert result.summary.exit_code == 0
    digest = (tmp_path / "digest.md").read_text(encoding="utf-8")
    assert "2 sources: coastal-wire, harbor-times" in digest
    assert "1 copy dropped: valley-post" in digest
    assert "line by line" in digest
