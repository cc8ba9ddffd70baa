"""Story clustering of a run too large for one clustering: in windows of publication time.

One clustering holds a few kilobytes per document it compares (its vectors, neighbour
graph and links: about 2–3 KB a document at 100,000 and more, see benchmarks/README.md,
"Stories at scale"), so a run of a million originals cannot be clustered at once within
a memory budget. Above :func:`window_size` originals, the run is cut into windows of
consecutive publication time (documents without ``published`` count as published
today), and each window is clustered against the story index as if it were a run of
its own (:func:`~docstage_plugins.dedup.story_index.cluster_with_index`): its documents
join the stories of earlier windows (and earlier runs) that their strong terms find, or
start new ones. Without a state store, a scratch index in a temporary file stands in for
it. A run at or below the window size is clustered at once, as it always was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from docstage_plugins.dedup.stories import EXACT_UP_TO, StoryDoc, StoryOptions
from docstage_plugins.dedup.story_index import StoryIndex, cluster_with_index
from docstage_plugins.dedup.story_vectors import day

#: Earlier documents a window brings in (anchors), at most this many times its own (and
#: at least 1,000). Less than between runs (``MAX_ANCHORS_FACTOR``), where a day's run is
#: small beside the index: the windows of one run follow each other closely, and each
#: anchor is clustered again (a factor of 2 cost 1.7 times the CPU of one clustering on
#: 80,000 generated documents, see benchmarks/README.md).
ANCHORS_FACTOR = 0.5
#: Memory one new document of a window costs its clustering, with its share of anchors
#: (about 3 KB a document clustered).
BYTES_PER_DOCUMENT = int((1 + ANCHORS_FACTOR) * 3 * 1024)


def window_size(memory: int) -> int:
    """Originals clustered at once under a memory budget of ``memory`` bytes: never fewer
    than :data:`~docstage_plugins.dedup.stories.EXACT_UP_TO`, so that runs up to that size
    keep the exact neighbour search and their stories."""
    return max(EXACT_UP_TO, memory // BYTES_PER_DOCUMENT)


def windows(days: Sequence[float], size: int, today: str | None = None) -> list[list[int]]:
    """Positions ``0 … len(days)-1`` cut into windows of at most ``size``, in order of
    ``days`` (NaN: ``today``, ISO 8601; default: the date now), then of position; each
    window's positions in ascending order."""
    if size < 1:
        raise ValueError(f"window size must be at least 1, not {size}")
    when = np.asarray(days, dtype=np.float64)
    unknown = np.isnan(when)
    if unknown.any():
        when = when.copy()
        when[unknown] = math.floor(day(today or dt.date.today().isoformat()))
    order = np.lexsort((np.arange(len(when)), when))
    return [sorted(order[start : start + size].tolist()) for start in range(0, len(order), size)]


def cluster_in_windows(
    index: StoryIndex,
    docs: Callable[[Sequence[int]], list[StoryDoc]],
    texts: Callable[[Sequence[int]], Iterator[str]],
    days: Sequence[float],
    options: StoryOptions,
    *,
    memory: int,
    window: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """The story ids of ``len(days)`` documents, clustered window by window against
    ``index`` (which keeps them for the windows after).

    Args:
        index: The story index (the state store's, or a :func:`scratch_index`).
        docs: The documents at some positions (ascending), for clustering.
        texts: Their texts at the same positions, in the same order; may be called
            several times a window.
        days: Each document's publication day (:func:`~story_vectors.day`; NaN unknown).
        options: The clustering options.
        memory: The memory budget (bytes); it sets the window size unless ``window``.
        window: Documents a window at most.
        progress: Called with the documents of each window once it is clustered.
    """
    size = window if window is not None else window_size(memory)
    ids: list[str] = [""] * len(days)
    for positions in windows(days, size, index.today):
        found = cluster_with_index(
            index,
            docs(positions),
            functools.partial(texts, positions),
            options,
            memory=memory,
            anchors_factor=ANCHORS_FACTOR,
            # A window is part of a larger run: the candidate search, as for the run at once.
            search="candidates",
        )
        for position, story in zip(positions, found, strict=True):
            ids[position] = story
        if progress is not None:
            progress(len(positions))
    return ids


@contextlib.contextmanager
def scratch_index(run_id: str) -> Iterator[StoryIndex]:
    """A story index in a temporary file, for a run without a state store; deleted on
    exit."""
    with tempfile.TemporaryDirectory(prefix="docstage-stories-") as folder:
        db = sqlite3.connect(Path(folder) / "stories.sqlite")  # one transaction, never committed
        try:
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("PRAGMA synchronous = OFF")
            yield StoryIndex(db, run_id)
        finally:
            db.close()
