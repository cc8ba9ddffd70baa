"""``read.html``: the main text and metadata of web pages, extracted with trafilatura.

trafilatura is an optional dependency (the ``html`` extra). The stage imports it in
``setup``, so a missing install is one line that names the pip command, before anything
is read. Gzipped pages (``page.html.gz``, or gzip bytes under any name) are decompressed
transparently.

:meth:`ReadHtml.page` turns the bytes of one page into a document; ``read`` calls it for
every file of the glob, and ``pipeline eval cleanup --html`` for the pages a gold file
names.
"""

from __future__ import annotations

import codecs
import gzip
import re
import unicodedata
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from docstage.document import Document
from docstage.errors import ConfigError, OptionError
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
from docstage.stages import BadInput, Drop, Reader, StageContext

if TYPE_CHECKING:
    from trafilatura.settings import Document as Extracted

#: What a user without the extra is told; ``{what}`` is the stage or tool that needs it.
MISSING_EXTRA = "{what} needs the html extra: pip install 'docstage[html]'"
NO_MAIN_TEXT = "no main text"

_GZIP_MAGIC = b"\x1f\x8b"
# A charset declared in the first bytes of a page: <meta charset="..."> or the
# http-equiv form (content="text/html; charset=...").
_DECLARED_CHARSET = re.compile(
    rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE
)
# trafilatura joins several authors with "; " and gives a keywords meta tag as one string.
_AUTHOR_SPLIT = re.compile(r"\s*;\s*")
_LIST_SPLIT = re.compile(r"\s*[,;]\s*")


def require_trafilatura(what: str = "read.html") -> None:
    """Check that trafilatura (and the lxml_html_clean it needs with lxml 5.2+) imports.

    Raises:
        ConfigError: One line naming the pip command that installs the ``html`` extra.
    """
    try:
        import trafilatura  # noqa: F401 - imported to see whether it can be
    except ImportError as exc:
        raise ConfigError(MISSING_EXTRA.format(what=what)) from exc


def decompress(data: bytes) -> bytes:
    """The bytes of a page, gunzipped when they are gzip data (whatever the file's name).

    Raises:
        ValueError: Gzip data that cannot be decompressed (truncated, corrupt).
    """
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"cannot decompress gzip data: {exc}") from None


def _declared_charset(data: bytes) -> str | None:
    """The encoding a page declares in its first 4 KB, when Python knows it."""
    found = _DECLARED_CHARSET.search(data[:4096])
    if found is None:
        return None
    name = found.group(1).decode("ascii")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _split(values: list[str] | None, separator: re.Pattern[str]) -> list[str]:
    """Non-empty, stripped items of ``values``, each split at ``separator``; no repeats."""
    items = (item.strip() for value in values or () for item in separator.split(value))
    return list(dict.fromkeys(item for item in items if item))


def _page_metadata(extracted: Extracted) -> dict[str, Any]:
    """trafilatura's metadata in docstage's keys, leaving out what the page did not say."""
    found: dict[str, Any] = {}
    if extracted.title:
        found["title"] = extracted.title.strip()
    if extracted.date:
        found["published"] = extracted.date
    authors = _split([extracted.author or ""], _AUTHOR_SPLIT)
    if authors:
        found["authors"] = authors
    for key, values in (("categories", extracted.categories), ("tags", extracted.tags)):
        cleaned = _split(values, _LIST_SPLIT)
        if cleaned:
            found[key] = cleaned
    if extracted.url:
        found["url"] = extracted.url
    if extracted.sitename:
        found["sitename"] = extracted.sitename.strip()
    return found


def _one_focus(instance: Any, attribute: attrs.Attribute[bool], value: bool) -> None:
    if value and instance.favor_precision:
        raise ValueError("'favor_precision' and 'favor_recall' exclude each other; set at most one")


