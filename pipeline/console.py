"""The console tables the ``pipeline`` command prints for people: the plan, the plugins,
a stage's options, the run summary, what the state store holds."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from docstage.errors import display
from docstage.plan import Plan
from docstage.plugins import Plugins
from docstage.state_usage import Retention, Runs, StateUsage
from docstage.summary import RunSummary


def _row(table: Table, *cells: str) -> None:
    """Add a row of plain text: names, paths and option values are never rich markup."""
    table.add_row(*(Text(cell) for cell in cells))


def _dropped(reasons: dict[str, int]) -> str:
    return ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items())) or "0"


def print_summary(console: Console, summary: RunSummary) -> None:
    """The per-stage table (in, out, dropped by reason, errors, seconds) and the outcome."""
    table = Table(
        title=escape(f"Run {summary.run_id} — {summary.pipeline}"),
        title_justify="left",
        box=box.SIMPLE_HEAD,  # no vertical rules: the numbers get the width
    )
    names = [
        stats.name if stats.name == stats.use else f"{stats.name} ({stats.use})"
        for stats in summary.stages
    ]
    rows = [
        (
            str(number),
            name,
            stats.kind,
            f"{stats.docs_in:,}",
            f"{stats.docs_out:,}",
            _dropped(dict(stats.dropped)),
            f"{stats.errors:,}",
            f"{stats.cached:,}" if stats.cached else "",
            f"{stats.seconds:.2f}",
        )
        for number, (stats, name) in enumerate(zip(summary.stages, names, strict=True), start=1)
    ]
    # Names and numbers are never cut. When a table of every column at its widest cell
    # does not fit (a narrow terminal, a CI log at 80 columns), each stage is one line.
    headers = ("#", "stage", "kind", "in", "out", "dropped", "errors", "cached", "seconds")
    shown = [c for c, h in enumerate(headers) if h != "cached" or any(row[c] for row in rows)]
    widths = {c: max([len(headers[c]), *(len(row[c]) for row in rows)]) for c in shown}
    dropped_column = headers.index("dropped")
    needed = sum(w for c, w in widths.items() if c != dropped_column) + 12 + 2 * len(shown)
    if needed > console.width:
        console.print(escape(f"Run {summary.run_id} — {summary.pipeline}"))
        for row in rows:
            line = f"{row[0]}. {row[1]} ({row[2]}): in {row[3]}, out {row[4]}, "
            line += f"dropped {row[5]}, errors {row[6]}, "
            line += f"cached {row[7]}, " if row[7] else ""
            console.print(Text(line + f"{row[8]} s"), overflow="fold")
    else:
        for column in shown:
            header = headers[column]
            if header == "dropped":
                table.add_column(header, overflow="fold", min_width=min(widths[column], 12))
            else:
                justify: Literal["left", "right"] = (
                    "right" if header not in ("stage", "kind") else "left"
                )
                table.add_column(header, justify=justify, no_wrap=True, min_width=widths[column])
        for row in rows:
            _row(table, *(row[c] for c in shown))
        console.print(table)
    noun = "document" if summary.documents == 1 else "documents"
    where = "" if summary.executor == "local" else f" ({summary.executor} executor)"
    console.print(f"{summary.documents:,} {noun} out in {summary.seconds:.2f}s{where}")
    if summary.resumed_from:
        console.print(f"resumed run {escape(summary.resumed_from)}")
    if summary.cached:
        console.print(
            "cached: outcomes earlier runs computed with the same stage options were reused "
            "(--set run.incremental=false to recompute)"
        )
    for path in summary.outputs:
        console.print(f"wrote {escape(display(path))}")
    if summary.quarantined and summary.quarantine_path is not None:
        console.print(
            f"[yellow]{summary.quarantined:,} document(s) quarantined → "
            f"{escape(display(summary.quarantine_path))}[/yellow]"
        )
    if summary.failed:
        console.print(f"[red]run failed: {escape(summary.failed)}[/red]")


def _value(value: Any) -> str:
    if isinstance(value, Path) or (isinstance(value, str) and Path(value).is_absolute()):
        return repr(display(value))
    if isinstance(value, (bool, int, float, list, dict)):
        return repr(value)
    return repr(str(value))


def _table(*columns: str, title: str | None = None) -> Table:
    """A table whose long cells wrap instead of being cut off with an ellipsis."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        # Names stay whole (they are what users type); long text wraps.
        whole = column in ("#", "plugin", "stage", "stages", "option", "hooks", "status")
        table.add_column(
            column,
            overflow="fold",
            no_wrap=whole,
            justify="right" if column == "#" else "left",
        )
    return table


def print_plan(console: Console, plan: Plan) -> None:
    """The resolved plan: each stage, the plugin that provides it and its options."""
    config = plan.config
    console.print(f"[bold]{escape(config.pipeline.name)}[/bold] ({escape(config.display_path)})")
    run = config.run
    console.print(
        f"run: executor={run.executor} on_error={run.on_error} batch_size={run.batch_size} "
        f"memory={run.memory!r} quarantine={display(run.quarantine)}",
        markup=False,
    )
    table = _table("#", "stage", "kind", "plugin", "options")
    for stage in plan.stages:
        options = "\n".join(f"{k} = {_value(v)}" for k, v in stage.options().items())
        name = stage.name if stage.name == stage.use else f"{stage.name} ({stage.use})"
        _row(table, str(stage.config.index), name, stage.kind, stage.type.origin, options)
    console.print(table)


def print_plugins(console: Console, plugins: Plugins) -> None:
    """Installed plugins, where each comes from, its stages and hooks."""
    table = _table("plugin", "from", "status", "stages", "hooks")
    for info in plugins.infos:
        origin = info.distribution or info.location or ""
        if info.source != "entry point":
            origin = f"{origin} ({info.source})" if origin else info.source
        status = info.status if not info.error else f"{info.status}: {info.error}"
        stages = "\n".join(t.name for t in plugins.registry.by_plugin(info.name))
        hooks = "\n".join(h.removeprefix("docstage_") for h in info.hooks)
        _row(table, info.name, origin, status, stages, hooks)
    console.print(table)


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


def _runs(table: Table, name: str, runs: Runs) -> None:
    times = (runs.first_started, runs.last_started, runs.last_finished)
    _row(table, name, f"{runs.count:,}", *(_when(t) for t in times))


def print_state(console: Console, usage: StateUsage) -> None:
    """What a state store holds: the file, its runs, its tables, the dedup index."""
    lines = [
        f"state store {display(usage.path)}: {_bytes(usage.size)} on disk "
        f"({_bytes(usage.free)} free), schema version {usage.schema_version}",
        f"run manifest rows of {usage.pipeline}: {usage.manifest_rows:,}",
    ]
    for line in lines:
        console.print(line, markup=False, highlight=False)
    runs = Table(title="runs", title_justify="left")
    runs.add_column("pipeline", no_wrap=True)
    runs.add_column("runs", justify="right")
    for column in ("first started", "last started", "last finished"):
        runs.add_column(column)
    _runs(runs, usage.pipeline, usage.runs)
    _runs(runs, "(all)", usage.all_runs)
    console.print(runs)
    table = Table(title="tables", title_justify="left")
    table.add_column("table", no_wrap=True)
    table.add_column("rows", justify="right")
    if usage.dbstat:
        table.add_column("bytes (with indexes)", justify="right")
    for found in usage.tables:
        cells = [found.name, f"{found.rows:,}"]
        _row(table, *cells, *([_bytes(found.bytes)] if usage.dbstat else []))
    console.print(table)
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
            console.print(line, markup=False, highlight=False)


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
