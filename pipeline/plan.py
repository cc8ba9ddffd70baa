"""A plan: a config with every ``[[stages]]`` table resolved to a configured stage.

The plan is what ``pipeline check`` prints and what the runner executes;
:func:`docstage.resolve.make_plan` builds it.
"""

from __future__ import annotations

from typing import Any

import attrs
import structlog

from docstage.config import Config, StageConfig
from docstage.errors import STAGE_ERRORS, DocstageError, OptionError, RunError
from docstage.plugins import Plugins
from docstage.registry import StageType
from docstage.stages import KINDS, Stage, StageContext, StageProgress
from docstage.state import StateStore


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


def stage_context(
    config: Config,
    stage: StageConfig,
    *,
    run_id: str,
    log: structlog.typing.FilteringBoundLogger,
    dry_run: bool = False,
    state: StateStore | None = None,
    progress: StageProgress | None = None,
) -> StageContext:
    """The context ``stage`` is set up with, in the coordinator or in a worker alike."""
    return StageContext(
        run_id=run_id,
        config_dir=config.folder,
        stage_name=stage.name,
        index=stage.index,
        log=log.bind(stage=stage.name),
        dry_run=dry_run,
        state=state,
        memory=config.run.memory_bytes,
        progress=progress if progress is not None else StageProgress(),
    )


def set_up_stage(
    config: Config, stage: StageConfig, instance: Stage, context: StageContext, *, place: str = ""
) -> None:
    """Call ``instance.setup(context)`` and say what went wrong as users should read it.

    Args:
        place: Where the setup runs, for the message (``" in a worker"``); empty in the
            coordinator.

    Raises:
        ConfigError: The stage rejected one of its options (``OptionError``): the message
            names the config file, the option's line, the stage and the option.
        DocstageError: The stage raised one of docstage's errors (re-raised as it is in
            the coordinator; a :class:`RunError` naming the stage in a worker).
        RunError: The stage raised anything else; the message names it.
    """
    try:
        instance.setup(context)
    except OptionError as exc:
        raise config.stage_error(stage, str(exc), exc.option) from None
    except DocstageError as exc:
        if not place:
            raise
        raise RunError(f"{stage.where}: setup failed{place}: {exc}") from None
    except STAGE_ERRORS as exc:
        message = f"{stage.where}: setup failed{place}: {type(exc).__name__}: {exc}"
        if place:
            raise RunError(message) from None
        raise RunError(message) from exc
