"""Executors: where a plan's segments (runs of transforms) do their work.

The runner streams batches in order and keeps corpus stages, renderers, counters, hooks
and the quarantine in the coordinating process; an executor only maps a segment over
batches and hands back, in input order, what :func:`docstage.segments.run_segment` made
of each. Order is what makes every executor's output identical to ``local``'s: corpus
stages downstream see the same documents in the same order.

- ``local``: this process, one batch after another.
- ``processes``: a pool of worker processes (``[run] workers``), started with ``spawn``
  so that no thread or lock of the coordinator is inherited. Each worker rebuilds the
  segment's stages from their configured (not yet set up) instances and sets them up
  once; a bounded window of batches is in flight, so memory does not grow with input.
- ``ray``: see :mod:`docstage.ray_executor`.
"""

from __future__ import annotations

import collections
import concurrent.futures
import multiprocessing
import multiprocessing.util
import os
import pickle
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Protocol, TypeVar

import attrs
import structlog

from docstage.config import Config
from docstage.document import Document
from docstage.errors import DocstageError, RunError
from docstage.log import configure_logging, current_logging
from docstage.plan import set_up_stage, stage_context
from docstage.segments import Segment, SegmentResult, empty_result, run_segment
from docstage.stages import Transform

if TYPE_CHECKING:
    from docstage.plan import Plan

log = structlog.get_logger()

Batches = Iterator[list[Document]]
Mapped = Iterator[tuple[list[Document], SegmentResult]]


class Executor(Protocol):
    """Runs segments over batches; created per run by :func:`make_executor`."""

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


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def worker_count(workers: int | str) -> int:
    """``[run] workers`` as a number ("auto": the cores this process may use)."""
    return available_cores() if workers == "auto" else int(workers)


T = TypeVar("T")
R = TypeVar("R")


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


@attrs.define
class LocalExecutor:
    """Runs every segment in this process: the reference the others must match."""

    plan: Plan
    name: str = "local"

    def map(self, segment: Segment, batches: Batches) -> Mapped:
        stages = [_pair(self.plan, position) for position in segment.positions]
        for batch in batches:
            yield batch, run_segment(stages, batch)

    def wait_ready(self) -> None:
        pass  # the runner set the stages up in this process

    def close(self) -> None:
        pass


def _pair(plan: Plan, position: int) -> tuple[str, Transform]:
    stage = plan.stages[position]
    assert isinstance(stage.instance, Transform)
    return stage.use, stage.instance


@attrs.frozen(kw_only=True)
class WorkerSpec:
    """What a worker process needs to rebuild the segments it runs.

    Attributes:
        config: The resolved config (plugins to import: file plugins among them).
        run_id: The coordinator's run id, bound to the worker's log lines.
        stages: Per plan position, ``(type name, stage name, pickled instance)`` of every
            transform, pickled before ``setup`` so that no model or handle travels.
        logging: The coordinator's logging settings.
    """

    config: Config
    run_id: str
    stages: dict[int, tuple[str, str, bytes]]
    logging: tuple[str, int] | None


def worker_spec(plan: Plan, run_id: str) -> WorkerSpec:
    """Capture the plan's transforms for workers; call before the coordinator sets up.

    Raises:
        RunError: A stage cannot be pickled (it is defined inside a function, or holds an
            open handle from its constructor).
    """
    stages: dict[int, tuple[str, str, bytes]] = {}
    for position, stage in enumerate(plan.stages):
        if not isinstance(stage.instance, Transform):
            continue
        try:
            payload = pickle.dumps(stage.instance, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise RunError(
                f"{stage.where}: cannot send the stage to worker processes: "
                f"{type(exc).__name__}: {exc} (a stage class must be defined at module top "
                "level and its options must be picklable; see docs/writing-plugins.md)"
            ) from exc
        stages[position] = (stage.use, stage.name, payload)
    return WorkerSpec(config=plan.config, run_id=run_id, stages=stages, logging=current_logging())


# --- inside a worker process ------------------------------------------------------------

_worker_stages: dict[int, tuple[str, Transform]] = {}
_worker_error: DocstageError | None = None


def build_worker_stages(spec: WorkerSpec) -> dict[int, tuple[str, Transform]]:
    """Rebuild and set up the plan's transforms in a worker (process or Ray actor).

    Raises:
        ConfigError: A stage rejected its options (``OptionError``); the message names the
            file, line, stage and option, as the coordinator would.
        RunError: A stage could not be rebuilt or set up; the message names it.
    """
    from docstage.resolve import load_config_plugins

    if spec.logging is not None:
        configure_logging(spec.logging[0], verbosity=spec.logging[1])  # type: ignore[arg-type]
    # Importing the config's plugins makes classes from plugin files importable by name.
    load_config_plugins(spec.config)
    built: dict[int, tuple[str, Transform]] = {}
    bound = log.bind(run_id=spec.run_id, pipeline=spec.config.pipeline.name, worker=os.getpid())
    for position, (use, _name, payload) in spec.stages.items():
        stage = spec.config.stages[position]
        try:
            instance = pickle.loads(payload)
        except Exception as exc:
            raise RunError(
                f"{stage.where}: setup failed in a worker: {type(exc).__name__}: {exc}"
            ) from None
        context = stage_context(spec.config, stage, run_id=spec.run_id, log=bound)
        set_up_stage(spec.config, stage, instance, context, place=" in a worker")
        built[position] = (use, instance)
    return built


def close_worker_stages(stages: dict[int, tuple[str, Transform]]) -> None:
    for _use, instance in stages.values():
        try:
            instance.close()
        except Exception:
            log.exception("stage close failed in a worker")


def _init_worker(spec: WorkerSpec) -> None:
    global _worker_error
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
    return run_segment([_worker_stages[p] for p in positions], batch, portable=True)


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

    def _started(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.spec,),
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
        pool = self._started()
        limit = max(1, self.workers * self.window)

        def submit(batch: list[Document]) -> concurrent.futures.Future[SegmentResult]:
            return pool.submit(_work, segment.positions, batch)

        for batch, future in in_order(batches, limit, submit, cancel=lambda f: f.cancel()):
            if future is None:
                yield batch, empty_result(len(segment.positions))
            else:
                names = ", ".join(self.plan.stages[p].name for p in segment.positions)
                yield batch, self._get(future, names)

    @staticmethod
    def _get(future: concurrent.futures.Future[R], running: str) -> R:
        """The result of a task running ``running`` (stage names); what went wrong in the
        worker as a :class:`RunError`."""
        try:
            return future.result()
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

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def make_executor(plan: Plan, spec: WorkerSpec | None) -> Executor:
    """The executor ``[run] executor`` asks for; ``spec`` from :func:`worker_spec` (taken
    before the coordinator set the stages up) for all but ``local``.

    Raises:
        DocstageError: The executor's extra is not installed (``ray``), or Ray could not
            be reached.
    """
    chosen = plan.config.run.executor
    if chosen == "local" or spec is None:
        return LocalExecutor(plan)
    workers = worker_count(plan.config.run.workers)
    if chosen == "ray":
        from docstage.ray_executor import RayExecutor

        return RayExecutor.start(plan, spec, workers)
    return ProcessExecutor(plan, spec, workers)
