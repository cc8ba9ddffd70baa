"""``render.html``: one self-contained report for people.

A run summary per stage; stories with their documents side by side, entities and shared
passages highlighted in the text; the entity table; the boilerplate each source lost; the
copies and their survivors; the quarantine. Inline CSS and a few lines of inline script,
nothing fetched. Jinja2 with autoescaping: document text is always escaped, a scraped
``<script>`` shows as text. Sections whose stage did not run are left out.

Documents are spooled to a temporary file while the run goes on; only the stories shown
(the ``max_stories`` largest) have their text in the page, so the report of a corpus of
20,000 documents stays small and quick to open.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import jinja2

from docstage import Document
from docstage.errors import OptionError
from docstage.io import AtomicFile, writable_folder
from docstage.options import at_least, option
from docstage.spool import Spool
from docstage.stages import Renderer, StageContext
from docstage.summary import RunSummary
from docstage_plugins.entities.link import EntityIndex
from docstage_plugins.render_markdown import field, headline

TEMPLATES = Path(__file__).resolve().parent / "templates"


def csp_hash(script: str) -> str:
    """The Content-Security-Policy source that allows exactly this inline script:
    ``'sha256-…'`` of its UTF-8 bytes, base64."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


@attrs.frozen
class Segment:
    """A run of text with the same highlights: entity label and title, inside a quote."""

    text: str
    label: str | None = None
    title: str | None = None
    quote: bool = False


def segments(doc: Document, limit: int | None = None) -> list[Segment]:
    """``doc.text`` cut where an entity or a shared passage starts or ends; only its
    first ``limit`` characters, then a note, when it is longer."""
    text = doc.text
    whole = len(text)
    if limit is not None and whole > limit:
        text = text[:limit]
    entities = [
        (e.start, e.end, e.label, e.canonical or e.text)
        for e in doc.entities
        if 0 <= e.start < e.end <= len(text)
    ]
    quotes = [
        (int(field(p, "start")), int(field(p, "end")))
        for p in doc.annotations.get("shared_passages", ())
    ]
    cuts = {0, len(text)}
    for start, end, *_ in entities:
        cuts |= {start, end}
    for start, end in quotes:
        cuts |= {max(0, start), min(len(text), end)}
    ordered = sorted(cuts)
    entities.sort()
    found = []
    at = 0
    for start, end in itertools.pairwise(ordered):
        while at < len(entities) and entities[at][1] <= start:
            at += 1
        entity = entities[at] if at < len(entities) and entities[at][0] <= start else None
        inside = any(s <= start and end <= e for s, e in quotes)
        found.append(
            Segment(
                text=text[start:end],
                label=entity[2] if entity else None,
                title=f"{entity[3]} ({entity[2]})" if entity else None,
                quote=inside,
            )
        )
    if len(text) < whole:
        note = (
            f"\n\n[… the text is cut here: {len(text):,} of its {whole:,} characters are "
            "shown; max_text_chars sets how many]"
        )
        found.append(Segment(text=note, label=None, title=None, quote=False))
    return found


@attrs.frozen(kw_only=True)
class _Brief:
    """What the report keeps in memory of every document (never its text)."""

    row: int
    id: str
    source: str
    title: str
    published: str | None
    story: str | None
    copies: tuple[dict[str, Any], ...]


