"""The gold and predictions files of ``pipeline eval dedup``: reading them into clusters.

The gold file says which documents belong together, as pairs (a TSV with a header whose
first two columns are ids; JSONL ``{"a", "b"}``), groups (a TSV whose last header column
is ``paths…`` or ``ids…``: it and the cells after it hold one group's ids) or clusters
(JSONL ``{"id", "cluster_id"}``): :func:`read_gold`, closed transitively. Predictions are
``render.jsonl`` records (:func:`read_predictions`) or the documents of a config's run
(:mod:`docstage_eval.dedup_run`), gathered the same way in :class:`Predictions`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from docstage.document import DUPLICATE_OF, DUPLICATES, STORY_ID
from docstage.errors import DataError, display
from docstage.unionfind import UnionFind
from docstage_eval.files import data_lines

#: What a predicted cluster is: copies of one survivor, or documents of one story.
RELATIONS = ("copies", "stories")
#: A TSV whose last header column starts so lists groups, not pairs.
GROUP_COLUMNS = ("paths", "ids")
UNRECOGNISED = (
    "unrecognised gold format: expected a TSV with a header (pairs: ID_A<TAB>ID_B…; groups: "
    '…<TAB>paths), JSONL pairs {"a": …, "b": …} or JSONL clusters {"id": …, "cluster_id": …}'
)


# --- the gold file --------------------------------------------------------------------------


@attrs.frozen
class Gold:
    """A gold file: every id it names, with its cluster after the transitive closure.

    Attributes:
        format: ``pairs``, ``groups`` or ``clusters``.
    """

    path: Path
    format: str
    clusters: Mapping[str, str]

    @property
    def kind(self) -> str:
        """``clusters`` (a closed set of documents, ARI too) or ``pairs``."""
        return "clusters" if self.format == "clusters" else "pairs"


def _ident(value: Any, field: str) -> str:
    """An id (or cluster, story) read from JSON; raises ValueError naming the field."""
    if value is None:
        raise ValueError(f"missing field '{field}'")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"field '{field}' must be a string or an integer")
    return str(value)


def _object(line: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data


def read_gold(path: Path, cluster_key: str | None = None) -> Gold:
    """Read a gold file of pairs, groups or clusters, recognised from its content.

    Args:
        path: The file.
        cluster_key: The cluster field of JSONL clusters (default ``cluster_id``).

    Raises:
        DataError: Missing or unreadable, an unrecognised format, a bad line.
    """
    lines = data_lines(path, "gold")
    first = next(lines, None)
    if first is None:
        raise DataError("the gold file has no records", file=path)
    number, header = first
    try:
        if header.lstrip().startswith("{"):
            gold = _read_jsonl(path, itertools.chain([first], lines), cluster_key)
        elif "\t" in header:
            gold = _read_tsv(path, header, lines)
        else:
            raise DataError(UNRECOGNISED, file=path, line=number)
    except _LineError as exc:
        raise DataError(str(exc), file=path, line=exc.line) from None
    if cluster_key is not None and gold.kind != "clusters":
        raise DataError(f"--cluster-key applies to JSONL clusters; this file holds {gold.format}")
    return gold


class _LineError(ValueError):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def _read_tsv(path: Path, header: str, lines: Iterator[tuple[int, str]]) -> Gold:
    columns = header.split("\t")
    groups = columns[-1].strip().lower().startswith(GROUP_COLUMNS)
    start = len(columns) - 1 if groups else 0
    sets: UnionFind[str] = UnionFind()
    for number, line in lines:
        cells = [cell.strip() for cell in line.split("\t")]
        if groups:
            members = [cell for cell in cells[start:] if cell]
            if not members:
                raise _LineError(f"no ids from column {start + 1} ('{columns[-1]}') on", number)
        else:
            members = cells[:2]
            if len(members) < 2 or not all(members):
                raise _LineError("expected two ids separated by a tab", number)
        for member in members:
            sets.union(members[0], member)
    clusters = sets.roots()
    if not clusters:
        raise DataError("the gold file has no records after its header", file=path)
    return Gold(path, "groups" if groups else "pairs", clusters)


def _read_jsonl(path: Path, lines: Iterable[tuple[int, str]], cluster_key: str | None) -> Gold:
    key = cluster_key or "cluster_id"
    pairs: bool | None = None
    sets: UnionFind[str] = UnionFind()
    clusters: dict[str, str] = {}
    seen: dict[str, int] = {}
    for number, line in lines:
        try:
            record = _object(line)
            if pairs is None:
                if "a" in record and "b" in record:
                    pairs = True
                elif "id" in record and key in record:
                    pairs = False
                elif "id" in record:
                    raise ValueError(
                        f"missing field '{key}' (the document's cluster; another field: "
                        "--cluster-key KEY)"
                    )
                else:
                    raise ValueError(UNRECOGNISED)
            if pairs:
                sets.union(_ident(record.get("a"), "a"), _ident(record.get("b"), "b"))
                continue
            ident = _ident(record.get("id"), "id")
            if ident in seen:
                raise ValueError(f"duplicate id {ident!r} (first on line {seen[ident]})")
            seen[ident] = number
            clusters[ident] = _ident(record.get(key), key)
        except ValueError as exc:
            raise _LineError(str(exc), number) from None
    return Gold(path, "pairs", sets.roots()) if pairs else Gold(path, "clusters", clusters)


# --- predictions --------------------------------------------------------------------------


@attrs.define
class Predictions:
    """What a dedup run said: the documents it knows, its copy links and story ids.

    Attributes:
        source: Where the predictions came from, as shown to users.
        ids: Every document named: records, and the copies they list (in order).
        copies: The ``duplicates`` and ``duplicate_of`` links.
        stories: Each document's ``story_id``, when it has one.
        skipped: Documents a stage failed on (a ``--config`` run), absent from ``ids``.
    """

    source: str
    ids: dict[str, None] = attrs.Factory(dict)
    copies: UnionFind[str] = attrs.Factory(UnionFind)
    stories: dict[str, str] = attrs.Factory(dict)
    skipped: int = 0

    def add(self, record: Mapping[str, Any]) -> str:
        """Add one JSONL record; return its id. Raises ValueError for a malformed one."""
        ident = _ident(record.get("id"), "id")
        self.ids.setdefault(ident)
        self.copies.add(ident)
        for field in (DUPLICATES.name, DUPLICATE_OF.name):
            value = record.get(field)
            entries = [value] if isinstance(value, dict) else value or []
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise ValueError(f"field '{field}' must be an object or a list of objects")
            for entry in entries:
                other = _ident(entry.get("id"), f"{field}[].id")
                self.ids.setdefault(other)
                self.copies.union(ident, other)
        story = record.get(STORY_ID.name)
        if story is not None:
            self.stories[ident] = _ident(story, STORY_ID.name)
        return ident

    def clusters(self, relation: str) -> dict[str, str]:
        """Each document's predicted cluster: its copies, or its story (a copy joins its
        original's story, since a dropped copy carries no story id of its own)."""
        if relation == "copies":
            return {ident: self.copies.find(ident) for ident in self.ids}
        stories: UnionFind[str] = UnionFind()
        first: dict[str, str] = {}
        for ident, story in self.stories.items():
            stories.union(first.setdefault(story, ident), ident)
        for ident in self.ids:
            stories.union(self.copies.find(ident), ident)
        return {ident: stories.find(ident) for ident in self.ids}


def read_predictions(path: Path) -> Predictions:
    """Read ``render.jsonl`` records: ``id``, ``duplicates``, ``duplicate_of``, ``story_id``.

    Raises:
        DataError: Naming the file and line of the first bad record.
    """
    predictions = Predictions(display(path))
    seen: dict[str, int] = {}
    for number, line in data_lines(path, "predictions"):
        try:
            ident = predictions.add(_object(line))
            if ident in seen:
                raise ValueError(f"a second record for {ident!r} (first on line {seen[ident]})")
        except ValueError as exc:
            raise DataError(str(exc), file=path, line=number) from None
        seen[ident] = number
    if not predictions.ids:
        raise DataError("the predictions file has no records", file=path)
    return predictions
