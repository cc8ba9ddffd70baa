"""``render.markdown``: a digest story first (headline, dates and sources, key entities,
shared quotes with speakers and carriers, what each outlet added, the articles), single
documents after, sections left out when their stage did not run, written atomically."""

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
    assert "**Places:** Brevik" in story
    # the shared passage is listed once, from the first document, with both sources
    assert story.count("> ") == 2
    assert (
        f"> {QUOTE}\n> — speaker not named · first carried by coastal-wire (2024-03-12); "
        "then harbor-times (2024-03-13)"
    ) in story
    # what each outlet added: its sentences the other does not carry
    added = story[story.index("**What each outlet added:**") : story.index("**Articles:**")]
    assert (
        "- **coastal-wire**: 1 passage no other source has:\n  - Talks resume in Brevik." in added
    )
    assert "  - Union says no deal yet." in added
    assert "line by line" not in added
    assert "`post/library`" in rest


def quoted(id: str, source: str, published: str, text: str, speaker: str | None, others):
    """A document whose one quote (``text``, said by ``speaker``) is carried by ``others``:
    (id, source, published, wording, speaker) each."""
    body = f'Talks in Brevik went on. "{text}" she said. Only {source} has this sentence here.'
    quote = {
        "start": 25,
        "end": 27 + len(text),
        "text": text,
        "parts": [[25, 27 + len(text)]],
        "speaker": {"name": speaker, "text": speaker, "start": 0, "end": 1} if speaker else None,
        "first": False,
        "matches": [
            {
                "id": o[0],
                "source": o[1],
                "published": o[2],
                "text": o[3],
                "speaker": o[4],
                "score": 0.9,
                "first": False,
            }
            for o in others
        ],
    }
    return Document(
        id=id,
        source=source,
        text=body,
        metadata={"published": published},
        entities=(Entity(label="PERSON", text="Ana Ruiz", start=0, end=0),),
        annotations={"story_id": "story-q", "quotes": [quote]},
    )


def test_shared_quotes_name_their_speaker_and_carriers_first_first(
    run_pipeline, tmp_path: Path
) -> None:
    a = ("a/1", "alpha", "2024-03-11", "We will read every line of it", "Ana Ruiz")
    b = ("b/1", "bravo", "2024-03-12", "We will read every single line of it", None)
    c = ("c/1", "charlie", "2024-03-12", "We will read every line", "a spokesman")
    docs = [
        quoted(*c, [a, b]),
        quoted(*b, [a, c]),
        quoted(*a, [b, c]),
        Document(id="x", source="alpha", text="Elsewhere.", annotations={"story_id": "s2"}),
        Document(id="y", source="alpha", text="Elsewhere too.", annotations={"story_id": "s2"}),
    ]
    digest = render(run_pipeline, tmp_path, docs)
    story = digest[: digest.index("## Elsewhere")]
    # one quote, three carriers: the earliest first; the speaker most carriers name
    assert story.count("\n> ") == 2
    assert (
        "> We will read every line of it\n"
        "> — Ana Ruiz · first carried by alpha (2024-03-11); "
        "then bravo (2024-03-12), charlie (2024-03-12)"
    ) in story
    assert "**People:** Ana Ruiz" in story
    # each outlet adds its own sentence, never the quote
    for source in ("alpha", "bravo", "charlie"):
        assert f"- **{source}**: 2 passages no other source has:" in story
        assert f"  - Only {source} has this sentence here." in story
    assert "every line" not in story[story.index("**What each outlet added:**") :]
    # a story of one outlet's two documents has no additions
    other = digest[digest.index("## Elsewhere") :]
    assert "What each outlet added" not in other


def test_without_dedup_there_are_no_stories_only_documents(run_pipeline, tmp_path) -> None:
    docs = [Document(id="a", source="s", text="First line here\nmore"), Document(id="b", text="x")]
    digest = render(run_pipeline, tmp_path, docs)
    assert "0 stories" in digest
    assert "## Documents" in digest
    assert "**First line here**" in digest
    assert "**People:**" not in digest
    assert "Shared quotes" not in digest


def test_limits_and_singletons_can_be_switched_off(run_pipeline, tmp_path: Path) -> None:
    digest = render(
        run_pipeline,
        tmp_path,
        story_docs(),
        max_entities=0,
        max_quotes=0,
        max_additions=0,
        singletons=False,
    )
    assert "**Places:**" not in digest
    assert "Shared quotes" not in digest
    assert "What each outlet added" not in digest
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
    assert "## Negotiators for striking dockworkers" in digest
    assert "> — Marta Lindqvist · carried by coastal-wire and harbor-times (2024-03-12)" in digest
    assert "- **harbor-times**: 5 passages no other source has:" in digest
    assert "  - The strike, now in its third week" in digest
