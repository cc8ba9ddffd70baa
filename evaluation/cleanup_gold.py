"""The gold file of ``pipeline eval cleanup``: JSON Lines of pages with their gold text.

Each record holds a page's gold text and, for the routes that read them, its text as
scraped and its HTML file (relative to the gold file's folder); the keys of those roles
are :data:`FIELDS`, changed with ``--field ROLE=KEY`` (:func:`parse_fields`).
:func:`load_gold` reads and checks the file into a :class:`GoldFile` of :class:`Page`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from docstage.errors import DataError, did_you_mean, display, one_of

#: Roles of a gold record's fields and their default keys (``--field ROLE=KEY``).
FIELDS: Mapping[str, str] = {
    "text": "page_text",
    "gold": "clean_text",
    "html": "html_path",
    "id": "id",
    "source": "domain",
    "url": "url",
}


@attrs.frozen(kw_only=True)
class Page:
    """One gold record.

    Attributes:
        id: The record's id (its ``id`` field, else the file's name and the line).
        line: Its line in the gold file.
        gold: The gold text.
        text: The page's text as scraped (for the text route), if the record has it.
        html: The HTML file, relative to the gold file's folder, if the record has it.
        source: The document source (the record's ``domain``), or "".
        url: The page's address, if the record has it.
    """

    id: str
    line: int
    gold: str
    text: str | None = None
    html: str | None = None
    source: str = ""
    url: str | None = None


@attrs.frozen
class GoldFile:
    """The records of a gold JSONL file, in file order."""

    path: Path
    pages: tuple[Page, ...]

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def shown(self) -> str:
        return display(self.path)

    def lacking(self, role: str) -> int | None:
        """The line of the first record without the ``text`` or ``html`` field, or None."""
        return next((p.line for p in self.pages if getattr(p, role) is None), None)


def parse_fields(specs: Sequence[str]) -> dict[str, str]:
    """``ROLE=KEY`` specs (``--field text=body``) applied to :data:`FIELDS`."""
    fields = dict(FIELDS)
    for spec in specs:
        role, sep, key = spec.partition("=")
        role, key = role.strip(), key.strip()
        if not sep or not key:
            raise DataError(f"--field {spec!r}: expected ROLE=KEY, e.g. --field text=body")
        if role not in FIELDS:
            raise DataError(
                f"--field {spec!r}: unknown role '{role}'{did_you_mean(role, FIELDS)}; "
                f"roles: {one_of(FIELDS)}"
            )
        fields[role] = key
    return fields


def load_gold(
    path: Path,
    fields: Mapping[str, str] = FIELDS,
    *,
    need: Sequence[str] = (),
    limit: int | None = None,
) -> GoldFile:
    """Read a gold JSONL file: one JSON object per line, with the gold text.

    Args:
        path: The file.
        fields: Role -> key of the records (:data:`FIELDS`).
        need: Roles every record must have (``text``, ``html``) for the routes asked for.
        limit: Read only the first ``limit`` records.

    Raises:
        DataError: The file cannot be read, a line is not a JSON object, a record
            lacks the gold text or a needed field, an id repeats, an HTML file is missing.
    """
    shown = display(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, read line by line
    except FileNotFoundError:
        raise DataError(f"no such file: {shown}") from None
    except IsADirectoryError:
        raise DataError(f"{shown} is a folder; give the path of a .jsonl file") from None
    except OSError as exc:
        raise DataError(f"cannot read {shown}: {exc.strerror or exc}") from None
    pages: list[Page] = []
    lines: dict[str, int] = {}
    with handle:
        for number, raw in enumerate(handle, start=1):
            if limit is not None and len(pages) >= limit:
                break
            if not raw.strip():
                continue
            page = _page(raw, number, path, fields, need)
            if page.id in lines:
                raise DataError(
                    f"{shown}:{number}: duplicate id '{page.id}' (first on line {lines[page.id]})"
                )
            lines[page.id] = number
            if page.html is not None and not (path.parent / page.html).is_file():
                raise DataError(
                    f"{shown}:{number}: {fields['html']} '{page.html}' is not a file "
                    f"(relative to {display(path.parent)})"
                )
            pages.append(page)
    if not pages:
        raise DataError(f"{shown}: no records")
    return GoldFile(path, tuple(pages))


_NEEDED_BY = {
    "gold": "the gold text",
    "text": "the text route and the keep-everything baseline read it",
    "html": "the HTML route and the trafilatura baseline read it",
}


def _page(
    raw: bytes, number: int, path: Path, fields: Mapping[str, str], need: Sequence[str]
) -> Page:
    name = path.name
    where = f"{display(path)}:{number}"
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: invalid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")

    def string(role: str, required: bool) -> str | None:
        key = fields[role]
        value = record.get(key)
        if value is None:
            if required:
                raise DataError(
                    f"{where}: missing field '{key}' ({_NEEDED_BY[role]}; "
                    f"another key: --field {role}=KEY)"
                )
            return None
        if not isinstance(value, str):
            raise DataError(f"{where}: field '{key}' must be a string, not {type(value).__name__}")
        return value

    gold = string("gold", True)
    assert gold is not None
    doc_id = record.get(fields["id"])
    source = record.get(fields["source"])
    url = record.get(fields["url"])
    return Page(
        id=str(doc_id) if doc_id is not None else f"{name}:{number}",
        line=number,
        gold=gold,
        text=string("text", "text" in need),
        html=string("html", "html" in need),
        source=str(source) if source is not None else "",
        url=str(url) if url else None,
    )
