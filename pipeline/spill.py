"""Bounded-memory building blocks for corpus stages: a memory budget and partitioned spills.

A corpus stage that must relate every document to every other (copies, shared passages,
entity links) cannot hold its working set in memory when a run reads millions of
documents. It writes fixed-width records (numpy structured arrays) to a
:class:`Partitions` spill instead: records are buffered up to a share of the run's memory
budget, then appended to one file per partition, chosen by a hash of a key field. A later
step reads one partition at a time — everything that shares a key is in the same
partition — so its memory is one partition, never the corpus (the classic grace hash
join; datatrove's and NeMo Curator's MinHash steps shard the same way).

The budget comes from ``[run] memory`` (:func:`docstage.options.parse_size`) through
:attr:`docstage.stages.StageContext.memory`. Spill files live in a temporary folder under
``$TMPDIR`` and are deleted when the spill is closed or the process ends.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np
import numpy.typing as npt

#: The default of ``[run] memory``.
DEFAULT_MEMORY = 128 << 20
#: Partitions of a spill unless told otherwise: at 10**6 news articles a day the largest
#: spill (shared passages' word runs, ≈ 5 GB) is ≈ 20 MB a partition.
PARTITIONS = 256
#: The smallest buffer a spill keeps (a tiny budget still writes whole records).
_MIN_BUFFER = 1 << 12
#: Odd 64-bit constant (2**64 / golden ratio): multiplying spreads any key's bits upward.
_MIX = np.uint64(0x9E3779B97F4A7C15)


def release_memory(*, collect: bool = False) -> None:
    """Hand memory freed since the last call back to the system (glibc; elsewhere a no-op).

    Large numpy arrays freed by one step stay in the C heap, while the next step's small
    Python objects come from pools of their own: without this, the peaks of consecutive
    steps would add up in the resident memory. ``collect`` runs the garbage collector
    first (for objects kept alive only by reference cycles).
    """
    if collect:
        gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    return trim


def remove_scratch(files: Iterable[IO[bytes]], folder: Path) -> None:
    """Close a step's scratch files and delete its temporary folder (for
    :func:`weakref.finalize`, so that an object dropped without ``close()`` still cleans up).
    """
    for file in files:
        file.close()
    shutil.rmtree(folder, ignore_errors=True)


def partition_of(keys: npt.NDArray[np.uint64], bits: int) -> npt.NDArray[np.int64]:
    """The partition (top ``bits`` bits of the mixed key) of every key."""
    if bits == 0:
        return np.zeros(keys.shape, dtype=np.int64)
    with np.errstate(over="ignore"):
        mixed = keys.astype(np.uint64, copy=False) * _MIX
    parts: npt.NDArray[np.int64] = (mixed >> np.uint64(64 - bits)).astype(np.int64)
    return parts


def ranges(budget: int, *spills: Partitions) -> Iterator[tuple[int, int]]:
    """Consecutive partitions ``(low, high)`` whose records, over all ``spills``, fit in
    ``budget`` bytes (one partition at least): a step that needs the same partitions of
    several spills at once reads as many together as its budget allows — all of them when
    the corpus is small — and one at a time when it is not.

    The spills must have the same number of partitions and the same key hash.
    """
    if not spills:
        return
    sizes: list[int] = np.sum([spill.sizes() for spill in spills], axis=0).tolist()
    low, total = 0, 0
    for partition, size in enumerate(sizes):
        if partition > low and total + size > budget:
            yield low, partition
            low, total = partition, 0
        total += size
    yield low, len(sizes)


def group_pairs(
    keys: np.ndarray,
    values: np.ndarray,
    *,
    largest: int | None = None,
    chunk: int = 1 << 18,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every pair ``(values[i], values[j])``, ``i < j``, of equal ``keys`` (sorted), in
    arrays of about ``chunk`` pairs at most, so a large group costs time, never a large
    array; groups of more than ``largest`` members are left out.
    """
    if keys.size < 2:
        return
    new = np.ones(keys.size, dtype=bool)
    new[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, keys.size))
    wanted = sizes > 1
    if largest is not None:
        wanted &= sizes <= largest
    for size in np.unique(sizes[wanted]).tolist():
        first = starts[sizes == size]
        left, right = np.triu_indices(size, 1)
        if left.size <= chunk:
            step = max(1, chunk // left.size)
            for at in range(0, first.size, step):
                group = values[first[at : at + step, None] + np.arange(size)]
                yield group[:, left].ravel(), group[:, right].ravel()
            continue
        for start in first.tolist():  # a wide group: member by member
            group = values[start : start + size]
            for j in range(1, size):
                yield group[:j], np.broadcast_to(group[j], (j,))


class Partitions:
    """Records of one numpy structured ``dtype`` spilled to disk by a hash of ``key``.

    Example::

        with Partitions(np.dtype([("key", "<u8"), ("doc", "<i8")]), "key", budget=1 << 26) as spill:
            spill.append(records)          # as many times as needed
            for part in spill:             # one partition at a time, in partition order
                ...                        # every record with one key is in one partition

    Args:
        dtype: The records' structured dtype.
        key: The field whose (unsigned 64-bit) value chooses the partition.
        budget: Bytes of records buffered before they are written out.
        partitions: How many partitions (a power of two).
        span: Partition by range instead of hash: partition ``p`` holds the keys from
            ``p * span`` to ``(p + 1) * span - 1`` (the last one all keys above), so
            reading the partitions in order reads the records in key order, partition by
            partition (for keys such as document numbers).
        folder: Where the files go (default: a new temporary folder, deleted on close).
    """

    def __init__(
        self,
        dtype: np.dtype[np.void],
        key: str,
        *,
        budget: int = DEFAULT_MEMORY // 8,
        partitions: int = PARTITIONS,
        span: int | None = None,
        folder: Path | None = None,
    ) -> None:
        if partitions < 1 or partitions & (partitions - 1):
            raise ValueError(f"partitions must be a power of two, got {partitions}")
        if span is not None and span < 1:
            raise ValueError(f"span must be at least 1, got {span}")
        if key not in (dtype.names or ()):
            raise ValueError(f"{key!r} is not a field of {dtype}")
        self.dtype = dtype
        self.key = key
        self.partitions = partitions
        self._bits = partitions.bit_length() - 1
        self._span = span
        self._owned = folder is None
        self._folder = (
            Path(tempfile.mkdtemp(prefix="docstage-spill-")) if folder is None else folder
        )
        self._limit = max(_MIN_BUFFER, budget) // dtype.itemsize or 1
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._counts = np.zeros(partitions, dtype=np.int64)
        self.spilled = 0  # times the buffer was written out

    def __len__(self) -> int:
        return int(self._counts.sum()) + self._buffered

    def _path(self, partition: int) -> Path:
        return self._folder / f"{partition:05d}.bin"

    def append(self, records: np.ndarray) -> None:
        """Add records (of the spill's dtype); written out when the buffer is full."""
        if records.dtype != self.dtype:
            records = records.astype(self.dtype)
        if not records.size:
            return
        self._buffer.append(records)
        self._buffered += records.size
        if self._buffered >= self._limit:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records to their partitions' files."""
        if not self._buffered:
            return
        records = np.concatenate(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        self._buffer, self._buffered = [], 0
        keys = records[self.key]
        if self._span is not None:
            parts = np.minimum(keys.astype(np.int64) // self._span, self.partitions - 1)
        else:
            parts = partition_of(keys.astype(np.uint64, copy=False), self._bits)
        order = np.argsort(parts, kind="stable")
        records, parts = records[order], parts[order]
        bounds = np.searchsorted(parts, np.arange(self.partitions + 1))
        for partition in np.flatnonzero(np.diff(bounds)).tolist():
            chunk = records[bounds[partition] : bounds[partition + 1]]
            with open(self._path(partition), "ab") as file:
                chunk.tofile(file)
            self._counts[partition] += chunk.size
        self.spilled += 1

    def read(self, partition: int) -> np.ndarray:
        """Every record of one partition (in the order they were appended)."""
        self.flush()
        if not self._counts[partition]:
            return np.empty(0, dtype=self.dtype)
        return np.fromfile(self._path(partition), dtype=self.dtype)

    def read_range(self, low: int, high: int) -> np.ndarray:
        """Every record of partitions ``low`` to ``high - 1``, partition by partition."""
        parts = [self.read(p) for p in range(low, high) if self._counts[p]]
        if not parts:
            return np.empty(0, dtype=self.dtype)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def sizes(self) -> npt.NDArray[np.int64]:
        """Bytes of records per partition (written and buffered alike)."""
        self.flush()
        return self._counts * self.dtype.itemsize

    def __iter__(self) -> Iterator[np.ndarray]:
        """The partitions in order, each as one array (empty ones too)."""
        for partition in range(self.partitions):
            yield self.read(partition)

    def close(self) -> None:
        """Delete the spill's files."""
        self._buffer, self._buffered = [], 0
        if self._owned:
            shutil.rmtree(self._folder, ignore_errors=True)
        else:
            for partition in np.flatnonzero(self._counts).tolist():
                self._path(partition).unlink(missing_ok=True)

    def __enter__(self) -> Partitions:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
