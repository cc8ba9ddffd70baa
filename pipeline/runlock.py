"""One run at a time per state store and run cache.

A run holds each of its SQLite files in one long transaction, so a second run on the same
files would fail somewhere in the middle with SQLite's "database is locked". Instead, the
state store and the run cache take an exclusive lock on ``<file>.lock`` beside their file
when a run first opens them (at setup or the first document)
(``flock``: the operating system releases it when the process ends, however it ends, so
a killed run leaves no stale lock) and writes who holds it into the file; a second run
stops at once, naming the run that holds it.

Where ``fcntl`` is missing (Windows) runs are not locked, and SQLite's own locking is the
only guard.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import IO, Any

import attrs

from docstage.errors import EXIT_USAGE, DocstageError, display

if sys.platform != "win32":
    import fcntl


class RunLocked(DocstageError):
    """Another run holds a file this run needs (exit code 2)."""

    exit_code = EXIT_USAGE


def lock_path(path: Path) -> Path:
    """The lock file of the SQLite file ``path``."""
    return path.with_name(f"{path.name}.lock")


@attrs.define
class RunLock:
    """The locks of one run on its state store and run cache.

    Attributes:
        files: The SQLite files the run will write.
        pipeline: The pipeline's name (written into the lock, shown to a second run).
        run_id: The run's id (likewise).
    """

    files: list[Path]
    pipeline: str
    run_id: str
    _held: list[IO[str]] = attrs.Factory(list)

    def acquire(self) -> None:
        """Lock every file, or none.

        Raises:
            RunLocked: Another run holds one of them: ``another run of pipeline X (pid
                N, started T) is using FILE``.
        """
        if sys.platform == "win32":  # pragma: no cover - no flock
            return
        try:
            for path in dict.fromkeys(p.absolute() for p in self.files):
                self._lock(path)
        except BaseException:
            self.release()
            raise

    def _lock(self, path: Path) -> None:
        lock = lock_path(path)
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock, "a+", encoding="utf-8")  # noqa: SIM115 - held for the run
        except OSError:
            # The folder cannot be written: opening the database will say so, in its words.
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = _holder(handle.read())
            handle.close()
            raise RunLocked(
                f"another run{holder} is using '{display(path)}'; wait for it to finish or "
                f"stop it (the lock is '{display(lock)}', released when that process ends)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pipeline": self.pipeline,
                    "run_id": self.run_id,
                    "pid": os.getpid(),
                    "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                }
            )
        )
        handle.flush()
        self._held.append(handle)

    def release(self) -> None:
        """Release every lock held (the lock files stay: removing them would race)."""
        while self._held:
            handle = self._held.pop()
            with contextlib.suppress(OSError):
                if sys.platform != "win32":
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                handle.close()


def _holder(text: str) -> str:
    """`` of pipeline X (pid N, started T)`` from a lock file's content, or ``""``."""
    try:
        found: Any = json.loads(text)
        return f" of pipeline {found['pipeline']} (pid {found['pid']}, started {found['started']})"
    except (ValueError, KeyError, TypeError):
        return ""
