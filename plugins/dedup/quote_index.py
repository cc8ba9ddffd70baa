"""Quotes matched across documents: which other sources carry a quote, in which words,
and who carried it first.

The matching is :class:`~docstage_plugins.dedup.passages.PassageIndex`'s, on the quotes
only: each document's quotes (the words between the marks) are indexed as passages, so a
quote matches another when one of its sentences has a word-sequence similarity of at
least the threshold with one of the other's ("We encounter this every year" / "We come
across this every year": 0.73), or when both are the same words, down to ``min_words``
words (4: ``"a framework, not a deal"``). A quote that one outlet cut short still matches
the longer one through the sentences they share. A short quote (fewer than
:data:`SHORT` words) is matched only within its story when stories are known: the same
four words in two unrelated articles are a turn of phrase, not a quotation.

For the other documents' wording, the index keeps every document's quotes (offsets, words,
speaker) and date in a scratch file, read back by document as the answers need them: what
stays in memory grows with the documents by about 36 bytes each (the passage index's 12,
a record offset, an id key and a document number), whatever their text. Like the passage
index, add every document first, then ask about them in the order they were added.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
import tempfile
import weakref
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from difflib import SequenceMatcher
from pathlib import Path
from typing import IO, Any

import attrs
import numpy as np

from docstage.document import Document
from docstage.spill import DEFAULT_MEMORY, remove_scratch
from docstage_plugins.dedup.passages import PassageIndex, PassageOptions, split_passages
from docstage_plugins.dedup.quotes import Quote, QuoteMatch, find_quotes, part_text
from docstage_plugins.dedup.speakers import Speaker

#: Quotes with fewer words match only within their story (when stories are known).
SHORT = 8
#: Other documents' quote records kept parsed while matching.
OTHERS_CACHED = 4096
_WORD = re.compile(r"\w+")


@attrs.frozen(kw_only=True)
class QuoteOptions:
    """How quotes are matched."""

    threshold: float = 0.7
    min_words: int = 4
    max_documents: int = 50


def _key(id: str) -> int:
    data = id.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _sentences(pieces: Sequence[str], min_words: int) -> list[list[str]]:
    """A quote's sentences (as words) long enough to compare, then each of its parts."""
    found = [_words(p[a:b]) for p in pieces for a, b in split_passages(p)]
    return [w for w in found if len(w) >= min_words] + [_words(p) for p in pieces]


def _earliest(dates: Sequence[str | None]) -> str | None:
    """The earliest of ISO 8601 dates (compared by day unless every one has a time)."""
    known = [d for d in dates if d]
    if not known:
        return None
    if any(len(d) <= 10 for d in known):
        return min(d[:10] for d in known)
    return min(known)


def _is_first(published: str | None, earliest: str | None) -> bool:
    if not published or earliest is None:
        return False
    return (published[: len(earliest)] if len(earliest) <= 10 else published) == earliest


def _speaker(data: dict[str, Any] | None) -> Speaker | None:
    if data is None:
        return None
    return Speaker(
        name=data["name"],
        text=data["text"],
        start=data["start"],
        end=data["end"],
        mention=tuple(data["mention"]),
    )


