"""``render.markdown``: a digest people read, story first.

Per story (documents sharing a ``story_id`` from ``dedup``), the most widely carried
first: its headline, dates and sources, the key people, places and organisations, the
quotes the outlets share with their speaker and carriers (which outlet first), what each
outlet added that the others do not have, and its articles with the copies they stand
for; single documents after the stories. The story view is
:mod:`~docstage_plugins.render_stories`'. Sections whose stage did not run are left out.
The renderer keeps a short summary of each document (a brief) and the document in spool
files, and in memory a few dozen bytes a document to find and order the stories; at the
end it builds and writes one story at a time, reading back its briefs, and its documents
for the additions. The file is written atomically.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import attrs

from docstage import Document
from docstage.errors import OptionError
from docstage.io import AtomicFile, writable_folder
from docstage.options import at_least, option
from docstage.spool import Spool
from docstage.stages import Renderer, StageContext
from docstage.summary import RunSummary
from docstage_plugins.render_briefs import BriefSpool, build_stories
from docstage_plugins.render_stories import (
    KINDS,
    Added,
    Brief,
    Carrier,
    SharedQuote,
    Story,
)

_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")
_SPACE = re.compile(r"\s+")


def escape(text: str) -> str:
    """``text`` on one line, with Markdown's special characters escaped."""
    return _SPECIAL.sub(r"\\\1", _SPACE.sub(" ", text).strip())


def code_span(text: str) -> str:
    """``text`` as an inline code span on one line: nothing in it is Markdown or HTML.

    Whitespace runs (newlines, blank lines) become one space, so the span cannot end at a
    paragraph break and let the rest be read as HTML; backticks become ``'``.
    """
    return "`" + _SPACE.sub(" ", text).strip().replace("`", "'") + "`"


@attrs.define(kw_only=True)
class RenderMarkdown(Renderer):
    """Write a Markdown digest story first: headline, dates, sources, key entities,
    shared quotes with their speakers and carriers, what each outlet added; single
    documents after; written atomically."""

    name: ClassVar[str] = "render.markdown"

    path: Path = option(path=True, help="The .md file to write (its folder is created).")
    title: str = option("", help="The digest's heading (default: the pipeline's name).")
    max_entities: int = option(
        8, validator=at_least(0), help="Key entities listed per story (0: none)."
    )
    max_quotes: int = option(
        5, validator=at_least(0), help="Shared quotes listed per story (0: none)."
    )
    max_additions: int = option(
        3,
        validator=at_least(0),
        help="Passages listed per outlet under what each outlet added to a story (0: the "
        "section is left out).",
    )
    singletons: bool = option(
        True, help="List the documents that belong to no story of two or more after them."
    )
    _briefs: BriefSpool | None = attrs.field(default=None, init=False, repr=False)
    _spool: Spool | None = attrs.field(default=None, init=False, repr=False)

    def setup(self, context: StageContext) -> None:
        if self.path.is_dir():
            raise OptionError(
                "path", f"'{self.path}' is a folder; give the path of the .md file to write"
            )
        writable_folder(self.path)
        self._reset()
        self._briefs = BriefSpool()
        if not context.dry_run and self.max_additions:
            self._spool = Spool()

    def _reset(self) -> None:
        for spool in (self._spool, self._briefs):
            if spool is not None:
                spool.close()
        self._spool = None
        self._briefs = None

    def write(self, doc: Document) -> None:
        assert self._briefs is not None, "render.markdown used before setup"
        self._briefs.append(Brief.of(doc, len(self._briefs)))
        if self._spool is not None:
            self._spool.append(doc)

    def finish(self, summary: RunSummary) -> list[Path]:
        try:
            with AtomicFile.open(self.path) as file:
                for line in self._lines(summary):
                    file.write(line + "\n")
        finally:
            self._reset()
        return [file.path]

    def abort(self) -> None:
        self._reset()

    def close(self) -> None:
        """Delete the scratch files of a run that neither finished nor aborted (a dry run
        sets the renderer up and writes nothing)."""
        self._reset()

    # --- the digest ------------------------------------------------------------------

    def _lines(self, summary: RunSummary) -> Iterable[str]:
        briefs = self._briefs
        assert briefs is not None, "render.markdown used before setup"
        stories = briefs.stories()
        yield f"# {escape(self.title or summary.pipeline)}"
        yield ""
        yield (
            f"{len(briefs):,} documents from {len(briefs.sources):,} sources; "
            f"{len(stories):,} {'story' if len(stories) == 1 else 'stories'} told by two "
            f"documents or more. Run `{summary.run_id}`."
        )
        for story in build_stories(
            briefs,
            stories,
            self._spool,
            max_entities=self.max_entities,
            max_quotes=self.max_quotes,
            max_additions=self.max_additions,
        ):
            yield from self._story(story)
        rest = stories.others()
        if self.singletons and len(rest):
            yield ""
            yield "## Other documents" if len(stories) else "## Documents"
            yield ""
            for doc in briefs.read(briefs.in_date_order(rest)):
                yield self._item(doc)

    def _story(self, story: Story) -> Iterable[str]:
        yield ""
        yield f"## {escape(story.title)}"
        yield ""
        sources = ", ".join(escape(s) for s in story.sources)
        yield f"*{escape(story.when)} · {len(story.sources)} sources: {sources}*"
        if story.entities:
            yield ""
            yield _entities(story)
        if story.quotes:
            yield ""
            yield "**Shared quotes:**"
            for quote in story.quotes:
                yield ""
                yield f"> {escape(quote.text)}"
                yield f"> — {_carriers(quote)}"
        if story.added:
            yield ""
            yield "**What each outlet added:**"
            yield ""
            for added in story.added:
                yield from _added(added)
        yield ""
        yield "**Articles:**"
        yield ""
        for doc in story.documents:
            yield self._item(doc)

    def _item(self, doc: Brief) -> str:
        line = f"- **{escape(doc.title)}** — {escape(doc.source)}"
        if doc.published:
            line += f", {escape(doc.published)}"
        line += f" ({code_span(doc.id)})"
        if doc.copies:
            copies = ", ".join(escape(str(c["source"])) for c in doc.copies)
            plural = "copies" if len(doc.copies) > 1 else "copy"
            line += f"; {len(doc.copies)} {plural} dropped: {copies}"
        return line


