"""``render.markdown``: a digest people read, grouped by story.

Per story (documents sharing a ``story_id`` from ``dedup``): the title, the dates, the
sources that carried it, every document with the copies it stands for, the key entities
and the quotes the outlets share, with their sources; single documents after the stories.
Sections whose stage did not run are left out. The renderer keeps a short summary per
document (never its text) and writes the file atomically at the end of the run.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import attrs

from docstage import Document
from docstage.errors import OptionError
from docstage.io import AtomicFile, writable_folder
from docstage.options import at_least, option
from docstage.stages import Renderer, StageContext
from docstage.summary import RunSummary

#: Entity labels worth naming in a digest (not dates, numbers, money).
KEY_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "EVENT", "FAC"})
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


def headline(doc: Document, width: int = 80) -> str:
    """The document's title, else its first line, shortened at a word to ``width``."""
    title = doc.metadata.get("title")
    if title:
        return str(title)
    first = doc.text.strip().partition("\n")[0]
    if len(first) <= width:
        return first or doc.id
    return first[: width - 1].rsplit(" ", 1)[0] + " …"


def field(value: Any, name: str) -> Any:
    """A field of an annotation value: an attrs object, or a dict read back from JSON."""
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


@attrs.frozen(kw_only=True)
class _Quote:
    text: str
    sources: tuple[str, ...]
    documents: frozenset[str]


@attrs.frozen(kw_only=True)
class _Summary:
    """What the digest needs of one document."""

    id: str
    source: str
    title: str
    published: str | None
    story: str | None
    copies: tuple[tuple[str, str], ...]  # (id, source)
    entities: tuple[tuple[str, str], ...]  # (name, label), distinct
    quotes: tuple[_Quote, ...]

    @classmethod
    def of(cls, doc: Document) -> _Summary:
        title = headline(doc)
        published = doc.metadata.get("published")
        names = {(e.canonical or e.text, e.label) for e in doc.entities if e.label in KEY_LABELS}
        quotes = []
        for passage in doc.annotations.get("shared_passages", ()):
            matches = field(passage, "matches") or ()
            quotes.append(
                _Quote(
                    text=str(field(passage, "text")),
                    sources=tuple(sorted({doc.source, *(field(m, "source") for m in matches)})),
                    documents=frozenset(str(field(m, "id")) for m in matches),
                )
            )
        return cls(
            id=doc.id,
            source=doc.source,
            title=title,
            published=str(published)[:10] if published else None,
            story=doc.annotations.get("story_id"),
            copies=tuple(
                (str(field(c, "id")), str(field(c, "source")))
                for c in doc.annotations.get("duplicates", ())
            ),
            entities=tuple(sorted(names)),
            quotes=tuple(quotes),
        )


