"""Queries with an ``IN`` list of any length against SQLite, a chunk at a time."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

#: Values bound in one statement: under SQLite's oldest default limit of 999 parameters.
CHUNK = 900


def rows_in(
    db: sqlite3.Connection, query: str, values: Sequence[Any], chunk: int = CHUNK
) -> Iterator[Any]:
    """The rows of ``query`` for every value of ``values``: ``query`` holds ``{marks}``
    where the ``IN`` list goes, and runs once per ``chunk`` values (in their order)."""
    for start in range(0, len(values), chunk):
        part = values[start : start + chunk]
        yield from db.execute(query.format(marks=",".join("?" * len(part))), part)
