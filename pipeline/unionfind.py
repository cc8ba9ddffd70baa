"""Disjoint sets (union-find) with a deterministic root: the smallest member of each set.

Used to group copies and stories. Because the root of a set is its smallest item, the
groups and their representatives do not depend on the order of the unions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, Protocol, TypeVar

import attrs


class _Item(Protocol):
    """What a union-find item must be: hashable and ordered (ints, strings, tuples)."""

    def __hash__(self) -> int: ...

    def __lt__(self, other: Any, /) -> bool: ...


T = TypeVar("T", bound=_Item)


@attrs.define
class UnionFind(Generic[T]):
    """Disjoint sets of items: :meth:`union` joins two sets, :meth:`find` names one.

    An item is known once it was passed to :meth:`add` or :meth:`union`; :meth:`find`
    of an unknown item is the item itself and does not store it (so a caller that looks
    up many singletons keeps no entry for them). Iterating gives the known items in the
    order they first appeared.
    """

    _parent: dict[T, T] = attrs.Factory(dict)

    def add(self, item: T) -> None:
        """Know ``item``, as a set of its own unless it is known already."""
        self._parent.setdefault(item, item)

    def find(self, item: T) -> T:
        """The root of ``item``'s set: its smallest member."""
        parent = self._parent
        root = item
        while (up := parent.get(root, root)) != root:
            root = up
        while item != root:  # path compression: point every item on the way at the root
            parent[item], item = root, parent[item]
        return root

    def union(self, a: T, b: T) -> T:
        """Join the sets of ``a`` and ``b`` (knowing both); return the joined set's root.

        The smaller of the two roots stays the root, so it is always the set's smallest
        member.
        """
        self.add(a)
        self.add(b)
        first, second = self.find(a), self.find(b)
        if second < first:
            first, second = second, first
        if first != second:
            self._parent[second] = first
        return first

    def roots(self) -> dict[T, T]:
        """Every known item with the root of its set."""
        return {item: self.find(item) for item in list(self._parent)}

    def __iter__(self) -> Iterator[T]:
        """The known items, in the order they first appeared."""
        return iter(list(self._parent))