class QuoteIndex:
    """The quotes of many documents; :meth:`quotes` gives a document's quotes with the
    documents of other sources that carry each.

    Call :meth:`add` for every document (with or without quotes), then :meth:`quotes` for
    every document in the same order. Close it (or use it as a context manager) to delete
    its temporary files.
    """

    def __init__(self, options: QuoteOptions | None = None, *, memory: int = DEFAULT_MEMORY):
        self.options = options or QuoteOptions()
        self._passages = PassageIndex(
            PassageOptions(
                min_words=self.options.min_words,
                threshold=self.options.threshold,
                max_documents=self.options.max_documents,
            ),
            memory=memory,
        )
        self._folder = Path(tempfile.mkdtemp(prefix="docstage-quotes-"))
        self._records: IO[bytes] = open(self._folder / "records", "w+b")  # noqa: SIM115 - lives as long as the index
        self._cleanup = weakref.finalize(self, remove_scratch, (self._records,), self._folder)
        self._at = array("q", [0])
        self._keys = array("Q")
        self._asked = 0
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None
        self._others: OrderedDict[int, tuple[dict[str, Any], list[list[list[str]]]]]
        self._others = OrderedDict()
        self._matcher = SequenceMatcher(None, autojunk=False)

    def close(self) -> None:
        """Delete the index's temporary files."""
        self._passages.close()
        self._cleanup()

    def __enter__(self) -> QuoteIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(
        self,
        id: str,
        source: str,
        text: str,
        quotes: Sequence[Quote],
        *,
        published: str | None = None,
        story: str | None = None,
    ) -> None:
        """Index the quotes found in ``text`` (``story``: its story id, when known)."""
        rows = []
        for q in quotes:
            pieces = [part_text(text, a, b) for a, b in q.parts]
            rows.append(
                [q.start, q.end, pieces, [list(p) for p in q.parts], _speaker_data(q.speaker)]
            )
        record = {"published": published, "story": story, "quotes": rows}
        data = json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass")
        self._records.write(data)
        self._at.append(self._at[-1] + len(data))
        self._keys.append(_key(id))
        if rows:
            self._passages.add(id, source, _lines(rows)[0])

    def add_document(self, doc: Document, *, story: str | None = None) -> None:
        """Find the quotes of ``doc`` (with its entities) and index them."""
        published = doc.metadata.get("published")
        quotes = find_quotes(doc.text, doc.entities)
        self.add(
            doc.id,
            doc.source,
            doc.text,
            quotes,
            published=str(published) if published else None,
            story=story,
        )

    def _record(self, doc: int) -> dict[str, Any]:
        start, end = self._at[doc], self._at[doc + 1]
        raw = os.pread(self._records.fileno(), end - start, start)
        record: dict[str, Any] = json.loads(raw.decode("utf-8", "surrogatepass"))
        return record

    def _other(self, doc: int) -> tuple[dict[str, Any], list[list[list[str]]]]:
        """Another document's record and its quotes' sentences long enough to compare
        (the last :data:`OTHERS_CACHED` asked about are kept: a document carrying several
        shared quotes is asked about once per quote)."""
        cached = self._others.get(doc)
        if cached is not None:
            self._others.move_to_end(doc)
            return cached
        record = self._record(doc)
        min_words = self.options.min_words
        sentences = [
            [b for b in _sentences(row[2], min_words) if b and len(b) >= min_words]
            for row in record["quotes"]
        ]
        self._others[doc] = cached = (record, sentences)
        if len(self._others) > OTHERS_CACHED:
            self._others.popitem(last=False)
        return cached

    def _doc(self, id: str) -> int:
        """The number of the document added as ``id``."""
        if self._lookup is None:
            keys = np.frombuffer(self._keys, dtype=np.uint64)
            order = np.argsort(keys, kind="stable")
            self._lookup = (keys[order], order)
        keys, order = self._lookup
        return int(order[int(np.searchsorted(keys, np.uint64(_key(id))))])

    def quotes(self, id: str) -> tuple[Quote, ...]:
        """The quotes of document ``id``, in text order, each with the documents of other
        sources that carry it (best match first, then by source and id) and who carried
        it first. Ask about every document in the order they were added."""
        doc = self._asked
        if not doc:
            self._records.flush()
        self._asked += 1
        if doc >= len(self._keys) or self._keys[doc] != _key(id):
            raise RuntimeError(f"QuoteIndex: asked about {id!r} out of the order added")
        record = self._record(doc)
        if not record["quotes"]:
            return ()
        synthetic, (starts, numbers) = _lines(record["quotes"])
        carriers: dict[int, dict[str, str]] = {}  # quote -> other id -> source
        for passage in self._passages.shared(id, synthetic):
            number = numbers[bisect.bisect_right(starts, passage.start) - 1]
            for match in passage.matches:
                carriers.setdefault(number, {})[match.id] = match.source
        found = []
        for number, row in enumerate(record["quotes"]):
            quote = _quote(row)
            matches = self._matches(row[2], record, carriers.get(number, {}))
            if matches:
                dates = [record["published"], *(m.published for m in matches)]
                earliest = _earliest(dates)
                matches = [attrs.evolve(m, first=_is_first(m.published, earliest)) for m in matches]
                quote = attrs.evolve(
                    quote,
                    first=_is_first(record["published"], earliest),
                    matches=tuple(sorted(matches, key=lambda m: (-m.score, m.source, m.id))),
                )
            found.append(quote)
        return tuple(found)

    def _matches(
        self, pieces: list[str], record: dict[str, Any], others: dict[str, str]
    ) -> list[QuoteMatch]:
        """For each other document, its quote that best matches the quote of ``pieces``."""
        options = self.options
        sentences = _sentences(pieces, options.min_words)
        short = sum(map(len, sentences[-len(pieces) :])) < SHORT
        ours = [a for a in sentences if a and len(a) >= options.min_words]
        found = []
        for other, source in others.items():
            theirs, their_sentences = self._other(self._doc(other))
            if short and record["story"] is not None and theirs["story"] != record["story"]:
                continue
            best: tuple[float, list[Any]] | None = None
            candidates = zip(theirs["quotes"], their_sentences, strict=True)
            for candidate, candidate_sentences in candidates:
                # Only a score that reaches the threshold and beats the best so far counts.
                floor = options.threshold if best is None else max(options.threshold, best[0])
                score = _best_similarity(ours, candidate_sentences, floor, self._matcher)
                if best is None or score > best[0]:
                    best = (score, candidate)
            if best is None or best[0] < options.threshold:
                continue
            speaker = best[1][4]
            found.append(
                QuoteMatch(
                    id=other,
                    source=source,
                    text=" ".join(best[1][2]),
                    speaker=speaker["name"] if speaker else None,
                    published=theirs["published"],
                    score=round(best[0], 3),
                    first=False,
                )
            )
        return found


