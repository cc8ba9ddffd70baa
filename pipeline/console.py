"""What the ``pipeline`` command prints for people: the plan, the plugins, the run
summary, what the state store holds.

Every table goes through :mod:`docstage.tables`, so that its words and numbers stay
whole on a terminal, in a pipe and in a CI log alike."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape

from docstage.describe import toml_value
from docstage.errors import display
from docstage.plan import Plan
from docstage.plugins import Plugins
from docstage.state_usage import Retention, Runs, StateUsage
from docstage.summary import RunSummary
from docstage.tables import GAP, Column, Grid, fits, print_grid, print_lines, rich_table


def print_summary(console: Console, summary: RunSummary) -> None:
    """The per-stage table (in, out, dropped by reason, errors, seconds) and the outcome."""
    # Names and numbers are never cut: when the table does not fit (a narrow terminal, a
    # CI log at 80 columns, a long stage name), each stage is one line.
    title = f"Run {summary.run_id} — {summary.pipeline}"
    print_grid(
        console, summary_grid(summary), title=title, table_box=box.SIMPLE_HEAD, records=_stages
    )
    noun = "document" if summary.documents == 1 else "documents"
    where = "" if summary.executor == "local" else f" ({summary.executor} executor)"
    console.print(f"{summary.documents:,} {noun} out in {summary.seconds:.2f}s{where}")
    if summary.resumed_from:
        console.print(f"resumed run {escape(summary.resumed_from)}")
    if summary.cached:
        console.print(
            "cached: outcomes earlier runs computed with the same stage options were reused "
            "(--set run.incremental=false to recompute)",
            soft_wrap=True,
        )
    for path in summary.outputs:
        console.print(f"wrote {escape(display(path))}", soft_wrap=True)
    if summary.quarantined and summary.quarantine_path is not None:
        console.print(
            f"[yellow]{summary.quarantined:,} document(s) quarantined → "
            f"{escape(display(summary.quarantine_path))}[/yellow]",
            soft_wrap=True,
        )
    if summary.failed:
        console.print(f"[red]run failed: {escape(summary.failed)}[/red]", soft_wrap=True)


def summary_grid(summary: RunSummary) -> Grid:
    """The run summary's table: a row per stage; ``cached`` only when a stage used the
    run cache, and one line per drop reason."""
    columns = [Column("#", right=True), Column("stage"), Column("kind")]
    columns += [Column(h, right=True) for h in ("in", "out")]
    columns += [Column("dropped"), Column("errors", right=True)]
    cached = any(stats.cached for stats in summary.stages)
    columns += [Column("cached", right=True)] if cached else []
    columns.append(Column("seconds", right=True))
    rows = []
    for number, stats in enumerate(summary.stages, start=1):
        name = stats.name if stats.name == stats.use else f"{stats.name} ({stats.use})"
        dropped = [f"{count:,} {reason}" for reason, count in sorted(stats.dropped.items())]
        row = [str(number), name, stats.kind, f"{stats.docs_in:,}", f"{stats.docs_out:,}"]
        row += ["\n".join(dropped) or "0", f"{stats.errors:,}"]
        row += [f"{stats.cached:,}"] if cached else []
        rows.append((*row, f"{stats.seconds:.2f}"))
    return Grid.of(columns, rows)


def _stages(grid: Grid) -> list[str]:
    """The summary as one line per stage: ``2. explode (transform): in 3, out 2, ...``."""
    headers = [column.header for column in grid.columns]
    lines = []
    for row in grid.rows:
        cell = dict(zip(headers, row, strict=True))
        dropped = cell["dropped"].replace("\n", ", ")
        line = f"{cell['#']}. {cell['stage']} ({cell['kind']}): in {cell['in']}, "
        line += f"out {cell['out']}, dropped {dropped}, errors {cell['errors']}, "
        line += f"cached {cell['cached']}, " if cell.get("cached", "0") != "0" else ""
        lines.append(line + f"{cell['seconds']} s")
    return lines


def option_value(value: Any) -> str:
    """An option's value as the config would write it (TOML, as ``pipeline describe``
    shows defaults), a path relative to the working folder when inside it."""
    if isinstance(value, Path) or (isinstance(value, str) and Path(value).is_absolute()):
        return toml_value(display(value))
    return toml_value(value)


def print_plan(console: Console, plan: Plan) -> None:
    """The resolved plan: each stage, the plugin that provides it and its options.

    On a terminal wide enough, a table with one option per line; elsewhere (a pipe, a
    file, a narrow terminal) one line per stage and its options after it, as many to a
    line as fit, every one whole.
    """
    config = plan.config
    console.print(f"[bold]{escape(config.pipeline.name)}[/bold] ({escape(config.display_path)})")
    run = config.run
    console.print(
        f"run: executor={run.executor} on_error={run.on_error} batch_size={run.batch_size} "
        f"memory={option_value(run.memory)} quarantine={display(run.quarantine)}",
        markup=False,
        soft_wrap=True,
    )
    rows = []
    options = []
    for stage in plan.stages:
        name = stage.name if stage.name == stage.use else f"{stage.name} ({stage.use})"
        rows.append((str(stage.config.index), name, stage.kind, stage.type.origin))
        options.append([(k, option_value(v)) for k, v in stage.options().items()])
    grid = Grid.of([Column("#", right=True), "stage", "kind", "plugin"], rows)
    if console.is_terminal:
        cells = ["\n".join(f"{k} = {v}" for k, v in opts) for opts in options]
        wide = [(*row, cell) for row, cell in zip(rows, cells, strict=True)]
        table = rich_table(Grid.of([*grid.columns, Column("options")], wide))
        if fits(console, table):
            console.print(table)
            return
    indent = " " * (grid.widths()[0] + GAP + 2) if rows else ""
    for line, opts in zip(grid.lines(header=False), options, strict=True):
        flowed = _flow([f"{k}={v}" for k, v in opts], indent, console.width)
        print_lines(console, [line, *flowed])


def _flow(items: list[str], indent: str, width: int) -> list[str]:
    """``items`` two spaces apart on lines of at most ``width`` characters after
    ``indent``; an item longer than that has a line of its own, whole."""
    lines: list[str] = []
    line = ""
    for item in items:
        if line and len(indent) + len(line) + GAP + len(item) > width:
            lines.append(indent + line)
            line = ""
        line = f"{line}{' ' * GAP}{item}" if line else item
    if line:
        lines.append(indent + line)
    return lines


def print_plugins(console: Console, plugins: Plugins) -> None:
    """Installed plugins, where each comes from, its stages and hooks."""
    rows = []
    for info in plugins.infos:
        origin = info.distribution or info.location or ""
        if info.source != "entry point":
            origin = f"{origin} ({info.source})" if origin else info.source
        status = info.status if not info.error else f"{info.status}: {info.error}"
        stages = "\n".join(t.name for t in plugins.registry.by_plugin(info.name))
        hooks = "\n".join(h.removeprefix("docstage_") for h in info.hooks)
        rows.append((info.name, origin, status, stages, hooks))
    print_grid(console, Grid.of(["plugin", "from", "status", "stages", "hooks"], rows))


def _bytes(size: float | None) -> str:
    """``size`` bytes for people: 512 B, 3.4 KiB, 1.2 GiB."""
    if size is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _runs(name: str, runs: Runs) -> tuple[str, ...]:
    times = (runs.first_started, runs.last_started, runs.last_finished)
    return (name, f"{runs.count:,}", *(_when(t) for t in times))


def print_state(console: Console, usage: StateUsage) -> None:
    """What a state store holds: the file, its runs, its tables, the dedup and story
    indexes."""
    lines = [
        f"state store {display(usage.path)}: {_bytes(usage.size)} on disk "
        f"({_bytes(usage.free)} free), schema version {usage.schema_version}",
        f"run manifest rows of {usage.pipeline}: {usage.manifest_rows:,}",
    ]
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    columns: list[Column | str] = ["pipeline", Column("runs", right=True), "first started"]
    rows = [_runs(usage.pipeline, usage.runs), _runs("(all)", usage.all_runs)]
    columns += ["last started", "last finished"]
    print_grid(console, Grid.of(columns, rows), title="runs")
    tables: list[Column | str] = ["table", Column("rows", right=True)]
    tables += [Column("bytes (with indexes)", right=True)] if usage.dbstat else []
    rows = [
        (found.name, f"{found.rows:,}", *([_bytes(found.bytes)] if usage.dbstat else []))
        for found in usage.tables
    ]
    print_grid(console, Grid.of(tables, rows), title="tables")
    if not usage.dbstat:
        console.print("(this SQLite lacks the dbstat table: rows only, no bytes per table)")
    dedup = usage.dedup
    if dedup is not None:
        per = f", {_bytes(dedup.bytes_per_document)} per document" if usage.dbstat else ""
        lines = [f"dedup index: {dedup.documents:,} documents{per}"]
        ends = (
            ("oldest", dedup.oldest_run, dedup.oldest_indexed),
            ("newest", dedup.newest_run, dedup.newest_indexed),
        )
        for end, run, indexed in ends if dedup.documents else ():
            when = "(when: not recorded)" if indexed is None else _when(indexed)
            lines.append(f"  {end} entry: indexed {when} by run {run or '-'}")
        lines.append(f"  retention: {_retention(dedup.retention)}")
        for line in lines:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    _print_stories(console, usage)


def _print_stories(console: Console, usage: StateUsage) -> None:
    stories = usage.stories
    if stories is None:
        return
    per = ""
    if usage.dbstat and stories.bytes_per_document is not None:
        per = f", {_bytes(stories.bytes_per_document)} per document"
    lines = [
        f"story index: {stories.stories:,} stories, {stories.merges:,} merged into others, "
        f"{stories.documents:,} documents{per}"
    ]
    if stories.first_seen:
        lines.append(f"  first seen {stories.first_seen}, last updated {stories.last_updated}")
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _retention(retention: Retention | None) -> str:
    if retention is None:
        return "not recorded yet (the next run of the dedup stage records it)"
    kept = []
    if retention.max_age_days is not None:
        kept.append(f"entries expire {retention.max_age_days:,} days after they were indexed")
    if retention.max_documents is not None:
        kept.append(f"the {retention.max_documents:,} most recently indexed are kept")
    return "; ".join(kept) if kept else "none (entries never expire)"


def print_compacted(console: Console, path: Path, before: int, after: int) -> None:
    """The state store's size before and after ``pipeline state --compact``."""
    console.print(
        f"compacted {display(path)}: {_bytes(before)} before, {_bytes(after)} after "
        f"({before:,} -> {after:,} bytes)",
        markup=False,
        highlight=False,
    )
