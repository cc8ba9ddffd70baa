"""The plain stream drivers, one per stage kind: readers, a segment of transforms on the
executor, a corpus stage, a renderer.

Each driver turns the stream of batches reaching its stage into the stream that leaves
it, keeps the stage's counters per batch (documents in and out, seconds) and reports
every drop and failure to :class:`~docstage.runner.outcomes.Outcomes`. They know nothing
of the run cache: :mod:`docstage.runner.replay` wraps them when the run uses it.
"""

from __future__ import annotations

import hashlib
import itertools
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence

import attrs

from docstage.document import Document
from docstage.errors import STAGE_ERRORS, RunError, StageError, os_error_text
from docstage.executors import Executor
from docstage.plan import PlannedStage
from docstage.runner.outcomes import Outcomes
from docstage.runner.stagerun import Batches, StageRun, perf
from docstage.segments import Segment, SegmentResult
from docstage.spool import Spool, SpooledStream
from docstage.stages import BadInput, CorpusStage, Drop, Failed, Reader, Renderer

#: Told of each document a corpus stage puts out: the document, and the drop reason or None.
Record = Callable[[Document, str | None], None]


def given_documents(documents: Iterable[Document], size: int) -> Batches:
    """Documents handed to the runner instead of its readers, in batches."""
    given = iter(documents)
    while chunk := list(itertools.islice(given, size)):
        yield chunk


