"""Finding and decoding input files, for readers (ours and third parties').

:func:`iter_files` walks a glob in a deterministic order (sorted, folder by folder) and
lazily, so a million files cost no memory; :func:`decode` turns bytes into text without
ever failing: UTF-8 first, a detected encoding otherwise, undecodable bytes replaced and
counted.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterator

import attrs

from pipeline.errors import OptionError

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
    names them. The order is deterministic: names sorted within each folder.

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
    stack = [""]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(os.path.join(base, folder)), key=lambda e: e.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith(".") and not show_hidden:
                continue
            relative = f"{folder}/{entry.name}" if folder else entry.name
            if entry.is_dir():
                subfolders.append(relative)
            elif regex.match(relative):
                yield os.path.join(base, relative), relative
        stack.extend(reversed(subfolders))


def source_formatter(pattern: str, *, option: str = "source") -> SourceFormat:
    """Check a source pattern such as ``{parent}`` once, at setup."""
    fields = [name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None]
    for name in fields:
        if name not in SOURCE_FIELDS:
            valid = ", ".join("{" + f + "}" for f in SOURCE_FIELDS)
            raise OptionError(option, f"unknown placeholder '{{{name}}}'; valid: {valid}")
    return SourceFormat(pattern, bool(fields))


@attrs.frozen
class SourceFormat:
    """Names a document's source from its relative path (``{parent}``, ``{stem}``, ...)."""

    pattern: str
    has_fields: bool

    def __call__(self, relative: str) -> str:
        if not self.has_fields:
            return self.pattern
        folder, _, name = relative.rpartition("/")
        stem = name.rpartition(".")[0] if "." in name.lstrip(".") else name
        return self.pattern.format(
            parent=folder.rpartition("/")[2],
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


def decode(data: bytes, encoding: str = "auto") -> Decoded:
    """Decode bytes without failing.

    With ``encoding="auto"``: UTF-8 (a BOM is dropped) when the bytes are valid UTF-8,
    otherwise the encoding charset-normalizer detects; bytes that still do not decode
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
        encoding = _detect(data)
    before = data.count(b"\xef\xbf\xbd") if encoding.replace("_", "-") == "utf-8" else 0
    text = data.decode(encoding, errors="replace")
    return Decoded(text, encoding, text.count("\ufffd") - before)


def _detect(data: bytes) -> str:
    """Guess the encoding of bytes that are not UTF-8.

    Mostly-ASCII text with a few stray high bytes (Western mail, Usenet and scraped news)
    is read as cp1252, which statistical detection often mistakes for an exotic code page
    on so little evidence; everything else goes to charset-normalizer.
    """
    high = len(data) - len(data.decode("ascii", errors="ignore"))
    if high <= max(8, len(data) // 50):
        try:
            data.decode("cp1252")
        except UnicodeDecodeError:
            pass
        else:
            return "cp1252"
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    return best.encoding if best is not None else "utf-8"


def looks_binary(data: bytes) -> bool:
    """True for data with NUL bytes near the start (images, archives, executables)."""
    return b"\x00" in data[:8192]
