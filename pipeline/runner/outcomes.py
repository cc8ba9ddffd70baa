"""The accounting of every document that leaves the stream other than by coming out of the
last stage: drops and failures, counted, written to the run manifest, passed to the hooks,
logged and, per ``[run] on_error``, quarantined or turned into the run's end. Also the
run's quarantine file (:class:`Quarantine`) and the manifest rows of documents read and
documents that came out, so that every manifest write of the stream is here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from docstage.config import Config
from docstage.document import Document
from docstage.errors import (
    OptionError,
    RunError,
    StageError,
    display,
    format_traceback,
    os_error_text,
)
from docstage.io import AtomicFile, writable_folder
from docstage.records import to_record
from docstage.run import Run
from docstage.runner.stagerun import StageRun
from docstage.segments import SegmentResult, describe_error
from docstage.state import Manifest, content_hash

#: Quarantined documents the run summary describes for renderers.
SAMPLE = 200


@attrs.define
class Quarantine:
    """The quarantine file of one run: written atomically, replaced by every run."""

    path: Path
    run_id: str
    count: int = 0
    sample: list[dict[str, Any]] = attrs.Factory(list)
    _file: AtomicFile | None = None

    def add(self, record: dict[str, Any]) -> None:
        """Write one record; no document content can make this fail.

        Raises:
            RunError: The file cannot be written (a full disk): the run stops, since a
                document it cannot quarantine would be lost.
        """
        line = quarantine_line({"run_id": self.run_id, **record})
        try:
            if self._file is None:
                self._file = AtomicFile.open(self.path, option="[run] quarantine")
            self._file.write(line)
        except OSError as exc:
            raise RunError(f"[run] quarantine: writing failed: {os_error_text(exc)}") from exc
        self.count += 1
        if len(self.sample) < SAMPLE:
            document = record.get("document") or {}
            self.sample.append(
                {
                    "stage": record.get("stage"),
                    "error": record.get("error"),
                    "location": record.get("location"),
                    "id": document.get("id"),
                }
            )

    def commit(self) -> Path | None:
        """Finish the file; None when nothing was quarantined."""
        if self._file is None:
            return None
        return self._file.commit()

    def remove_stale(self) -> None:
        """Remove an earlier run's quarantine file (this run quarantined nothing)."""
        self.path.unlink(missing_ok=True)

    def discard(self) -> None:
        if self._file is not None:
            self._file.discard()


def check_quarantine(config: Config) -> None:
    """The quarantine file can be written, checked before anything is (a real run
    would otherwise find out at its first failed document, after other outputs).

    Raises:
        ConfigError: It cannot, naming ``[run] quarantine``.
    """
    if config.run.on_error != "quarantine":
        return
    path = Path(config.run.quarantine)
    try:
        if path.is_dir():
            raise OptionError("quarantine", f"'{display(path)}' is a folder; name a file")
        writable_folder(path, option="quarantine")
    except OptionError as exc:
        raise config.run_error(f"quarantine: {exc.message}", "quarantine") from None


