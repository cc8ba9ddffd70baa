"""A run as hooks see it: its id, its plan and its live counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from docstage.summary import StageStats

if TYPE_CHECKING:
    from docstage.config import Config
    from docstage.plan import Plan, PlannedStage


@attrs.define(kw_only=True)
class Run:
    """One execution of a config; what hooks receive as ``run``.

    Attributes:
        run_id: Unique id of this run (also bound to every log line).
        plan: The resolved stages, their types and options.
        stats: Live counters per stage, in config order.
    """

    run_id: str
    plan: Plan
    stats: list[StageStats]

    @property
    def config(self) -> Config:
        return self.plan.config

    @property
    def stages(self) -> tuple[PlannedStage, ...]:
        return self.plan.stages