def _best_similarity(
    ours: Sequence[list[str]],
    theirs: Sequence[list[str]],
    floor: float,
    matcher: SequenceMatcher[str],
) -> float:
    """The best :func:`~docstage_plugins.dedup.passages.similarity` of a sentence of
    ``ours`` with one of ``theirs`` (0.0 without pairs), computed exactly whenever it
    reaches ``floor``; below ``floor`` it may be an underestimate. Pairs whose cheap upper
    bounds (``real_quick_ratio``, ``quick_ratio``) stay under the floor, or under the best
    so far, are not aligned."""
    best = 0.0
    for b in theirs:
        matcher.set_seq2(b)  # its index is built once for all of ours
        for a in ours:
            matcher.set_seq1(a)
            bar = max(floor, best)
            if matcher.real_quick_ratio() < bar or matcher.quick_ratio() < bar:
                continue
            score = matcher.ratio()
            if score > best:
                best = score
    return best


def _speaker_data(speaker: Speaker | None) -> dict[str, Any] | None:
    if speaker is None:
        return None
    return {**attrs.asdict(speaker), "mention": list(speaker.mention)}


def _quote(row: list[Any]) -> Quote:
    start, end, pieces, parts, speaker = row
    return Quote(
        start=start,
        end=end,
        text=" ".join(pieces),
        parts=tuple((a, b) for a, b in parts),
        speaker=_speaker(speaker),
    )


def _lines(rows: Sequence[list[Any]]) -> tuple[str, tuple[list[int], list[int]]]:
    """The text the passage index reads for a document: each part of each quote on a line
    of its own (a split quote's parts are compared apart); and for each line, where it
    starts and the number of its quote."""
    starts: list[int] = []
    numbers: list[int] = []
    lines: list[str] = []
    at = 0
    for number, row in enumerate(rows):
        for piece in row[2]:
            line = piece.replace("\n", " ").replace("\r", " ")
            starts.append(at)
            numbers.append(number)
            lines.append(line)
            at += len(line) + 1
    return "\n".join(lines), (starts, numbers)
