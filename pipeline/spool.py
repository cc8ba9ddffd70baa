"""A second pass over a document stream without holding it in memory.

Corpus stages that must see every document before they can change any (learned
boilerplate, survivor choice in dedup) append the documents to a :class:`Spool` on the
first pass and read them back, in the same order, on the second, or pick documents by
their position (:meth:`Spool.read`, eight bytes of memory a document). The spool is an
anonymous temporary file (``$TMPDIR``), deleted when closed or when the process ends.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from array import array
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import IO

from docstage.document import Document


class Spool:
    """An append-only, disk-backed sequence of documents.

    Example::

        with Spool() as spool:
            for doc in docs:
                learn(doc)
                spool.append(doc)
            for doc in spool:
                yield clean(doc)
    """

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="docstage-spool-")  # noqa: SIM115 - lives as long as the spool
        self._pickler = pickle.Pickler(self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._count = 0
        self._ends = array("q")  # where each document's pickle ends in the file

    def append(self, doc: Document) -> None:
        """Add ``doc`` at the end."""
        self._pickler.dump(doc)
        # The pickler's memo would otherwise keep every document alive.
        self._pickler.clear_memo()
        self._count += 1
        self._ends.append(self._file.tell())

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Document]:
        """The documents in the order they were appended (may be read more than once)."""
        self._file.flush()
        self._file.seek(0)
        for _ in range(self._count):
            # One load per document: the pickler's memo is cleared after each one, so a
            # shared unpickler would resolve back-references to earlier documents.
            yield pickle.load(self._file)
        self._file.seek(0, 2)

    def read(self, rows: Iterable[int]) -> Iterator[Document]:
        """The documents at positions ``rows`` (0 is the first appended), in that order.

        Reads by offset, so it may be used while an iteration over the spool is under way.

        Raises:
            IndexError: A row is not in the spool.
        """
        self._file.flush()
        descriptor = self._file.fileno()
        for row in rows:
            if not 0 <= row < self._count:
                raise IndexError(f"row {row} is not in a spool of {self._count} documents")
            start = self._ends[row - 1] if row else 0
            yield pickle.loads(os.pread(descriptor, self._ends[row] - start, start))

    def close(self) -> None:
        """Delete the file."""
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
