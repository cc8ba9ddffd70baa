"""Segments: runs of consecutive transforms, the unit executors run in parallel.

A plan's per-document stages between two corpus stages form one segment. A batch goes
through a whole segment in one call, wherever it runs (this process, a worker process,
a Ray worker), and :func:`run_segment` reports what happened as plain, picklable values:
the documents that came out, and an :class:`Event` for every document a stage dropped or
failed on. The coordinator turns events into counters, hook calls and quarantine records,
so observers see the same run whatever the executor.
"""

from __future__ import annotations

import contextlib
import pickle
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Literal

import attrs
import structlog

from docstage.document import Document
from docstage.errors import STAGE_ERRORS, StageError, format_traceback
from docstage.stages import Drop, Transform

log = structlog.get_logger()

perf = time.perf_counter


@attrs.frozen
class Segment:
    """Consecutive transforms of a plan, run together on each batch.

    Attributes:
        positions: Each stage's position in the plan.
    """

    positions: tuple[int, ...]


class RemoteError(Exception):
    """An exception raised in a worker that could not be sent back as it was.

    Attributes:
        type_name: The original exception's class name.
        message: Its message.
    """

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(type_name, message)
        self.type_name = type_name
        self.message = message

    def __str__(self) -> str:
        return self.message


@attrs.frozen(kw_only=True)
class Event:
    """A document that did not come out of a stage of a segment.

    Attributes:
        stage: The stage's position within the segment.
        origin: The position in the input batch of the document it started as.
        document: The document as the stage received it.
        reason: Why the stage dropped it (a drop).
        error: What the stage raised (a failure); :class:`RemoteError` when the original
            exception could not be pickled.
        traceback: The formatted traceback of ``error``, taken where it was raised.
    """

    stage: int
    origin: int
    document: Document
    reason: str | None = None
    error: BaseException | None = None
    traceback: str | None = None

    @property
    def kind(self) -> Literal["drop", "error"]:
        return "error" if self.error is not None else "drop"


@attrs.frozen(kw_only=True)
class StageCount:
    """One stage's counters for one batch: documents in and out, seconds inside."""

    docs_in: int
    docs_out: int
    seconds: float


@attrs.frozen(kw_only=True)
class SegmentResult:
    """What a segment did with one batch.

    Attributes:
        documents: The documents that came out of the last stage, in input order.
        origins: For each of ``documents``, its position in the input batch.
        events: Drops and failures, by stage then input order.
        counts: Counters per stage of the segment.
    """

    documents: list[Document]
    origins: list[int]
    events: list[Event]
    counts: list[StageCount]


def run_segment(
    stages: Sequence[tuple[str, Transform]],
    batch: list[Document],
    *,
    portable: bool = False,
    timeout: float | None = None,
) -> SegmentResult:
    """Send ``batch`` through ``stages`` (``(type name, instance)`` pairs), in order.

    Args:
        stages: The segment's transforms, set up.
        batch: The documents.
        portable: The result is pickled to another process: exceptions that cannot be
            pickled are replaced by :class:`RemoteError`.
        timeout: ``[run] document_timeout``: seconds a stage may spend on one document
            (a batch call gets that per document) before it fails with
            :class:`DocumentTimeout`; None for no limit.
    """
    events: list[Event] = []
    counts: list[StageCount] = []
    docs = batch
    origins = list(range(len(batch)))
    for position, (use, instance) in enumerate(stages):
        started = perf()
        out: list[Document] = []
        kept: list[int] = []
        outcomes = _outcomes(use, instance, docs, timeout)
        for origin, (doc, result, exc) in zip(origins, outcomes, strict=True):
            if exc is not None:
                events.append(_failure(position, origin, doc, exc, portable))
                continue
            if result is doc:
                out.append(doc)
            elif isinstance(result, Document):
                if result.stages[-1:] != (use,):
                    result = attrs.evolve(result, stages=(*result.stages, use))
                out.append(result)
            elif isinstance(result, Drop):
                events.append(
                    Event(stage=position, origin=origin, document=doc, reason=result.reason)
                )
                continue
            else:
                error = StageError(
                    f"stage returned {type(result).__name__}, expected a Document or Drop",
                    stage=use,
                )
                events.append(Event(stage=position, origin=origin, document=doc, error=error))
                continue
            kept.append(origin)
        counts.append(StageCount(docs_in=len(docs), docs_out=len(out), seconds=perf() - started))
        docs, origins = out, kept
        if not docs:
            counts.extend(
                StageCount(docs_in=0, docs_out=0, seconds=0.0) for _ in stages[position + 1 :]
            )
            break
    return SegmentResult(documents=docs, origins=origins, events=events, counts=counts)


def empty_result(stages: int) -> SegmentResult:
    """The result of a segment of ``stages`` transforms on an empty batch."""
    zero = StageCount(docs_in=0, docs_out=0, seconds=0.0)
    return SegmentResult(documents=[], origins=[], events=[], counts=[zero] * stages)


def _outcomes(
    use: str,
    instance: Transform,
    docs: list[Document],
    timeout: float | None = None,
) -> list[tuple[Document, object, BaseException | None]]:
    """Each document with what the stage returned for it, or what it raised."""
    if type(instance).process_batch is not Transform.process_batch:
        try:
            with deadline(timeout * len(docs) if timeout else None):
                results = instance.process_batch(docs)
            if len(results) != len(docs):
                raise StageError(
                    f"process_batch returned {len(results)} results for {len(docs)} documents",
                    stage=use,
                )
            return [(doc, result, None) for doc, result in zip(docs, results, strict=True)]
        except STAGE_ERRORS as exc:
            log.warning(
                "batch failed; processing its documents one by one",
                stage=use,
                error=f"{type(exc).__name__}: {exc}",
            )
    outcomes: list[tuple[Document, object, BaseException | None]] = []
    process = instance.process
    for doc in docs:
        try:
            if timeout is None:  # the hot path: no context manager per document
                outcomes.append((doc, process(doc), None))
            else:
                with deadline(timeout):
                    outcomes.append((doc, process(doc), None))
        except STAGE_ERRORS as exc:
            outcomes.append((doc, None, exc))
    return outcomes


class DocumentTimeout(Exception):
    """A stage spent longer than ``[run] document_timeout`` on one document."""


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise :class:`DocumentTimeout` in the block after ``seconds`` (a ``SIGALRM``
    timer: POSIX, main thread; elsewhere, and for ``None``, no limit). Python code is
    interrupted between bytecodes; a long call into C code is interrupted when it
    returns (a worker process stuck in one is ended by its coordinator: see
    :mod:`docstage.executors.processes`)."""
    if not seconds or not _ALARMS or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise DocumentTimeout(f"took longer than {seconds:g} s ([run] document_timeout)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_ALARMS = hasattr(signal, "setitimer")


def _failure(
    position: int, origin: int, doc: Document, exc: BaseException, portable: bool
) -> Event:
    trace = format_traceback(exc) if exc.__traceback__ else None
    error: BaseException = exc
    if portable:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            error = RemoteError(type(exc).__name__, str(exc))
        else:
            error = exc.with_traceback(None)
    return Event(stage=position, origin=origin, document=doc, error=error, traceback=trace)


def describe_error(exc: BaseException) -> str:
    """``Type: message`` for an exception (its message alone for a StageError)."""
    if isinstance(exc, StageError):
        return str(exc)
    if isinstance(exc, RemoteError):
        return f"{exc.type_name}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"
