"""Built-in readers: ``read.files`` (text files from a glob) and ``read.jsonl`` (records)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import attrs

from docstage import Document, hookimpl
from docstage.errors import OptionError
from docstage.files import (
    DEFAULT_MAX_FILE_SIZE,
    SourceFormat,
    decode,
    iter_files,
    looks_binary,
    read_input,
    source_formatter,
    split_glob,
)
from docstage.options import option, parse_size, size
from docstage.registry import StageRegistry
from docstage.stages import BadInput, Drop, Reader, StageContext


def _first_match(pattern: str) -> bool:
    return next(iter_files(pattern), None) is not None


def _source_format(pattern: str, path: str) -> SourceFormat:
    """The ``source`` option checked, knowing the folder where the ``path`` glob starts."""
    return source_formatter(pattern, base=split_glob(path)[0])


@attrs.define(kw_only=True)
class ReadFiles(Reader):
    """Read text files (.txt, .md, .html, .eml, Usenet posts, ...) matching a glob.

    Each file becomes one document whose id is its path relative to the folder where the
    glob starts (also kept as ``metadata.path``). The encoding is detected; undecodable
    bytes are replaced and counted in ``metadata.decode_errors``. Empty and binary files
    are skipped and counted in the run summary.
    """

    name: ClassVar[str] = "read.files"

    path: str = option(
        path=True,
        help="Glob of the files to read, e.g. 'articles/**/*.txt' (relative to the config "
        "file). A folder reads every file below it.",
    )
    source: str = option(
        "{parent}",
        help="How a document's source is named: literal text and the placeholders {parent} "
        "(the file's folder name), {folder} (its relative folder), {stem}, {name}, {path}.",
    )
    encoding: str = option(
        "auto", help="Text encoding of the files; 'auto' tries UTF-8, then detects."
    )
    allow_empty: bool = option(
        False, help="Accept a glob that matches no file (otherwise that is an error)."
    )
    max_file_size: str | int = option(
        DEFAULT_MAX_FILE_SIZE,
        validator=size(1),
        help="Larger files are quarantined unread (a size such as '64 MiB' or bytes). "
        "Devices, FIFOs and sockets the glob matches are always skipped.",
    )
    _source: SourceFormat | None = attrs.field(default=None, init=False, repr=False)

    def setup(self, context: StageContext) -> None:
        self._source = _source_format(self.source, self.path)
        if self.encoding != "auto":
            try:
                "".encode(self.encoding)
            except LookupError:
                raise OptionError("encoding", f"unknown encoding '{self.encoding}'") from None
        if not self.allow_empty and not _first_match(self.path):
            raise OptionError(
                "path", f"no file matches '{self.path}' (set allow_empty = true to accept that)"
            )

    def estimate(self) -> int:
        return sum(1 for _ in iter_files(self.path))

    def read(self) -> Iterator[Document | Drop | BadInput]:
        source = self._source or _source_format(self.source, self.path)
        stages = (self.name,)
        limit = parse_size(self.max_file_size)
        for full, relative in iter_files(self.path):
            data = read_input(full, relative, limit)
            if not isinstance(data, bytes):
                yield data
                continue
            if not data.strip():
                yield Drop("empty file", location=relative)
                continue
            if looks_binary(data):
                yield Drop("binary file", location=relative)
                continue
            decoded = decode(data, self.encoding)
            if not decoded.text.strip():  # a byte order mark or Unicode spaces only
                yield Drop("empty file", location=relative)
                continue
            metadata: dict[str, Any] = {"path": relative}
            if decoded.encoding != "utf-8":
                metadata["encoding"] = decoded.encoding
            if decoded.replaced:
                metadata["decode_errors"] = decoded.replaced
            yield Document(
                id=relative,
                text=decoded.text,
                source=source(relative),
                metadata=metadata,
                stages=stages,
            )


_DOCUMENT_FIELDS = ("id", "text", "source")

#: The deepest nesting of objects and arrays a JSON line may have. Deeper records are
#: bad input: every later step (serialising, copying) would recurse that deep.
MAX_DEPTH = 64
_BRACKETS = re.compile(rb"[\[\]{}]")
_STRINGS = re.compile(rb'"(?:\\.|[^"\\])*"')
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_line(raw: bytes) -> Any:
    """One JSON Lines line, parsed, or a ``ValueError`` saying what is wrong with it.

    Beyond the JSON grammar, a line is refused when it nests objects and arrays deeper than
    :data:`MAX_DEPTH`, holds ``NaN`` or ``Infinity`` (not JSON; they would be written out
    as bare words), an integer too long for Python to convert (over 4,300 digits), or a
    ``\\u`` escape of a lone surrogate (text that UTF-8 cannot hold).
    """
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth(raw) > MAX_DEPTH:
        raise ValueError(f"invalid JSON: nested deeper than {MAX_DEPTH} levels")
    try:
        record = json.loads(raw, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise ValueError(f"invalid JSON: not UTF-8: {exc.reason} at byte {exc.start}") from None
    except RecursionError:
        raise ValueError(f"invalid JSON: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, an integer with too many digits
        digits = "integer string conversion" in str(exc)  # the words differ by version
        reason = "an integer of more than 4,300 digits" if digits else exc
        raise ValueError(f"invalid JSON: {reason}") from None
    if _SURROGATE.search(raw) is not None:
        try:
            json.dumps(record, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"invalid text: a lone surrogate ({exc.object[exc.start]!a}) that UTF-8 cannot hold"
            ) from None
    return record


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(raw: bytes) -> int:
    """How deep a JSON text nests objects and arrays (brackets inside strings ignored)."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRINGS.sub(b"", raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _check_fields(
    instance: Any, attribute: attrs.Attribute[dict[str, str]], value: dict[str, str]
) -> None:
    if "text" in value and not value["text"]:
        raise ValueError("'fields' must map 'text' to a key of the records")


