"""The ``ray`` executor: a plan's segments on a pool of long-lived Ray actors.

The coordinator keeps what :mod:`pipeline.executors` says it keeps (reading, corpus
stages, renderers, counters, hooks, quarantine); Ray runs the segments. Each of the
``workers`` actors rebuilds the plan's transforms from the :class:`WorkerSpec` and sets
them up once, then runs any segment on any batch it is sent, for the whole run. A bounded
window of batches is in flight (``window`` per actor) and results are taken back in input
order, so memory does not grow with the input and the output is ``local``'s.

Why actors and not Ray Data ``map_batches``: Ray Data reads a dataset it is given, it
cannot be fed from the runner's stream, so it would run one small dataset per window; and
each dataset execution starts and stops its own actor pool. Measured on 2 CPUs (Ray 2.60),
a window of 8 one-batch rows costs 1.7-2 s with a callable class, every window, before
any stage is set up again (a spaCy model would be loaded once per window and actor);
stateless tasks with stages cached per worker process cost 0.15 s a window and leave
setup, ``close`` and the number of copies of a model to Ray's worker reuse. Plain actors
cost about a millisecond per batch, set stages up exactly once per actor, close them at
the end, and are shared by every segment of the run.

Ray is imported only when this executor is chosen: ``pip install 'docstage[ray]'``.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import structlog

from pipeline.document import Document
from pipeline.errors import ConfigError, RunError
from pipeline.executors import (
    Batches,
    Mapped,
    WorkerSpec,
    build_worker_stages,
    close_worker_stages,
)
from pipeline.segments import Segment, SegmentResult, empty_result, run_segment
from pipeline.stages import Transform

if TYPE_CHECKING:
    from types import ModuleType

    from pipeline.plan import Plan

log = structlog.get_logger()

INSTALL_HINT = "pip install 'docstage[ray]'"
#: Batches in flight per actor: enough to hide a round trip, few enough to bound memory.
WINDOW = 4
#: Seconds ``close`` waits for actors to close their stages before killing them.
CLOSE_TIMEOUT = 30.0


class SegmentWorker:
    """The body of one Ray actor: the plan's transforms, set up once, run on demand.

    A setup failure is kept rather than raised, so that the coordinator receives the
    :class:`RunError`'s own one-line message instead of Ray's report of a dead actor.
    """

    def __init__(self, spec: WorkerSpec) -> None:
        self._stages: dict[int, tuple[str, Transform]] = {}
        self._error: str | None = None
        try:
            self._stages = build_worker_stages(spec)
        except RunError as exc:
            self._error = str(exc)

    def ready(self) -> str | None:
        """None once the stages are set up, else why they could not be."""
        return self._error

    def run(self, positions: Sequence[int], batch: list[Document]) -> SegmentResult:
        if self._error is not None:
            raise RunError(self._error)
        return run_segment([self._stages[p] for p in positions], batch, portable=True)

    def close(self) -> None:
        close_worker_stages(self._stages)
        self._stages = {}


def import_ray(plan: Plan) -> ModuleType:
    """The ``ray`` module.

    Raises:
        ConfigError: Ray is not installed; the message names the pip command.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"the 'ray' executor needs the ray extra: {INSTALL_HINT}",
            file=plan.config.display_path,
            line=plan.config.line("run", "executor"),
            where="[run] executor",
        ) from None
    return ray


def connect(ray: ModuleType, plan: Plan, workers: int) -> bool:
    """Make sure this process is connected to Ray; True when it started Ray itself.

    A connection made earlier (by the caller, by a test) is used as it is. Otherwise
    ``[run] ray_address`` says where to go: ``"auto"`` joins the cluster running on this
    machine (or at ``RAY_ADDRESS``) and starts a local Ray with ``workers`` CPUs when
    there is none; any other address must answer.

    Raises:
        RunError: The configured address cannot be reached.
    """
    if ray.is_initialized():
        return False
    address = str(getattr(plan.config.run, "ray_address", "auto"))
    if address == "auto":
        try:
            ray.init(address="auto", logging_level=logging.WARNING)
        except ConnectionError:
            ray.init(
                num_cpus=workers,
                include_dashboard=False,
                log_to_driver=False,
                ignore_reinit_error=True,
                logging_level=logging.WARNING,
            )
            return True
        return False
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunError(f"[run] ray_address = {address!r}: cannot connect to Ray: {reason}") from exc
    return False


