"""Logging setup: structlog, configured once by the CLI (console for people, JSON for machines).

Library code only does ``log = structlog.get_logger()`` at module top and binds context
(``run_id``, ``stage``, ``doc_id``); this module decides how lines look and where they go.
Console lines go through rich's console on stderr (:func:`log_console`), the one the
progress bars are drawn on, so that a line logged during a run prints whole above them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, Literal

import structlog
from rich.console import Console
from rich.text import Text

LogFormat = Literal["console", "json"]

#: The settings of the last :func:`configure_logging` call, for worker processes.
_current: tuple[str, int] | None = None
_console: Console | None = None


def log_console() -> Console:
    """The console on stderr that console log lines are printed through: draw live output
    (progress bars) on it and every log line prints above that output."""
    global _console
    if _console is None:
        _console = Console(stderr=True)
    return _console


class _ConsoleLogger:
    """A structlog logger that prints each line through :func:`log_console`."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def msg(self, message: str) -> None:
        # soft_wrap: a long line is never cut or broken by rich; the terminal wraps it.
        self._console.print(Text.from_ansi(message), soft_wrap=True, highlight=False)

    log = debug = info = warn = warning = error = err = critical = exception = fatal = msg


def current_logging() -> tuple[str, int] | None:
    """``(format, verbosity)`` as last configured in this process, or None."""
    return _current


def configure_logging(fmt: LogFormat = "console", *, verbosity: int = 0) -> None:
    """Send log lines to stderr as readable console lines or as one JSON object per line.

    Args:
        fmt: ``console`` (colours on a terminal) or ``json``.
        verbosity: 0 shows warnings and errors (info too in JSON), 1 info, 2 debug.
    """
    global _current, _console
    _current = (fmt, verbosity)
    if verbosity >= 2:
        level = logging.DEBUG
    elif verbosity == 1 or fmt == "json":
        level = logging.INFO
    else:
        level = logging.WARNING
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    factory: Callable[..., Any]
    if fmt == "json":
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
        factory = structlog.PrintLoggerFactory(file=sys.stderr)
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
        _console = Console(stderr=True)  # what stderr is now: a terminal or not
        logger = _ConsoleLogger(_console)
        factory = lambda *args: logger  # noqa: E731 - structlog calls it with the logger's name
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )
