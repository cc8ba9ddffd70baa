"""What the three ``pipeline eval`` commands share: how they are declared, their file
options, ``--json``, and how they print (notes as warnings on stderr, then one JSON
object or tables for people)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])


def eval_command(name: str) -> Callable[[Callable[..., Any]], click.Command]:
    """Declare a ``pipeline eval NAME`` subcommand (``-h`` works as ``--help``)."""
    return click.command(name, context_settings={"help_option_names": ["-h", "--help"]})


def file_option(
    flag: str, help: str, *, metavar: str = "FILE", required: bool = False
) -> Callable[[F], F]:
    """An option naming a file (``--gold``, ``--config``, ``--predictions``), passed to
    the command as a :class:`~pathlib.Path` under the flag's name."""
    return click.option(
        flag, required=required, metavar=metavar, type=click.Path(path_type=Path), help=help
    )


def json_option() -> Callable[[F], F]:
    """``--json``: print the results as one JSON object (passed as ``as_json``)."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print the results as one JSON object."
    )


def show(
    results: Mapping[str, Any],
    *,
    as_json: bool,
    tables: Callable[[Console], None],
    notes: Iterable[str] = (),
) -> None:
    """Print each note as a warning on stderr, then ``results`` as JSON or ``tables``."""
    for note in notes:
        click.echo(f"warning: {note}", err=True)
    if as_json:
        click.echo(json.dumps(results))
    else:
        tables(Console())
