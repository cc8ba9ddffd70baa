"""``render.csv``: the entity table of a corpus (or a table of its documents) as CSV.

The entity table is built from the documents the renderer writes: mentions are grouped by
``entity_id`` (set by ``entities.link``), in memory that grows with the number of
entities, not documents. The file is written atomically, like every output.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, Literal

import attrs

from docstage.document import STORY_ID, Document
from docstage.errors import OptionError
from docstage.io import AtomicFile, writable_folder
from docstage.options import at_least, option
from docstage.stages import Renderer, StageContext
from docstage.summary import RunSummary
from docstage_plugins.entities.link import EntityIndex, IndexEntry, entity_id_for, mention_name

#: Columns of the entity table.
ENTITY_COLUMNS = ("entity_id", "canonical", "label", "aliases", "mentions", "documents", "sources")
#: Columns of the document table.
DOCUMENT_COLUMNS = (
    "id",
    "source",
    "title",
    "published",
    "url",
    "authors",
    "categories",
    "entities",
    "mentions",
    "story_id",
    "duplicates",
)
#: What joins several values in one cell.
SEPARATOR = " | "
#: A cell starting with one of these is a formula to a spreadsheet (OWASP, "CSV
#: Injection"): a scraped title ``=HYPERLINK(...)`` would run when the file is opened.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(row: list[str]) -> list[str]:
    """``row`` with every cell a spreadsheet would read as a formula prefixed with ``'``
    (shown as text, the quote hidden), as OWASP advises."""
    return [f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell for cell in row]


def entity_row(entry: IndexEntry) -> list[str]:
    """The cells of one entity: aliases as ``United States (5) | US (3)``."""
    aliases = SEPARATOR.join(f"{alias} ({count})" for alias, count in entry.alias_counts())
    return [
        entry.entity_id,
        entry.canonical,
        entry.label,
        aliases,
        str(entry.mentions),
        str(entry.documents),
        str(len(entry.sources)),
    ]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return SEPARATOR.join(_cell(item) for item in value)
    return str(value)


def document_row(doc: Document) -> list[str]:
    """The cells of one document: metadata, entity and mention counts, story, duplicates."""
    meta = doc.metadata
    ids = {e.entity_id or entity_id_for(e.label, mention_name(e)) for e in doc.entities}
    duplicates = doc.annotations.get("duplicates") or ()
    return [
        doc.id,
        doc.source,
        _cell(meta.get("title")),
        _cell(meta.get("published")),
        _cell(meta.get("url")),
        _cell(meta.get("authors")),
        _cell(meta.get("categories")),
        str(len(ids)),
        str(len(doc.entities)),
        _cell(doc.get(STORY_ID)),
        str(len(duplicates)),
    ]


@attrs.define(kw_only=True)
class RenderCsv(Renderer):
    """Write the entity table (or a document table) as CSV, atomically.

    The entity table has one row per entity: ``entity_id``, ``canonical``, ``label``,
    ``aliases`` (each surface form with its mentions, ``United States (5) | US (3)``),
    ``mentions``, ``documents`` and ``sources`` (how many of each), most widely reported
    first (documents, then canonical name). Put ``entities.link`` before it so that
    aliases share an id; without it, mentions are grouped by label and canonical form.
    The counts are of the documents that reach this renderer.

    The document table has one row per document: ``id``, ``source``, ``title``,
    ``published``, ``url``, ``authors``, ``categories``, ``entities`` (distinct),
    ``mentions``, ``story_id`` and ``duplicates`` (how many copies it stands for).

    UTF-8, comma-separated, one header row, ``\\n`` line ends, several values in one cell
    joined by `` | ``. A cell a spreadsheet would run as a formula (it starts with ``=``,
    ``+``, ``-``, ``@``, a tab or a carriage return) is prefixed with ``'`` unless
    ``escape_formulas`` is false. The file appears under its name only when the run
    succeeds.
    """

    name: ClassVar[str] = "render.csv"

    path: Path = option(path=True, help="The .csv file to write (its folder is created).")
    table: Literal["entities", "documents"] = option(
        "entities", help="'entities': one row per entity; 'documents': one row per document."
    )
    labels: list[str] = option(
        factory=list, help="Entity table: only entities with these labels (default: all)."
    )
    min_documents: int = option(
        1, validator=at_least(1), help="Entity table: only entities in this many documents."
    )
    bom: bool = option(
        False, help="Start with a UTF-8 byte order mark, so that Excel reads accents right."
    )
    escape_formulas: bool = option(
        True,
        help="Prefix with ' every cell that starts with =, +, -, @, a tab or a carriage "
        "return, so that a spreadsheet shows it as text instead of running it as a formula "
        "(OWASP's advice for CSV files opened in Excel, LibreOffice or Google Sheets). "
        "Turn off only for files no spreadsheet opens.",
    )
    _file: AtomicFile | None = attrs.field(default=None, init=False, repr=False)
    _writer: Any = attrs.field(default=None, init=False, repr=False)
    _index: EntityIndex = attrs.field(factory=EntityIndex, init=False, repr=False)

    def setup(self, context: StageContext) -> None:
        if self.path.is_dir():
            raise OptionError(
                "path", f"'{self.path}' is a folder; give the path of the .csv file to write"
            )
        self._index = EntityIndex()
        if context.dry_run:
            writable_folder(self.path)
            return
        self._file = AtomicFile.open(self.path)
        if self.bom:
            self._file.write("\ufeff")
        self._writer = csv.writer(self._file, lineterminator="\n")
        header = ENTITY_COLUMNS if self.table == "entities" else DOCUMENT_COLUMNS
        self._writer.writerow(header)

    def write(self, doc: Document) -> None:
        assert self._file is not None, "render.csv used before setup"
        if self.table == "documents":
            self._writerow(document_row(doc))
        else:
            self._index.add(doc)

    def finish(self, summary: RunSummary) -> list[Path]:
        assert self._file is not None, "render.csv used before setup"
        file, self._file = self._file, None
        try:
            with file:
                if self.table == "entities":
                    for entry in self._entries():
                        self._writerow(entity_row(entry))
        finally:
            self._writer = None
            self._index = EntityIndex()
        return [file.path]

    def _writerow(self, row: list[str]) -> None:
        if self.escape_formulas:
            row = neutralised(row)
        if any("\r" in cell for cell in row) and self._file is not None:
            # With "\n" line ends the csv module leaves a cell with a bare "\r" unquoted,
            # and readers would split the row there: quote every cell of this row.
            csv.writer(self._file, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow(row)
        else:
            self._writer.writerow(row)

    def abort(self) -> None:
        if self._file is not None:
            self._file.discard()
            self._file = None
        self._writer = None
        self._index = EntityIndex()

    def _entries(self) -> Iterable[IndexEntry]:
        wanted = set(self.labels)
        for entry in self._index.sorted():
            if entry.documents < self.min_documents:
                continue
            if wanted and entry.label not in wanted:
                continue
            yield entry


STAGES = (RenderCsv,)
