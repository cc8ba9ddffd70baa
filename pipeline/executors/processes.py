"""The ``processes`` executor: a plan's segments on a pool of worker processes.

The pool has ``[run] workers`` processes, started with ``spawn`` so that no thread or lock
of the coordinator is inherited. Each worker rebuilds the segment's stages from their
configured (not yet set up) instances (:mod:`docstage.executors.workers`) and sets them up
once; a bounded window of batches is in flight, so memory does not grow with input.

A worker stuck past ``[run] document_timeout`` in a call no signal interrupts is ended
with the pool's other processes (a process pool cannot end one of its workers alone); a
new pool takes over, the batches that were in flight go again, and the stuck batch's
documents are isolated (:mod:`docstage.executors.isolate`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import multiprocessing.util
import os
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, TypeVar

import attrs
import structlog

from docstage.document import Document
from docstage.errors import DocstageError, RunError
from docstage.executors.base import Batches, Mapped, in_order
from docstage.executors.isolate import Stuck, batch_limit, isolate, single_limit
from docstage.executors.workers import (
    WorkerSpec,
    build_worker_stages,
    close_worker_stages,
    exit_with_parent,
)
from docstage.segments import Segment, SegmentResult, empty_result, run_segment
from docstage.stages import Transform

if TYPE_CHECKING:
    from docstage.plan import Plan

R = TypeVar("R")

log = structlog.get_logger()

# --- inside a worker process ------------------------------------------------------------

_worker_stages: dict[int, tuple[str, Transform]] = {}
_worker_error: DocstageError | None = None
_worker_timeout: float | None = None


def _init_worker(spec: WorkerSpec, coordinator: int) -> None:
    global _worker_error, _worker_timeout
    exit_with_parent(coordinator)
    _worker_timeout = spec.config.run.document_timeout
    try:
        _worker_stages.update(build_worker_stages(spec))
    except DocstageError as exc:
        # Kept, not raised: an initializer that raises breaks the whole pool, and the
        # coordinator would only learn that a process died.
        _worker_error = exc
        return
    multiprocessing.util.Finalize(None, close_worker_stages, (_worker_stages,), exitpriority=10)


def _ready() -> DocstageError | None:
    """Why this worker's stages could not be set up, or None."""
    return _worker_error


def _work(positions: tuple[int, ...], batch: list[Document]) -> SegmentResult:
    if _worker_error is not None:
        raise _worker_error
    stages = [_worker_stages[p] for p in positions]
    return run_segment(stages, batch, portable=True, timeout=_worker_timeout)


# --- the coordinator's side -----------------------------------------------------------------


@attrs.define
class ProcessExecutor:
    """Runs segments on a pool of worker processes, a bounded window of batches ahead.

    Attributes:
        plan: The plan (for stage names in errors).
        spec: What workers rebuild their stages from.
        workers: Number of worker processes.
        window: Batches in flight per worker.
    """

    plan: Plan
    spec: WorkerSpec
    workers: int
    window: int = 2
    name: str = "processes"
    _pool: concurrent.futures.ProcessPoolExecutor | None = attrs.field(default=None, init=False)
    _generation: int = attrs.field(default=0, init=False)

    def _started(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.spec, os.getpid()),
            )
        return self._pool

    def wait_ready(self) -> None:
        """Start a worker and wait for its stages to be set up (the others set up the same
        stages from the same spec as they start)."""
        if not self.spec.stages:
            return
        names = ", ".join(self.plan.stages[p].name for p in self.spec.stages)
        error = self._get(self._started().submit(_ready), f"the setup of {names}")
        if error is not None:
            raise error

    def map(self, segment: Segment, batches: Batches) -> Mapped:
        limit = max(1, self.workers * self.window)

        def submit(batch: list[Document]) -> tuple[int, concurrent.futures.Future[SegmentResult]]:
            return self._generation, self._started().submit(_work, segment.positions, batch)

        handles = in_order(batches, limit, submit, cancel=lambda handle: handle[1].cancel())
        for batch, handle in handles:
            if handle is None:
                yield batch, empty_result(len(segment.positions))
            else:
                yield batch, self._result(segment, batch, *handle)

    def _result(
        self,
        segment: Segment,
        batch: list[Document],
        generation: int,
        future: concurrent.futures.Future[SegmentResult],
    ) -> SegmentResult:
        names = ", ".join(self.plan.stages[p].name for p in segment.positions)
        if generation != self._generation and not _succeeded(future):
            # Its pool was ended to free a worker stuck on an earlier batch: again.
            future = self._started().submit(_work, segment.positions, batch)
        timeout = self.plan.config.run.document_timeout
        limit = batch_limit(timeout, len(batch), len(segment.positions), self.window)
        try:
            return self._get(future, names, limit)
        except Stuck:
            log.warning(
                "a worker was stuck past [run] document_timeout and was replaced; its batch "
                "goes again one document at a time",
                stages=names,
                documents=len(batch),
            )
            return isolate(segment, batch, self._run_one)

    def _run_one(self, positions: tuple[int, ...], docs: list[Document]) -> SegmentResult:
        timeout = self.plan.config.run.document_timeout
        assert timeout is not None  # only a stuck batch is isolated
        names = ", ".join(self.plan.stages[p].name for p in positions)
        future = self._started().submit(_work, positions, docs)
        return self._get(future, names, single_limit(timeout))

    def _get(
        self, future: concurrent.futures.Future[R], running: str, limit: float | None = None
    ) -> R:
        """The result of a task running ``running`` (stage names); what went wrong in the
        worker as a :class:`RunError`.

        Raises:
            Stuck: The task was still running after ``limit`` seconds; the pool has been
                replaced by one whose workers are set up.
        """
        try:
            return future.result(timeout=limit)
        except concurrent.futures.TimeoutError:
            assert limit is not None
            self._replace()
            raise Stuck(limit) from None
        except BrokenProcessPool as exc:
            raise RunError(
                f"a worker process died while running {running} ({exc}); the run is stopped "
                "and its outputs are left as they were"
            ) from exc
        except RunError:
            raise
        except DocstageError as exc:
            raise RunError(str(exc)) from exc
        except Exception as exc:
            raise RunError(f"{running} failed in a worker: {type(exc).__name__}: {exc}") from exc

    def _replace(self) -> None:
        """End every worker process now (a worker stuck in C code ignores everything
        gentler) and start a new pool, waiting for its stages to be set up; the tasks of
        the old pool are lost and must go again."""
        if self._pool is not None:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                with contextlib.suppress(OSError):
                    process.kill()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._generation += 1
        self.wait_ready()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _succeeded(future: concurrent.futures.Future[R]) -> bool:
    """The task is done and raised nothing."""
    return future.done() and not future.cancelled() and future.exception() is None
