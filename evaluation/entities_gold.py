"""The gold and predictions files of ``pipeline eval entities``: reading and scoring them.

Gold data is JSONL, one ``{"id": …, "text": …, "entities": [{"start", "end", "label"}]}``
per line (``id`` optional): :func:`read_records` checks each record, and
:class:`GoldIndex` keeps the gold spans of every document without the texts. A
predictions file is JSONL of the same shape (``render.jsonl`` output qualifies), scored
against the gold by :func:`evaluate_file`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs

from docstage.document import Document
from docstage.errors import DataError, display
from docstage_eval.entities_scores import EntityScores, Evaluation, LabelMap, Span
from docstage_eval.files import data_lines

# --- reading JSONL ------------------------------------------------------------------------


@attrs.frozen
class Record:
    """One line of a gold or predictions file."""

    line: int
    id: str | None
    text: str
    spans: frozenset[Span]
    source: str = ""


def read_records(
    path: Path, *, what: str = "gold", entities_required: bool = True
) -> Iterator[Record]:
    """The records of a JSONL file, checked: JSON objects with ``text`` and valid spans.

    Raises:
        DataError: Naming the file and line of the first bad record.
    """
    for number, line in data_lines(path, what, kind=".jsonl"):
        yield _record(line, path, number, entities_required)


def _record(line: str, path: Path, number: int, entities_required: bool) -> Record:
    def fail(message: str) -> DataError:
        return DataError(message, file=path, line=number)

    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(data, dict):
        raise fail(f"expected a JSON object, got {type(data).__name__}")
    text = data.get("text")
    if "text" not in data:
        raise fail("missing field 'text'")
    if not isinstance(text, str):
        raise fail("field 'text' must be a string")
    ident = data.get("id")
    if ident is not None and (not isinstance(ident, (str, int)) or isinstance(ident, bool)):
        raise fail("field 'id' must be a string")
    if "entities" not in data and entities_required:
        raise fail("missing field 'entities'")
    entities = data.get("entities", [])
    if not isinstance(entities, list):
        raise fail("field 'entities' must be a list")
    spans = set()
    for position, entity in enumerate(entities, start=1):
        where = f"entities[{position}]"
        if not isinstance(entity, dict):
            raise fail(f"{where} must be an object with start, end and label")
        for key in ("start", "end", "label"):
            if key not in entity:
                raise fail(f"{where}: missing field '{key}'")
        start, end, label = entity["start"], entity["end"], entity["label"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            raise fail(f"{where}: start and end must be integers")
        if not isinstance(label, str) or not label:
            raise fail(f"{where}: label must be a non-empty string")
        if not 0 <= start < end <= len(text):
            raise fail(
                f"{where}: offsets {start}..{end} outside the text (length {len(text)}) or empty"
            )
        said = entity.get("text")
        if isinstance(said, str) and said != text[start:end]:
            raise fail(
                f"{where}: text {said!r} differs from the text at {start}..{end} "
                f"({text[start:end]!r}); offsets are character offsets into 'text'"
            )
        spans.add((start, end, label))
    source = data.get("source")
    return Record(
        line=number,
        id=str(ident) if ident is not None else None,
        text=text,
        spans=frozenset(spans),
        source=source if isinstance(source, str) else "",
    )


def text_digest(text: str) -> bytes:
    """What a text is known by once the index has dropped it: its BLAKE2b digest."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@attrs.frozen
class _Gold:
    line: int
    spans: frozenset[Span]
    digest: bytes


@attrs.frozen
class GoldIndex:
    """The gold spans of every document by key, without the texts (only their digests).

    Keys are the records' ids when every record has one, else ``line-N``.
    """

    path: Path
    by_id: bool
    entries: dict[str, _Gold]

    @classmethod
    def read(cls, path: Path) -> GoldIndex:
        records = list(_strip_text(read_records(path)))
        if not records:
            raise DataError("the gold file has no records", file=path)
        by_id = all(r.id is not None for r, _ in records)
        entries: dict[str, _Gold] = {}
        for record, digest in records:
            key = record.id if by_id and record.id is not None else f"line-{record.line}"
            if key in entries:
                raise DataError(
                    f"duplicate id {key!r} (first on line {entries[key].line})",
                    file=path,
                    line=record.line,
                )
            entries[key] = _Gold(record.line, record.spans, digest)
        return cls(path, by_id, entries)

    def documents(self) -> Iterator[Document]:
        """The gold texts as documents (read again from the file), keyed like the index."""
        for record in read_records(self.path):
            key = record.id if self.by_id and record.id is not None else f"line-{record.line}"
            yield Document(
                id=key,
                text=record.text,
                source=record.source,
                metadata={"path": display(self.path), "line": record.line},
            )


def _strip_text(records: Iterable[Record]) -> Iterator[tuple[Record, bytes]]:
    for record in records:
        yield attrs.evolve(record, text=""), text_digest(record.text)


# --- scoring a predictions file ---------------------------------------------------------


def evaluate_file(gold: Path, predictions: Path, labels: LabelMap) -> Evaluation:
    """Score a predictions JSONL file against the gold file.

    Records are matched by ``id`` when every gold record has one, else by position. A
    prediction whose text differs from its gold text cannot be scored and is an error.
    """
    index = GoldIndex.read(gold)
    keys = list(index.entries)
    found: dict[str, frozenset[Span]] = {}
    for position, record in enumerate(
        read_records(predictions, what="predictions", entities_required=False)
    ):
        if index.by_id:
            if record.id is None:
                raise DataError(
                    "missing field 'id': the gold records have ids, so predictions are "
                    "matched by id",
                    file=predictions,
                    line=record.line,
                )
            key = record.id
            if key not in index.entries:
                raise DataError(
                    f"id {key!r} is not in the gold file", file=predictions, line=record.line
                )
        else:
            if position >= len(keys):
                raise DataError(
                    f"more records than the gold file's {len(keys)}; without ids, records "
                    "are matched by position",
                    file=predictions,
                    line=record.line,
                )
            key = keys[position]
        if key in found:
            raise DataError(f"a second prediction for {key!r}", file=predictions, line=record.line)
        entry = index.entries[key]
        if text_digest(record.text) != entry.digest:
            raise DataError(
                f"the text of {key!r} differs from the gold text (gold line {entry.line}); "
                "spans in different texts cannot be compared",
                file=predictions,
                line=record.line,
            )
        found[key] = record.spans
    scores = EntityScores()
    unscored = []
    for key, entry in index.entries.items():
        predicted = found.get(key)
        if predicted is None:
            unscored.append(key)
        scores.add(labels.apply(entry.spans), labels.apply(predicted or ()))
    return Evaluation(scores, gold, labels.name, display(predictions), unscored)
