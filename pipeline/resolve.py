"""Resolving a config into a plan: load its plugins, look every stage type up, check
every option. Nothing is read or written yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from docstage.config import Config, StageConfig
from docstage.errors import ConfigError
from docstage.loading import load_plugins
from docstage.options import build_stage
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
) -> Plan:
    """Load plugins and resolve every stage of ``config``.

    Args:
        config: The loaded config.
        extra_plugins: ``(name, plugin)`` pairs registered besides the installed ones.
        require_reader: False when documents are supplied in memory (tests).

    Raises:
        ConfigError: Unknown stage, bad option, readers out of place.
        PluginError: A plugin failed to load or to register its stages.
    """
    plugins = load_config_plugins(config, extra_plugins)
    shown = config.display_path
    stages = []
    for stage_config in config.stages:
        stage_type = plugins.registry.lookup(
            stage_config.use,
            file=shown,
            line=stage_config.option_lines.get("use", stage_config.line),
            where=stage_config.where,
        )

        def error(message: str, option: str | None, sc: StageConfig = stage_config) -> ConfigError:
            return config.stage_error(sc, message, option)

        instance = build_stage(
            stage_type.cls, stage_config.options, config_dir=config.folder, error=error
        )
        stages.append(PlannedStage(stage_config, stage_type, instance))
    _check_order(config, stages, require_reader=require_reader)
    return Plan(config=config, plugins=plugins, stages=tuple(stages))


def _check_order(config: Config, stages: list[PlannedStage], *, require_reader: bool) -> None:
    seen_other = None
    for stage in stages:
        if stage.kind == "reader":
            if seen_other is not None:
                raise config.stage_error(
                    stage.config,
                    f"readers must come before other stages, but {seen_other.where} comes "
                    "first; move this table up",
                    None,
                )
        elif seen_other is None:
            seen_other = stage
    if require_reader and not any(s.kind == "reader" for s in stages):
        raise ConfigError(
            "the pipeline has no reader: its first [[stages]] must read documents, "
            'e.g. use = "read.files"',
            file=config.display_path,
            line=config.stages[0].line,
        )
