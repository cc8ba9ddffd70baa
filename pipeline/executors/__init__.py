"""Executors: where a plan's segments (runs of transforms) do their work.

The runner streams batches in order and keeps corpus stages, renderers, counters, hooks
and the quarantine in the coordinating process; an executor only maps a segment over
batches and hands back, in input order, what :func:`docstage.segments.run_segment` made
of each. Order is what makes every executor's output identical to ``local``'s: corpus
stages downstream see the same documents in the same order.

- ``local`` (:mod:`~docstage.executors.local`): this process, one batch after another.
- ``processes`` (:mod:`~docstage.executors.processes`): a pool of worker processes
  (``[run] workers``), started with ``spawn`` so that no thread or lock of the
  coordinator is inherited.
- ``ray`` (:mod:`~docstage.executors.ray`): a pool of long-lived Ray actors; imported
  only when chosen.

The modules: :mod:`~docstage.executors.base` (the protocol and the in-order window),
:mod:`~docstage.executors.workers` (what a worker rebuilds its stages from, and the
rebuilding), :mod:`~docstage.executors.isolate` (what the pooled executors do with a
worker stuck past ``[run] document_timeout``), one module per executor, and
:mod:`~docstage.executors.factory`, the only module that knows every executor.
"""

from __future__ import annotations

from docstage.executors.base import Executor
from docstage.executors.factory import make_executor
from docstage.executors.local import LocalExecutor
from docstage.executors.workers import WorkerSpec, worker_spec

__all__ = ["Executor", "LocalExecutor", "WorkerSpec", "make_executor", "worker_spec"]
