"""The ``pipeline`` command: its built-in commands, and those distributions contribute.

Exit codes: 0 success, 1 the run finished with quarantined documents (``[run]
quarantine_exit_code``), 2 a usage or config error, 3 the run failed.

Commands above the core (``pipeline eval``, a third party's) come through the
:data:`COMMANDS_GROUP` entry points, found when a command line needs them: this module
never imports them, and one that fails to load costs only itself.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import attrs
import click
from rich.console import Console
from rich.markup import escape

from docstage import __version__
from docstage.bars import progress_bars
from docstage.cli_support import (
    TRACEBACK_VARIABLE,
    fail,
    overrides_option,
    sigterm_as_interrupt,
    unexpected,
    user_errors,
)
from docstage.config import load_config
from docstage.console import (
    print_compacted,
    print_plan,
    print_plugins,
    print_state,
    print_summary,
)
from docstage.describe import print_stage, stage_markdown
from docstage.errors import EXIT_FAILED, EXIT_USAGE, PluginError, display, one_line
from docstage.loading import entry_point_distribution, load_plugins
from docstage.log import configure_logging, log_console
from docstage.resolve import load_plan
from docstage.runner import Runner
from docstage.state_usage import compact, state_usage

#: The entry-point group through which a distribution adds a ``pipeline`` subcommand: the
#: entry point's name is the command's, its object a :class:`click.Command`.
COMMANDS_GROUP = "docstage.commands"

CONFIG = click.argument("config", type=click.Path(path_type=Path))


def command_entry_points() -> list[importlib.metadata.EntryPoint]:
    """The installed entry points of :data:`COMMANDS_GROUP`."""
    return list(importlib.metadata.entry_points(group=COMMANDS_GROUP))


def _origin(ep: importlib.metadata.EntryPoint) -> str:
    """Where an entry point comes from: ``distribution version (module:object)``."""
    return f"{entry_point_distribution(ep) or 'an unknown distribution'} ({ep.value})"


@attrs.frozen
class Contributed:
    """The commands the :data:`COMMANDS_GROUP` entry points contribute.

    Attributes:
        commands: Command name -> the command, for each that loaded.
        problems: Command name -> why it is unavailable (one line), for each that failed to
            load, is not a click command, or is declared by two entry points.
        ignored: One line per entry point that names a built-in command (the built-in wins).
    """

    commands: dict[str, click.Command]
    problems: dict[str, str]
    ignored: tuple[str, ...]

    @classmethod
    def load(cls, builtin: Iterable[str]) -> Contributed:
        """Load every entry point of :data:`COMMANDS_GROUP`; nothing raises."""
        by_name: dict[str, dict[str, importlib.metadata.EntryPoint]] = {}
        for ep in command_entry_points():
            by_name.setdefault(ep.name, {}).setdefault(_origin(ep), ep)
        commands: dict[str, click.Command] = {}
        problems: dict[str, str] = {}
        ignored: list[str] = []
        for name, found in sorted(by_name.items()):
            origins = sorted(found)
            if name in builtin:
                ignored.extend(
                    f"the command '{name}' of {origin} is ignored: "
                    f"'pipeline {name}' is a built-in command"
                    for origin in origins
                )
            elif len(found) > 1:
                problems[name] = (
                    f"two distributions add the command '{name}': {' and '.join(origins)}; "
                    "uninstall one of them"
                )
            else:
                ((origin, ep),) = found.items()
                try:
                    command = ep.load()
                except Exception as exc:
                    problems[name] = (
                        f"the command '{name}' of {origin} failed to load: {one_line(exc)}"
                    )
                    continue
                if isinstance(command, click.Command):
                    commands[name] = command
                else:
                    problems[name] = (
                        f"the command '{name}' of {origin} is not a click command "
                        f"(got {type(command).__name__})"
                    )
        return cls(commands, problems, tuple(ignored))


class _Pipeline(click.Group):
    """The built-in commands, then the contributed ones (:class:`Contributed`).

    Contributed commands are looked up only for a name that is not built in, and loaded
    once per command line (kept in the click context), never at import time.
    """

    def contributed(self, ctx: click.Context) -> Contributed:
        key = f"{__name__}.contributed"
        if key not in ctx.meta:
            ctx.meta[key] = Contributed.load(self.commands)
        found: Contributed = ctx.meta[key]
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        found = self.contributed(ctx)
        key = f"{__name__}.warned"
        if not ctx.meta.get(key):
            ctx.meta[key] = True
            for line in (*found.problems.values(), *found.ignored):
                click.echo(f"warning: {line}", err=True)
        return sorted({*self.commands, *found.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is not None:
            return command
        found = self.contributed(ctx)
        if cmd_name in found.problems:
            fail(found.problems[cmd_name], EXIT_USAGE)
        return found.commands.get(cmd_name)


@click.group(cls=_Pipeline, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="docstage")
def cli() -> None:
    """docstage: read, clean, annotate, deduplicate and render documents, as a TOML file says.

    \b
    Start with:
      pipeline run configs/example.toml      run a pipeline
      pipeline check configs/example.toml    validate it and show the plan
      pipeline plugins                       list plugins and their stages
      pipeline describe read.files           a stage's options
    """


@cli.command()
@CONFIG
@overrides_option()
@click.option(
    "--executor",
    type=click.Choice(["local", "processes", "ray"]),
    help="Override [run] executor: 'processes' runs per-document stages on all cores, "
    "'ray' on Ray (pip install 'docstage[ray]').",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Override [run] workers (processes or Ray actors).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the last run of this pipeline after a crash or kill: work it finished "
    "is reused, nothing is lost or written twice.",
)
@click.option(
    "--retry-quarantined",
    is_flag=True,
    help="Reprocess the documents the last run quarantined (after fixing a stage); the "
    "others come from the run cache, documents new since then are left out.",
)
@click.option(
    "--no-incremental",
    is_flag=True,
    help="Recompute everything: ignore and rebuild the run cache (as [run] incremental = false).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate the config, check that inputs exist and outputs are writable, "
    "count the input; process and write nothing.",
)
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    default="console",
    show_default=True,
    help="Logs on stderr for people or as JSON lines; json also prints the summary as JSON.",
)
@click.option("-v", "--verbose", count=True, help="More log lines (-vv for debug).")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show progress bars (default: only on a terminal).",
)
def run(
    config: Path,
    overrides: tuple[str, ...],
    executor: str | None,
    workers: int | None,
    resume: bool,
    retry_quarantined: bool,
    no_incremental: bool,
    dry_run: bool,
    log_format: str,
    verbose: int,
    progress: bool | None,
) -> None:
    """Run the pipeline described by CONFIG (a TOML file)."""
    configure_logging("json" if log_format == "json" else "console", verbosity=verbose)
    if executor:
        overrides = (*overrides, f"run.executor={json.dumps(executor)}")
    if workers:
        overrides = (*overrides, f"run.workers={workers}")
    if no_incremental:
        overrides = (*overrides, "run.incremental=false")
    if resume and retry_quarantined:
        raise click.UsageError("--resume and --retry-quarantined cannot be combined")
    with user_errors(), sigterm_as_interrupt():
        plan = load_plan(config, overrides)
        stderr = log_console()
        show_progress = progress if progress is not None else stderr.is_terminal
        runner = Runner(plan, dry_run=dry_run, resume=resume, retry_quarantined=retry_quarantined)
        if show_progress and not dry_run and log_format == "console":
            with progress_bars(runner.progress, stderr):
                summary = runner.execute()
        else:
            summary = runner.execute()
    if dry_run:
        console = Console()
        print_plan(console, plan)
        total = runner.estimate()
        found = f"{total:,} input document(s)" if total is not None else "input found"
        console.print(f"dry run: config valid, {found}, outputs writable; nothing written")
        sys.exit(0)
    if log_format == "json":
        click.echo(json.dumps(summary.as_dict()))
    else:
        print_summary(Console(), summary)
    sys.exit(summary.exit_code)


@cli.command()
@CONFIG
@overrides_option()
def check(config: Path, overrides: tuple[str, ...]) -> None:
    """Validate CONFIG and print the resolved plan: stages, their plugins and options.

    Stages are also set up as for a dry run, so a missing input or an unwritable output
    is reported here too; nothing is read or written.
    """
    configure_logging("console")
    with user_errors():
        plan = load_plan(config, overrides)
        Runner(plan, dry_run=True).execute()
    console = Console()
    print_plan(console, plan)
    console.print("[green]config is valid[/green]")


@cli.command()
@CONFIG
@overrides_option()
@click.option(
    "--compact",
    "compact_store",
    is_flag=True,
    help="Give the free pages back (SQLite's VACUUM) and print the size before and "
    "after; refused while a run holds the file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print it as one JSON object.")
def state(config: Path, overrides: tuple[str, ...], compact_store: bool, as_json: bool) -> None:
    """Show what CONFIG's state store ([run] state) holds: its size, the runs recorded,
    rows and bytes per table, the dedup and story indexes and the run manifest.

    The file is only read (a missing one is not created). With --compact it is
    compacted instead.
    """
    configure_logging("console")
    with user_errors():
        loaded = load_config(config, overrides)
        path = Path(loaded.run.state)
        if not path.exists():
            if as_json:
                click.echo(json.dumps({"path": str(path), "exists": False}))
            else:
                click.echo(f"no state store yet at {display(path)} (a run creates it)")
            sys.exit(0)
        if compact_store:
            before, after = compact(path)
        else:
            usage = state_usage(path, loaded.pipeline.name)
    if compact_store:
        if as_json:
            click.echo(json.dumps({"path": str(path), "before": before, "after": after}))
        else:
            print_compacted(Console(), path, before, after)
    elif as_json:
        click.echo(json.dumps({"exists": True, **usage.as_dict()}))
    else:
        print_state(Console(), usage)


@cli.command()
@click.argument("config", required=False, type=click.Path(path_type=Path))
def plugins(config: Path | None) -> None:
    """List installed plugins, where each comes from, and its stages and hooks.

    With CONFIG, the config's own [pipeline] plugins and disabled_plugins count too.
    """
    configure_logging("console")
    with user_errors():
        if config is not None:
            loaded = load_config(config)
            found = load_plugins(
                config_plugins=loaded.pipeline.plugins,
                disabled=loaded.pipeline.disabled_plugins,
                config_dir=loaded.folder,
                strict=False,
            )
        else:
            found = load_plugins(strict=False)
    print_plugins(Console(), found)


@cli.command()
@click.argument("stage")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "markdown"]),
    help="Text for a terminal, or Markdown. Default: text on a terminal, Markdown when "
    "piped or redirected.",
)
def describe(stage: str, output_format: str | None) -> None:
    """Show what a stage does and every option it takes: pipeline describe read.files"""
    configure_logging("console")
    with user_errors():
        found = load_plugins(strict=False)
        stage_type = found.registry.lookup(stage, file="", line=None, where="pipeline describe")
    console = Console()
    if output_format == "markdown" or (output_format is None and not console.is_terminal):
        click.echo(stage_markdown(stage_type), nl=False)
    else:
        print_stage(console, stage_type)


@cli.command("new-plugin")
@click.argument("name")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write it (default: ./NAME).",
)
@click.option(
    "--docstage-from",
    "docstage_from",
    metavar="SOURCE",
    help="Where the plugin's environment gets docstage: its source folder, a wheel or "
    "sdist, a URL pip installs from (git+https://...), or 'index' (default: where this "
    "docstage was installed from).",
)
def new_plugin_command(name: str, folder: Path | None, docstage_from: str | None) -> None:
    """Make a plugin distribution NAME: one example stage, tests, an example
    pipeline, README, tox.ini.

    As made, it installs in a fresh virtual environment and its tests pass: the
    README and the last line printed give the command, which installs docstage
    beside the plugin from its source (docstage is not on PyPI). `pipeline
    plugins` then lists the plugin and `pipeline run example.toml` runs it.
    """
    from docstage.scaffold import new_plugin, source_from_option

    target = folder if folder is not None else Path(name)
    with user_errors():
        source = source_from_option(docstage_from) if docstage_from is not None else None
        made = new_plugin(name, target, source)
    console = Console()
    for path in made.files:
        console.print(f"wrote {escape(display(path))}")
    if made.source.warning:
        click.echo(f"warning: {made.source.warning}", err=True)
    console.print(
        f"next, in a fresh virtual environment: cd {escape(display(target))} && "
        f"{escape(made.source.install)} && pytest; then `pipeline plugins` lists it and "
        "`pipeline run example.toml` runs it",
        soft_wrap=True,
    )


def main() -> None:
    """Entry point of the ``pipeline`` console script."""
    try:
        cli(prog_name="pipeline")
    except PluginError as exc:  # pragma: no cover - raised outside a command's guard
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted; partial output was discarded", EXIT_FAILED)
    except Exception as exc:
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        fail(unexpected(exc), EXIT_FAILED)
