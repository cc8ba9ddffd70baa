"""The error hierarchy, the exit codes, and the helpers every message is written with.

A user's mistake (a bad config, a missing folder, a broken plugin) becomes one line on
stderr and exit code 2; a run that cannot continue becomes exit code 3. Exceptions raised
by a stage while processing a document are not errors of this module: the runner wraps
them in :class:`StageError`, reports them through ``docstage_on_document_error`` and
quarantines the document (or stops, as ``[run] on_error`` says).
"""

from __future__ import annotations

import difflib
import traceback
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_FAILED = 3


class DocstageError(Exception):
    """Base class of docstage's own errors; ``str(error)`` is the one line shown to users."""

    exit_code = EXIT_USAGE


class DataError(DocstageError):
    """A data file given on the command line (gold, predictions, label map) that cannot be
    used; the message names the file and, where known, the line."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None):
        if file is not None:
            where = f"{display(file)}:{line}" if line is not None else display(file)
            message = f"{where}: {message}"
        super().__init__(message)


class ConfigError(DocstageError):
    """A pipeline config that cannot be run: syntax, unknown keys, wrong types, bad paths.

    Args:
        message: What is wrong and, where possible, how to fix it.
        file: The config file, when the error is tied to one.
        line: The 1-based line in ``file``, when known.
        column: The 1-based column, when known (TOML syntax errors).
        where: The place in the config, e.g. ``[[stages]] #3 (dedup)`` or ``[run]``.
        option: The option at fault, when there is one (not shown: the message names it).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        where: str | None = None,
        option: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.where = where
        self.option = option
        super().__init__(self._render())

    def _render(self) -> str:
        location = ""
        if self.file:
            location = self.file
            if self.line:
                location += f":{self.line}"
                if self.column:
                    location += f":{self.column}"
            location += ": "
        where = f"{self.where}: " if self.where else ""
        return f"{location}{where}{self.message}"


class ConfigErrors(ConfigError):
    """Every error one pass over a config found (two or more): ``str()`` is one line each.

    Attributes:
        errors: The errors, in the order of their lines in the file (errors of the command
            line, which have none, first).
    """

    def __init__(self, errors: Sequence[DocstageError]) -> None:
        self.errors = tuple(errors)
        first = next((e for e in self.errors if isinstance(e, ConfigError)), None)
        super().__init__(
            "\n".join(str(error) for error in self.errors),
            file=first.file if first else None,
            line=first.line if first else None,
            where=first.where if first else None,
        )

    def _render(self) -> str:
        return self.message


class Problems:
    """The errors of one pass over a config, collected so that all are reported at once.

    What can be checked after an error goes on being checked (the other options, the other
    stages); :meth:`check` then raises them together. An error that leaves nothing further
    to check (a TOML syntax error, a plugin that fails to import) is raised at once, after
    :meth:`add`-ing it, with :meth:`check`.
    """

    def __init__(self) -> None:
        self.errors: list[DocstageError] = []

    def add(self, error: DocstageError) -> None:
        """Add one error (the errors of a :class:`ConfigErrors` one by one)."""
        self.errors.extend(error.errors if isinstance(error, ConfigErrors) else [error])

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Add a docstage error the block raises (exit code 2), instead of raising it."""
        try:
            yield
        except DocstageError as exc:
            if exc.exit_code != EXIT_USAGE:
                raise
            self.add(exc)

    def options(self, where: str) -> set[str]:
        """The options of ``where`` (``[run]``, ``[[stages]] #2 (dedup)``) already reported."""
        return {
            e.option
            for e in self.errors
            if isinstance(e, ConfigError) and e.where == where and e.option is not None
        }

    def __len__(self) -> int:
        return len(self.errors)

    def check(self) -> None:
        """Raise the error found, or :class:`ConfigErrors` with all of them; or nothing."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            ordered = sorted(self.errors, key=lambda e: getattr(e, "line", None) or 0)
            raise ConfigErrors(ordered)


class OptionError(DocstageError):
    """Raised by a stage (in ``setup``) about one of its own options.

    The runner turns it into a :class:`ConfigError` that names the config file, the line
    of the option and the stage, so a stage author only says what is wrong.
    """

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        self.message = message
        super().__init__(f"option '{option}': {message}")


class PluginError(DocstageError):
    """A plugin that cannot be used: failed import, bad hook, clashing stage names."""


class RunError(DocstageError):
    """A run that had to stop (``on_error = "fail"``, a corpus stage or a hook raised)."""

    exit_code = EXIT_FAILED


class StageError(RunError):
    """A stage raised or misbehaved on one document; chained to the original exception."""

    def __init__(self, message: str, *, stage: str, plugin: str | None = None) -> None:
        self.stage = stage
        self.plugin = plugin
        super().__init__(message)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return `` — did you mean 'x'?`` for the closest choice, or an empty string."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" — did you mean '{matches[0]}'?" if matches else ""


def one_of(choices: Iterable[str]) -> str:
    """Format a sorted, quoted list of valid choices for an error message."""
    names = sorted(choices)
    return ", ".join(f"'{name}'" for name in names) if names else "(none)"


def display(path: str | Path) -> str:
    """A path as users should see it: relative to the working folder when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def format_traceback(exc: BaseException) -> str:
    """The full traceback of ``exc`` as text, for quarantine records."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def one_line(exc: BaseException) -> str:
    """``Type: message`` of ``exc``, first line only: how a plugin or command that failed to
    load is reported."""
    return f"{type(exc).__name__}: {exc}".strip().splitlines()[0]


def os_error_text(exc: OSError) -> str:
    """One line for an operating-system error: the file (when known) and the cause, e.g.
    ``out/docs.jsonl: No space left on device``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{display(exc.filename)}: {reason}" if exc.filename else reason


#: What a stage may raise that the runner handles as the stage's failure: every
#: exception, and ``SystemExit`` (a plugin calling ``sys.exit`` must not end the run
#: with its own exit code and no message). ``KeyboardInterrupt`` still stops the run.
STAGE_ERRORS: tuple[type[BaseException], ...] = (Exception, SystemExit)