def quarantine_line(record: dict[str, Any]) -> str:
    """``record`` as one JSON line that UTF-8 can hold, whatever a document holds: text
    UTF-8 cannot encode (a lone surrogate) becomes ``\\u`` escapes, a value JSON has no
    form for (an object, ``NaN``, a key that is not a string) its ``repr``, and a record
    too deep or odd to serialise at all keeps its top-level fields as ``repr`` text."""
    try:
        text = json.dumps(_plain(record), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        text = json.dumps({str(k): _flat(v) for k, v in record.items()}, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(json.loads(text), ensure_ascii=True)
    return text + "\n"


def _plain(value: Any) -> Any:
    """``value`` with what JSON cannot hold replaced by its ``repr``."""
    if isinstance(value, str | bool | int | None):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {k if isinstance(k, str) else repr(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return repr(value)


def _flat(value: Any) -> Any:
    if isinstance(value, str | bool | int | None):
        return value
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__} too deep to show>"
    return text[:_FLAT_LIMIT]


#: The longest ``repr`` a field keeps when its record could not be written as it is.
_FLAT_LIMIT = 100_000


def document_location(doc: Document | None) -> str | None:
    """Where a document came from (``path`` or ``path:line``), for quarantine records."""
    if doc is None:
        return None
    path = doc.metadata.get("path")
    if path is None:
        return None
    line = doc.metadata.get("line")
    return f"{path}:{line}" if line is not None else str(path)


_EXPECTED = {
    "reader": "a Document, Drop or BadInput",
    "transform": "a Document or Drop",
    "corpus": "a Document or Drop",
}


@attrs.define
class Outcomes:
    """Where the drivers report what happened to documents, so that every drop and failure
    is handled the same way whichever stage kind, executor or cache replay saw it.

    Attributes:
        run: The run (hooks receive it; its plan gives ``on_error`` and the plugins).
        quarantine: The run's quarantine file.
        log: The run's logger.
        manifest: The run manifest, when this run keeps one.
    """

    run: Run
    quarantine: Quarantine
    log: Any
    manifest: Manifest | None = None

    def read(self, batch: Sequence[Document]) -> None:
        """Documents the readers produced (the manifest's ``held`` rows)."""
        if self.manifest is not None:
            for doc in batch:
                self.manifest.read(doc.id, content_hash(doc))

    def came_out(self, batch: Sequence[Document], config_hash: str) -> None:
        """Documents that came out of the last stage (the manifest's ``done`` rows)."""
        if self.manifest is not None:
            for doc in batch:
                self.manifest.settle(doc.id, "done", config_hash, None)

    def dropped(
        self,
        where: StageRun,
        doc: Document | None,
        reason: str,
        location: str | None = None,
    ) -> None:
        """A stage dropped a document (or a reader skipped input) on purpose."""
        stage = where.stage
        where.stats.dropped[reason] += 1
        if doc is not None and self.manifest is not None:
            if stage.kind == "reader":
                self.manifest.read(doc.id, content_hash(doc))
            self.manifest.settle(doc.id, "dropped", where.config_hash, stage.name, reason)
        if location is not None or doc is not None:
            place = location or doc.id  # type: ignore[union-attr]
            self.log.info("document dropped", stage=stage.name, reason=reason, location=place)
        plugins = self.run.plan.plugins
        if plugins.has_impls("docstage_document_dropped"):
            plugins.notify(
                "docstage_document_dropped",
                run=self.run,
                stage=stage.name,
                document=doc,
                reason=reason,
            )

    def wrong_type(self, where: StageRun, doc: Document | None, result: object) -> None:
        """A stage returned something that is not one of its kind's results."""
        expected = _EXPECTED.get(where.stage.kind, "a Document")
        error = StageError(
            f"stage returned {type(result).__name__}, expected {expected}", stage=where.name
        )
        self.failed(where, doc, error)

    def failed(
        self,
        where: StageRun,
        doc: Document | None,
        exc: BaseException,
        location: str | None = None,
        raw: str | None = None,
        *,
        trace: str | None = None,
        settle: bool = True,
    ) -> None:
        """A stage failed on a document (or a reader on input): apply ``[run] on_error``.

        ``settle=False`` leaves the manifest alone: the failure is of a document that shares
        its id with one the manifest already tracks (a duplicate id).

        Raises:
            RunError: ``on_error = "fail"``: the run stops, naming the stage and document.
        """
        stage = where.stage
        where.stats.errors += 1
        plugins = self.run.plan.plugins
        plugins.notify(
            "docstage_on_document_error", run=self.run, stage=stage.name, document=doc, error=exc
        )
        message = describe_error(exc)
        location = location or document_location(doc)
        doc_id = doc.id if doc is not None else None
        policy = self.run.plan.config.run.on_error
        if doc is not None and self.manifest is not None and policy != "fail" and settle:
            status = "quarantined" if policy == "quarantine" else "skipped"
            self.manifest.settle(doc.id, status, where.config_hash, stage.name, message)
        self.log.warning(
            "document failed",
            stage=stage.name,
            doc_id=doc_id,
            location=location,
            error=message,
            action=policy,
        )
        if policy == "fail":
            subject = f"document '{doc_id}'" if doc_id else f"input {location}"
            raise RunError(f"{stage.where} failed on {subject}: {message}") from exc
        if policy == "quarantine":
            info = plugins.info(stage.type.plugin)
            self.quarantine.add(
                {
                    "stage": stage.name,
                    "use": stage.use,
                    "stage_index": stage.config.index,
                    "plugin": stage.type.plugin,
                    "distribution": info.distribution if info else None,
                    "error": message,
                    "traceback": trace or (format_traceback(exc) if exc.__traceback__ else None),
                    "location": location,
                    "raw": raw,
                    "document": to_record(doc) if doc is not None else None,
                }
            )

    def segment_done(self, stages: Sequence[StageRun], result: SegmentResult) -> None:
        """Count a segment's work on one batch and report its drops and failures, as if
        it had been done here."""
        for where, count in zip(stages, result.counts, strict=True):
            where.stats.docs_in += count.docs_in
            where.stats.docs_out += count.docs_out
            where.stats.seconds += count.seconds
        for event in result.events:
            where = stages[event.stage]
            if event.error is None:
                self.dropped(where, event.document, event.reason or "")
            else:
                self.failed(where, event.document, event.error, trace=event.traceback)
