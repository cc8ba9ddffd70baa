"""What every executor promises (:class:`Executor`), and the bounded in-order window
(:func:`in_order`) the pooled executors send their batches through."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

from docstage.document import Document
from docstage.segments import Segment, SegmentResult

Batches = Iterator[list[Document]]
Mapped = Iterator[tuple[list[Document], SegmentResult]]


class Executor(Protocol):
    """Runs segments over batches; created per run by
    :func:`~docstage.executors.factory.make_executor`."""

    name: str

    def map(self, segment: Segment, batches: Batches) -> Mapped:
        """Yield each batch with its segment result, in input order.

        Batches may be empty (every document was served from the run cache): they are
        yielded back in their place, with :func:`~docstage.segments.empty_result`, without
        a trip to a worker.
        """
        ...

    def wait_ready(self) -> None:
        """Wait until the workers have set their stages up; called once before reading.

        Raises:
            ConfigError: A stage rejected its options in a worker's ``setup`` (exit code
                2, as under ``local``).
            RunError: A stage could not be set up in a worker, or a worker not start.
        """
        ...

    def close(self) -> None:
        """Stop workers; called once at the end of the run, also after a failure."""
        ...


T = TypeVar("T")


def in_order(
    batches: Batches,
    limit: int,
    submit: Callable[[list[Document]], T],
    cancel: Callable[[T], object] | None = None,
) -> Iterator[tuple[list[Document], T | None]]:
    """Submit up to ``limit`` batches ahead and yield each with its handle, in input order.

    Empty batches (every document served from the run cache) are not submitted: they come
    back in their place with None. When the consumer stops early, ``cancel`` is called on
    every handle still pending.
    """
    pending: collections.deque[tuple[list[Document], T | None]] = collections.deque()
    upstream = iter(batches)
    try:
        while True:
            while len(pending) < limit and (batch := next(upstream, None)) is not None:
                pending.append((batch, submit(batch) if batch else None))
            if not pending:
                return
            yield pending.popleft()
    finally:
        if cancel is not None:
            for _batch, handle in pending:
                if handle is not None:
                    cancel(handle)