@attrs.define
class RayExecutor:
    """Runs segments on ``workers`` Ray actors, a bounded window of batches ahead.

    Attributes:
        plan: The plan (for stage names in errors).
        actors: Handles of the actors, each with the plan's transforms set up.
        owns_ray: This executor started Ray, and shuts it down in :meth:`close`.
        window: Batches in flight per actor.
    """

    plan: Plan
    actors: list[Any]
    owns_ray: bool = False
    window: int = WINDOW
    name: str = "ray"
    _load: list[int] = attrs.field(init=False)
    _ready: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        self._load = [0] * len(self.actors)

    @classmethod
    def start(cls, plan: Plan, spec: WorkerSpec, workers: int) -> RayExecutor:
        """Connect to Ray and start the actors; they set their stages up meanwhile.

        Raises:
            ConfigError: Ray is not installed.
            RunError: ``[run] ray_address`` cannot be reached.
        """
        ray = import_ray(plan)
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
        log.info("ray workers started", workers=count, started_ray=owns_ray)
        return cls(plan, actors, owns_ray)

    def map(self, segment: Segment, batches: Batches) -> Mapped:
        import ray

        self._wait_ready()
        names = ", ".join(self.plan.stages[p].name for p in segment.positions)
        # (batch, its result's ref, the actor's index); no ref for an empty batch.
        pending: collections.deque[tuple[list[Document], Any, int]] = collections.deque()
        limit = max(1, len(self.actors) * self.window)
        upstream = iter(batches)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < limit:
                    batch = next(upstream, None)
                    if batch is None:
                        exhausted = True
                        break
                    if not batch:
                        pending.append((batch, None, -1))
                        continue
                    index = self._load.index(min(self._load))
                    ref = self.actors[index].run.remote(segment.positions, batch)
                    self._load[index] += 1
                    pending.append((batch, ref, index))
                if not pending:
                    return
                batch, ref, index = pending.popleft()
                if ref is None:
                    yield batch, empty_result(len(segment.positions))
                    continue
                self._load[index] -= 1
                yield batch, self._result(names, ref)
        finally:
            # The run stopped early: what is still queued on the actors is not needed.
            for _batch, ref, index in pending:
                if ref is not None:
                    self._load[index] -= 1
                    ray.cancel(ref)

    def _wait_ready(self) -> None:
        """Wait until every actor has set its stages up.

        Raises:
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
                raise RunError(error)
        self._ready = True

    def _result(self, names: str, ref: Any) -> SegmentResult:
        import ray
        from ray.exceptions import RayActorError, RayError, RayTaskError

        try:
            result: SegmentResult = ray.get(ref)
        except RayActorError as exc:
            raise RunError(
                f"a Ray worker died while running {names} ({_first_line(exc)}); the run is "
                "stopped and its outputs are left as they were"
            ) from exc
        except RayTaskError as exc:
            # Checked before RunError: Ray raises a class deriving from both.
            cause = exc.cause
            if isinstance(cause, RunError):
                raise RunError(str(cause)) from exc
            raise RunError(
                f"{names} failed in a Ray worker: {type(cause).__name__}: {_first_line(cause)}"
            ) from exc
        except RayError as exc:
            raise RunError(f"{names} failed in Ray: {_first_line(exc)}") from exc
        return result

    def close(self) -> None:
        """Close the actors' stages, release the actors, stop Ray if it was started here."""
        import ray

        if self.actors and ray.is_initialized():
            try:
                ray.get([actor.close.remote() for actor in self.actors], timeout=CLOSE_TIMEOUT)
            except Exception as exc:
                log.warning("ray workers did not close cleanly", error=_first_line(exc))
            for actor in self.actors:
                ray.kill(actor)
        self.actors = []
        self._load = []
        if self.owns_ray:
            self.owns_ray = False
            ray.shutdown()


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
