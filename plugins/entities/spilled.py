"""Tools for a build that goes step by step over partitioned spills (:mod:`docstage.spill`).

:class:`Held` is a spill of one partition kept in memory, for a build whose records fit
its budget (no temporary file then); :func:`components` finds the connected components
of links between keys, a pass over the links' partitions per round; :func:`run_starts`,
:func:`by_field` and :func:`lookup` are the sort-and-search pieces a join is made of.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol

import numpy as np
import numpy.typing as npt

from docstage.spill import Partitions, ranges

#: The component (``comp``) of a linked key (``node``).
LABEL = np.dtype([("node", "<u8"), ("comp", "<u8")])


class Spill(Protocol):
    """What a build step needs of a spill: :class:`~docstage.spill.Partitions` or
    :class:`Held`."""

    partitions: int

    def append(self, records: np.ndarray) -> None: ...
    def read(self, partition: int) -> np.ndarray: ...
    def read_range(self, low: int, high: int) -> np.ndarray: ...
    def sizes(self) -> npt.NDArray[np.int64]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Spill: ...
    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Held:
    """A spill of one partition that stays in memory."""

    partitions = 1

    def __init__(self, dtype: np.dtype[np.void]) -> None:
        self.dtype = dtype
        self._parts: list[np.ndarray] = []

    def append(self, records: np.ndarray) -> None:
        if records.size:
            self._parts.append(records.astype(self.dtype, copy=False))

    def read(self, partition: int) -> np.ndarray:
        """Every record (there is one partition)."""
        if len(self._parts) > 1:
            self._parts = [np.concatenate(self._parts)]
        return self._parts[0].copy() if self._parts else np.empty(0, dtype=self.dtype)

    def read_range(self, low: int, high: int) -> np.ndarray:
        return self.read(0)

    def sizes(self) -> npt.NDArray[np.int64]:
        return np.array([sum(part.nbytes for part in self._parts)], dtype=np.int64)

    def close(self) -> None:
        self._parts = []

    def __enter__(self) -> Held:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def spans(budget: int, *spills: Spill) -> list[tuple[int, int]]:
    """:func:`docstage.spill.ranges` of spills that may be held in memory."""
    held = [isinstance(spill, Held) for spill in spills]
    if all(held):
        return [(0, 1)]
    if any(held):
        raise ValueError("spans: spills held in memory and on disk are not partitioned alike")
    return list(ranges(budget, *(spill for spill in spills if isinstance(spill, Partitions))))


def run_starts(keys: np.ndarray) -> npt.NDArray[np.int64]:
    """Where each run of equal values of sorted ``keys`` starts."""
    if not keys.size:
        return np.empty(0, dtype=np.int64)
    found = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    return found.astype(np.int64)


def by_field(rows: np.ndarray, field: str) -> np.ndarray:
    """``rows`` sorted by ``field`` (in their order where it is equal)."""
    return rows[np.argsort(rows[field], kind="stable")]


def lookup(
    keys: npt.NDArray[np.uint64], wanted: npt.NDArray[np.uint64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Where each of ``wanted`` is in sorted ``keys``, and whether it is there at all."""
    if not keys.size:
        return np.zeros(wanted.size, dtype=np.int64), np.zeros(wanted.size, dtype=bool)
    at = np.minimum(np.searchsorted(keys, wanted), keys.size - 1).astype(np.int64)
    return at, keys[at] == wanted


def components(edges: Spill, new: Callable[[np.dtype[np.void], str], Spill], budget: int) -> Spill:
    """The component of every key of ``edges`` (records ``a``, ``b``, written both ways,
    partitioned by ``a``): the smallest key it is connected to, as :data:`LABEL` records
    partitioned by ``node`` in a spill made by ``new(dtype, key field)``.

    Every key takes the smallest label among its own and its neighbours' until none
    changes: a round per step of the longest shortest path, each a pass over the links.
    """
    labels = new(LABEL, "node")
    for low, high in spans(budget, edges):
        nodes = np.unique(edges.read_range(low, high)["a"])
        out = np.empty(nodes.size, dtype=LABEL)
        out["node"], out["comp"] = nodes, nodes
        labels.append(out)
    changed = True
    while changed:
        changed = False
        following = new(LABEL, "node")
        with new(LABEL, "node") as offers:
            for low, high in spans(budget, edges, labels):
                links = edges.read_range(low, high)
                known = by_field(labels.read_range(low, high), "node")
                at, _ = lookup(known["node"], links["a"])
                out = np.empty(links.size, dtype=LABEL)
                out["node"], out["comp"] = links["b"], known["comp"][at]
                offers.append(out)
            for low, high in spans(budget, labels, offers):
                known = by_field(labels.read_range(low, high), "node")
                both = np.concatenate((known, offers.read_range(low, high)))
                both = both[np.lexsort((both["comp"], both["node"]))]
                best = both[run_starts(both["node"])]  # every offered key is known
                changed |= bool(np.any(best["comp"] != known["comp"]))
                following.append(best)
        labels.close()
        labels = following
    return labels
