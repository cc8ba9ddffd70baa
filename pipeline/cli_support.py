"""What the ``pipeline`` commands share, built-in and contributed: a user's mistake as one
line on stderr and an exit code (:func:`user_errors`, :func:`fail`), and the ``--set``
option (:func:`overrides_option`)."""

from __future__ import annotations

import signal
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import click

from docstage.errors import EXIT_FAILED, DocstageError, one_line, os_error_text

F = TypeVar("F", bound=Callable[..., Any])


def unexpected(exc: Exception) -> str:
    """One line for an exception nothing else handled (exit 3): a file or database error
    says which file and why; anything else is a bug, and says how to see its traceback."""
    if isinstance(exc, OSError):
        return os_error_text(exc)
    if isinstance(exc, sqlite3.Error):
        return f"database error: {one_line(exc)}"
    return (
        f"unexpected error: {one_line(exc)} (a bug in docstage or a plugin; "
        f"set {TRACEBACK_VARIABLE}=1 to see the traceback)"
    )


#: Set (to anything) to let an unexpected exception end ``pipeline`` with its traceback.
TRACEBACK_VARIABLE = "DOCSTAGE_TRACEBACK"


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: message`` on stderr (``error:`` before each of its lines) and exit
    with ``code``."""
    for line in message.splitlines() or [""]:
        click.echo(f"error: {line}", err=True)
    sys.exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn docstage errors into one line on stderr each (a config's errors are several,
    :class:`~docstage.errors.ConfigErrors`) and their exit code; Ctrl-C into 3."""
    try:
        yield
    except DocstageError as exc:
        fail(str(exc), exc.exit_code)
    except Terminated:
        fail("terminated (SIGTERM); partial output was discarded", EXIT_FAILED)
    except KeyboardInterrupt:
        fail("interrupted; partial output was discarded", EXIT_FAILED)


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (systemd, Kubernetes, ``timeout``): handled as Ctrl-C is."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread, so a run
    stopped by a service manager discards its partial output and says so, like Ctrl-C."""

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


#: What ``--set`` says under ``pipeline run`` and ``pipeline check``.
OVERRIDES_HELP = (
    "Override one config value, e.g. --set stages.dedup.threshold=0.7 or "
    "--set run.on_error=fail. Repeatable."
)


def overrides_option(help: str = OVERRIDES_HELP) -> Callable[[F], F]:
    """The ``--set KEY=VALUE`` option: repeatable, passed to the command as ``overrides``
    (a tuple of strings for :func:`docstage.config.load_config`). Every command that
    changes a config takes it; ``help`` says what it changes there."""
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=help)
