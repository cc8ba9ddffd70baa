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
from typing import IO, Any, ClassVar, Generic, TypeVar

from docstage.document import Document

T = TypeVar("T")
_S = TypeVar("_S", bound="ObjectSpool[Any]")


class ObjectSpool(Generic[T]):
    """An append-only, disk-backed sequence of picklable objects, read back in order or
    by position (:class:`Spool` holds documents; renderers keep their briefs in one).

    Example::

        with Spool() as spool:
            for doc in docs:
                learn(doc)
                spool.append(doc)
            for doc in spool:
                yield clean(doc)
    """

    #: What the objects are called in errors.
    noun: ClassVar[str] = "objects"

    def __init__(self, prefix: str = "docstage-spool-") -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix=prefix)  # noqa: SIM115 - lives as long as the spool
        self._pickler = pickle.Pickler(self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._ends = array("q")  # where each object's pickle ends in the file

    def append(self, item: T) -> None:
        """Add ``item`` at the end."""
        self._pickler.dump(item)
        # The pickler's memo would otherwise keep every object alive.
        self._pickler.clear_memo()
        self._ends.append(self._file.tell())

    def __len__(self) -> int:
        return len(self._ends)

    def __iter__(self) -> Iterator[T]:
        """The objects in the order they were appended (may be read more than once)."""
        self._file.flush()
        self._file.seek(0)
        for _ in range(len(self._ends)):
            # One load per object: the pickler's memo is cleared after each one, so a
            # shared unpickler would resolve back-references to earlier objects.
            yield pickle.load(self._file)
        self._file.seek(0, 2)

    def read(self, rows: Iterable[int]) -> Iterator[T]:
        """The objects at positions ``rows`` (0 is the first appended), in that order.

        Reads by offset, so it may be used while an iteration over the spool is under way.

        Raises:
            IndexError: A row is not in the spool.
        """
        self._file.flush()
        descriptor = self._file.fileno()
        count = len(self._ends)
        for row in rows:
            row = int(row)
            if not 0 <= row < count:
                raise IndexError(f"row {row} is not in a spool of {count} {self.noun}")
            start = self._ends[row - 1] if row else 0
            yield pickle.loads(os.pread(descriptor, self._ends[row] - start, start))

    def close(self) -> None:
        """Delete the file."""
        self._file.close()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Spool(ObjectSpool[Document]):
    """An append-only, disk-backed sequence of documents."""

    noun = "documents"
