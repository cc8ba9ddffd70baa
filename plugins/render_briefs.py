"""The briefs of a run on disk, and its stories found from a few bytes a document.

``render.markdown`` and ``render.html`` keep a :class:`~docstage_plugins.render_stories.Brief`
of every document they write. A :class:`BriefSpool` pickles each one to an anonymous
temporary file and keeps in memory only what grouping and ordering need: where its pickle
ends, a 128-bit hash of its ``story_id``, its source and its publication day as small
codes, and whether it has a story and copies (about 33 bytes a document; the codes'
tables grow with the distinct sources and days, not the documents). :meth:`BriefSpool.stories`
sorts those columns into the stories of two documents or more, in the order of
:func:`~docstage_plugins.render_stories.group_stories`, and :meth:`BriefSpool.read` reads
a story's briefs back by position when the story is built, so the renderers hold one
story at a time.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterator

import attrs
import numpy as np
import numpy.typing as npt

from docstage.spool import ObjectSpool, Spool
from docstage_plugins.render_additions import with_additions
from docstage_plugins.render_stories import Brief, Story, make_story

_HAS_STORY = 1
_HAS_COPIES = 2


def story_hash(story: str) -> tuple[int, int]:
    """Two signed 64-bit halves of the 128-bit BLAKE2b hash of a story id."""
    digest = hashlib.blake2b(story.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return (
        int.from_bytes(digest[:8], "little", signed=True),
        int.from_bytes(digest[8:], "little", signed=True),
    )


class BriefSpool(ObjectSpool[Brief]):
    """An append-only, disk-backed sequence of briefs, grouped into stories on demand.

    Briefs are appended in row order (``brief.row`` is the position: 0, 1, 2 …).
    """

    noun = "briefs"

    def __init__(self) -> None:
        super().__init__(prefix="docstage-briefs-")
        self._high = array("q")  # the story id's hash, first half (0 without a story)
        self._low = array("q")  # … and second half
        self._source = array("i")  # code of the source, in self.sources
        self._day = array("i")  # code of the publication day, in self._days; -1: undated
        self._flags = bytearray()
        self.sources: dict[str, int] = {}
        self._days: dict[str, int] = {}
        self.dedup_ran = False  # some brief has a story or copies

    def append(self, item: Brief) -> None:
        """Add brief ``item``; its row must be the number of briefs before it."""
        if item.row != len(self):
            raise ValueError(f"brief of row {item.row} appended at {len(self)}")
        super().append(item)
        high, low = story_hash(item.story) if item.story is not None else (0, 0)
        self._high.append(high)
        self._low.append(low)
        self._source.append(self.sources.setdefault(item.source, len(self.sources)))
        day = -1
        if item.published is not None:
            day = self._days.setdefault(item.published, len(self._days))
        self._day.append(day)
        flags = (_HAS_STORY if item.story is not None else 0) | (_HAS_COPIES if item.copies else 0)
        self._flags.append(flags)
        self.dedup_ran = self.dedup_ran or bool(flags)

    def with_copies(self) -> npt.NDArray[np.int64]:
        """The rows of the briefs that stand for copies, in order."""
        flags = np.frombuffer(self._flags, dtype=np.uint8)
        return np.flatnonzero(flags & _HAS_COPIES).astype(np.int64)

    def stories(self) -> Stories:
        """The stories of two documents or more, as
        :func:`~docstage_plugins.render_stories.group_stories` finds and orders them.

        Stories are told apart by the hash of their ids: two ids with one 128-bit hash
        would be one story.
        """
        count = len(self)
        flags = np.frombuffer(self._flags, dtype=np.uint8)
        rows = np.flatnonzero(flags & _HAS_STORY).astype(np.int64)
        high = np.frombuffer(self._high, dtype=np.int64)[rows]
        low = np.frombuffer(self._low, dtype=np.int64)[rows]
        order = np.lexsort((rows, self._day_ranks(rows), low, high))
        rows, high, low = rows[order], high[order], low[order]
        del order
        changes = (high[1:] != high[:-1]) | (low[1:] != low[:-1])
        starts = np.flatnonzero(np.concatenate(([True], changes))) if len(rows) else rows
        del high, low, changes
        sizes = np.diff(np.append(starts, len(rows)))
        group = np.repeat(np.arange(len(starts)), sizes)
        width = max(len(self.sources), 1)
        source = np.frombuffer(self._source, dtype=np.int32)[rows]
        pairs = np.unique(group * width + source)
        sources = np.bincount(pairs // width, minlength=len(starts))
        del group, source, pairs
        first = np.minimum.reduceat(rows, starts) if len(rows) else rows
        kept = np.flatnonzero(sizes > 1)
        ranked = kept[np.lexsort((first[kept], -sizes[kept], -sources[kept]))]
        in_story = np.zeros(count, dtype=np.bool_)
        in_story[rows[np.repeat(sizes > 1, sizes)]] = True
        return Stories(rows=rows, starts=starts[ranked], sizes=sizes[ranked], in_story=in_story)

    def in_date_order(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """``rows`` by publication day (undated last), then by row."""
        return rows[np.lexsort((rows, self._day_ranks(rows)))]

    def _day_ranks(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The publication days of ``rows`` ranked as their strings sort, undated last."""
        ranks = np.empty(len(self._days) + 1, dtype=np.int64)
        ranks[[self._days[day] for day in sorted(self._days)]] = np.arange(len(self._days))
        ranks[-1] = len(self._days)  # code -1: undated
        return ranks[np.frombuffer(self._day, dtype=np.int32)[rows]]


@attrs.frozen(eq=False)
class Stories:
    """The stories of a run in order, each the rows of its briefs in date order (undated
    last, then by row); a few bytes a document."""

    rows: npt.NDArray[np.int64]  # the rows of every story, story after story
    starts: npt.NDArray[np.int64]  # where each story's rows start, in story order
    sizes: npt.NDArray[np.int64]
    in_story: npt.NDArray[np.bool_]  # by row: whether it is in a story of two or more

    def __len__(self) -> int:
        return len(self.starts)

    def __iter__(self) -> Iterator[npt.NDArray[np.int64]]:
        for start, size in zip(self.starts, self.sizes, strict=True):
            yield self.rows[int(start) : int(start + size)]

    def others(self) -> npt.NDArray[np.int64]:
        """The rows in no story of two documents or more, in order."""
        return np.flatnonzero(~self.in_story).astype(np.int64)


def build_stories(
    briefs: BriefSpool,
    stories: Stories,
    documents: Spool | None,
    *,
    max_entities: int,
    max_quotes: int,
    max_additions: int,
) -> Iterator[Story]:
    """The stories in order, built one at a time from their briefs read back; with what
    each outlet added (``max_additions`` passages each) when ``documents`` holds the
    documents of the run, by row, and the story has two sources or more."""
    for rows in stories:
        story = make_story(
            list(briefs.read(rows)), max_entities=max_entities, max_quotes=max_quotes
        )
        if documents is not None and max_additions and len(story.sources) > 1:
            # fed in row order, as the run wrote them: the first additions are listed
            story = with_additions(story, documents.read(sorted(rows)), max_additions)
        yield story
