"""A second pass over a document stream without holding it in memory.

Corpus stages that must see every document before they can change any (learned
boilerplate, survivor choice in dedup) append the documents to a :class:`Spool` on the
first pass and read them back, in the same order, on the second, or pick documents by
their position (:meth:`Spool.read`, eight bytes of memory a document). The spool is an
anonymous temporary file (``$TMPDIR``), deleted when closed or when the process ends.

With the run cache on, the runner spools a corpus stage's input anyway (to fingerprint it
before the stage runs) and hands the stage a :class:`SpooledStream`; a stage that opens
its spool with ``Spool.behind(docs)`` then reads the runner's file back instead of writing
every document a second time.
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
        for row in self._checked(rows, len(self._ends)):
            start = self._ends[row - 1] if row else 0
            yield pickle.loads(os.pread(descriptor, self._ends[row] - start, start))

    def _checked(self, rows: Iterable[int], count: int) -> Iterator[int]:
        """``rows`` as ints, each below ``count`` (else IndexError)."""
        for row in rows:
            row = int(row)
            if not 0 <= row < count:
                raise IndexError(f"row {row} is not in a spool of {count} {self.noun}")
            yield row

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

    @classmethod
    def behind(cls, docs: Iterable[Document]) -> Spool:
        """A spool for the stream ``docs``: when the runner spooled that stream already
        (a :class:`SpooledStream`), a view of its file, whose :meth:`append` of each
        document as it comes only counts it; otherwise a new :class:`Spool`. Either way,
        append every document received, in order, as with a new spool.
        """
        if isinstance(docs, SpooledStream):
            return _Borrowed(docs)
        return cls()


class SpooledStream(Iterator[Document]):
    """A corpus stage's input whose documents the runner has spooled already, in order
    (:meth:`Spool.behind` reads them back from there)."""

    def __init__(self, docs: Iterator[Document], spool: Spool) -> None:
        self._docs = docs
        self.spool = spool
        self.given = 0  # documents handed to the stage so far
        self.last: Document | None = None

    def __iter__(self) -> SpooledStream:
        return self

    def __next__(self) -> Document:
        doc = next(self._docs)
        self.given += 1
        self.last = doc
        return doc


class _Borrowed(Spool):
    """The runner's spool of a stage's input, seen as the stage's own: appending the
    document just received, in order, only counts it. Anything else (a document skipped,
    another one appended) turns it into a spool of its own, the rows counted so far copied
    into it, so the stage sees what it appended whatever it does."""

    def __init__(self, stream: SpooledStream) -> None:
        self._stream = stream
        self._count = 0
        self._own: Spool | None = None

    def append(self, item: Document) -> None:
        if self._own is None:
            stream = self._stream
            if item is stream.last and self._count == stream.given - 1:
                self._count += 1
                return
            self._own = Spool()
            for doc in stream.spool.read(range(self._count)):
                self._own.append(doc)
        self._own.append(item)

    def __len__(self) -> int:
        return self._count if self._own is None else len(self._own)

    def __iter__(self) -> Iterator[Document]:
        if self._own is not None:
            return iter(self._own)
        # By offset: the runner may still be reading the same file in order.
        return self._stream.spool.read(range(self._count))

    def read(self, rows: Iterable[int]) -> Iterator[Document]:
        if self._own is not None:
            return self._own.read(rows)
        return self._stream.spool.read(self._checked(rows, self._count))

    def close(self) -> None:
        """Delete its own file, if it made one (the runner's is the runner's to close)."""
        if self._own is not None:
            self._own.close()
