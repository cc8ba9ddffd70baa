"""The executor a run asks for (:func:`make_executor`), and how many workers it gets.

The one module that knows every executor; it imports the ``ray`` executor (and so Ray)
only when ``[run] executor = "ray"`` is chosen.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from docstage.executors.base import Executor
from docstage.executors.local import LocalExecutor
from docstage.executors.processes import ProcessExecutor
from docstage.executors.workers import WorkerSpec

if TYPE_CHECKING:
    from docstage.plan import Plan


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def worker_count(workers: int | str) -> int:
    """``[run] workers`` as a number ("auto": the cores this process may use)."""
    return available_cores() if workers == "auto" else int(workers)


def make_executor(plan: Plan, spec: WorkerSpec | None) -> Executor:
    """The executor ``[run] executor`` asks for; ``spec`` from
    :func:`~docstage.executors.workers.worker_spec` (taken before the coordinator set the
    stages up) for all but ``local``.

    Raises:
        DocstageError: The executor's extra is not installed (``ray``), or Ray could not
            be reached.
    """
    chosen = plan.config.run.executor
    if chosen == "local" or spec is None:
        return LocalExecutor(plan)
    workers = worker_count(plan.config.run.workers)
    if chosen == "ray":
        from docstage.executors.ray import RayExecutor

        return RayExecutor.start(plan, spec, workers)
    return ProcessExecutor(plan, spec, workers)
