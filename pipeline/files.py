"""Finding and decoding input files, for readers (ours and third parties').

:func:`iter_files` walks a glob in a deterministic order (sorted, folder by folder) and
lazily, so a million files cost no memory; :func:`decode` turns bytes into text without
ever failing: UTF-8 first, a detected encoding otherwise, undecodable bytes replaced and
counted.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import string
from collections.abc import Iterator

import attrs

from docstage.errors import OptionError
from docstage.stages import BadInput, Drop

_MAGIC = re.compile(r"[*?\[]")
SOURCE_FIELDS = ("parent", "folder", "stem", "name", "path")


def split_glob(pattern: str) -> tuple[str, str]:
    """Split a glob into its fixed base folder and the pattern below it.

    ``/data/news/**/*.txt`` -> (``/data/news``, ``**/*.txt``); a pattern without magic
    characters is a single file or a folder (then every file below it is matched).
    """
    parts = pattern.replace(os.sep, "/").split("/")
    for index, part in enumerate(parts):
        if _MAGIC.search(part):
            base = "/".join(parts[:index]) or ("/" if pattern.startswith("/") else ".")
            return base, "/".join(parts[index:])
    if os.path.isdir(pattern):
        return pattern, "**/*"
    return os.path.dirname(pattern) or ".", os.path.basename(pattern)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a glob relative to its base (``*``, ``?``, ``[...]``, ``**``) to a regex."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape("["))
                i += 1
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def iter_files(pattern: str, *, option: str = "path") -> Iterator[tuple[str, str]]:
    """Yield ``(absolute path, path relative to the glob's base)`` for matching files.

    Hidden files and folders (names starting with ``.``) are skipped unless the pattern
    names them. The order is deterministic: names sorted within each folder. Symbolic
    links to folders are followed, but a folder already walked is not walked again, so a
    link loop ends instead of recursing; a link that cannot be resolved is yielded as a
    file (the reader then reports it).

    Raises:
        OptionError: The base folder does not exist.
    """
    base, rest = split_glob(pattern)
    if not os.path.isdir(base):
        if os.path.exists(base):
            raise OptionError(option, f"'{base}' is not a folder")
        raise OptionError(option, f"no such folder '{base}'; check the path or the glob")
    regex = glob_regex(rest)
    show_hidden = "/." in "/" + rest
    walked: set[tuple[int, int]] = set()
    stack = [""]
    while stack:
        folder = stack.pop()
        path = os.path.join(base, folder)
        try:
            info = os.stat(path)
            if (info.st_dev, info.st_ino) in walked:
                continue
            walked.add((info.st_dev, info.st_ino))
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith(".") and not show_hidden:
                continue
            relative = f"{folder}/{entry.name}" if folder else entry.name
            try:
                is_dir = entry.is_dir()
            except OSError:  # a link loop such as a -> a
                is_dir = False
            if is_dir:
                subfolders.append(relative)
            elif regex.match(relative):
                yield os.path.join(base, relative), relative
        stack.extend(reversed(subfolders))


#: The largest input file the file readers read unless ``max_file_size`` says otherwise:
#: far above any article, far below what would exhaust memory.
DEFAULT_MAX_FILE_SIZE = "64 MiB"


class Unreadable(Exception):
    """A matched path that is not read.

    Attributes:
        reason: Why, in words (a drop reason or a bad-input message).
        skip: True when the path is not an input at all (a FIFO, a device, a socket):
            dropped and counted; False when it is an input that cannot be used (too large,
            unreadable): bad input, quarantined.
    """

    def __init__(self, reason: str, *, skip: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.skip = skip


def read_file(full: str, limit: int | None = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    A FIFO would block the run and ``/dev/zero`` would fill memory, so only regular files
    (or links to them) are opened, and never more than ``limit + 1`` bytes are read.

    Raises:
        Unreadable: It is not a regular file, is larger than ``limit`` or cannot be read.
    """
    try:
        info = os.stat(full)
    except OSError as exc:
        raise Unreadable(f"cannot read file: {exc.strerror or exc}", skip=False) from None
    if not stat.S_ISREG(info.st_mode):
        raise Unreadable("not a regular file (a device, FIFO or socket)", skip=True)
    if limit is not None and info.st_size > limit:
        raise Unreadable(_too_large(info.st_size, limit), skip=False)
    try:
        with open(full, "rb") as handle:
            data = handle.read() if limit is None else handle.read(limit + 1)
    except OSError as exc:
        raise Unreadable(f"cannot read file: {exc.strerror or exc}", skip=False) from None
    if limit is not None and len(data) > limit:  # it grew since the stat
        raise Unreadable(_too_large(len(data), limit), skip=False)
    return data


def read_input(full: str, relative: str, limit: int | None = None) -> bytes | Drop | BadInput:
    """What a file reader makes of a matched path: its bytes (:func:`read_file`), a
    :class:`~docstage.stages.Drop` for a path that is not an input (a FIFO, a device),
    or :class:`~docstage.stages.BadInput` for one that cannot be used (too large,
    unreadable), located by ``relative``."""
    try:
        return read_file(full, limit)
    except Unreadable as exc:
        if exc.skip:
            return Drop(exc.reason, location=relative)
        return BadInput(relative, exc.reason)


def _too_large(size: int, limit: int) -> str:
    return (
        f"file of {size:,} bytes is larger than max_file_size ({limit:,} bytes); raise "
        "max_file_size to read it"
    )


def source_formatter(pattern: str, *, option: str = "source", base: str = "") -> SourceFormat:
    """Check a source pattern such as ``{parent}`` once, at setup.

    Args:
        pattern: Literal text with placeholders (see :data:`SOURCE_FIELDS`).
        option: The option named in errors.
        base: The folder the glob starts at (:func:`split_glob`); its name is the
            ``{parent}`` of the files directly inside it.

    Raises:
        OptionError: An unknown placeholder or a stray brace.
    """
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None]
    except ValueError as exc:
        raise OptionError(
            option, f"invalid pattern '{pattern}': {exc} (write {{{{ or }}}} for a literal brace)"
        ) from None
    for name in fields:
        if name not in SOURCE_FIELDS:
            valid = ", ".join("{" + f + "}" for f in SOURCE_FIELDS)
            raise OptionError(option, f"unknown placeholder '{{{name}}}'; valid: {valid}")
    base_name = os.path.basename(os.path.normpath(base)) if base else ""
    return SourceFormat(pattern, bool(fields), base_name)


@attrs.frozen
class SourceFormat:
    """Names a document's source from its relative path (``{parent}``, ``{stem}``, ...)."""

    pattern: str
    has_fields: bool
    base_name: str = ""

    def __call__(self, relative: str) -> str:
        if not self.has_fields:
            return self.pattern
        folder, _, name = relative.rpartition("/")
        stem = name.rpartition(".")[0] if "." in name.lstrip(".") else name
        return self.pattern.format(
            parent=folder.rpartition("/")[2] if folder else self.base_name,
            folder=folder,
            stem=stem,
            name=name,
            path=relative,
        )


@attrs.frozen
class Decoded:
    """Text decoded from bytes, with the encoding used and the bytes that were replaced."""

    text: str
    encoding: str
    replaced: int


#: Byte order marks of the wide Unicode encodings; UTF-32 first, its LE mark starts with
#: UTF-16's.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_REPLACEMENT = "\ufffd"
_REPLACEMENT_UTF8 = _REPLACEMENT.encode("utf-8")


def decode(data: bytes, encoding: str = "auto") -> Decoded:
    """Decode bytes without failing.

    With ``encoding="auto"``: UTF-8 (a BOM is dropped) when the bytes are valid UTF-8;
    UTF-16 or UTF-32 when they start with that encoding's BOM; still UTF-8 when at least
    half of the non-ASCII characters decode as UTF-8 (a UTF-8 article with a few stray
    bytes); otherwise the encoding detected (:func:`_detect`). Bytes that do not decode
    become U+FFFD and are counted in ``replaced``.
    """
    if encoding == "auto":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if text.startswith("\ufeff"):
                text = text[1:]
            return Decoded(text, "utf-8", 0)
        encoding = _wide_bom(data) or ("utf-8" if _mostly_utf8(data) else _detect(data))
    before = data.count(_REPLACEMENT_UTF8) if codecs.lookup(encoding).name == "utf-8" else 0
    text = data.decode(encoding, errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    return Decoded(text, encoding, text.count(_REPLACEMENT) - before)


def _wide_bom(data: bytes) -> str | None:
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            return name
    return None


def _mostly_utf8(data: bytes) -> bool:
    """True when at least as many non-ASCII characters decode as UTF-8 as fail to.

    Text in a single-byte code page almost never forms valid UTF-8 sequences by chance,
    so as many valid ones as invalid means UTF-8 with some damage, which is best read as
    UTF-8 with the damaged bytes replaced rather than as mojibake from end to end.
    """
    text = data.decode("utf-8", errors="replace")
    bad = text.count(_REPLACEMENT) - data.count(_REPLACEMENT_UTF8)
    good = len(text) - len(text.encode("ascii", errors="ignore")) - bad
    return good >= bad


#: How much worse (in charset-normalizer's "chaos" score) cp1252 may read than the best
#: guess and still be preferred; on a few hundred bytes of Western text the scores of
#: related code pages differ by noise of this size.
_CP1252_TOLERANCE = 0.05


def _detect(data: bytes) -> str:
    """Guess the encoding of bytes that are not UTF-8.

    Mostly-ASCII text with a few stray high bytes (Western mail, Usenet and scraped news)
    is read as cp1252, which statistical detection often mistakes for an exotic code page
    on so little evidence. Everything else goes to charset-normalizer, but cp1252 is still
    preferred when it reads the text about as well as the best guess (Portuguese or
    German in Latin-1 is otherwise often taken for cp1250).
    """
    high = len(data) - len(data.decode("ascii", errors="ignore"))
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        cp1252 = False
    else:
        cp1252 = True
    if cp1252 and high <= max(8, len(data) // 50):
        return "cp1252"
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        return "utf-8"
    if cp1252 and any(
        "cp1252" in match.could_be_from_charset and match.chaos <= best.chaos + _CP1252_TOLERANCE
        for match in matches
    ):
        return "cp1252"
    return str(best.encoding)


def looks_binary(data: bytes) -> bool:
    """True for data with NUL bytes near the start (images, archives, executables).

    Text in UTF-16 or UTF-32 has NUL bytes too; it is recognised by its byte order mark.
    """
    return b"\x00" in data[:8192] and _wide_bom(data) is None
