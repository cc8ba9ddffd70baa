"""A plan: a config with every ``[[stages]]`` table resolved to a configured stage.

The plan is what ``pipeline check`` prints and what the runner executes;
:func:`docstage.resolve.make_plan` builds it.
"""

from __future__ import annotations

from typing import Any

import attrs

from docstage.config import Config, StageConfig
from docstage.plugins import Plugins
from docstage.registry import StageType
from docstage.stages import KINDS, Stage


@attrs.frozen
class PlannedStage:
    """One stage of the plan: its config table, its type and the configured instance."""

    config: StageConfig
    type: StageType
    instance: Stage

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def use(self) -> str:
        return self.type.name

    @property
    def kind(self) -> str:
        return self.type.kind

    @property
    def where(self) -> str:
        return self.config.where

    def options(self) -> dict[str, Any]:
        """The stage's resolved options, defaults included."""
        return {spec.name: getattr(self.instance, spec.name) for spec in self.type.options}


@attrs.frozen
class Plan:
    """A config with its plugins loaded and every stage resolved and configured."""

    config: Config
    plugins: Plugins
    stages: tuple[PlannedStage, ...]

    @property
    def readers(self) -> tuple[PlannedStage, ...]:
        return tuple(s for s in self.stages if s.kind == "reader")

    @property
    def renderers(self) -> tuple[PlannedStage, ...]:
        return tuple(s for s in self.stages if s.kind == "renderer")

    def only(self, *kinds: str) -> Plan:
        """This plan with only the stages of ``kinds``, in order.

        ``plan.only("transform", "corpus")`` runs a config's processing stages on
        documents given to the runner, without setting up its readers or renderers.
        """
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown stage kinds {sorted(unknown)}; kinds are {KINDS}")
        return attrs.evolve(self, stages=tuple(s for s in self.stages if s.kind in kinds))
