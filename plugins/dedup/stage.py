"""The ``dedup`` stage: copies, near copies, stories and shared passages.

The stage reads the stream once, spooling it to disk, to find the copy groups
(:mod:`docstage_plugins.dedup.copies`, against the state store's index of earlier runs too), then
clusters the originals into stories (:mod:`docstage_plugins.dedup.stories`), indexes their
passages (:mod:`docstage_plugins.dedup.passages`), and emits every document with what it learned.
Memory holds a few numbers per document and the indexes, never the texts.
"""

from __future__ import annotations

import contextlib
import json
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import attrs
import structlog

from docstage.document import (
    DUPLICATE_OF,
    DUPLICATES,
    SHARED_PASSAGES,
    STORY_ID,
    Document,
    Duplicate,
    Original,
)
from docstage.io import AtomicFile, writable_folder
from docstage.options import at_least, between, option
from docstage.spill import DEFAULT_MEMORY, release_memory
from docstage.spool import Spool
from docstage.stages import CorpusStage, Drop, Failed, StageContext, StageProgress
from docstage.state import StateStore
from docstage_plugins.dedup.copies import CopyFinder, DocInfo, Group
from docstage_plugins.dedup.index import CopyIndex, IndexedDoc
from docstage_plugins.dedup.passages import PassageIndex, PassageOptions
from docstage_plugins.dedup.quote_index import QuoteIndex, QuoteOptions
from docstage_plugins.dedup.quotes import QUOTES

if TYPE_CHECKING:
    from docstage_plugins.dedup.stories import StoryDoc

#: Entity labels that say what a story is about (dates and numbers do not).
STORY_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "EVENT", "FAC"})
_BATCH = 256
#: ``StoryOptions().threshold``, written out so that a run without stories does not
#: import story clustering and SciPy (a test checks that the two agree).
_STORY_THRESHOLD = 0.3


@attrs.frozen(kw_only=True)
class _Decision:
    """What the stage does with one document of the run."""

    original: Original | None = None  # set for a copy
    survivor_row: int | None = None  # a copy's survivor, when it is of this run
    copies: tuple[Duplicate, ...] = ()  # set for a survivor


