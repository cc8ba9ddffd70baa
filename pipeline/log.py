"""Logging setup: structlog, configured once by the CLI (console for people, JSON for machines).

Library code only does ``log = structlog.get_logger()`` at module top and binds context
(``run_id``, ``stage``, ``doc_id``); this module decides how lines look and where they go.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["console", "json"]

#: The settings of the last :func:`configure_logging` call, for worker processes.
_current: tuple[str, int] | None = None


def current_logging() -> tuple[str, int] | None:
    """``(format, verbosity)`` as last configured in this process, or None."""
    return _current


def configure_logging(fmt: LogFormat = "console", *, verbosity: int = 0) -> None:
    """Send log lines to stderr as readable console lines or as one JSON object per line.

    Args:
        fmt: ``console`` (colours on a terminal) or ``json``.
        verbosity: 0 shows warnings and errors (info too in JSON), 1 info, 2 debug.
    """
    global _current
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
    if fmt == "json":
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
