"""The stories themselves: ids, merges and what each story holds, across runs.

:class:`StoryLedger` keeps ``stories`` (id, first seen, last updated, documents, sources,
the story it was absorbed into) and ``story_merges`` (absorbed id, surviving id, run, time,
reason) in the state store, and turns a run's clusters into story ids
(:meth:`StoryLedger.assign`): a story continues in the cluster that holds most of its
earlier documents; a cluster in which several continue, with new documents, merges them
(the story first seen survives); a cluster with no earlier story starts a new one,
``story-`` and 12 hex digits of the BLAKE2b hash of its smallest new member's id. Ids once
given are never rewritten: they change only through a recorded merge, which
:meth:`StoryLedger.resolve` follows. See :mod:`.story_index` for how the earlier documents
are found.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections import Counter
from collections.abc import Sequence

import attrs

from docstage_plugins.dedup.stories import StoryDoc, story_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS stories (
    id TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL,
    last_updated TEXT NOT NULL,
    documents INTEGER NOT NULL,
    sources TEXT NOT NULL,
    absorbed_into TEXT
);
CREATE TABLE IF NOT EXISTS story_merges (
    absorbed TEXT PRIMARY KEY,
    survivor TEXT NOT NULL,
    run_id TEXT NOT NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL
)
"""


@attrs.define(eq=False)
class StoryLedger:
    """The stories of a state store (the run's connection and transaction).

    Args:
        db: The state store's connection.
        run_id: This run's id, recorded with its merges.
        today: This run's date (ISO 8601), for documents without ``published``.
    """

    db: sqlite3.Connection
    run_id: str
    today: str = attrs.field(factory=lambda: dt.date.today().isoformat())
    _resolved: dict[str, str] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        for statement in SCHEMA.split(";"):
            self.db.execute(statement)

    def resolve(self, story: str) -> str:
        """The story ``story`` is now: itself, or the survivor of the merges it went into."""
        if story in self._resolved:
            return self._resolved[story]
        current, seen = story, {story}
        while True:
            row = self.db.execute(
                "SELECT absorbed_into FROM stories WHERE id = ?", (current,)
            ).fetchone()
            if row is None or row[0] is None or row[0] in seen:
                break
            current = row[0]
            seen.add(current)
        self._resolved[story] = current
        return current

    def stories(self) -> int:
        """Stories recorded and not absorbed."""
        row = self.db.execute("SELECT count(*) FROM stories WHERE absorbed_into IS NULL")
        return int(row.fetchone()[0])

    def assign(
        self,
        docs: Sequence[StoryDoc],
        known: dict[int, str],
        anchors: Sequence[str],
        clusters: Sequence[str],
    ) -> list[str]:
        """Story ids for ``docs`` from the clusters of ``docs`` then of the anchors
        (``clusters``: a label per document, in that order).

        Args:
            docs: This run's documents.
            known: Those of them indexed before, by position, with their stories.
            anchors: The stories of the earlier documents clustered with them.
            clusters: A label per document of ``docs``, then per anchor.
        """
        count = len(docs)
        earlier = dict(known)
        earlier.update({count + j: self.resolve(story) for j, story in enumerate(anchors)})
        members: dict[str, list[int]] = {}
        for position, label in enumerate(clusters):
            members.setdefault(label, []).append(position)
        # Where each earlier story continues: the cluster holding most of its documents.
        held: dict[str, Counter[str]] = {}
        for position, story in earlier.items():
            held.setdefault(story, Counter())[clusters[position]] += 1
        continues: dict[str, list[str]] = {}
        for story, where in held.items():
            label = min(where, key=lambda lab: (-where[lab], lab))
            continues.setdefault(label, []).append(story)
        out = [""] * count
        for label in sorted(members):
            positions = members[label]
            fresh = [p for p in positions if p < count and p not in known]
            stories = continues.get(label, [])
            present = Counter(earlier[p] for p in positions if p in earlier)
            if not fresh:
                target = ""
            elif stories:
                target = self._merge(stories, positions, earlier)
            elif present:  # earlier documents of stories that continue elsewhere
                target = min(present, key=lambda s: (-present[s], s))
            else:
                target = self._new_id(min(docs[p].id for p in fresh))
            for position in positions:
                if position < count:
                    out[position] = known.get(position, target)
            if fresh:
                self._record(target, [docs[p] for p in fresh])
        return out

    def _merge(self, stories: list[str], positions: list[int], earlier: dict[int, str]) -> str:
        if len(stories) == 1:
            return stories[0]
        first_seen = dict(
            self.db.execute(
                f"SELECT id, first_seen FROM stories WHERE id IN ({','.join('?' * len(stories))})",
                stories,
            )
        )
        survivor = min(stories, key=lambda s: (first_seen.get(s, self.today), s))
        counts = Counter(earlier[p] for p in positions if p in earlier)
        for absorbed in sorted(set(stories) - {survivor}):
            reason = (
                f"{counts[absorbed]} of its documents clustered with {counts[survivor]} of "
                f"{survivor} and {len(positions) - sum(counts.values())} new ones"
            )
            self._absorb(absorbed, survivor, reason)
        return survivor

    def _absorb(self, absorbed: str, survivor: str, reason: str) -> None:
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.db.execute(
            "INSERT OR REPLACE INTO story_merges (absorbed, survivor, run_id, at, reason)"
            " VALUES (?, ?, ?, ?, ?)",
            (absorbed, survivor, self.run_id, now, reason),
        )
        row = self.db.execute(
            "SELECT first_seen, last_updated, documents, sources FROM stories WHERE id = ?",
            (absorbed,),
        ).fetchone()
        self.db.execute("UPDATE stories SET absorbed_into = ? WHERE id = ?", (survivor, absorbed))
        if row is not None:
            self._update(survivor, row[0], row[1], int(row[2]), json.loads(row[3]))
        self._resolved.clear()

    def _record(self, story: str, docs: Sequence[StoryDoc]) -> None:
        dates = [(doc.published or self.today)[:10] for doc in docs]
        self._update(story, min(dates), max(dates), len(docs), [doc.source for doc in docs])

    def _update(
        self, story: str, first: str, last: str, documents: int, sources: list[str]
    ) -> None:
        row = self.db.execute(
            "SELECT first_seen, last_updated, documents, sources FROM stories WHERE id = ?",
            (story,),
        ).fetchone()
        if row is not None:
            first, last = min(first, row[0]), max(last, row[1])
            documents += int(row[2])
            sources = [*json.loads(row[3]), *sources]
        self.db.execute(
            "INSERT OR REPLACE INTO stories"
            " (id, first_seen, last_updated, documents, sources, absorbed_into)"
            " VALUES (?, ?, ?, ?, ?, NULL)",
            (story, first, last, documents, json.dumps(sorted(set(sources)))),
        )

    def _new_id(self, smallest: str) -> str:
        clash = 0
        while True:
            seed = smallest if clash == 0 else f"{smallest}\x00{clash}"
            story = story_id(seed)
            exists = self.db.execute("SELECT 1 FROM stories WHERE id = ?", (story,)).fetchone()
            if exists is None:
                return story
            clash += 1
