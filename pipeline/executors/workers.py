"""The worker side of the pooled executors: what a worker rebuilds a plan's transforms
from (:class:`WorkerSpec`, captured by :func:`worker_spec` in the coordinator), and the
rebuilding itself (:func:`build_worker_stages`), the one place a worker process or Ray
actor builds a stage's context and sets the stage up."""

from __future__ import annotations

import os
import pickle
import threading
import time
from typing import TYPE_CHECKING

import attrs
import structlog

from docstage.config import Config
from docstage.errors import RunError
from docstage.log import configure_logging, current_logging
from docstage.plan import set_up_stage, stage_context
from docstage.stages import Transform

if TYPE_CHECKING:
    from docstage.plan import Plan

log = structlog.get_logger()


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


#: How often a worker process checks that the process that started it is alive.
PARENT_CHECK_SECONDS = 0.5


def exit_with_parent(parent: int) -> None:
    """End this worker process soon after ``parent`` (the coordinator's pid, passed by it)
    dies: a ``kill -9`` of the run gives its workers no chance to be told, so a daemon
    thread polls the parent's pid. The pid comes from the coordinator, not from
    ``getppid`` here: a coordinator killed while this process was still starting would
    otherwise never be noticed."""
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="docstage-parent-watch", daemon=True).start()


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
    """Close the stages :func:`build_worker_stages` set up; a failure is logged, not raised."""
    for _use, instance in stages.values():
        try:
            instance.close()
        except Exception:
            log.exception("stage close failed in a worker")
