"""Shared passages: sentences (mostly quotes) that recur across sources, found despite small
changes of wording.

A passage is a sentence: text between sentence ends (``.``, ``!``, ``?``, an ellipsis) or
line breaks, without its surrounding quotation marks. Two passages match when the
similarity of their word sequences (lower-cased ``\\w+`` tokens; ``2·M / (a + b)`` with
``M`` the words of the longest matching blocks, as :class:`difflib.SequenceMatcher`
counts them) is at least the threshold: "We encounter this every year" and "We come across
this every year" score 0.73.

Comparing every passage with every other would be quadratic. Instead two distinct passages
are compared only when they share a run of three words (a reworded quote keeps most of its
runs: "this every year" above) that is not common (found in at most 200 distinct passages);
a sentence repeated word for word is stored once and matches itself. Comparing starts with
cheap bounds (lengths, shared words) before the alignment. Results do not depend on the
order documents were added in.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from difflib import SequenceMatcher

import attrs
import numpy as np
import numpy.typing as npt

from docstage.document import PassageMatch, SharedPassage
from docstage.options import option

_WORD = re.compile(r"\w+")
# A sentence ends at . ! ? (a run of them) followed by space, a closing quote or the end;
# an ellipsis ends one even when the next word follows without a space ("year...In").
_END = re.compile(r"(?:\.{3}|…)|[.!?]+(?=[\s\"'”’)\]]|$)|\n")
# Two passages are compared only when they share a run of this many words, found in at most
# _COMMON distinct passages (a run in more, such as "one of the", finds nothing).
# A pair is compared only when it shares at least threshold·min(n, m)/3 runs: a match keeps
# about threshold·min(n, m) words in order and loses a run for each changed word around
# it, so a reworded quote keeps a third of them; fewer is a shared phrase, not a quote.
_RUN = 3
_COMMON = 200
_TRIM = " \t\r\f\v\"'“”‘’«»()[]-–—*•"


@attrs.frozen(kw_only=True)
class PassageOptions:
    """How passages are compared."""

    min_words: int = option(
        5, help="Sentences with fewer words are not compared (too generic to be quotes)."
    )
    threshold: float = option(
        0.7, help="Word-sequence similarity (0-1) at or above which two sentences match."
    )
    max_documents: int = option(
        50,
        help="A sentence found in more documents than this is boilerplate, not a quote, "
        "and is not reported.",
    )


def split_passages(text: str) -> Iterator[tuple[int, int]]:
    """The sentences of ``text`` as ``(start, end)`` offsets, quotation marks trimmed."""
    start = 0
    for match in _END.finditer(text):
        end = match.end() if match.group() != "\n" else match.start()
        yield from _trimmed(text, start, end)
        start = match.end()
    yield from _trimmed(text, start, len(text))


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start] in _TRIM:
        start += 1
    while end > start and text[end - 1] in _TRIM:
        end -= 1
    if start < end:
        yield start, end


def similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """Word-sequence similarity of two token lists, 0-1."""
    if not a or not b:
        return 0.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def _items(words: Iterable[str]) -> set[str]:
    """Words as a multiset of distinct items (a repeated word's second use is another)."""
    seen: Counter[str] = Counter()
    items = set()
    for word in words:
        seen[word] += 1
        items.add(word if seen[word] == 1 else f"{word}\x00{seen[word]}")
    return items


class PassageIndex:
    """Passages of many documents; :meth:`shared` lists a document's passages found in
    documents of other sources.

    Add every document first, then ask: the index is built on the first question. A
    sentence repeated word for word across documents is stored and compared once.
    """

    def __init__(self, options: PassageOptions | None = None) -> None:
        self.options = options or PassageOptions()
        self._docs: list[tuple[str, str]] = []  # (id, source)
        self._doc_of: dict[str, int] = {}
        self._spans: list[array[int]] = []  # per document: start, end, passage, ...
        self._words: list[tuple[str, ...]] = []  # per distinct passage
        self._places: list[list[int]] = []  # per distinct passage: its documents
        self._by_words: dict[tuple[str, ...], int] = {}
        self._vocabulary: dict[str, str] = {}
        self._run_keys: array[int] = array("q")
        self._run_owners: array[int] = array("q")
        self._similar: dict[int, list[tuple[int, float]]] | None = None

    def __len__(self) -> int:
        return sum(len(spans) // 3 for spans in self._spans)

    def add(self, id: str, source: str, text: str) -> None:
        """Index the passages of one document."""
        if self._similar is not None:
            raise RuntimeError("PassageIndex: add every document before asking shared()")
        doc = len(self._docs)
        self._docs.append((id, source))
        self._doc_of.setdefault(id, doc)
        spans: array[int] = array("q")
        vocabulary = self._vocabulary
        lower = text.lower()
        if len(lower) != len(text):  # a few characters lower-case to two: keep offsets
            lower = "".join(c.lower()[0] for c in text)
        for start, end in split_passages(text):
            found = _WORD.findall(lower, start, end)
            if len(found) < self.options.min_words:
                continue
            words = tuple([vocabulary.setdefault(w, w) for w in found])
            if len(words) < self.options.min_words:
                continue
            number = self._by_words.get(words)
            if number is None:
                number = self._by_words[words] = len(self._words)
                self._words.append(words)
                self._places.append([])
                runs = {hash(words[i : i + _RUN]) for i in range(len(words) - _RUN + 1)}
                self._run_keys.extend(runs)
                self._run_owners.extend([number] * len(runs))
            places = self._places[number]
            if not places or places[-1] != doc:
                places.append(doc)
            spans.extend((start, end, number))
        self._spans.append(spans)

    # --- the index -------------------------------------------------------------------

    def _candidates(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Pairs of distinct passages sharing uncommon word runs, with how many they share.

        Pairs of passages that both occur in one and the same source only are left out:
        they can match no document of another source.
        """
        only = self._only_source()
        keys = np.frombuffer(self._run_keys, dtype=np.int64)
        owners = np.frombuffer(self._run_owners, dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        keys, owners = keys[order], owners[order]
        bounds = np.flatnonzero(np.diff(keys)) + 1
        starts = np.concatenate(([0], bounds))
        sizes = np.diff(np.concatenate((starts, [keys.size])))
        total = len(self._words)
        found = []
        for size in np.unique(sizes[(sizes > 1) & (sizes <= _COMMON)]).tolist():
            first = starts[sizes == size]
            members = owners[first[:, None] + np.arange(size)]
            left, right = np.triu_indices(size, 1)
            a, b = members[:, left].ravel(), members[:, right].ravel()
            apart = (only[a] < 0) | (only[a] != only[b])
            a, b = a[apart], b[apart]
            found.append(np.minimum(a, b) * total + np.maximum(a, b))
        if not found:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        pairs, shared = np.unique(np.concatenate(found), return_counts=True)
        return pairs, shared

    def _build(self) -> dict[int, list[tuple[int, float]]]:
        """Every pair of distinct passages that match (and can matter: not both of one
        source only)."""
        similar: dict[int, list[tuple[int, float]]] = {}
        if len(self._run_keys) == 0:
            return similar
        pairs, shared = self._candidates()
        total = len(self._words)
        t = self.options.threshold
        left, right = np.divmod(pairs, total)
        lengths = np.array([len(w) for w in self._words], dtype=np.int64)
        n, m = lengths[left], lengths[right]
        shortest = np.minimum(n, m)
        # Bounds first, all at once: the runs they share, their lengths.
        needed = np.maximum(1, (t * shortest / _RUN).astype(np.int64))
        keep = (shared >= needed) & (2 * shortest >= t * (n + m))
        del n, m, shortest, needed
        items: dict[int, set[str]] = {}
        for i, j in zip(left[keep].tolist(), right[keep].tolist(), strict=True):
            a, b = self._words[i], self._words[j]
            # The words they share bound the alignment from above.
            ai = items.get(i)
            if ai is None:
                ai = items[i] = _items(a)
            bi = items.get(j)
            if bi is None:
                bi = items[j] = _items(b)
            if 2 * len(ai & bi) < t * (len(a) + len(b)):
                continue
            score = similarity(a, b)
            if score >= t:
                similar.setdefault(i, []).append((j, score))
                similar.setdefault(j, []).append((i, score))
        return similar

    def _only_source(self) -> npt.NDArray[np.int64]:
        """Per distinct passage: the number of the one source it occurs in, or -1."""
        numbers: dict[str, int] = {}
        only = np.empty(len(self._words), dtype=np.int64)
        for passage, places in enumerate(self._places):
            sources = {self._docs[d][1] for d in places}
            only[passage] = (
                numbers.setdefault(sources.pop(), len(numbers)) if len(sources) == 1 else -1
            )
        return only

    # --- questions -------------------------------------------------------------------

    def shared(self, id: str, text: str) -> tuple[SharedPassage, ...]:
        """The passages of document ``id`` (added with ``text``) that documents of other
        sources carry too, in text order; matches best first, then by source and id."""
        if self._similar is None:
            self._similar = self._build()
        doc = self._doc_of.get(id)
        if doc is None:
            return ()
        own_source = self._docs[doc][1]
        similar = self._similar
        limit = self.options.max_documents
        found = []
        spans = self._spans[doc]
        for at in range(0, len(spans), 3):
            start, end, number = spans[at], spans[at + 1], spans[at + 2]
            best: dict[int, float] = {}
            for other, score in [(number, 1.0), *similar.get(number, ())]:
                for place in self._places[other]:
                    source = self._docs[place][1]
                    if source != own_source and score > best.get(place, 0.0):
                        best[place] = score
                if len(best) > limit:
                    break
            if not best or len(best) > limit:
                continue
            matches = sorted(
                (
                    PassageMatch(id=self._docs[d][0], source=self._docs[d][1], score=round(s, 3))
                    for d, s in best.items()
                ),
                key=lambda m: (-m.score, m.source, m.id),
            )
            found.append(
                SharedPassage(start=start, end=end, text=text[start:end], matches=tuple(matches))
            )
        return tuple(found)