def _entities(story: Story) -> str:
    """``**People:** A, B · **Places:** C`` in the order of :data:`KEY_LABELS`."""
    kinds: dict[str, list[str]] = {}
    for name, label, _ in story.entities:
        kinds.setdefault(KINDS.get(label, label.lower()), []).append(escape(name))
    order = list(dict.fromkeys(KINDS.values()))
    ranked = sorted(kinds, key=lambda k: order.index(k) if k in order else len(order))
    return " · ".join(f"**{kind.capitalize()}:** {', '.join(kinds[kind])}" for kind in ranked)


def _carriers(quote: SharedQuote) -> str:
    """``Speaker · first carried by A and B (date); then C (date)``, or ``carried by A
    and B (date)`` when they all carried it first."""
    first = [c for c in quote.carriers if c.first]
    then = [c for c in quote.carriers if not c.first]
    if first:
        # "first" only when some carried it later
        said = f"{'first ' if then else ''}carried by {_sources(first)}"
        if first[0].published:
            said += f" ({escape(first[0].published)})"
        if then:
            said += "; then " + ", ".join(
                escape(c.source) + (f" ({escape(c.published)})" if c.published else "")
                for c in then
            )
    else:
        said = f"carried by {_sources(then)}"
    speaker = escape(quote.speaker) if quote.speaker else "speaker not named"
    return f"{speaker} · {said}"


def _sources(carriers: list[Carrier]) -> str:
    names = [escape(c.source) for c in carriers]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _added(added: Added) -> Iterable[str]:
    """``- **source**: 4 passages no other source has:`` and the first of them."""
    source = f"**{escape(added.source)}**"
    if not added.total:
        yield f"- {source}: nothing the other sources do not have"
        return
    plural = "passage" if added.total == 1 else "passages"
    yield f"- {source}: {added.total} {plural} no other source has" + (
        ":" if added.passages else ""
    )
    for passage in added.passages:
        yield f"  - {escape(passage)}"
    if 0 < len(added.passages) < added.total:
        yield f"  - … and {added.total - len(added.passages)} more"


STAGES = (RenderMarkdown,)