@attrs.define(kw_only=True)
class RenderHtml(Renderer):
    """Write one self-contained HTML report of the run, atomically."""

    name: ClassVar[str] = "render.html"

    path: Path = option(path=True, help="The .html file to write (its folder is created).")
    title: str = option("", help="The report's title (default: the pipeline's name).")
    max_stories: int = option(
        50, validator=at_least(1), help="Stories shown with their text, largest first."
    )
    max_documents: int = option(
        500,
        validator=at_least(1),
        help="Documents in no story of two or more, listed with their text (folded), at "
        "most this many.",
    )
    max_entities: int = option(
        200, validator=at_least(1), help="Rows of the entity table, most widely reported first."
    )
    max_text_chars: int = option(
        100_000,
        validator=at_least(1),
        help="Characters of a document's text shown in the report; a longer text is cut "
        "there, with a note (the other outputs keep it whole).",
    )
    templates: Path | None = option(
        None,
        path=True,
        help="A folder of Jinja2 templates that override ours (report.html.j2 and the "
        "blocks it includes).",
    )
    _spool: Spool | None = attrs.field(default=None, init=False, repr=False)
    _briefs: list[_Brief] = attrs.field(factory=list, init=False, repr=False)
    _entities: EntityIndex = attrs.field(factory=EntityIndex, init=False, repr=False)
    _removed: dict[str, Counter[tuple[str, str]]] = attrs.field(
        factory=dict, init=False, repr=False
    )

    def setup(self, context: StageContext) -> None:
        if self.path.is_dir():
            raise OptionError(
                "path", f"'{self.path}' is a folder; give the path of the .html file to write"
            )
        if self.templates is not None and not self.templates.is_dir():
            raise OptionError("templates", f"'{self.templates}' is not a folder")
        self._environment().get_template("report.html.j2")  # a broken override fails here
        writable_folder(self.path)
        self._reset()
        if not context.dry_run:
            self._spool = Spool()

    def _environment(self) -> jinja2.Environment:
        folders = [str(TEMPLATES)]
        if self.templates is not None:
            folders.insert(0, str(self.templates))
        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(folders),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def _reset(self) -> None:
        if self._spool is not None:
            self._spool.close()
        self._spool = None
        self._briefs = []
        self._entities = EntityIndex()
        self._removed = {}

    def write(self, doc: Document) -> None:
        assert self._spool is not None, "render.html used before setup"
        published = doc.metadata.get("published")
        self._briefs.append(
            _Brief(
                row=len(self._briefs),
                id=doc.id,
                source=doc.source,
                title=headline(doc),
                published=str(published)[:10] if published else None,
                story=doc.annotations.get("story_id"),
                copies=tuple(
                    {k: field(c, k) for k in ("id", "source", "relation", "score")}
                    for c in doc.annotations.get("duplicates", ())
                ),
            )
        )
        self._spool.append(doc)
        self._entities.add(doc)
        removed = doc.annotations.get("removed", ())
        if removed:
            counts = self._removed.setdefault(doc.source, Counter())
            for removal in removed:
                text = " ".join(str(field(removal, "text")).split())[:200]
                counts[(str(field(removal, "rule")), text)] += 1

    def finish(self, summary: RunSummary) -> list[Path]:
        try:
            with AtomicFile.open(self.path) as file:
                environment = self._environment()
                template = environment.get_template("report.html.j2")
                script = environment.get_template("report.js").render()
                file.write(
                    template.render(
                        **self._context(summary), script=script, script_hash=csp_hash(script)
                    )
                )
        finally:
            self._reset()
        return [file.path]

    def abort(self) -> None:
        self._reset()

    # --- what the template gets --------------------------------------------------------

    def _context(self, summary: RunSummary) -> dict[str, Any]:
        groups: dict[str, list[_Brief]] = {}
        for brief in self._briefs:
            if brief.story is not None:
                groups.setdefault(brief.story, []).append(brief)
        stories = [g for g in groups.values() if len(g) > 1]
        stories.sort(key=lambda g: (-len({b.source for b in g}), -len(g), g[0].row))
        shown = stories[: self.max_stories]
        in_stories = {b.row for g in stories for b in g}
        others = [b for b in self._briefs if b.row not in in_stories]
        rows = {b.row for g in shown for b in g} | {b.row for b in others[: self.max_documents]}
        texts = dict(self._texts(rows))
        entities = list(self._entities.sorted())
        return {
            "title": self.title or summary.pipeline,
            "summary": summary,
            "documents": len(self._briefs),
            "sources": len({b.source for b in self._briefs}),
            "stories": [
                {
                    "id": group[0].story,
                    "title": min(group, key=_when).title,
                    "sources": sorted({b.source for b in group}),
                    "dates": sorted(b.published for b in group if b.published),
                    "documents": [
                        {"brief": b, "segments": texts[b.row]} for b in sorted(group, key=_when)
                    ],
                }
                for group in shown
            ],
            "stories_total": len(stories),
            "dedup_ran": any(b.story is not None or b.copies for b in self._briefs),
            "others": [
                {"brief": b, "segments": texts[b.row]} for b in others[: self.max_documents]
            ],
            "others_total": len(others),
            "entities": entities[: self.max_entities],
            "entities_total": len(entities),
            "removed": {
                source: counts.most_common(20) for source, counts in sorted(self._removed.items())
            },
            "copies": [b for b in self._briefs if b.copies],
            "quarantine": summary.quarantine_sample,
        }

    def _texts(self, rows: set[int]) -> Iterator[tuple[int, list[Segment]]]:
        if not rows or self._spool is None:
            return
        for row, doc in enumerate(self._spool):
            if row in rows:
                yield row, segments(doc, self.max_text_chars)


def _when(brief: _Brief) -> tuple[bool, str, int]:
    return (brief.published is None, brief.published or "", brief.row)


STAGES = (RenderHtml,)
