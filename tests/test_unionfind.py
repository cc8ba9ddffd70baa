from __future__ import annotations

import itertools
import random

from docstage.unionfind import UnionFind


def _partition(sets: UnionFind[int], items: range) -> dict[int, int]:
    return {item: sets.find(item) for item in items}


def test_unknown_items_are_their_own_sets_and_are_not_stored() -> None:
    sets: UnionFind[str] = UnionFind()
    assert sets.find("a") == "a"
    assert list(sets) == []
    sets.add("b")
    assert list(sets) == ["b"]
    assert sets.find("b") == "b"


def test_the_root_is_the_smallest_member_whatever_the_order_of_unions() -> None:
    pairs = [(5, 3), (9, 5), (7, 8), (8, 1), (2, 2)]
    results = set()
    for order, flip in itertools.product(itertools.permutations(pairs), (False, True)):
        sets: UnionFind[int] = UnionFind()
        for a, b in order:
            sets.union(*((b, a) if flip else (a, b)))
        results.add(tuple(_partition(sets, range(10)).items()))
    assert results == {
        ((0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 3), (6, 6), (7, 1), (8, 1), (9, 3))
    }


def test_union_returns_the_root_and_knows_both_items_in_first_seen_order() -> None:
    sets: UnionFind[str] = UnionFind()
    assert sets.union("pear", "apple") == "apple"
    assert sets.union("fig", "fig") == "fig"
    assert sets.union("zucchini", "pear") == "apple"
    assert list(sets) == ["pear", "apple", "fig", "zucchini"]
    assert {item: sets.find(item) for item in sets} == {
        "pear": "apple",
        "apple": "apple",
        "fig": "fig",
        "zucchini": "apple",
    }


def test_a_long_chain_is_compressed_and_agrees_with_a_naive_closure() -> None:
    rng = random.Random(7)
    sets: UnionFind[int] = UnionFind()
    naive = {item: {item} for item in range(300)}
    for _ in range(400):
        a, b = rng.randrange(300), rng.randrange(300)
        sets.union(a, b)
        joined = naive[a] | naive[b]
        for item in joined:
            naive[item] = joined
    assert _partition(sets, range(300)) == {item: min(naive[item]) for item in range(300)}
    # After a find, every item points straight at its root.
    assert all(sets._parent[item] == min(naive[item]) for item in sets)


def test_roots_closes_transitively() -> None:
    sets: UnionFind[str] = UnionFind()
    sets.union("a", "b")
    sets.union("c", "b")
    sets.union("d", "e")
    sets.add("f")
    assert sets.roots() == {"a": "a", "b": "a", "c": "a", "d": "d", "e": "d", "f": "f"}
