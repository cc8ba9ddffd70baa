"""Reading the data files the evaluations are given (gold, predictions): their non-blank
UTF-8 lines with their numbers, every problem one :class:`~docstage.errors.DataError`
naming the file and, where there is one, the line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from docstage.errors import DataError


def data_lines(path: Path, what: str, *, kind: str = "") -> Iterator[tuple[int, str]]:
    """The non-blank lines of the ``what`` file at ``path`` (a byte-order mark and line
    ends removed), with their 1-based numbers.

    Args:
        path: The file.
        what: What it is, for messages (``gold``, ``predictions``).
        kind: Its format, for the message about a folder given instead (``.jsonl``).

    Raises:
        DataError: A folder, a missing or unreadable file, or a line that is not UTF-8.
    """
    if path.is_dir():
        raise DataError(f"is a folder; give the {what} {kind + ' ' if kind else ''}file", file=path)
    if not path.exists():
        raise DataError(f"no such {what} file", file=path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; bytes to name a bad line
    except OSError as exc:
        raise DataError(f"cannot read the {what} file: {exc.strerror}", file=path) from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise DataError(f"not UTF-8: {exc.reason}", file=path, line=number) from None
            if line.strip():
                yield number, line
