"""What a pooled executor does with a batch a worker was stuck on past ``[run]
document_timeout``: the worker is replaced, and the batch's documents go again one at a
time, one stage at a time, so that only the document (and stage) a worker is stuck on
again fails, with :class:`~docstage.segments.DocumentTimeout`, and the run goes on.

A stage stuck in one long call into C code ignores the ``SIGALRM`` deadline that ends a
Python loop (:func:`docstage.segments.deadline`); only its coordinator can end it, by
ending the worker. Each executor says how (:mod:`docstage.executors.processes` ends its
pool's processes, :mod:`docstage.executors.ray` kills the one actor); this module holds
what they share: the limits and the re-run.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from docstage.document import Document
from docstage.segments import DocumentTimeout, Event, Segment, SegmentResult, StageCount

#: Seconds a task is given beyond its documents' deadlines: a worker's round trip, and a
#: busy machine's scheduling.
SLACK = 5.0


class Stuck(Exception):
    """A task ran past its limit; the worker running it has been replaced.

    Attributes:
        limit: The seconds it was given.
    """

    def __init__(self, limit: float) -> None:
        super().__init__(limit)
        self.limit = limit


def batch_limit(timeout: float | None, documents: int, stages: int, queued: int) -> float | None:
    """Seconds a batch may take under ``[run] document_timeout`` = ``timeout`` before its
    worker counts as stuck: every document at its deadline in every stage, twice, for the
    batch and the ``queued`` batches ahead of it on the same worker, plus slack (worker
    start-up is waited for separately). None without a timeout."""
    if timeout is None:
        return None
    return 2 * timeout * documents * stages * (1 + queued) + 6 * SLACK


def single_limit(timeout: float) -> float:
    """Seconds one document may take in one stage, run alone on a ready worker."""
    return 2 * timeout + SLACK


RunOne = Callable[[tuple[int, ...], list[Document]], SegmentResult]


def isolate(segment: Segment, batch: list[Document], run_one: RunOne) -> SegmentResult:
    """``batch`` through ``segment`` one document and one stage at a time, each call by
    ``run_one`` (which raises :class:`Stuck` when a worker is stuck on it, having replaced
    that worker); the result is the one the whole batch would have given, with a
    :class:`DocumentTimeout` for each document a worker was stuck on."""
    stages = len(segment.positions)
    docs_in = [0] * stages
    docs_out = [0] * stages
    seconds = [0.0] * stages
    documents: list[Document] = []
    origins: list[int] = []
    events: list[Event] = []
    for origin, doc in enumerate(batch):
        current: Document | None = doc
        for index, position in enumerate(segment.positions):
            assert current is not None
            docs_in[index] += 1
            try:
                result = run_one((position,), [current])
            except Stuck as stuck:
                seconds[index] += stuck.limit
                error = DocumentTimeout(
                    f"stuck for over {stuck.limit:g} s in a call that cannot be interrupted "
                    "([run] document_timeout); its worker was replaced"
                )
                events.append(Event(stage=index, origin=origin, document=current, error=error))
                current = None
                break
            seconds[index] += result.counts[0].seconds
            events.extend(attrs.evolve(e, stage=index, origin=origin) for e in result.events)
            if not result.documents:
                current = None
                break
            docs_out[index] += 1
            current = result.documents[0]
        if current is not None:
            documents.append(current)
            origins.append(origin)
    events.sort(key=lambda event: (event.stage, event.origin))
    counts = [
        StageCount(docs_in=i, docs_out=o, seconds=s)
        for i, o, s in zip(docs_in, docs_out, seconds, strict=True)
    ]
    return SegmentResult(documents=documents, origins=origins, events=events, counts=counts)