@attrs.define(kw_only=True)
class ReadHtml(Reader):
    """Read web pages (.html, .htm, gzipped or not): their main text and their metadata.

    trafilatura finds the article in the page and leaves out navigation, share bars,
    footers, scripts and, unless asked, readers' comments. The page's metadata goes to
    ``metadata`` where the page states it: ``title``, ``published`` (ISO 8601 date),
    ``authors``, ``categories``, ``tags``, ``url`` (the canonical address) and
    ``sitename``. As in read.files, a document's id is the file's path relative to the
    folder where the glob starts (also ``metadata.path``), and empty and binary files are
    skipped; a page without main text is dropped as ``no main text``. Needs the ``html``
    extra: ``pip install 'docstage[html]'``.
    """

    name: ClassVar[str] = "read.html"

    path: str = option(
        path=True,
        help="Glob of the pages to read, e.g. 'pages/**/*.html*' (relative to the config "
        "file). Gzipped pages are decompressed.",
    )
    source: str = option(
        "{parent}",
        help="How a document's source is named: literal text and the placeholders {parent}, "
        "{folder}, {stem}, {name}, {path}, as in read.files.",
    )
    encoding: str = option(
        "auto",
        help="Text encoding of the pages; 'auto' tries UTF-8, then the charset the page "
        "declares, then detects.",
    )
    allow_empty: bool = option(
        False, help="Accept a glob that matches no file (otherwise that is an error)."
    )
    max_file_size: str | int = option(
        DEFAULT_MAX_FILE_SIZE,
        validator=size(1),
        help="Larger pages are quarantined unread (a size such as '64 MiB' or bytes; a "
        "gzipped page counts by its compressed size). Devices, FIFOs and sockets the glob "
        "matches are always skipped.",
    )
    favor_precision: bool = option(
        False, help="Prefer less text when unsure whether a part belongs to the article."
    )
    favor_recall: bool = option(
        False,
        validator=_one_focus,
        help="Prefer more text when unsure whether a part belongs to the article.",
    )
    include_comments: bool = option(
        False, help="Keep readers' comments, appended after the article's text."
    )
    include_tables: bool = option(True, help="Keep the text of tables inside the article.")
    fast: bool = option(
        False,
        help="Skip trafilatura's fallback extractors: faster, with a little less recall.",
    )
    with_metadata: bool = option(
        True,
        help="Extract title, date, authors, categories, tags, url and site name (about a "
        "third of the time spent per page).",
    )
    prune_xpath: list[str] = option(
        factory=list,
        help="XPath expressions of elements to remove before extraction, e.g. "
        "\"//div[@class='related']\".",
    )
    _source: SourceFormat | None = attrs.field(default=None, init=False, repr=False)

    def setup(self, context: StageContext) -> None:
        require_trafilatura(self.name)
        self._source = self._source_format()
        if self.encoding != "auto":
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise OptionError("encoding", f"unknown encoding '{self.encoding}'") from None
        if self.prune_xpath:
            # lxml comes with trafilatura; it ships no type hints.
            from lxml.etree import XPath, XPathSyntaxError  # type: ignore[import-untyped]

            for expression in self.prune_xpath:
                try:
                    XPath(expression)
                except XPathSyntaxError as exc:
                    raise OptionError(
                        "prune_xpath", f"invalid XPath {expression!r}: {exc}"
                    ) from None
        if not self.allow_empty and next(iter_files(self.path), None) is None:
            raise OptionError(
                "path", f"no file matches '{self.path}' (set allow_empty = true to accept that)"
            )

    def _source_format(self) -> SourceFormat:
        return source_formatter(self.source, base=split_glob(self.path)[0])

    def estimate(self) -> int:
        return sum(1 for _ in iter_files(self.path))

    def read(self) -> Iterator[Document | Drop | BadInput]:
        source = self._source or self._source_format()
        limit = parse_size(self.max_file_size)
        for full, relative in iter_files(self.path):
            data = read_input(full, relative, limit)
            if not isinstance(data, bytes):
                yield data
                continue
            yield self.page(data, relative, source=source(relative))

    def page(
        self,
        data: bytes,
        location: str,
        *,
        source: str,
        doc_id: str | None = None,
        url: str | None = None,
    ) -> Document | Drop | BadInput:
        """Turn the bytes of one page (gzipped or not) into a document, or say why not.

        Never raises for bad input: unreadable gzip data and extraction failures become
        :class:`BadInput`, empty and binary files and pages without main text a
        :class:`Drop`, both at ``location``.

        Args:
            data: The file's bytes.
            location: Where the page came from; also ``metadata.path``.
            source: The document's source.
            doc_id: The document's id (default: ``location``).
            url: The page's address, when known elsewhere: a fallback for
                ``metadata.url``.
        """
        try:
            data = decompress(data)
        except ValueError as exc:
            return BadInput(location, str(exc))
        if not data.strip():
            return Drop("empty file", location=location)
        if looks_binary(data):
            return Drop("binary file", location=location)
        encoding = self.encoding
        if encoding == "auto" and not _is_utf8(data):
            encoding = _declared_charset(data) or "auto"
        decoded = decode(data, encoding)
        try:
            extracted = self._extract(decoded.text, url)
        except Exception as exc:  # a page trafilatura chokes on must not stop the run
            return BadInput(location, f"extraction failed: {type(exc).__name__}: {exc}")
        if extracted is None:
            return Drop(NO_MAIN_TEXT, location=location)
        text, found = extracted
        # extracted_by: the text is already the main text (cleanup.boilerplate reads it).
        metadata: dict[str, Any] = {"path": location, "extracted_by": "trafilatura"}
        if url:
            metadata["url"] = url
        metadata.update(found)
        if decoded.encoding != "utf-8":
            metadata["encoding"] = decoded.encoding
        if decoded.replaced:
            metadata["decode_errors"] = decoded.replaced
        return Document(
            id=doc_id if doc_id is not None else location,
            text=text,
            source=source,
            metadata=metadata,
            stages=(self.name,),
        )

    def _extract(self, html: str, url: str | None) -> tuple[str, dict[str, Any]] | None:
        """The main text and the metadata of a page, or None when it has no main text."""
        from trafilatura import bare_extraction
        from trafilatura.settings import Document as Extracted

        extracted = bare_extraction(
            html,
            url=url,
            fast=self.fast,
            favor_precision=self.favor_precision,
            favor_recall=self.favor_recall,
            include_comments=self.include_comments,
            include_tables=self.include_tables,
            with_metadata=self.with_metadata,
            prune_xpath=self.prune_xpath or None,
        )
        if not isinstance(extracted, Extracted):
            return None
        text = (extracted.text or "").strip()
        if self.include_comments and extracted.comments and extracted.comments.strip():
            text = f"{text}\n{extracted.comments.strip()}".strip()
        if not text:
            return None
        # As trafilatura.extract does for its text output.
        text = unicodedata.normalize("NFC", text)
        return text, _page_metadata(extracted) if self.with_metadata else {}


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


#: The stage types of this module, for the plugin that registers them.
STAGES: tuple[type[Reader], ...] = (ReadHtml,)
