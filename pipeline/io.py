"""Writing output files so that a crash never leaves a half-written file under the real name."""

from __future__ import annotations

import contextlib
import os
import tempfile
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
            fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise OptionError(
                option,
                f"cannot write to output folder '{folder}': {reason}; choose a writable path",
            ) from None
        os.chmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600; outputs follow the umask
        handle = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        return cls(target, handle, Path(temp))

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
        self.handle.write(text)

    def commit(self) -> Path:
        """Flush, sync and rename the temporary file over the target; return the target."""
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self._temp, self.path)
        return self.path

    def discard(self) -> None:
        """Close and delete the temporary file; the target is left as it was."""
        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            self._temp.unlink()


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
