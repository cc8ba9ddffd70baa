"""Writing output files so that a crash never leaves a half-written file under the real name,
and a run's files appear together or not at all.

:class:`AtomicFile` writes under a temporary name beside the target and renames on commit.
While a run is open (:func:`outputs_together`, entered by the runner), a commit only
finishes the file (flushed, synced, closed) and hands it to the run's :class:`Outputs`;
the runner publishes every finished file at once when the whole run has succeeded, or
discards them all. Renderers, corpus-stage reports and the quarantine file therefore need
nothing of their own to be all-or-nothing together.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import IO

import attrs

from docstage.errors import OptionError


@attrs.define
class AtomicFile:
    """A file written under a temporary name in the target folder, renamed on ``commit``.

    Until ``commit`` the previous file (if any) stays intact; ``discard`` removes the
    temporary file. Open it with :meth:`open`.

    Output written in one go uses it as a context manager, which commits when the block
    ends normally and discards when it raises (``KeyboardInterrupt`` included)::

        with AtomicFile.open(path, option="report") as out:
            out.write(text)

    A file kept open across calls (a streaming renderer) calls ``commit`` or ``discard``
    itself, or enters the ``with`` block only for its last writes.
    """

    path: Path
    handle: IO[str]
    _temp: Path

    @classmethod
    def open(cls, path: str | Path, *, option: str = "path") -> AtomicFile:
        """Create the folder if needed and open a temporary file beside ``path``.

        Raises:
            OptionError: The folder cannot be created or written to (named by ``option``).
        """
        target = Path(path)
        folder = target.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            sweep_stale(target)
            prefix = f".{target.name}.{os.getpid()}."
            fd, temp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise OptionError(
                option,
                f"cannot write to output folder '{folder}': {reason}; choose a writable path",
            ) from None
        os.chmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600; outputs follow the umask
        handle = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        file = cls(target, handle, Path(temp))
        together = _TOGETHER.get()
        if together is not None:
            together.opened.append(file)  # discarded with the run if never finished
        return file

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.discard()
            return
        try:
            self.commit()
        except BaseException:
            self.discard()  # no temporary file left behind, whoever handles the error
            raise

    def write(self, text: str) -> None:
        """Write ``text``.

        Raises:
            OSError: Writing failed (a full disk); ``filename`` is the target's path.
        """
        try:
            self.handle.write(text)
        except OSError as exc:
            raise _naming(exc, self.path) from None

    def commit(self) -> Path:
        """Flush, sync and close the temporary file; rename it over the target now, or,
        inside :func:`outputs_together`, when the run publishes its outputs. Returns the
        target.

        Raises:
            OSError: The file could not be finished (a full disk shows here at the
                latest); the temporary file is removed and the target left as it was.
        """
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
        except OSError as exc:
            self.discard()
            raise _naming(exc, self.path) from None
        except BaseException:
            self.discard()
            raise
        together = _TOGETHER.get()
        if together is not None:
            together.add(self)
        else:
            self.publish()
        return self.path

    def publish(self) -> None:
        """Rename the finished temporary file over the target."""
        os.replace(self._temp, self.path)

    def discard(self) -> None:
        """Close and delete the temporary file; the target is left as it was."""
        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            self._temp.unlink()


@attrs.define
class Outputs:
    """The files of one run: those finished and waiting to be published together
    (``pending``), and every one opened in the run (``opened``)."""

    pending: list[AtomicFile] = attrs.Factory(list)
    opened: list[AtomicFile] = attrs.Factory(list)
    _replaced: list[tuple[Path, Path | None]] = attrs.Factory(list)

    def add(self, file: AtomicFile) -> None:
        # A file committed twice under one name: the later content wins, like a rename.
        for earlier in [f for f in self.pending if f.path == file.path]:
            earlier.discard()
            self.pending.remove(earlier)
        self.pending.append(file)

    def publish(self) -> list[Path]:
        """Rename every finished file over its target, keeping the targets they replace
        until :meth:`confirm` (or :meth:`restore` puts them back).

        Every file was synced before this starts, so only the renames remain: a crash
        in this loop is the one moment some outputs can be new and others old.

        Raises:
            OSError: A rename failed; what was renamed is put back, the rest discarded.
        """
        try:
            while self.pending:
                file = self.pending[0]
                self._replaced.append((file.path, _keep_previous(file.path)))
                try:
                    file.publish()
                except OSError as exc:
                    exc.filename, exc.filename2 = str(file.path), None
                    raise
                self.pending.pop(0)
        except BaseException:
            self.restore()
            raise
        return [path for path, _ in self._replaced]

    def confirm(self) -> None:
        """Forget the replaced targets: the published files stay."""
        for _, kept in self._replaced:
            if kept is not None:
                with contextlib.suppress(OSError):
                    kept.unlink()
        self._replaced.clear()

    def restore(self) -> None:
        """Put the replaced targets back (a target that did not exist is removed) and
        discard what was not published."""
        for path, kept in reversed(self._replaced):
            with contextlib.suppress(OSError):
                if kept is None:
                    path.unlink(missing_ok=True)
                elif path.exists() and os.path.samefile(kept, path):
                    kept.unlink()  # never replaced (rename does nothing between links)
                else:
                    os.replace(kept, path)
        self._replaced.clear()
        self.discard()

    def discard(self) -> None:
        """Remove every finished file not yet published; the targets stay as they were."""
        for file in self.pending:
            file.discard()
        self.pending.clear()


def sweep_stale(target: Path) -> None:
    """Remove the temporary files a killed run left beside ``target``: ours are named
    ``.NAME.PID.*.tmp`` (or ``.NAME.PID.previous``), and a file whose process is gone is
    stale. Files of a live process (another run writing the same output) are left."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.(?:.*\.tmp|previous)")
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    for name in names:
        match = pattern.fullmatch(name)
        if match is not None and not _alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                (target.parent / name).unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid() or sys.platform == "win32":  # os.kill(pid, 0) kills on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by someone else
        return True
    return True


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc`` with ``path`` as its file name when it names none."""
    if exc.filename is None:
        exc.filename = str(path)
    return exc


def _keep_previous(path: Path) -> Path | None:
    """A second name (a hard link) for the file at ``path``, or None when there is none."""
    if not path.is_file():
        return None
    kept = path.with_name(f".{path.name}.{os.getpid()}.previous")
    with contextlib.suppress(FileNotFoundError):
        kept.unlink()
    try:
        os.link(path, kept)
    except OSError:  # a file system without hard links: copy it instead
        shutil.copy2(path, kept)
    return kept


_TOGETHER: ContextVar[Outputs | None] = ContextVar("docstage_outputs", default=None)


@contextlib.contextmanager
def outputs_together() -> Iterator[Outputs]:
    """Within the block, :meth:`AtomicFile.commit` defers the rename to the yielded
    :class:`Outputs`; what was not published when the block ends is discarded."""
    outputs = Outputs()
    token = _TOGETHER.set(outputs)
    try:
        yield outputs
    finally:
        _TOGETHER.reset(token)
        if outputs._replaced:
            outputs.confirm()
        outputs.discard()
        # A file opened in the run and never finished (a stage that failed in setup,
        # a plugin that forgot to abort) leaves no temporary file behind.
        for file in outputs.opened:
            if file not in outputs.pending:
                file.discard()
        outputs.opened.clear()


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # Elsewhere os.umask can only be read by setting it; set it back at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def writable_folder(path: str | Path, *, option: str = "path") -> None:
    """Check, without creating anything, that the folder of ``path`` could be written to.

    For dry runs: the nearest existing ancestor must be a folder we may write into.

    Raises:
        OptionError: It is not (named by ``option``).
    """
    folder = Path(path).absolute().parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        reason = "a file is in the way" if existing != folder else "not a folder"
        problem = f"'{existing}' is {reason}" if existing != folder else reason
        raise OptionError(
            option, f"cannot write to output folder '{folder}': {problem}; choose a writable path"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OptionError(
            option,
            f"cannot write to output folder '{folder}': no permission to write in "
            f"'{existing}'; choose a writable path",
        )
