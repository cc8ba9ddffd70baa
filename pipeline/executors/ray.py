"""The ``ray`` executor: a plan's segments on a pool of long-lived Ray actors.

The coordinator keeps what :mod:`docstage.executors` says it keeps (reading, corpus
stages, renderers, counters, hooks, quarantine); Ray runs the segments. Each of the
``workers`` actors (``"auto"``: one per CPU of the cluster) rebuilds the plan's
transforms from the :class:`~docstage.executors.workers.WorkerSpec` and sets them up
once, then runs any segment on any batch it is sent, for the whole run. A bounded window
of batches is in flight (``window`` per actor) and results are taken back in input order,
so memory does not grow with the input and the output is ``local``'s, byte for byte.
An actor stuck past ``[run] document_timeout`` in a call no signal interrupts is killed
and replaced; what was queued on it goes again, and the stuck batch's documents are
isolated (:mod:`docstage.executors.isolate`).

Why actors and not Ray Data ``map_batches``: a Ray Data dataset is built from data at
hand or read by its own tasks; it cannot pull from the runner's stream, so it would take
one small dataset per window, and every dataset execution starts and stops its own actor
pool. Measured on 2 CPUs with Ray 2.60 (4,000 documents through two cleanup stages,
batches of 64, windows of 8 batches): ``local`` 20 s, ``processes`` 10.7 s, these actors
10.6 s; Ray Data with a callable class 30-42 s (1.7-2 s of actor start-up per window, and
a spaCy model would be loaded again each time); Ray Data with stateless tasks and stages
cached per worker process 17.7 s (0.15 s per window, and setup, ``close`` and the number
of loaded copies of a model left to Ray's worker reuse). An actor costs about 0.7 ms per
batch in round trips.

Ray is imported only when this executor is chosen: ``pip install 'docstage[ray]'``. Only
:mod:`docstage.executors.factory` imports this module, and only then.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import structlog

from docstage.document import Document
from docstage.errors import ConfigError, DocstageError, RunError
from docstage.executors.base import Batches, Mapped, in_order
from docstage.executors.isolate import Stuck, batch_limit, isolate, single_limit
from docstage.executors.workers import WorkerSpec, build_worker_stages, close_worker_stages
from docstage.segments import Segment, SegmentResult, empty_result, run_segment
from docstage.stages import Transform

if TYPE_CHECKING:
    from types import ModuleType

    from docstage.plan import Plan

log = structlog.get_logger()

INSTALL_HINT = "pip install 'docstage[ray]'"
#: Batches in flight per actor: enough to hide a round trip, few enough to bound memory.
WINDOW = 4
#: Seconds ``close`` waits for actors to close their stages before killing them.
CLOSE_TIMEOUT = 30.0


class SegmentWorker:
    """The body of one Ray actor: the plan's transforms, set up once, run on demand.

    A setup failure is kept rather than raised, so that the coordinator receives the
    error's own one-line message instead of Ray's report of a dead actor.
    """

    def __init__(self, spec: WorkerSpec) -> None:
        self._stages: dict[int, tuple[str, Transform]] = {}
        self._error: DocstageError | None = None
        self._timeout = spec.config.run.document_timeout
        try:
            self._stages = build_worker_stages(spec)
        except DocstageError as exc:
            self._error = exc

    def ready(self) -> DocstageError | None:
        """None once the stages are set up, else why they could not be."""
        return self._error

    def run(self, positions: Sequence[int], batch: list[Document]) -> SegmentResult:
        if self._error is not None:
            raise self._error
        stages = [self._stages[p] for p in positions]
        return run_segment(stages, batch, portable=True, timeout=self._timeout)

    def close(self) -> None:
        close_worker_stages(self._stages)
        self._stages = {}


def import_ray(plan: Plan) -> ModuleType:
    """The ``ray`` module.

    Raises:
        ConfigError: Ray is not installed; the message names the pip command.
    """
    try:
        # import_module keeps the type ModuleType whether or not Ray (and its types) is
        # installed where mypy runs.
        ray = importlib.import_module("ray")
    except ImportError:
        raise ConfigError(
            f"the 'ray' executor needs the ray extra: {INSTALL_HINT}",
            file=plan.config.display_path,
            line=plan.config.line("run", "executor"),
            where="[run] executor",
        ) from None
    return ray


def connect(ray: ModuleType, plan: Plan, workers: int) -> bool:
    """Connect this process to Ray; True when this call did (started Ray or joined it).

    A connection made earlier (by the caller, by a test) is used as it is, and left open.
    Otherwise ``[run] ray_address`` says where to go: ``"auto"`` joins the cluster running
    on this machine (or at ``RAY_ADDRESS``) and starts a local Ray with ``workers`` CPUs
    when there is none; any other address must answer.

    Raises:
        RunError: The configured address cannot be reached.
    """
    if ray.is_initialized():
        return False
    address = plan.config.run.ray_address
    if address == "auto":
        try:
            ray.init(address="auto", logging_level=logging.WARNING)
        except ConnectionError:  # no cluster running: Ray says so with this type
            ray.init(
                num_cpus=workers,
                include_dashboard=False,
                log_to_driver=False,
                ignore_reinit_error=True,
                logging_level=logging.WARNING,
            )
        return True
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except Exception as exc:
        raise RunError(
            f"[run] ray_address = {address!r}: cannot connect to Ray: {_first_line(exc)}"
        ) from exc
    return True


@attrs.define
class RayExecutor:
    """Runs segments on ``workers`` Ray actors, a bounded window of batches ahead.

    Attributes:
        plan: The plan (for stage names in errors).
        actors: Handles of the actors, each with the plan's transforms set up.
        make_actor: Starts a new actor (to replace a stuck one).
        owns_ray: This executor connected to Ray (or started it) and disconnects (or
            stops it) in :meth:`close`; a connection made by the caller is left open.
        window: Batches in flight per actor.
    """

    plan: Plan
    actors: list[Any]
    owns_ray: bool = False
    make_actor: Callable[[], Any] | None = None
    window: int = WINDOW
    name: str = "ray"
    _load: list[int] = attrs.field(init=False)
    #: Per actor slot, how many times its actor was replaced.
    _generation: list[int] = attrs.field(init=False)
    _ready: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        self._load = [0] * len(self.actors)
        self._generation = [0] * len(self.actors)

    @classmethod
    def start(cls, plan: Plan, spec: WorkerSpec, workers: int) -> RayExecutor:
        """Connect to Ray and start the actors; they set their stages up meanwhile.

        Raises:
            ConfigError: Ray is not installed.
            RunError: ``[run] ray_address`` cannot be reached.
        """
        ray = import_ray(plan)
        if not spec.stages:  # no per-document stage: nothing to start Ray for
            return cls(plan, [])
        owns_ray = connect(ray, plan, workers)
        try:
            count = _actor_count(ray, plan, workers)
            remote = ray.remote(num_cpus=1)(SegmentWorker)
            shared = ray.put(spec)
            actors = [remote.remote(shared) for _ in range(count)]
        except BaseException:
            if owns_ray:
                ray.shutdown()
            raise
        log.info("ray workers started", workers=count, connected_here=owns_ray)
        return cls(plan, actors, owns_ray, make_actor=lambda: remote.remote(shared))

    def map(self, segment: Segment, batches: Batches) -> Mapped:
        import ray

        self.wait_ready()
        limit = max(1, len(self.actors) * self.window)

        def submit(batch: list[Document]) -> _Handle:
            return self._submit(segment.positions, batch)

        def cancel(handle: _Handle) -> None:
            # The run stopped early: what is still queued on the actors is not needed.
            self._load[handle.slot] -= 1
            if ray.is_initialized():
                ray.cancel(handle.ref)

        for batch, handle in in_order(batches, limit, submit, cancel):
            if handle is None:
                yield batch, empty_result(len(segment.positions))
                continue
            yield batch, self._batch_result(segment, batch, handle)

    def _submit(self, positions: tuple[int, ...], batch: list[Document]) -> _Handle:
        slot = self._load.index(min(self._load))  # the least busy actor
        self._load[slot] += 1
        ref = self.actors[slot].run.remote(positions, batch)
        return _Handle(ref, slot, self._generation[slot], batch)

    def _batch_result(
        self, segment: Segment, batch: list[Document], handle: _Handle
    ) -> SegmentResult:
        timeout = self.plan.config.run.document_timeout
        limit = batch_limit(timeout, len(batch), len(segment.positions), self.window)
        try:
            return self._result(segment.positions, handle, limit)
        except Stuck:
            log.warning(
                "a worker was stuck past [run] document_timeout and was replaced; its batch "
                "goes again one document at a time",
                stages=self._names(segment.positions),
                documents=len(batch),
            )
            return isolate(segment, batch, self._run_one)

    def _run_one(self, positions: tuple[int, ...], docs: list[Document]) -> SegmentResult:
        timeout = self.plan.config.run.document_timeout
        assert timeout is not None  # only a stuck batch is isolated
        return self._result(positions, self._submit(positions, docs), single_limit(timeout))

    def _names(self, positions: Sequence[int]) -> str:
        return ", ".join(self.plan.stages[p].name for p in positions)

    def wait_ready(self) -> None:
        """Wait until every actor has set its stages up.

        Raises:
            ConfigError: A stage rejected its options in an actor's ``setup``.
            RunError: A stage could not be set up in an actor (the message names it), or
                an actor could not start at all.
        """
        if self._ready:
            return
        import ray
        from ray.exceptions import RayError

        try:
            errors = ray.get([actor.ready.remote() for actor in self.actors])
        except RayError as exc:
            raise RunError(f"a Ray worker could not start: {_first_line(exc)}") from exc
        for error in errors:
            if error is not None:
                raise error
        self._ready = True

    def _result(
        self, positions: tuple[int, ...], handle: _Handle, limit: float | None
    ) -> SegmentResult:
        """The result of a batch sent to an actor; a batch whose actor was replaced
        meanwhile (for a stuck batch before it) goes again.

        Raises:
            Stuck: Still running after ``limit`` seconds; its actor has been replaced.
            RunError: What went wrong in the actor, in one line.
        """
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError

        names = self._names(positions)
        self._load[handle.slot] -= 1
        try:
            result: SegmentResult = ray.get(handle.ref, timeout=limit)
        except GetTimeoutError:
            assert limit is not None
            self._replace(handle.slot)
            raise Stuck(limit) from None
        except RayActorError as exc:
            if self._generation[handle.slot] != handle.generation:
                # Killed with a stuck batch queued before this one: again, elsewhere.
                return self._result(positions, self._submit(positions, handle.batch), limit)
            raise RunError(
                f"a Ray worker died while running {names} ({_first_line(exc)}); the run is "
                "stopped and its outputs are left as they were"
            ) from exc
        except RayTaskError as exc:
            # Ray's error derives from the worker's; its text is Ray's multi-line report.
            cause = exc.cause
            if isinstance(cause, DocstageError):
                raise RunError(str(cause)) from exc
            raise RunError(
                f"{names} failed in a Ray worker: {type(cause).__name__}: {_first_line(cause)}"
            ) from exc
        except RayError as exc:
            raise RunError(f"{names} failed in Ray: {_first_line(exc)}") from exc
        return result

    def _replace(self, slot: int) -> None:
        """Kill the actor in ``slot`` (stuck in C code, it ignores anything gentler) and
        start another there, waiting until its stages are set up."""
        import ray

        assert self.make_actor is not None
        ray.kill(self.actors[slot])
        self.actors[slot] = self.make_actor()
        self._generation[slot] += 1
        self._ready = False
        self.wait_ready()

    def close(self) -> None:
        """Close the actors' stages, release the actors, leave Ray as it was found."""
        import ray
        from ray.exceptions import RayActorError

        if self.actors and ray.is_initialized():
            closing = [actor.close.remote() for actor in self.actors]
            done, late = ray.wait(closing, num_returns=len(closing), timeout=CLOSE_TIMEOUT)
            for ref in done:
                try:
                    ray.get(ref)
                except RayActorError:
                    pass  # a dead actor has nothing left to close; its death was reported
                except Exception as exc:
                    log.warning("a ray worker did not close cleanly", error=_first_line(exc))
            if late:
                log.warning("ray workers did not close in time", workers=len(late))
            for actor in self.actors:
                ray.kill(actor)
        self.actors = []
        self._load = []
        if self.owns_ray:
            self.owns_ray = False
            ray.shutdown()


@attrs.frozen
class _Handle:
    """A batch sent to the actor in ``slot`` while it was in its ``generation``."""

    ref: Any
    slot: int
    generation: int
    batch: list[Document] = attrs.field(eq=False, repr=False)


def _actor_count(ray: ModuleType, plan: Plan, workers: int) -> int:
    """``workers``, or the cluster's CPUs when they are fewer (actors take one CPU each,
    and an actor that cannot be placed would wait for ever)."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if plan.config.run.workers == "auto" and cpus:
        return cpus
    if cpus and workers > cpus:
        log.warning("fewer CPUs in the Ray cluster than [run] workers", workers=workers, cpus=cpus)
        return cpus
    return max(1, workers)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
