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

Memory stays within a budget whatever the corpus (:mod:`docstage.spill`): while documents
are added, their sentences' occurrences and word runs go to partitioned spill files and
the sentences' words to a text file; the index is then built one partition at a time —
word runs into candidate pairs (partitioned by their first passage), candidate pairs
joined with both passages' lengths and words and verified, matches joined with the
documents that carry them — and the answers are written out by document number, read
back in order as :meth:`PassageIndex.shared` is asked. A passage is known by a 64-bit
BLAKE2b hash of its words. What stays in memory grows with the documents by 12 bytes each
(the offset of its id and its source's number).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
import weakref
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from difflib import SequenceMatcher
from pathlib import Path
from typing import IO

import attrs
import numpy as np
import numpy.typing as npt

from docstage.document import PassageMatch, SharedPassage
from docstage.options import option
from docstage.spill import (
    DEFAULT_MEMORY,
    PARTITIONS,
    Partitions,
    group_pairs,
    ranges,
    remove_scratch,
)
from docstage_plugins.dedup import pieces

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


#: One occurrence of a passage: its key, the document (numbered as added), the
#: document's source, its word count, and where its words are in the words file (-1 when
#: they were written for an earlier occurrence).
_OCCURRENCE = np.dtype(
    [("p", "<u8"), ("doc", "<i8"), ("src", "<i4"), ("n", "<i4"), ("off", "<i8"), ("len", "<i4")]
)
#: A word run of a passage.
_RUN_OF = np.dtype([("k", "<u8"), ("p", "<u8")])
#: Two passages sharing a word run (``a < b``).
_PAIR = np.dtype([("a", "<u8"), ("b", "<u8")])
#: A candidate pair with the word runs it shares and what is known of ``a``.
_CANDIDATE = np.dtype(
    [
        ("a", "<u8"),
        ("b", "<u8"),
        ("shared", "<i8"),
        ("only", "<i8"),
        ("n", "<i4"),
        ("off", "<i8"),
        ("len", "<i4"),
    ]
)
#: Passage ``p`` matches passage ``q`` with score ``s`` (both ways are written).
_MATCH = np.dtype([("p", "<u8"), ("q", "<u8"), ("s", "<f8")])
#: A document (of source ``src``) that carries passage ``p`` or one matching it.
_REACH = np.dtype([("p", "<u8"), ("doc", "<i8"), ("src", "<i4"), ("s", "<f8")])
#: The answer for passage ``p`` of document ``doc``: ``other`` carries it too.
_ANSWER = np.dtype([("doc", "<i8"), ("p", "<u8"), ("other", "<i8"), ("s", "<f8")])
#: Where a passage is in its document (written per document, read back when answering).
_SPAN = np.dtype([("start", "<i8"), ("end", "<i8"), ("p", "<u8")])
_MASK = (1 << 64) - 1
_LAST = np.iinfo(np.int64).max
#: Rows gathered in Python lists before they become arrays.
_PENDING = 1 << 15


@attrs.frozen
class _Passages:
    """What is known of the distinct passages of one partition, sorted by key."""

    p: npt.NDArray[np.uint64]
    only: npt.NDArray[np.int64]  # the one source it occurs in, or -1
    n: npt.NDArray[np.int32]
    off: npt.NDArray[np.int64]  # where its words are; the earliest for the earliest seen
    len: npt.NDArray[np.int32]

    def at(self, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """Where each key is (every key must be there)."""
        return np.searchsorted(self.p, keys).astype(np.int64)


def _passage_key(words: Sequence[str]) -> int:
    data = "\x1f".join(words).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _groups(keys: np.ndarray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Starts and sizes of the runs of equal values of sorted ``keys``."""
    if not keys.size:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    sizes = np.diff(np.concatenate((starts, [keys.size])))
    return starts.astype(np.int64), sizes.astype(np.int64)


def _distinct(rows: np.ndarray, *fields: str) -> np.ndarray:
    """``rows`` sorted by ``fields`` (first field first), each combination once."""
    if not rows.size:
        return rows
    rows = rows[np.lexsort(tuple(rows[f] for f in reversed(fields)))]
    same = np.ones(rows.size - 1, dtype=bool)
    for field in fields:
        same &= rows[field][1:] == rows[field][:-1]
    return rows[np.concatenate(([True], ~same))]


class _Lowered:
    """A text lower-cased as passages' words are (offsets kept), asked for passage by
    passage in text order: a long text is lowered a piece at a time
    (:mod:`~docstage_plugins.dedup.pieces`), the pieces around the passage asked held.

    ``text.lower()`` is taken when it keeps every offset; when some character lowers to
    two (``İ``), every character becomes the first of its lower case, in the whole text.
    """

    def __init__(self, text: str) -> None:
        self._start = self._end = 0  # the lowered text held: text[_start:_end]
        self._lowered = ""
        self._pieces: Iterator[tuple[int, int]] = iter(())
        self._text = text
        self._same: bool | None = None
        if not pieces.is_long(text):
            self._lowered, self._end = _lower(text, None), len(text)
            return
        self._same = text.isascii() or all(len(p.lower()) == len(p) for p in pieces.pieces(text))
        self._pieces = pieces.cuts(text)

    def words(self, start: int, end: int) -> list[str]:
        """The words of ``text[start:end]``; ``start`` never goes back."""
        if end > self._end:
            parts = [self._lowered]
            while self._end < end:
                low, high = next(self._pieces)
                parts.append(_lower(self._text[low:high], self._same))
                self._end = high
            held = "".join(parts)
            self._lowered, self._start = held[start - self._start :], start
        return _WORD.findall(self._lowered, start - self._start, end - self._start)


def _lower(text: str, same: bool | None) -> str:
    """``text`` lower-cased, offsets kept (``same``: whether ``lower()`` keeps them, when
    known for a whole text of which this is a piece)."""
    if same is not False:
        lower = text.lower()
        if len(lower) == len(text):
            return lower
    # A few characters lower-case to two: each gives its first, to keep the offsets.
    return "".join(c.lower()[0] for c in text)


class PassageIndex:
    """Passages of many documents; :meth:`shared` lists a document's passages found in
    documents of other sources.

    Add every document first, then ask about each of them in the order they were added
    (the stage emits its documents in that order): the index is built on the first
    question, partition by partition, within ``memory`` bytes of buffers. Close it (or use
    it as a context manager) to delete its temporary files.
    """

    def __init__(
        self,
        options: PassageOptions | None = None,
        *,
        memory: int = DEFAULT_MEMORY,
        partitions: int = PARTITIONS,
    ) -> None:
        self.options = options or PassageOptions()
        self._partitions = partitions
        self._share = max(1, memory // 16)
        #: Bytes of records one build step reads at once (numpy needs a few times that).
        self._step = max(1, memory // 16)
        #: Passages whose words a build step keeps at once (≈ 3 KB each in Python).
        self._cache_limit = max(1 << 8, memory // 8 // 3072)
        self._folder = Path(tempfile.mkdtemp(prefix="docstage-passages-"))
        self._occurrences = self._spill(_OCCURRENCE, "p")
        self._runs = self._spill(_RUN_OF, "k")
        self._words: IO[bytes] = open(self._folder / "words", "w+b")  # noqa: SIM115 - lives as long as the index
        self._words_at = 0
        self._ids: IO[bytes] = open(self._folder / "ids", "w+b")  # noqa: SIM115 - as above
        self._id_at = array("q", [0])
        self._spans: IO[bytes] = open(self._folder / "spans", "w+b")  # noqa: SIM115 - as above
        self._span_at = array("q", [0])
        # An index dropped without close() still deletes its files.
        self._cleanup = weakref.finalize(
            self, remove_scratch, (self._words, self._ids, self._spans), self._folder
        )
        self._source_of = array("i")
        self._sources: dict[str, int] = {}
        self._source_names: list[str] = []
        #: Passages whose words and runs were written (forgotten when it grows too big:
        #: a repeat then writes them again, and the build counts them once).
        self._seen: set[int] = set()
        self._seen_limit = max(1 << 10, memory // 16 // 100)
        self._pending_occurrences: list[tuple[int, int, int, int, int, int]] = []
        self._pending_runs: list[tuple[int, int]] = []
        self._count = 0
        self._answers: Partitions | None = None
        self._span = 1
        self._asked = 0
        self._loaded = -1
        self._current: dict[int, dict[int, list[tuple[int, float]]]] = {}

    def _spill(self, dtype: np.dtype[np.void], key: str, span: int | None = None) -> Partitions:
        folder = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=self._folder))
        return Partitions(
            dtype, key, budget=self._share, partitions=self._partitions, span=span, folder=folder
        )

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        """Delete the index's temporary files."""
        self._cleanup()

    def __enter__(self) -> PassageIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- adding ------------------------------------------------------------------------

    def _passages(self, text: str) -> Iterator[tuple[int, int, list[str], int]]:
        """``(start, end, words, key)`` of every passage of ``text`` long enough to compare."""
        lower = _Lowered(text)
        for start, end in split_passages(text):
            words = lower.words(start, end)
            if len(words) >= self.options.min_words:
                yield start, end, words, _passage_key(words)

    def add(self, id: str, source: str, text: str) -> None:
        """Index the passages of one document."""
        if self._answers is not None:
            raise RuntimeError("PassageIndex: add every document before asking shared()")
        doc = len(self._source_of)
        src = self._sources.get(source)
        if src is None:
            src = self._sources[source] = len(self._source_names)
            self._source_names.append(source)
        self._source_of.append(src)
        raw = id.encode("utf-8", "surrogatepass")
        self._ids.write(raw)
        self._id_at.append(self._id_at[-1] + len(raw))
        occurrences, runs = self._pending_occurrences, self._pending_runs
        spans: list[tuple[int, int, int]] = []
        written = 0
        for start, end, words, key in self._passages(text):
            self._count += 1
            spans.append((start, end, key))
            # A long text's rows go out as they come (in the same order: the same files).
            if len(occurrences) + len(runs) >= _PENDING:
                self._flush_pending()
            if len(spans) >= _PENDING:
                written += self._write_spans(spans)
            if key in self._seen:
                occurrences.append((key, doc, src, len(words), -1, -1))
                continue
            if len(self._seen) >= self._seen_limit:
                self._seen.clear()
            self._seen.add(key)
            data = " ".join(words).encode("utf-8", "surrogatepass")
            self._words.write(data)
            occurrences.append((key, doc, src, len(words), self._words_at, len(data)))
            self._words_at += len(data)
            runs.extend(
                {(hash(tuple(words[i : i + _RUN])) & _MASK, key) for i in range(len(words) - 2)}
            )
        written += self._write_spans(spans)
        self._span_at.append(self._span_at[-1] + written)
        if len(occurrences) + len(runs) >= _PENDING:
            self._flush_pending()

    def _write_spans(self, spans: list[tuple[int, int, int]]) -> int:
        """Write ``spans`` to the spans file and empty the list; the bytes written."""
        data = np.array(spans, dtype=_SPAN).tobytes()
        self._spans.write(data)
        spans.clear()
        return len(data)

    def _flush_pending(self) -> None:
        if self._pending_occurrences:
            self._occurrences.append(np.array(self._pending_occurrences, dtype=_OCCURRENCE))
            self._pending_occurrences.clear()
        if self._pending_runs:
            self._runs.append(np.array(self._pending_runs, dtype=_RUN_OF))
            self._pending_runs.clear()

    # --- building, one partition at a time ---------------------------------------------

    def _known(self, low: int, high: int) -> _Passages:
        """The distinct passages of partitions ``low`` to ``high - 1``, from their
        occurrences."""
        rows = self._occurrences.read_range(low, high)
        rows = rows[np.argsort(rows["p"], kind="stable")]
        starts, _ = _groups(rows["p"])
        if not starts.size:
            return _Passages(rows["p"], starts, rows["n"], starts, rows["len"])
        low_src = np.minimum.reduceat(rows["src"], starts)
        high_src = np.maximum.reduceat(rows["src"], starts)
        return _Passages(
            p=rows["p"][starts],
            only=np.where(low_src == high_src, low_src, -1).astype(np.int64),
            n=rows["n"][starts],
            # The first written: passages compare in the order they first appeared.
            off=np.minimum.reduceat(np.where(rows["off"] < 0, _LAST, rows["off"]), starts),
            len=np.maximum.reduceat(rows["len"], starts),
        )

    def _pairs(self, pairs: Partitions) -> None:
        """Pairs of distinct passages sharing a word run found in at most _COMMON of them."""
        for low, high in ranges(self._step, self._runs):
            runs = _distinct(self._runs.read_range(low, high), "k", "p")
            for a, b in group_pairs(runs["k"], runs["p"], largest=_COMMON):
                out = np.empty(a.size, dtype=_PAIR)
                out["a"], out["b"] = np.minimum(a, b), np.maximum(a, b)
                pairs.append(out)

    def _candidates(self, pairs: Partitions, candidates: Partitions) -> None:
        """Each pair once, with the runs it shares and its first passage's facts."""
        for low, high in ranges(self._step, pairs, self._occurrences):
            rows = pairs.read_range(low, high)
            if not rows.size:
                continue
            rows = rows[np.lexsort((rows["b"], rows["a"]))]
            new = np.ones(rows.size, dtype=bool)
            new[1:] = (rows["a"][1:] != rows["a"][:-1]) | (rows["b"][1:] != rows["b"][:-1])
            starts = np.flatnonzero(new)
            rows = rows[starts]
            known = self._known(low, high)
            at = known.at(rows["a"])
            out = np.empty(rows.size, dtype=_CANDIDATE)
            out["a"], out["b"] = rows["a"], rows["b"]
            out["shared"] = np.diff(np.append(starts, new.size))
            out["only"], out["n"] = known.only[at], known.n[at]
            out["off"], out["len"] = known.off[at], known.len[at]
            candidates.append(out)

    def _text(self, off: int, length: int) -> tuple[list[str], set[str]]:
        """A passage's words (from the words file) and its word items."""
        words = os.pread(self._words.fileno(), length, off)
        text = words.decode("utf-8", "surrogatepass").split(" ")
        return text, _items(text)

    def _verify(self, candidates: Partitions, matches: Partitions) -> None:
        """Matching pairs (both ways): bounds first, all at once, then the alignment.

        Pairs of passages that both occur in one and the same source only are left out:
        they can match no document of another source.
        """
        t = self.options.threshold
        # Each first passage is read once per range: fewer, larger ranges read less.
        for low, high in ranges(4 * self._step, candidates, self._occurrences):
            rows = candidates.read_range(low, high)
            if not rows.size:
                continue
            known = self._known(low, high)
            at = known.at(rows["b"])
            only_b = known.only[at]
            n, m = rows["n"].astype(np.int64), known.n[at].astype(np.int64)
            shortest = np.minimum(n, m)
            needed = np.maximum(1, (t * shortest / _RUN).astype(np.int64))
            keep = (rows["only"] < 0) | (rows["only"] != only_b)
            keep &= (rows["shared"] >= needed) & (2 * shortest >= t * (n + m))
            del n, m, shortest, needed, only_b
            rows, at = rows[keep], at[keep]
            # Passage by passage (a, the first of the pair): each one's words read once.
            order = np.argsort(rows["a"], kind="stable")
            rows, at = rows[order], at[order]
            # The second passages come in no order: the most recently used are kept.
            text = functools.lru_cache(maxsize=self._cache_limit)(self._text)
            found: list[tuple[int, int, float]] = []
            pairs = zip(
                rows["a"].tolist(),
                rows["off"].tolist(),
                rows["len"].tolist(),
                rows["b"].tolist(),
                known.off[at].tolist(),
                known.len[at].tolist(),
                strict=True,
            )
            current: int = -1
            wa: tuple[list[str], set[str]] = ([], set())
            for a, a_off, a_len, b, b_off, b_len in pairs:
                if a != current:
                    current, wa = a, self._text(a_off, a_len)
                wb = text(b_off, b_len)
                # The words they share bound the alignment from above.
                if 2 * len(wa[1] & wb[1]) < t * (len(wa[0]) + len(wb[0])):
                    continue
                # SequenceMatcher is not symmetric: the passage seen first goes first.
                first, second = (wa[0], wb[0]) if a_off < b_off else (wb[0], wa[0])
                score = similarity(first, second)
                if score >= t:
                    found += [(a, b, score), (b, a, score)]
            if found:
                matches.append(np.array(found, dtype=_MATCH))

    def _reach(self, matches: Partitions, reach: Partitions) -> None:
        """For every passage carried by two sources or matching another: the documents
        that carry it or a match, with the score."""
        for low, high in ranges(self._step, matches, self._occurrences):
            rows = _distinct(self._occurrences.read_range(low, high), "p", "doc")
            starts, sizes = _groups(rows["p"])
            if starts.size:
                low_src = np.minimum.reduceat(rows["src"], starts)
                high_src = np.maximum.reduceat(rows["src"], starts)
                several = np.repeat(low_src != high_src, sizes)
                out = np.empty(int(several.sum()), dtype=_REACH)
                for field in ("p", "doc", "src"):
                    out[field] = rows[field][several]
                out["s"] = 1.0
                reach.append(out)
            found = matches.read_range(low, high)
            if not found.size:
                continue
            first = np.searchsorted(rows["p"], found["q"], side="left")
            counts = np.searchsorted(rows["p"], found["q"], side="right") - first
            offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            at = np.repeat(first, counts) + offsets
            out = np.empty(at.size, dtype=_REACH)
            out["p"], out["s"] = np.repeat(found["p"], counts), np.repeat(found["s"], counts)
            out["doc"], out["src"] = rows["doc"][at], rows["src"][at]
            reach.append(out)

    def _answer(self, reach: Partitions, answers: Partitions) -> None:
        """Per document and passage, the documents of other sources that carry it or a
        match (best score each), unless there are more than ``max_documents``."""
        limit = self.options.max_documents
        for low, high in ranges(self._step, reach, self._occurrences):
            rows = reach.read_range(low, high)
            if not rows.size:
                continue
            rows = rows[np.lexsort((-rows["s"], rows["doc"], rows["p"]))]
            best = np.ones(rows.size, dtype=bool)
            best[1:] = (rows["p"][1:] != rows["p"][:-1]) | (rows["doc"][1:] != rows["doc"][:-1])
            rows = rows[best]
            carriers = _distinct(self._occurrences.read_range(low, high), "p", "doc")
            c_starts, c_sizes = _groups(carriers["p"])
            spans = dict(
                zip(
                    carriers["p"][c_starts].tolist(),
                    zip(c_starts.tolist(), (c_starts + c_sizes).tolist(), strict=True),
                    strict=True,
                )
            )
            starts, sizes = _groups(rows["p"])
            out: list[np.ndarray] = []
            for start, size in zip(starts.tolist(), sizes.tolist(), strict=True):
                group = rows[start : start + size]
                key = int(group["p"][0])
                first, last = spans[key]
                own = carriers[first:last]
                sources, per_source = np.unique(group["src"], return_counts=True)
                counted = dict(zip(sources.tolist(), per_source.tolist(), strict=True))
                for doc, src in zip(own["doc"].tolist(), own["src"].tolist(), strict=True):
                    others = size - counted.get(src, 0)
                    if not 0 < others <= limit:
                        continue
                    pick = group[group["src"] != src]
                    answer = np.empty(pick.size, dtype=_ANSWER)
                    answer["doc"], answer["p"] = doc, key
                    answer["other"], answer["s"] = pick["doc"], pick["s"]
                    out.append(answer)
            if out:
                answers.append(np.concatenate(out))

    def _build(self) -> Partitions:
        self._flush_pending()
        for file in (self._words, self._ids, self._spans):
            file.flush()
        self._seen.clear()
        self._span = max(1, -(-len(self._source_of) // self._partitions))
        answers = self._spill(_ANSWER, "doc", span=self._span)
        with self._spill(_PAIR, "a") as pairs:
            self._pairs(pairs)
            self._runs.close()
            with self._spill(_CANDIDATE, "b") as candidates:
                self._candidates(pairs, candidates)
                pairs.close()
                with self._spill(_MATCH, "q") as matches:
                    self._verify(candidates, matches)
                    candidates.close()
                    with self._spill(_REACH, "p") as reach:
                        self._reach(matches, reach)
                        matches.close()
                        self._answer(reach, answers)
        self._occurrences.close()
        return answers

    # --- questions -------------------------------------------------------------------

    def _id(self, doc: int) -> str:
        start, end = self._id_at[doc], self._id_at[doc + 1]
        return os.pread(self._ids.fileno(), end - start, start).decode("utf-8", "surrogatepass")

    def _load(self, partition: int) -> None:
        assert self._answers is not None
        self._current = {}
        for doc, key, other, score in self._answers.read(partition).tolist():
            self._current.setdefault(doc, {}).setdefault(key, []).append((other, score))
        self._loaded = partition

    def _spans_of(self, doc: int) -> Iterator[tuple[int, int, int]]:
        """``(start, end, key)`` of a document's passages, read a block at a time."""
        start, end = self._span_at[doc], self._span_at[doc + 1]
        block = _PENDING * _SPAN.itemsize
        for at in range(start, end, block):
            data = os.pread(self._spans.fileno(), min(block, end - at), at)
            yield from np.frombuffer(data, dtype=_SPAN).tolist()

    def shared(self, id: str, text: str) -> tuple[SharedPassage, ...]:
        """The passages of document ``id`` (added with ``text``) that documents of other
        sources carry too, in text order; matches best first, then by source and id.

        Ask about every document in the order they were added.
        """
        if self._answers is None:
            self._answers = self._build()
        doc = self._asked
        if doc >= len(self._source_of) or self._id(doc) != id:
            raise RuntimeError(f"PassageIndex: asked about {id!r} out of the order added")
        self._asked += 1
        partition = min(doc // self._span, self._partitions - 1)
        if partition != self._loaded:
            self._load(partition)
        answers = self._current.pop(doc, None)
        if not answers:
            return ()
        names, source_of = self._source_names, self._source_of
        ids: dict[int, str] = {}
        found = []
        for begin, finish, key in self._spans_of(doc):
            carriers = answers.get(key)
            if not carriers:
                continue
            matches = sorted(
                (
                    PassageMatch(
                        id=ids.get(d) or ids.setdefault(d, self._id(d)),
                        source=names[source_of[d]],
                        score=round(s, 3),
                    )
                    for d, s in carriers
                ),
                key=lambda m: (-m.score, m.source, m.id),
            )
            found.append(
                SharedPassage(
                    start=begin, end=finish, text=text[begin:finish], matches=tuple(matches)
                )
            )
        return tuple(found)
