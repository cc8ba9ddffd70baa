"""Resolving a config into a plan: load its plugins, look every stage type up, check
every option. Nothing is read or written yet.

:func:`load_plan` does it from a config file in one pass: the problems of the file and of
its stages are reported together (:class:`~docstage.errors.Problems`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from docstage.config import Config, StageConfig, load_config
from docstage.errors import EXIT_USAGE, ConfigError, DocstageError, Problems
from docstage.loading import load_plugins
from docstage.options import collect_stage
from docstage.plan import Plan, PlannedStage
from docstage.plugins import Plugins


def load_config_plugins(config: Config, extra: Sequence[tuple[str, object]] = ()) -> Plugins:
    """Build the plugin manager for ``config`` (its plugins list, its disabled plugins)."""
    return load_plugins(
        config_plugins=config.pipeline.plugins,
        disabled=config.pipeline.disabled_plugins,
        config_dir=config.folder,
        config_file=config.display_path,
        config_line=config.line("pipeline", "plugins"),
        extra=extra,
    )


def make_plan(
    config: Config,
    *,
    extra_plugins: Sequence[tuple[str, object]] = (),
    require_reader: bool = True,
    problems: Problems | None = None,
) -> Plan:
    """Load plugins and resolve every stage of ``config``.

    Every stage is resolved and every option checked even after a problem, so that all
    of them are reported at once.

    Args:
        config: The loaded config.
        extra_plugins: ``(name, plugin)`` pairs registered besides the installed ones.
        require_reader: False when documents are supplied in memory (tests).
        problems: Problems found while loading ``config`` (:func:`load_config`), raised
            with the ones found here.

    Raises:
        ConfigError: Unknown stage, bad option, readers out of place: every problem found
            (:class:`~docstage.errors.ConfigErrors` when there are several).
        PluginError: A plugin failed to load or to register its stages.
    """
    found = Problems() if problems is None else problems
    try:
        plugins = load_config_plugins(config, extra_plugins)
    except DocstageError as exc:
        if exc.exit_code != EXIT_USAGE or not found:
            raise
        found.add(exc)  # nothing more can be checked; report it with the others
        found.check()
        raise
    shown = config.display_path
    kinds: list[tuple[StageConfig, str]] = []
    stages = []
    for stage_config in config.stages:
        with found.collect():
            stage_type = plugins.registry.lookup(
                stage_config.use,
                file=shown,
                line=stage_config.option_lines.get("use", stage_config.line),
                where=stage_config.where,
            )
            kinds.append((stage_config, stage_type.kind))

            def error(
                message: str, option: str | None, sc: StageConfig = stage_config
            ) -> ConfigError:
                return config.stage_error(sc, message, option)

            instance = collect_stage(
                stage_type.cls,
                stage_config.options,
                config_dir=config.folder,
                error=error,
                problems=found,
                excused=found.options(stage_config.where),
            )
            if instance is not None:
                stages.append(PlannedStage(stage_config, stage_type, instance))
    # With a stage left out (no 'use', an unknown type), the order cannot be judged.
    if [sc.index for sc, _ in kinds] == list(range(1, len(kinds) + 1)):
        _check_order(config, kinds, found, require_reader=require_reader)
    found.check()
    return Plan(config=config, plugins=plugins, stages=tuple(stages))


def load_plan(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    extra_plugins: Sequence[tuple[str, object]] = (),
    require_reader: bool = True,
) -> Plan:
    """Load the config file ``path`` and resolve it, reporting every problem of both at once.

    Raises:
        ConfigError: Every problem found (:class:`~docstage.errors.ConfigErrors` when
            there are several), or the one that stopped the check (a TOML syntax error).
        PluginError: A plugin failed to load or to register its stages.
    """
    problems = Problems()
    config = load_config(path, overrides, problems=problems)
    return make_plan(
        config, extra_plugins=extra_plugins, require_reader=require_reader, problems=problems
    )


def _check_order(
    config: Config,
    kinds: list[tuple[StageConfig, str]],
    problems: Problems,
    *,
    require_reader: bool,
) -> None:
    seen_other = None
    for stage, kind in kinds:
        if kind == "reader":
            if seen_other is not None:
                problems.add(
                    config.stage_error(
                        stage,
                        f"readers must come before other stages, but {seen_other.where} "
                        "comes first; move this table up",
                        None,
                    )
                )
        elif seen_other is None:
            seen_other = stage
    if require_reader and kinds and not any(kind == "reader" for _, kind in kinds):
        problems.add(
            ConfigError(
                "the pipeline has no reader: its first [[stages]] must read documents, "
                'e.g. use = "read.files"',
                file=config.display_path,
                line=config.stages[0].line,
            )
        )
