"""``pipeline eval cleanup``: cleaned text scored against gold text, token by token.

This module owns the click command: which routes to run (the text route, the HTML route,
the baselines), and the table of their scores with what a reader needs to trust it. The
gold file is read in :mod:`docstage_eval.cleanup_gold`; the routes, and the token metric
micro-averaged over the pages, are in :mod:`docstage_eval.cleanup_routes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from docstage.cli_support import overrides_option, user_errors
from docstage.errors import DataError, display
from docstage.log import configure_logging
from docstage_eval.cleanup_gold import load_gold, parse_fields
from docstage_eval.cleanup_routes import (
    Cleanup,
    RouteResult,
    html_route,
    keep_everything,
    plain_trafilatura,
    text_route,
)
from docstage_eval.command import eval_command, file_option, json_option, show


@eval_command("cleanup")
@file_option(
    "--gold",
    "JSON Lines of pages with their gold text (page_text / clean_text by default).",
    metavar="GOLD",
    required=True,
)
@file_option(
    "--config",
    "A pipeline config: its transform and corpus stages clean the pages (the text route, "
    "and the HTML route after read.html). Its readers and renderers are not run.",
    metavar="CONFIG",
)
@overrides_option("Override one value of CONFIG, as for pipeline run. Repeatable.")
@click.option(
    "--html",
    "with_html",
    is_flag=True,
    help="Score the HTML route: each record's HTML file through read.html (then CONFIG's "
    "stages, with --config).",
)
@click.option(
    "--baselines",
    is_flag=True,
    help="Score the baselines too: the page text kept as it is, and plain trafilatura on the HTML.",
)
@click.option(
    "--field",
    "field_specs",
    multiple=True,
    metavar="ROLE=KEY",
    help="The record key of a role: text (page_text), gold (clean_text), html (html_path, "
    "relative to GOLD's folder), id (id), source (domain), url (url). Repeatable.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Score only the first N records.")
@json_option()
def cleanup_command(
    gold: Path,
    config: Path | None,
    overrides: tuple[str, ...],
    with_html: bool,
    baselines: bool,
    field_specs: tuple[str, ...],
    limit: int | None,
    as_json: bool,
) -> None:
    """Token-level precision, recall and F1 of cleaned text against gold text.

    GOLD is a JSON Lines file with one record per page: the text as scraped
    (page_text), the gold text (clean_text) and, for --html, the page's HTML file
    (html_path). Scores are micro-averaged over the pages: lower-cased \\w+ tokens,
    matched as bags per page, summed over all pages.

    \b
    Routes:
      --config CONFIG   text route: page_text through CONFIG's cleanup stages
      --html            HTML route: the HTML through read.html (then CONFIG's stages)
      --baselines       keep everything; plain trafilatura on the HTML
    """

    configure_logging("console")
    with user_errors():
        data = _evaluate(gold, config, overrides, with_html, baselines, field_specs, limit)
    show(data, as_json=as_json, tables=lambda console: _print(console, data))


def _evaluate(
    gold_path: Path,
    config: Path | None,
    overrides: tuple[str, ...],
    with_html: bool,
    baselines: bool,
    field_specs: tuple[str, ...],
    limit: int | None,
) -> dict[str, Any]:
    if config is None and not with_html and not baselines:
        raise DataError(
            "nothing to evaluate: give --config CONFIG (the text route), --html (the HTML "
            "route) or --baselines"
        )
    if overrides and config is None:
        raise DataError("--set changes a config: give --config CONFIG too")
    fields = parse_fields(field_specs)
    need = [role for role, wanted in (("text", config), ("html", with_html)) if wanted]
    gold = load_gold(gold_path, fields, need=need, limit=limit)
    cleanup = Cleanup(config, overrides) if config is not None else None
    notes: list[str] = []
    results: list[RouteResult] = []
    if baselines:
        for role, name, baseline in (
            ("text", "keep everything", keep_everything),
            ("html", "plain trafilatura", plain_trafilatura),
        ):
            line = gold.lacking(role)
            if line is None:
                results.append(baseline(gold))
            else:
                notes.append(f"{name} skipped: the record on line {line} has no '{fields[role]}'")
    if cleanup is not None:
        results.append(text_route(gold, cleanup))
    if with_html:
        results.append(html_route(gold, cleanup))
    return {
        "gold": gold.shown,
        "pages": len(gold.pages),
        "config": display(cleanup.config) if cleanup is not None else None,
        "routes": [result.as_dict() for result in results],
        "notes": notes,
    }


def _rate(pages_per_second: float | None) -> str:
    if pages_per_second is None:
        return "-"
    return f"{pages_per_second:,.0f}" if pages_per_second >= 1000 else f"{pages_per_second:.1f}"


def _print(console: Console, data: Mapping[str, Any]) -> None:
    """The table of routes, then what a reader needs to trust it: drops, errors, notes."""
    table = Table(
        title=Text(f"Cleanup evaluation: {data['gold']} ({data['pages']:,} pages)"),
        title_justify="left",
    )
    table.add_column("route")
    for column in ("pages", "precision", "recall", "F1", "pages/s"):
        table.add_column(column, justify="right")
    for route in data["routes"]:
        rate = route["pages_per_second"]
        table.add_row(
            Text(route["label"]),
            f"{route['pages']:,}",
            f"{route['precision']:.3f}",
            f"{route['recall']:.3f}",
            f"{route['f1']:.3f}",
            _rate(rate),
        )
    console.print(table)
    for route in data["routes"]:
        if route["route"] in ("text", "html") and data["config"]:
            console.print(Text(f"{route['label']}: {' → '.join(route['stages']) or 'no stages'}"))
        dropped = ", ".join(f"{n} {reason}" for reason, n in route["dropped"].items())
        if dropped:
            console.print(Text(f"{route['label']}: dropped {dropped} (scored as empty text)"))
        if route["errors"]:
            console.print(
                Text(f"{route['label']}: {route['errors']} page(s) failed (scored as empty text)")
            )
    if data["config"]:
        console.print(Text(f"config: {data['config']}"))
    for note in data["notes"]:
        console.print(Text(note))
