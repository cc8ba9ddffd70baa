"""Run-cache replay: the stream drivers of a run that uses ``[run] incremental``.

:class:`CachedDrivers` wraps the plain :class:`~docstage.runner.drivers.Drivers`: a
segment runs only on the documents whose outcome is not cached; a corpus stage whose
whole input a finished run saw is replayed instead of run; a renderer whose input and
files are unchanged is not run. What the cache holds is described in
:mod:`docstage.cache`; a change to how the runner uses it belongs in this file only.

Fingerprints travel with the stream: a corpus stage's output batches
(:class:`Fingerprinted`) carry the fingerprints of their documents and, for a replay,
the digest of the whole output, so that a renderer downstream decides from its own input
whether to skip and what to record; no state is shared between the two generators.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import attrs

from docstage.cache import Cached, RunCache
from docstage.document import Document
from docstage.fingerprints import Digest, fingerprint
from docstage.runner.drivers import Drivers
from docstage.runner.stagerun import Batches, StageRun, iter_batches
from docstage.spool import Spool

#: What the cache stores per segment input: (fp in, document out, dropping stage, reason).
Entry = tuple[bytes, Document | None, int | None, str | None]


class Fingerprinted(list[Document]):
    """A batch that carries the fingerprints of its documents.

    Attributes:
        fps: One fingerprint per document, in order.
        whole: The digest of the whole stream this batch belongs to, when it was known
            before the stream started (a replayed corpus stage); else None.
    """

    def __init__(self, docs: Iterable[Document], fps: list[bytes], whole: bytes | None) -> None:
        super().__init__(docs)
        self.fps = fps
        self.whole = whole


@attrs.define
class CachedDrivers:
    """The drivers of an incremental run.

    Attributes:
        plain: The drivers that do the work the cache cannot spare.
        cache: The run cache.
        state: The state store's stamp (:meth:`docstage.state.StateStore.stamp`): corpus
            stages' entries hold only for the store they were made with.
        finished: Whether a run committed to the state store (its corpus entries hold
            even if it was killed before the cache's last commit).
        kept: Per renderer position, the files of a renderer that was not run (its input
            and files are those of an earlier run).
        inputs: Per renderer position, the digest of the input it wrote, when known.
    """

    plain: Drivers
    cache: RunCache
    state: tuple[str, int]
    finished: Callable[[str], bool] = lambda run_id: False
    kept: dict[int, list[Path]] = attrs.Factory(dict)
    inputs: dict[int, bytes] = attrs.Factory(dict)

    # --- segments -------------------------------------------------------------------------

    def segment(self, stages: Sequence[StageRun], batches: Batches) -> Batches:
        """Consecutive transforms on the executor, only on the documents whose outcome is
        not cached; a batch with cached outcomes is merged back in input order."""
        cache = self.cache
        key = stages[-1].key
        pending: collections.deque[tuple[list[Document], list[bytes], list[Cached | None]]]
        pending = collections.deque()

        def misses() -> Batches:
            for batch in batches:
                fps = fingerprints(batch)
                hits = cache.segment_lookup(key, fps)
                pending.append((batch, fps, hits))
                if any(hit is not None for hit in hits):
                    yield [doc for doc, hit in zip(batch, hits, strict=True) if hit is None]
                else:
                    yield batch

        for todo, result in self.plain.segment_results(stages, misses()):
            batch, fps, hits = pending.popleft()
            made = dict(zip(result.origins, result.documents, strict=True))
            drops = {event.origin: event for event in result.events if event.kind == "drop"}
            entries: list[Entry] = []
            known: dict[int, bytes] = {}  # id() of a document out: its fingerprint
            if todo is batch:  # nothing was cached: the result is the batch's outcome
                out = result.documents
                for index, fp in enumerate(fps):
                    if (doc := made.get(index)) is not None:
                        entries.append((fp, doc, None, None))
                    elif (drop := drops.get(index)) is not None:
                        entries.append((fp, None, drop.stage, drop.reason))
            else:
                out = []
                index = 0
                for doc, fp, hit in zip(batch, fps, hits, strict=True):
                    if hit is not None:
                        self._count_cached(stages, doc, hit)
                        if hit.reason is None and hit.document is not None:
                            out.append(hit.document)
                            known[id(hit.document)] = hit.fp
                        continue
                    if (made_doc := made.get(index)) is not None:
                        out.append(made_doc)
                        entries.append((fp, made_doc, None, None))
                    elif (drop := drops.get(index)) is not None:
                        entries.append((fp, None, drop.stage, drop.reason))
                    index += 1
            # A failure is not cached: the next run tries the document again.
            if entries:
                stored = cache.segment_store(key, entries)
                for (_, doc, _, _), fp_out in zip(entries, stored, strict=True):
                    if doc is not None and fp_out is not None:
                        known[id(doc)] = fp_out
            if out:
                # Each document out with the fingerprint the cache has for it (a transform
                # that made several documents of one leaves some unknown: plain batch).
                out_fps = [known.get(id(doc), b"") for doc in out]
                yield Fingerprinted(out, out_fps, None) if all(out_fps) else out

    def _count_cached(self, stages: Sequence[StageRun], doc: Document, hit: Cached) -> None:
        """Count a cached outcome: every stage of the segment passed the document on, or
        one dropped it."""
        through = len(stages) if hit.reason is None else hit.stage or 0
        for where in stages[:through]:
            where.stats.docs_in += 1
            where.stats.docs_out += 1
            where.stats.cached += 1
        if hit.reason is not None:
            where = stages[through]
            where.stats.docs_in += 1
            where.stats.cached += 1
            self.plain.outcomes.dropped(where, doc, hit.reason or "")

    # --- corpus stages ----------------------------------------------------------------------

    def corpus(self, where: StageRun, batches: Batches) -> Batches:
        """A corpus stage, replayed when a finished run saw exactly this input; otherwise
        run on a spool of its input, with its outputs recorded."""
        cache = self.cache
        key = where.key
        with Spool() as spool:
            inputs = Digest()
            for batch in batches:
                for doc, fp in zip(batch, fingerprints(batch), strict=True):
                    inputs.add(fp)
                    spool.append(doc)
            made = inputs.digest()
            outcomes = cache.corpus_lookup(key, made, self.state, self.finished)
            if outcomes is not None:
                yield from self._corpus_replay(where, len(spool), outcomes)
                return
            cache.corpus_begin(key, made, self.state)
            fps: collections.deque[bytes] = collections.deque()
            seq = 0

            def record(doc: Document, reason: str | None) -> None:
                nonlocal seq
                fp = cache.corpus_add(key, made, seq, doc, reason)
                seq += 1
                if reason is None:
                    fps.append(fp)

            def failed() -> None:  # a failure is retried next run, not replayed
                cache.corpus_forget(key, made)

            size = self.plain.batch_size
            stream = self.plain.corpus(where, iter_batches(spool, size), record, failed, spool)
            for batch in stream:
                yield Fingerprinted(batch, [fps.popleft() for _ in batch], None)

    def _corpus_replay(self, where: StageRun, received: int, outcomes: list[Cached]) -> Batches:
        stats = where.stats
        stats.docs_in += received
        stats.cached += received
        whole = Digest()
        for cached in outcomes:
            if cached.reason is None:
                whole.add(cached.fp)
        digest = whole.digest()
        size = self.plain.batch_size
        docs: list[Document] = []
        fps: list[bytes] = []
        for cached in outcomes:
            if cached.reason is not None:
                self.plain.outcomes.dropped(where, cached.document, cached.reason)
                continue
            assert cached.document is not None
            stats.docs_out += 1
            docs.append(cached.document)
            fps.append(cached.fp)
            if len(docs) >= size:
                yield Fingerprinted(docs, fps, digest)
                docs, fps = [], []
        if docs:
            yield Fingerprinted(docs, fps, digest)

    # --- renderers --------------------------------------------------------------------------

    def render(self, where: StageRun, batches: Batches) -> Batches:
        """A renderer, not run when its input is a replay it already wrote and its files are
        untouched; otherwise run, with the digest of its input kept for the commit."""
        stream = iter(batches)
        first = next(stream, None)
        if first is None:
            return
        kept = None
        if isinstance(first, Fingerprinted) and first.whole is not None:
            kept = self.cache.renderer_unchanged(where.key, first.whole)
        if kept is not None:
            self.kept[where.position] = kept
            stats = where.stats
            for batch in itertools.chain((first,), stream):
                stats.docs_in += len(batch)
                stats.docs_out += len(batch)
                stats.cached += len(batch)
                yield batch
            return
        received = Digest()
        complete = True

        def watched() -> Batches:
            nonlocal complete
            for batch in itertools.chain((first,), stream):
                if isinstance(batch, Fingerprinted):
                    for fp in batch.fps:
                        received.add(fp)
                else:
                    complete = False
                yield batch

        yield from self.plain.render(where, watched())
        if complete:
            self.inputs[where.position] = received.digest()

    def committed(self, where: StageRun, written: Sequence[Path]) -> None:
        """A renderer committed ``written``: remember them with the input they came from."""
        digest = self.inputs.get(where.position)
        if digest is not None:
            self.cache.renderer_done(where.key, digest, written)


def fingerprints(batch: list[Document]) -> list[bytes]:
    """The fingerprints of a batch's documents: those it carries when a stage before
    computed them (:class:`Fingerprinted`), else computed."""
    if isinstance(batch, Fingerprinted):
        return batch.fps
    return [fingerprint(doc) for doc in batch]
