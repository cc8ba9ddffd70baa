"""The renderers' briefs on disk: the stories found from a few bytes a document are the
ones found from every brief in memory, in the same order, their documents in the same
order, and the reports say the same."""

from __future__ import annotations

import gc
import json
import re
import tracemalloc
from pathlib import Path
from random import Random

import attrs
import pytest
import structlog

from docstage.document import Document
from docstage.spool import Spool
from docstage.stages import StageContext
from docstage.summary import RunSummary
from docstage_plugins.render_additions import Additions
from docstage_plugins.render_briefs import BriefSpool, build_stories
from docstage_plugins.render_html import RenderHtml, story_data
from docstage_plugins.render_markdown import RenderMarkdown, escape
from docstage_plugins.render_stories import KEY_LABELS, Brief, Story, group_stories, make_story
from tests.report_corpus import articles


def corpus(count: int) -> list[Document]:
    """A newsroom with some documents undated, dated oddly, or in no story, and stories
    listed out of order."""
    rng = Random(5)
    docs = list(articles(count, seed=7))
    rng.shuffle(docs)
    changed = []
    for doc in docs:
        roll = rng.random()
        if roll < 0.1:
            doc = attrs.evolve(doc, metadata={})
        elif roll < 0.15:
            doc = attrs.evolve(doc, metadata={"published": "March 2024"})
        elif roll < 0.2:
            annotations = {k: v for k, v in doc.annotations.items() if k != "story_id"}
            doc = attrs.evolve(doc, annotations=annotations)
        changed.append(doc)
    return changed


def in_memory(docs: list[Document], **limits: int) -> list[Story]:
    """The stories as the renderers made them with every brief in memory."""
    briefs = [Brief.of(doc, row) for row, doc in enumerate(docs)]
    stories = [
        make_story(g, max_entities=limits["entities"], max_quotes=limits["quotes"])
        for g in group_stories(briefs)
    ]
    additions = Additions(stories, limits["additions"])
    for doc in docs:
        additions.add(doc)
    return [additions.story(s) for s in stories]


def test_stories_from_disk_are_the_stories_from_memory_in_the_same_order() -> None:
    docs = corpus(1500)
    expected = in_memory(docs, entities=8, quotes=5, additions=3)
    assert len(expected) > 100
    with BriefSpool() as briefs, Spool() as spool:
        for row, doc in enumerate(docs):
            briefs.append(Brief.of(doc, row))
            spool.append(doc)
        stories = briefs.stories()
        got = list(
            build_stories(briefs, stories, spool, max_entities=8, max_quotes=5, max_additions=3)
        )
        in_story = {b.row for s in expected for b in s.documents}
        assert stories.others().tolist() == [r for r in range(len(docs)) if r not in in_story]
    assert [[b.id for b in s.documents] for s in got] == [
        [b.id for b in s.documents] for s in expected
    ]
    assert got == expected
    assert any(s.added for s in got)


def test_a_brief_out_of_row_order_or_a_row_not_there_is_an_error() -> None:
    doc = Document(id="a", source="s", text="x")
    with BriefSpool() as briefs:
        with pytest.raises(ValueError, match="brief of row 1 appended at 0"):
            briefs.append(Brief.of(doc, 1))
        briefs.append(Brief.of(doc, 0))
        with pytest.raises(IndexError, match="row 1 is not in a spool of 1 briefs"):
            list(briefs.read([1]))


def render(cls: type, folder: Path, docs: list[Document], **options: object) -> Path:
    renderer = cls(path=folder / f"out-{cls.__name__}", **options)
    context = StageContext(
        run_id="r1", config_dir=folder, stage_name=cls.name, index=1, log=structlog.get_logger()
    )
    renderer.setup(context)
    for doc in docs:
        renderer.write(doc)
    summary = RunSummary(
        run_id="r1",
        pipeline="p",
        stages=(),
        documents=len(docs),
        quarantined=0,
        quarantine_path=None,
    )
    (path,) = renderer.finish(summary)
    return Path(path)


def test_the_digest_lists_the_stories_and_their_articles_as_in_memory(tmp_path: Path) -> None:
    docs = corpus(600)
    expected = in_memory(docs, entities=8, quotes=5, additions=3)
    text = render(RenderMarkdown, tmp_path, docs).read_text(encoding="utf-8")
    titles = re.findall(r"^## (.*)$", text, flags=re.MULTILINE)
    assert titles == [escape(s.title) for s in expected] + ["Other documents"]
    ids = re.findall(r"\(`([^`]+)`\)", text)
    in_stories = [b.id for s in expected for b in s.documents]
    assert ids[: len(in_stories)] == in_stories
    assert f"{len(expected):,} stories told by two documents or more" in text


def test_the_report_data_is_the_stories_from_memory(tmp_path: Path) -> None:
    docs = corpus(600)
    expected = in_memory(docs, entities=8, quotes=5, additions=3)
    page = render(RenderHtml, tmp_path, docs, max_stories=7).read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page)
    assert found is not None
    data = json.loads(found.group(1))
    assert data["stories"] == json.loads(
        json.dumps([story_data(s, n < 7) for n, s in enumerate(expected)])
    )
    assert data["labels"] == sorted(
        {e[1] for s in expected for e in s.entities}, key=KEY_LABELS.index
    )
    shown = re.findall(r'<div class="texts" data-story="([^"]+)">', page)
    assert shown == [s.id for s in expected[:7]]
    texts = re.findall(r'<div class="doc" data-id="([^"]+)">', page)
    assert texts == [b.id for s in expected[:7] for b in s.documents]


def feed(renderer: RenderMarkdown | RenderHtml, count: int) -> None:
    for doc in articles(count):
        renderer.write(doc)


@pytest.mark.parametrize("cls", [RenderMarkdown, RenderHtml])
def test_a_renderer_keeps_a_few_dozen_bytes_a_document(cls: type, tmp_path: Path) -> None:
    """What a renderer holds after writing documents grows by under 64 bytes a document
    (the offsets of its spools and the brief spool's columns; a brief in memory was
    kilobytes), measured past the first 2,000, by when the entity table has its
    entities and their sources."""
    context = StageContext(
        run_id="r1", config_dir=tmp_path, stage_name=cls.name, index=1, log=structlog.get_logger()
    )
    held = []
    for count in (2000, 4000):
        renderer = cls(path=tmp_path / f"out-{count}")
        tracemalloc.start()
        renderer.setup(context)
        feed(renderer, count)  # and let go of the last document
        gc.collect()  # documents in reference cycles are not held
        held.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.stop()
        renderer.abort()
    assert (held[1] - held[0]) / 2000 < 64
