"""The ``local`` executor: every segment in the coordinating process, one batch after
another; the reference the other executors must match."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from docstage.executors.base import Batches, Mapped
from docstage.segments import Segment, run_segment
from docstage.stages import Transform

if TYPE_CHECKING:
    from docstage.plan import Plan


@attrs.define
class LocalExecutor:
    """Runs every segment in this process: the reference the others must match."""

    plan: Plan
    name: str = "local"

    def map(self, segment: Segment, batches: Batches) -> Mapped:
        stages = [_pair(self.plan, position) for position in segment.positions]
        timeout = self.plan.config.run.document_timeout
        for batch in batches:
            yield batch, run_segment(stages, batch, timeout=timeout)

    def wait_ready(self) -> None:
        pass  # the runner set the stages up in this process

    def close(self) -> None:
        pass


def _pair(plan: Plan, position: int) -> tuple[str, Transform]:
    stage = plan.stages[position]
    assert isinstance(stage.instance, Transform)
    return stage.use, stage.instance