@attrs.define(kw_only=True)
class RenderMarkdown(Renderer):
    """Write a Markdown digest grouped by story: title, dates, sources, key entities and
    shared quotes per story, single documents after; written atomically."""

    name: ClassVar[str] = "render.markdown"

    path: Path = option(path=True, help="The .md file to write (its folder is created).")
    title: str = option("", help="The digest's heading (default: the pipeline's name).")
    max_entities: int = option(
        8, validator=at_least(0), help="Key entities listed per story (0: none)."
    )
    max_quotes: int = option(
        5, validator=at_least(0), help="Shared quotes listed per story (0: none)."
    )
    singletons: bool = option(
        True, help="List the documents that belong to no story of two or more after them."
    )
    _summaries: list[_Summary] = attrs.field(factory=list, init=False, repr=False)

    def setup(self, context: StageContext) -> None:
        if self.path.is_dir():
            raise OptionError(
                "path", f"'{self.path}' is a folder; give the path of the .md file to write"
            )
        writable_folder(self.path)
        self._summaries = []

    def write(self, doc: Document) -> None:
        self._summaries.append(_Summary.of(doc))

    def finish(self, summary: RunSummary) -> list[Path]:
        try:
            with AtomicFile.open(self.path) as file:
                for line in self._lines(summary):
                    file.write(line + "\n")
        finally:
            self._summaries = []
        return [file.path]

    def abort(self) -> None:
        self._summaries = []

    # --- the digest ------------------------------------------------------------------

    def _lines(self, summary: RunSummary) -> Iterable[str]:
        docs = self._summaries
        groups: dict[str, list[_Summary]] = {}
        for doc in docs:
            if doc.story is not None:
                groups.setdefault(doc.story, []).append(doc)
        stories = [sorted(g, key=_in_story) for g in groups.values() if len(g) > 1]
        stories.sort(key=lambda g: (-len({d.source for d in g}), -len(g), _in_story(g[0])))
        in_stories = {d.id for g in stories for d in g}
        sources = {d.source for d in docs}
        yield f"# {escape(self.title or summary.pipeline)}"
        yield ""
        yield (
            f"{len(docs):,} documents from {len(sources):,} sources; "
            f"{len(stories):,} {'story' if len(stories) == 1 else 'stories'} told by two "
            f"documents or more. Run `{summary.run_id}`."
        )
        for story in stories:
            yield from self._story(story)
        rest = [d for d in docs if d.id not in in_stories]
        if self.singletons and rest:
            yield ""
            yield "## Other documents" if stories else "## Documents"
            yield ""
            for doc in sorted(rest, key=_in_story):
                yield self._item(doc)

    def _story(self, docs: list[_Summary]) -> Iterable[str]:
        dates = sorted(d.published for d in docs if d.published)
        sources = sorted({d.source for d in docs})
        when = f"{dates[0]} – {dates[-1]}" if dates and dates[0] != dates[-1] else ""
        when = escape(when or (dates[0] if dates else "undated"))
        yield ""
        yield f"## {escape(docs[0].title)}"
        yield ""
        yield f"*{when} · {len(sources)} sources: {', '.join(escape(s) for s in sources)}*"
        yield ""
        for doc in docs:
            yield self._item(doc)
        entities = self._entities(docs)
        if entities:
            yield ""
            yield "**Key entities:** " + ", ".join(
                f"{escape(name)} ({escape(label)})" for name, label in entities
            )
        quotes = self._quotes(docs)
        if quotes:
            yield ""
            yield "**Shared quotes:**"
            yield ""
            for quote in quotes:
                yield f"> {escape(quote.text)}"
                yield f"> — {', '.join(escape(s) for s in quote.sources)}"
                yield ""

    def _item(self, doc: _Summary) -> str:
        line = f"- **{escape(doc.title)}** — {escape(doc.source)}"
        if doc.published:
            line += f", {escape(doc.published)}"
        line += f" ({code_span(doc.id)})"
        if doc.copies:
            copies = ", ".join(escape(source) for _, source in doc.copies)
            plural = "copies" if len(doc.copies) > 1 else "copy"
            line += f"; {len(doc.copies)} {plural} dropped: {copies}"
        return line

    def _entities(self, docs: list[_Summary]) -> list[tuple[str, str]]:
        if not self.max_entities:
            return []
        counts: Counter[tuple[str, str]] = Counter(e for d in docs for e in d.entities)
        ranked = sorted(counts, key=lambda e: (-counts[e], e))
        return ranked[: self.max_entities]

    def _quotes(self, docs: list[_Summary]) -> list[_Quote]:
        """Each shared quote once: from the first document of the story that carries it
        (matching is symmetric, so a later document's wording of it is skipped)."""
        if not self.max_quotes:
            return []
        order = {d.id: n for n, d in enumerate(docs)}
        found = []
        for n, doc in enumerate(docs):
            for quote in doc.quotes:
                if all(order.get(other, len(docs)) < n for other in quote.documents):
                    continue
                found.append(quote)
        return found[: self.max_quotes]


def _in_story(doc: _Summary) -> tuple[bool, str, str]:
    return (doc.published is None, doc.published or "", doc.id)


STAGES = (RenderMarkdown,)
