"""Pieces the ``pipeline`` commands share: turning user errors into one line, ``--set``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click

from docstage.errors import EXIT_FAILED, DocstageError


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn docstage errors into one line on stderr and their exit code; Ctrl-C into 3."""
    try:
        yield
    except DocstageError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted; partial output was discarded", EXIT_FAILED)


OVERRIDES = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one config value, e.g. --set stages.dedup.threshold=0.7 or "
    "--set run.on_error=fail. Repeatable.",
)