@attrs.define(kw_only=True)
class Dedup(CorpusStage):
    """Find copies, near copies, stories and shared quotes across sources.

    **Copies.** Exact copies have the same text once case, Unicode forms and whitespace
    are normalised; near copies have a Jaccard similarity of at least ``threshold`` over
    word ``shingle_size``-grams, found by MinHash LSH and every candidate verified by its
    true Jaccard similarity, so no pair below the threshold is ever linked. Copies are
    grouped transitively; one survivor per group is chosen by ``source_priority``, then
    ``keep``, then the smallest id, and lists every copy under ``duplicates`` (id, source,
    relation, score). In ``mode = "drop"`` the copies leave the stream (counted as
    ``duplicate (exact)`` / ``duplicate (near)``); in ``annotate`` they stay and carry
    ``duplicate_of``.

    **Earlier runs.** With ``index = true`` the kept documents are remembered in the state
    store (``[run] state``), without their text (about 0.9 KB each on 20 Newsgroups): a later run
    drops a copy of an earlier run's document and names it, with the run that kept it.
    ``index_max_age_days`` and ``index_max_documents`` bound the index: at the end of a run,
    entries first indexed too long ago, or beyond the most recent ones, are forgotten, and
    copies of them pass again. A remembered copy whose original was forgotten stands for
    itself: a later copy of it is dropped and names it.

    **Stories.** The originals are clustered into stories (the same event told in other
    words, usually by other outlets): TF-IDF similarity of text and title, entity overlap
    and publication dates. Every document gets a ``story_id``; nobody is dropped.

    **Shared passages.** Sentences and quotes that recur in documents of other sources,
    despite small changes of wording, are listed under ``shared_passages`` with the
    matching documents' ids, sources and scores.

    **Quotes.** With ``quotes = true``, every direct quotation (from its opening to its
    closing mark, split quotes and quotes across paragraphs as one) is listed under
    ``quotes`` with its speaker where the text names one, and the documents of other
    sources that carry it: their wording, speaker and date, and which carried it first.

    The result does not depend on the order of the input (except with ``keep = "first"``).
    """

    name: ClassVar[str] = "dedup"

    exact: bool = option(True, help="Find exact copies (same normalised text).")
    near: bool = option(True, help="Find near copies (MinHash LSH, verified by Jaccard).")
    threshold: float = option(
        0.8,
        validator=between(0, 1, above_low=True),
        help="Jaccard similarity over word shingles at or above which two texts are near copies.",
    )
    shingle_size: int = option(5, validator=at_least(1), help="Words per shingle.")
    min_words: int = option(
        5,
        validator=at_least(0),
        help="Texts with fewer words are never copies (an empty text or a one-word "
        "'unsubscribe' is not a copy of another).",
    )
    permutations: int = option(
        128, validator=at_least(16), help="MinHash permutations (more: finer, slower)."
    )
    mode: Literal["drop", "annotate"] = option(
        "drop",
        help="'drop': copies leave the stream, their survivor lists them; 'annotate': "
        "copies stay and carry duplicate_of.",
    )
    keep: Literal["earliest", "longest", "first"] = option(
        "earliest",
        help="Which copy survives: the 'earliest' published (undated last), the 'longest', "
        "or the 'first' in input order. Ties go to source_priority, then the smallest id.",
    )
    source_priority: list[str] = option(
        [],
        help="Sources in order of preference: a copy from an earlier-listed source "
        "survives before the keep policy is asked.",
    )
    index: bool = option(
        True,
        help="Remember kept documents in the state store ([run] state) and drop copies of "
        "earlier runs' documents.",
    )
    index_max_age_days: int | None = option(
        None,
        validator=attrs.validators.optional(at_least(0, whole=True)),
        help="Forget the index entries first indexed more than this many days before the "
        "run (at its end); unset keeps them. Copies of expired documents pass again.",
    )
    index_max_documents: int | None = option(
        None,
        validator=attrs.validators.optional(at_least(1, whole=True)),
        help="Keep only this many most recently indexed documents in the index (at the "
        "run's end); unset for no limit.",
    )
    stories: bool = option(True, help="Cluster the originals into stories (story_id).")
    story_threshold: float = option(
        _STORY_THRESHOLD,
        validator=between(0, 1, above_low=True),
        help="Mean shared-neighbourhood affinity (0-1] at or above which two clusters of "
        "documents merge into one story: lower makes bigger stories; 0.1 to 0.5 give "
        "similar stories on news.",
    )
    passages: bool = option(True, help="Find passages shared with other sources.")
    passage_threshold: float = option(
        PassageOptions().threshold,
        validator=between(0, 1, above_low=True),
        help="Similarity at or above which two passages match.",
    )
    passage_min_words: int = option(
        PassageOptions().min_words,
        validator=at_least(1),
        help="Passages with fewer words are not compared.",
    )
    quotes: bool = option(
        True,
        help="List each document's direct quotations under 'quotes': speaker, and the "
        "documents of other sources that carry them (wording, date, who was first).",
    )
    report: Path | None = option(
        None,
        path=True,
        help="JSONL file written at the end: one line per copy, with its original and "
        "what was done.",
    )
    _context: StageContext | None = attrs.field(default=None, init=False, repr=False)

    def setup(self, context: StageContext) -> None:
        self._context = context
        if self.report is not None:
            writable_folder(self.report, option="report")
        if self.index and not context.dry_run and context.state is not None:
            self._open_index(context.state)  # settings mismatches fail here, at setup

    @property
    def _memory(self) -> int:
        """The run's memory budget (``[run] memory``)."""
        return self._context.memory if self._context is not None else DEFAULT_MEMORY

    @property
    def _log(self) -> structlog.typing.FilteringBoundLogger:
        return self._context.log if self._context is not None else structlog.get_logger()

    @property
    def _progress(self) -> StageProgress:
        return self._context.progress if self._context is not None else StageProgress()

    def _open_index(self, state: StateStore) -> CopyIndex:
        return CopyIndex(
            state.connection,
            {
                "shingle_size": self.shingle_size,
                "permutations": self.permutations,
                "threshold": self.threshold,
            },
        )

    # --- the stream -----------------------------------------------------------------

    def process_stream(self, docs: Iterator[Document]) -> Iterator[Document | Drop | Failed]:
        context = self._context
        index = None
        if self.index and context is not None and context.state is not None:
            index = self._open_index(context.state)
        finder = CopyFinder(
            exact=self.exact,
            near=self.near,
            threshold=self.threshold,
            shingle_size=self.shingle_size,
            min_words=self.min_words,
            permutations=self.permutations,
            index=index,
            memory=self._memory,
        )
        with Spool.behind(docs) as spool, contextlib.closing(finder):
            days = self._first_pass(docs, spool, finder)
            self._progress.phase("copies")
            groups = finder.groups(self.keep, self.source_priority)
            decisions = self._decide(groups, finder)
            originals = [
                row for row in range(len(finder)) if decisions.get(row, _KEEP).original is None
            ]
            story_ids = self._stories(spool, days, originals)
            del days
            release_memory(collect=True)  # what clustering freed, before the passages
            passages, quotes = self._passage_index(spool, originals, story_ids)
            if passages is not None or quotes is not None:  # until the first document
                self._progress.phase("matching")
            try:
                for row, doc in enumerate(spool):
                    decision = decisions.get(row, _KEEP)
                    try:
                        emitted = self._emit(row, doc, decision, story_ids, passages, quotes)
                    except Exception as exc:  # one document's fault: it is quarantined
                        yield Failed(doc, exc)
                    else:
                        yield emitted
            finally:
                for scratch in (passages, quotes):
                    if scratch is not None:
                        scratch.close()
            if index is not None:
                self._progress.phase("index")
                added = index.add(self._to_index(finder, decisions))
                expired = index.expire(
                    max_age_days=self.index_max_age_days, max_documents=self.index_max_documents
                )
                self._log.info(
                    "dedup index updated",
                    added=added,
                    expired=expired,
                    documents=len(index),
                    bytes_per_document=round(index.bytes_per_document()),
                )
        self._write_report(groups)
        self._log.info(
            "dedup finished",
            documents=len(finder),
            groups=len(groups),
            copies=sum(len(g.copies) for g in groups),
            stories=len(set(story_ids.values())),
        )

    def _first_pass(
        self, docs: Iterator[Document], spool: Spool, finder: CopyFinder
    ) -> array[float]:
        """Spool ``docs`` and give them to ``finder``; returns each one's publication day
        (NaN: unknown) when stories are wanted."""
        days = array("d")
        if self.stories:  # story clustering (and SciPy) only when stories are wanted
            from docstage_plugins.dedup.story_vectors import day
        batch: list[DocInfo] = []
        texts: list[str] = []
        for row, doc in enumerate(docs):
            spool.append(doc)
            published = doc.metadata.get("published")
            info = DocInfo(
                row=row,
                id=doc.id,
                source=doc.source,
                published=str(published) if published else None,
                length=len(doc.text),
            )
            if self.stories:
                days.append(day(info.published))
            batch.append(info)
            texts.append(doc.text)
            if len(batch) >= _BATCH:
                finder.add_many(batch, texts)
                batch, texts = [], []
        if batch:
            finder.add_many(batch, texts)
        return days

    def _decide(self, groups: list[Group], finder: CopyFinder) -> dict[int, _Decision]:
        run_id = self._context.run_id if self._context is not None else ""
        decisions: dict[int, _Decision] = {}
        for group in groups:
            survivor = group.survivor
            for copy in group.copies:
                assert copy.doc.row is not None  # copies are always of this run
                decisions[copy.doc.row] = _Decision(
                    original=Original(
                        id=survivor.id,
                        source=survivor.source,
                        relation=copy.relation,
                        score=copy.score,
                        run_id=survivor.earlier or run_id,
                    ),
                    survivor_row=survivor.row,
                )
            if survivor.row is not None:
                decisions[survivor.row] = _Decision(
                    copies=tuple(
                        Duplicate(
                            id=c.doc.id, source=c.doc.source, relation=c.relation, score=c.score
                        )
                        for c in group.copies
                    )
                )
        return decisions

    def _stories(self, spool: Spool, days: Sequence[float], rows: list[int]) -> dict[int, str]:
        """The story ids of the originals at ``rows``: clustered at once, or in windows of
        publication time when there are more than a window's worth
        (:mod:`~docstage_plugins.dedup.story_windows`)."""
        if not self.stories or not rows:
            return {}
        # Imported here: SciPy and the clustering cost a run without stories 0.2 s.
        from docstage_plugins.dedup.stories import StoryOptions, cluster_stories
        from docstage_plugins.dedup.story_index import StoryIndex
        from docstage_plugins.dedup.story_windows import (
            cluster_in_windows,
            scratch_index,
            window_size,
        )

        def docs(positions: Sequence[int]) -> list[StoryDoc]:
            return [_story_doc(doc) for doc in spool.read(rows[p] for p in positions)]

        def texts(positions: Sequence[int]) -> Iterator[str]:
            return (doc.text for doc in spool.read(rows[p] for p in positions))

        options = StoryOptions(threshold=self.story_threshold)
        context = self._context
        state = context.state if self.index and context is not None else None
        window = window_size(self._memory)
        progress = self._progress
        progress.phase("stories", total=len(rows))
        if state is None and len(rows) <= window:
            everything = range(len(rows))
            ids = cluster_stories(
                docs(everything), lambda: texts(everything), options, memory=self._memory
            )
            progress.advance(len(rows))
            return dict(zip(rows, ids, strict=True))
        run_id = context.run_id if context is not None else "run"
        with contextlib.ExitStack() as stack:
            if state is not None:
                index = StoryIndex(state.connection, run_id)
            else:
                index = stack.enter_context(scratch_index(run_id))
            ids = cluster_in_windows(
                index,
                docs,
                texts,
                [days[row] for row in rows],
                options,
                memory=self._memory,
                window=window,
                progress=progress.advance,
            )
            if state is not None:
                expired = index.expire(
                    max_age_days=self.index_max_age_days, max_documents=self.index_max_documents
                )
                self._log.info(
                    "story index updated", stories=index.ledger.stories(), expired=expired
                )
        return dict(zip(rows, ids, strict=True))

    def _passage_index(
        self, spool: Spool, rows: list[int], story_ids: dict[int, str]
    ) -> tuple[PassageIndex | None, QuoteIndex | None]:
        """The originals' passages and quotes, indexed in one pass over the spool."""
        if not self.passages and not self.quotes:
            return None, None
        wanted = set(rows)
        passages = quotes = None
        if self.passages:
            passages = PassageIndex(
                PassageOptions(threshold=self.passage_threshold, min_words=self.passage_min_words),
                memory=self._memory,
            )
        if self.quotes:  # far fewer quotes than sentences: a quarter of the budget
            quotes = QuoteIndex(
                QuoteOptions(threshold=self.passage_threshold), memory=self._memory // 4
            )
        progress = self._progress
        progress.phase("passages", total=len(rows))
        for row, doc in enumerate(spool):
            if row in wanted:
                if passages is not None:
                    passages.add(doc.id, doc.source, doc.text)
                if quotes is not None:
                    quotes.add_document(doc, story=story_ids.get(row))
                progress.advance()
        return passages, quotes

    def _emit(
        self,
        row: int,
        doc: Document,
        decision: _Decision,
        story_ids: dict[int, str],
        passages: PassageIndex | None,
        quotes: QuoteIndex | None = None,
    ) -> Document | Drop:
        original = decision.original
        if original is not None:
            doc = doc.annotate(DUPLICATE_OF, original)
            if self.mode == "drop":
                return Drop(f"duplicate ({original.relation})", document=doc)
            # A copy kept in annotate mode belongs to its survivor's story.
            survivor = decision.survivor_row
            story = story_ids.get(survivor) if survivor is not None else None
        else:
            story = story_ids.get(row)
            if decision.copies:
                doc = doc.annotate(DUPLICATES, decision.copies)
            if passages is not None:
                shared = passages.shared(doc.id, doc.text)
                if shared:
                    doc = doc.annotate(SHARED_PASSAGES, shared)
            found = quotes.quotes(doc.id) if quotes is not None else ()
            if found:
                doc = doc.annotate(QUOTES, found)
        if story is not None:
            doc = doc.annotate(STORY_ID, story)
        return doc

    def _to_index(
        self, finder: CopyFinder, decisions: dict[int, _Decision]
    ) -> Iterator[IndexedDoc]:
        """Every document of this run, for the index: kept ones, and copies with the id of
        their original (a later near copy of a copy still names the original)."""
        run_id = self._context.run_id if self._context is not None else ""
        for row, (info, exact, shingles, bands) in enumerate(finder.documents()):
            original = decisions.get(row, _KEEP).original
            yield IndexedDoc(
                id=info.id,
                source=info.source,
                published=info.published,
                length=info.length,
                run_id=run_id,
                original=original.id if original is not None else None,
                exact=exact,
                shingles=shingles,
                bands=bands,
            )

    def _write_report(self, groups: list[Group]) -> None:
        if self.report is None:
            return
        with AtomicFile.open(self.report, option="report") as output:
            for group in groups:
                survivor = group.survivor
                for copy in group.copies:
                    line = {
                        "id": copy.doc.id,
                        "source": copy.doc.source,
                        "relation": copy.relation,
                        "score": copy.score,
                        "action": "dropped" if self.mode == "drop" else "kept",
                        "original": {
                            "id": survivor.id,
                            "source": survivor.source,
                            "run_id": survivor.earlier,
                        },
                    }
                    output.write(json.dumps(line, ensure_ascii=False) + "\n")


_KEEP = _Decision()


def _story_doc(doc: Document) -> StoryDoc:
    """What story clustering needs of ``doc`` besides its text."""
    from docstage_plugins.dedup.stories import StoryDoc

    published = doc.metadata.get("published")
    return StoryDoc(
        id=doc.id,
        source=doc.source,
        title=doc.metadata.get("title"),
        published=str(published) if published else None,
        entities=tuple(e.canonical or e.text for e in doc.entities if e.label in STORY_LABELS),
    )


STAGES = (Dedup,)
