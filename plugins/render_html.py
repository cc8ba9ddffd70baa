"""``render.html``: one self-contained report for people, story first.

The stories (:mod:`~docstage_plugins.render_stories`), most widely carried first, each
with its headline, sources and dates, key people, places and organisations, the quotes
its outlets share (speaker, carriers, which outlet first) and what each outlet added; a
timeline of the stories (articles per day) and an outlet × story matrix; filters by
source, date and entity type and a text search. Then the documents in no story, the
entity table, the copies, the boilerplate each source lost, the quarantine, and the run
summary last. Inline CSS and one inline script, nothing fetched.

The stories travel as JSON data in the page (every ``<``, ``>`` and ``&`` escaped, so no
text can close the element) and our script draws them a page at a time with
``textContent``, never as markup: a report of 10,000 documents opens in 1-2 seconds.
The texts of the ``max_stories`` largest stories, entities and shared passages
highlighted, and of the other documents are rendered by Jinja2 with autoescaping: a
scraped ``<script>`` shows as text. Sections whose stage did not run are left out.

Documents and their briefs (:mod:`~docstage_plugins.render_briefs`) are spooled to
temporary files while the run goes on; memory keeps a few dozen bytes a document to find
and order the stories, the entity table (per distinct entity) and the removed-text
counts (per distinct text). At the end the page is streamed to the file: each story is
built when the template reaches it, from its briefs read back, and the documents whose
texts are shown or whose additions are looked for are read back by position.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import attrs
import jinja2
import numpy as np
import numpy.typing as npt

from docstage import Document
from docstage.errors import OptionError
from docstage.io import AtomicFile, writable_folder
from docstage.options import at_least, option
from docstage.spool import Spool
from docstage.stages import Renderer, StageContext
from docstage.summary import RunSummary
from docstage_plugins.entities.link import EntityIndex
from docstage_plugins.render_briefs import BriefSpool, Stories, build_stories
from docstage_plugins.render_stories import KEY_LABELS, Brief, Carrier, Story, field, make_story

TEMPLATES = Path(__file__).resolve().parent / "templates"
T = TypeVar("T")


@attrs.frozen(eq=False)
class Replay(Generic[T]):
    """A sequence for the templates read back from disk each time it is iterated: its
    length is known, its items are made one at a time."""

    length: int
    items: Callable[[], Iterator[T]]

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[T]:
        return self.items()


@attrs.frozen(eq=False)
class Streamed:
    """Text the template writes piece by piece (``{% for part in data %}``); ``str()``
    joins it, for templates that write it whole."""

    parts: Callable[[], Iterator[str]]

    def __iter__(self) -> Iterator[str]:
        return self.parts()

    def __str__(self) -> str:
        return "".join(self.parts())


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


def script_json(data: Any) -> str:
    """``data`` as JSON that can stand inside a ``<script type="application/json">``
    element: ``<``, ``>`` and ``&`` are escaped, so no string in it closes the element or
    reads as markup."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def story_data(story: Story, texts: bool) -> dict[str, Any]:
    """What the report's script knows of a story (lists, not objects, where there are
    many: the data of 10,000 documents stays a few MB)."""
    return {
        "id": story.id,
        "title": story.title,
        "sources": list(story.sources),
        "when": story.when,
        "from": story.dates[0] if story.dates else None,
        "to": story.dates[-1] if story.dates else None,
        "days": [list(day) for day in story.days],
        "docs": [[b.id, b.source, b.title, b.published, len(b.copies)] for b in story.documents],
        "entities": [list(e) for e in story.entities],
        "quotes": [
            {
                "text": q.text,
                "speaker": q.speaker,
                "carriers": [_carrier(c, q.text) for c in q.carriers],
            }
            for q in story.quotes
        ],
        "added": [[a.source, list(a.passages), a.total] for a in story.added],
        "texts": texts,
    }


def _carrier(carrier: Carrier, words: str) -> list[Any]:
    """``[source, id, published, wording, speaker, first]``; the wording null where it is
    the quote's own."""
    wording = carrier.text if carrier.text != words else None
    return [carrier.source, carrier.id, carrier.published, wording, carrier.speaker, carrier.first]