@attrs.define(kw_only=True)
class ReadJsonl(Reader):
    """Read documents from JSON Lines files: one JSON object per line.

    ``fields`` maps document fields (id, text, source) and metadata keys to the records'
    keys. A record's ``metadata`` object is merged into the document's metadata, and other
    keys are kept as metadata too unless ``keep_other_fields`` is false. A line that is not
    valid JSON, or lacks the text field, is quarantined with its file and line number.
    """

    name: ClassVar[str] = "read.jsonl"

    path: str = option(path=True, help="Glob of the .jsonl files to read.")
    fields: dict[str, str] = option(
        factory=dict,
        validator=_check_fields,
        help="Document field or metadata key -> record key, e.g. { text = 'body', "
        "title = 'headline' }. Unmapped document fields use their own name.",
    )
    source: str = option(
        "{stem}",
        help="Source for records without a source field; placeholders as in read.files.",
    )
    keep_other_fields: bool = option(True, help="Keep record keys that no field maps as metadata.")
    allow_empty: bool = option(
        False, help="Accept a glob that matches no file (otherwise that is an error)."
    )
    _source: SourceFormat | None = attrs.field(default=None, init=False, repr=False)

    def setup(self, context: StageContext) -> None:
        self._source = _source_format(self.source, self.path)
        if not self.allow_empty and not _first_match(self.path):
            raise OptionError(
                "path", f"no file matches '{self.path}' (set allow_empty = true to accept that)"
            )

    def read(self) -> Iterator[Document | Drop | BadInput]:
        source = self._source or _source_format(self.source, self.path)
        mapping = {name: self.fields.get(name, name) for name in _DOCUMENT_FIELDS}
        extra = {k: v for k, v in self.fields.items() if k not in _DOCUMENT_FIELDS}
        used = {*mapping.values(), *extra.values(), "metadata"}
        for full, relative in iter_files(self.path):
            try:
                if not os.path.isfile(full):  # a FIFO would block, a device never end
                    yield Drop("not a regular file (a device, FIFO or socket)", location=relative)
                    continue
                handle = open(full, "rb")  # noqa: SIM115 - closed below, streamed by line
            except OSError as exc:
                yield BadInput(relative, f"cannot read file: {exc.strerror or exc}")
                continue
            with handle:
                for number, raw in enumerate(handle, start=1):
                    if not raw.strip():
                        continue
                    location = f"{relative}:{number}"
                    yield self._record(
                        raw, location, relative, number, source, mapping, extra, used
                    )

    def _record(
        self,
        raw: bytes,
        location: str,
        relative: str,
        number: int,
        source: SourceFormat,
        mapping: dict[str, str],
        extra: dict[str, str],
        used: set[str],
    ) -> Document | BadInput:
        shown = raw[:500].decode("utf-8", errors="replace").rstrip("\n")
        try:
            record = parse_line(raw)
        except ValueError as exc:
            return BadInput(location, str(exc), shown)
        if not isinstance(record, dict):
            return BadInput(location, f"expected a JSON object, got {type(record).__name__}", shown)
        text = record.get(mapping["text"])
        if not isinstance(text, str):
            problem = "missing" if text is None else f"not a string ({type(text).__name__})"
            return BadInput(location, f"text field '{mapping['text']}' is {problem}", shown)
        metadata: dict[str, Any] = {}
        nested = record.get("metadata")
        if isinstance(nested, dict):
            metadata.update(nested)
        if self.keep_other_fields:
            metadata.update({k: v for k, v in record.items() if k not in used})
        for key, field in extra.items():
            if field in record:
                metadata[key] = record[field]
        metadata["path"] = relative
        metadata["line"] = number
        doc_id = record.get(mapping["id"])
        doc_source = record.get(mapping["source"])
        return Document(
            id=str(doc_id) if doc_id is not None else location,
            text=text,
            source=str(doc_source) if doc_source is not None else source(relative),
            metadata=metadata,
            stages=(self.name,),
        )


@hookimpl
def docstage_register_stages(registry: StageRegistry) -> None:
    registry.add(ReadFiles)
    registry.add(ReadJsonl)
    # read.html imports trafilatura (the html extra) only when a run sets it up.
    from docstage_plugins.html import STAGES as HTML_STAGES

    for stage in HTML_STAGES:
        registry.add(stage)