@attrs.define
class Drivers:
    """The drivers of one run.

    Attributes:
        outcomes: Where drops and failures are reported.
        executor: Runs the segments of transforms.
        batch_size: ``[run] batch_size``: the size of the batches readers and corpus
            stages put out.
        duplicate_ids: ``[run] duplicate_ids``: what happens to a document whose id a
            reader already gave (:class:`UniqueIds`).
        received: Told of a corpus stage that asked for more input when there was none.
    """

    outcomes: Outcomes
    executor: Executor
    batch_size: int
    duplicate_ids: str = "quarantine"
    received: Callable[[StageRun], None] | None = None
    ids: UniqueIds = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.ids = UniqueIds(self.duplicate_ids)

    def read(self, readers: Sequence[StageRun]) -> Batches:
        """The readers' documents, one reader after the other, in batches."""
        size = self.batch_size
        outcomes = self.outcomes
        for where in readers:
            assert isinstance(where.stage.instance, Reader)
            stats = where.stats
            items = _guarded(where.stage, iter(where.stage.instance.read()))
            exhausted = False
            while not exhausted:
                started = perf()
                batch: list[Document] = []
                seen = 0
                for item in items:
                    seen += 1
                    if isinstance(item, Document):
                        checked = self.ids.check(item)
                        if isinstance(checked, str):
                            error = StageError(checked, stage=where.name)
                            outcomes.failed(where, item, error, settle=False)
                            continue
                        batch.append(checked)
                        if len(batch) >= size:
                            break
                    elif isinstance(item, Drop):
                        outcomes.dropped(where, item.document, item.reason, item.location)
                    elif isinstance(item, BadInput):
                        error = StageError(
                            f"bad input at {item.location}: {item.reason}", stage=where.name
                        )
                        outcomes.failed(where, None, error, item.location, item.raw)
                    else:
                        outcomes.wrong_type(where, None, item)
                else:
                    exhausted = True
                stats.docs_in += seen
                stats.docs_out += len(batch)
                stats.seconds += perf() - started
                if batch:
                    yield batch

    def segment_results(
        self, stages: Sequence[StageRun], batches: Batches
    ) -> Iterator[tuple[list[Document], SegmentResult]]:
        """Each batch with what the segment made of it, in input order, accounted for."""
        segment = Segment(tuple(where.position for where in stages))
        for batch, result in self.executor.map(segment, batches):
            self.outcomes.segment_done(stages, result)
            yield batch, result

    def segment(self, stages: Sequence[StageRun], batches: Batches) -> Batches:
        """Consecutive transforms, run on the executor."""
        for _batch, result in self.segment_results(stages, batches):
            if result.documents:
                yield result.documents

    def corpus(
        self,
        where: StageRun,
        batches: Iterable[list[Document]],
        record: Record | None = None,
        failed: Callable[[], None] | None = None,
        spool: Spool | None = None,
    ) -> Batches:
        """A corpus stage, pulling its input one document at a time; its output batched.

        Args:
            where: The stage.
            batches: Its input.
            record: Told of every document it puts out or drops, in order.
            failed: Told when the stage fails on a document (:class:`Failed`).
            spool: Where ``batches`` come from, whole, when the caller spooled them: the
                stage gets a :class:`SpooledStream` (see :meth:`Spool.behind`).
        """
        stage, stats = where.stage, where.stats
        assert isinstance(stage.instance, CorpusStage)
        size = self.batch_size
        use = stage.use
        upstream_seconds = 0.0
        received: weakref.WeakValueDictionary[int, Document] = weakref.WeakValueDictionary()

        def feed() -> Iterator[Document]:
            nonlocal upstream_seconds
            for_upstream = iter(batches)
            while True:
                started = perf()
                batch = next(for_upstream, None)
                upstream_seconds += perf() - started
                if batch is None:
                    if self.received is not None:
                        self.received(where)
                    return
                stats.docs_in += len(batch)
                for doc in batch:
                    received[id(doc)] = doc
                    yield doc

        docs = feed() if spool is None else SpooledStream(feed(), spool)
        results: Iterator[object] = iter(stage.instance.process_stream(docs))
        out: list[Document] = []
        while True:
            started, upstream_before = perf(), upstream_seconds
            try:
                item = next(results)
            except StopIteration:
                stats.seconds += perf() - started - (upstream_seconds - upstream_before)
                break
            except RunError:
                raise
            except STAGE_ERRORS as exc:
                raise RunError(
                    f"{stage.where} raised: {type(exc).__name__}: {exc} "
                    "(a corpus stage's exception stops the run)"
                ) from exc
            stats.seconds += perf() - started - (upstream_seconds - upstream_before)
            if isinstance(item, Document):
                if received.get(id(item)) is not item and item.stages[-1:] != (use,):
                    item = attrs.evolve(item, stages=(*item.stages, use))
                if record is not None:
                    record(item, None)
                out.append(item)
                stats.docs_out += 1
                if len(out) >= size:
                    yield out
                    out = []
            elif isinstance(item, Drop):
                if record is not None and item.document is not None:
                    record(item.document, item.reason)
                self.outcomes.dropped(where, item.document, item.reason)
            elif isinstance(item, Failed):
                if failed is not None:
                    failed()
                self.outcomes.failed(where, item.document, item.error)
            else:
                self.outcomes.wrong_type(where, None, item)
        if out:
            yield out

    def render(self, where: StageRun, batches: Batches) -> Batches:
        """A renderer: writes each document and passes the batch on (less the documents
        it failed on)."""
        stage, stats = where.stage, where.stats
        assert isinstance(stage.instance, Renderer)
        write = stage.instance.write
        for batch in batches:
            stats.docs_in += len(batch)
            started = perf()
            out = batch
            for index, doc in enumerate(batch):
                try:
                    write(doc)
                except OSError as exc:
                    # The output's fault (a full disk), not the document's: the run fails.
                    raise RunError(
                        f"{stage.where}: writing output failed: {os_error_text(exc)}"
                    ) from exc
                except STAGE_ERRORS as exc:
                    if out is batch:
                        out = batch[:index]
                    self.outcomes.failed(where, doc, exc)
                    continue
                if out is not batch:
                    out.append(doc)
            stats.docs_out += len(out)
            stats.seconds += perf() - started
            if out:
                yield out


class UniqueIds:
    """The ids readers gave in this run, so that a second document with one is caught.

    Ids are kept as 8-byte hashes (a Python set: about 70 bytes a document).

    Attributes:
        policy: ``[run] duplicate_ids``: ``"quarantine"`` or ``"rename"``.
    """

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self._seen: set[int] = set()

    def check(self, doc: Document) -> Document | str:
        """``doc`` (renamed if need be), or why it is quarantined."""
        key = _id_hash(doc.id)
        if key not in self._seen:
            self._seen.add(key)
            return doc
        if self.policy == "quarantine":
            return f"duplicate id '{doc.id}': a document read earlier in this run has it"
        number = 2
        while _id_hash(renamed := f"{doc.id}#{number}") in self._seen:
            number += 1
        self._seen.add(_id_hash(renamed))
        return attrs.evolve(doc, id=renamed)


def _id_hash(doc_id: str) -> int:
    digest = hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _guarded(stage: PlannedStage, items: Iterator[object]) -> Iterator[object]:
    """A reader's items; a reader that raises stops the run, named in the error.

    Typed as object: a third-party reader may yield anything, and the runner reports it.
    """
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except STAGE_ERRORS as exc:
            raise RunError(
                f"{stage.where} raised while reading: {type(exc).__name__}: {exc}"
            ) from exc
        yield item