@attrs.define(kw_only=True)
class RenderHtml(Renderer):
    """Write one self-contained HTML report of the run, story first, atomically."""

    name: ClassVar[str] = "render.html"

    path: Path = option(path=True, help="The .html file to write (its folder is created).")
    title: str = option("", help="The report's title (default: the pipeline's name).")
    max_stories: int = option(
        50,
        validator=at_least(1),
        help="Stories whose articles' texts are in the page (side by side, entities and "
        "shared passages highlighted), largest first; every story is listed.",
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
    key_entities: int = option(
        8, validator=at_least(0), help="Key people, places and organisations per story."
    )
    max_quotes: int = option(5, validator=at_least(0), help="Shared quotes shown per story.")
    max_additions: int = option(
        3,
        validator=at_least(0),
        help="Passages shown per outlet under what each outlet added to a story (0: the "
        "additions are left out).",
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
    _briefs: BriefSpool | None = attrs.field(default=None, init=False, repr=False)
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
        self._briefs = BriefSpool()
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
        for spool in (self._spool, self._briefs):
            if spool is not None:
                spool.close()
        self._spool = None
        self._briefs = None
        self._entities = EntityIndex()
        self._removed = {}

    def write(self, doc: Document) -> None:
        assert self._spool is not None, "render.html used before setup"
        assert self._briefs is not None, "render.html used before setup"
        self._briefs.append(Brief.of(doc, len(self._briefs)))
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
                context = self._context(summary)
                for part in template.generate(
                    **context, script=script, script_hash=csp_hash(script)
                ):
                    file.write(part)
        finally:
            self._reset()
        return [file.path]

    def abort(self) -> None:
        self._reset()

    def close(self) -> None:
        """Delete the scratch files of a run that neither finished nor aborted (a dry run
        sets the renderer up and writes nothing)."""
        self._reset()

    # --- what the template gets --------------------------------------------------------

    def _context(self, summary: RunSummary) -> dict[str, Any]:
        briefs = self._briefs
        assert briefs is not None, "render.html used before setup"
        stories = briefs.stories()
        others = stories.others()
        listed = others[: self.max_documents]
        copies = briefs.with_copies()
        entities = sorted(self._entities.sorted(), key=lambda e: e.label not in KEY_LABELS)
        return {
            "title": self.title or summary.pipeline,
            "summary": summary,
            "documents": len(briefs),
            "sources": len(briefs.sources),
            "data": Streamed(lambda: self._data(briefs, stories)),
            "stories": Replay(
                min(len(stories), self.max_stories), lambda: self._shown(briefs, stories)
            ),
            "stories_total": len(stories),
            "dedup_ran": briefs.dedup_ran,
            "others": Replay(len(listed), lambda: self._texts(briefs.read(listed), listed)),
            "others_total": len(others),
            "entities": entities[: self.max_entities],
            "entities_total": len(entities),
            "removed": {
                source: counts.most_common(20) for source, counts in sorted(self._removed.items())
            },
            "copies": Replay(len(copies), lambda: briefs.read(copies)),
            "quarantine": summary.quarantine_sample,
        }

    def _shown(self, briefs: BriefSpool, stories: Stories) -> Iterator[dict[str, Any]]:
        """The ``max_stories`` largest stories with their documents' texts."""
        for rows in itertools.islice(stories, self.max_stories):
            story = make_story(
                list(briefs.read(rows)), max_entities=self.key_entities, max_quotes=self.max_quotes
            )
            yield {
                "story": story,
                "documents": Replay(
                    len(rows), functools.partial(self._texts, story.documents, rows)
                ),
            }

    def _texts(
        self, briefs: Iterable[Brief], rows: npt.NDArray[np.int64]
    ) -> Iterator[dict[str, Any]]:
        """Each brief with its document's text cut where highlights start and end."""
        docs: Iterable[Document | None] = [None] * len(rows)  # a dry run keeps none
        if self._spool is not None:
            docs = self._spool.read(rows)
        for brief, doc in zip(briefs, docs, strict=True):
            texts = segments(doc, self.max_text_chars) if doc is not None else []
            yield {"brief": brief, "segments": texts}

    def _data(self, briefs: BriefSpool, stories: Stories) -> Iterator[str]:
        """The report's JSON data, one story at a time (the script's escapes on each)."""
        sources: Counter[str] = Counter()
        labels: set[str] = set()
        yield '{"stories":['
        told = build_stories(
            briefs,
            stories,
            self._spool,
            max_entities=self.key_entities,
            max_quotes=self.max_quotes,
            max_additions=self.max_additions,
        )
        for n, story in enumerate(told):
            sources.update(story.sources)
            labels.update(label for _, label, _ in story.entities)
            yield ("," if n else "") + script_json(story_data(story, n < self.max_stories))
        rest = {
            "sources": sorted(sources, key=lambda source: (-sources[source], source)),
            "labels": sorted(labels, key=KEY_LABELS.index),
        }
        yield "]," + script_json(rest)[1:]


STAGES = (RenderHtml,)
