"""The local runner: streams documents from the readers through the plan to the renderers.

Documents move in batches (``[run] batch_size``) through a chain of generators, one per
stage, so the corpus is never held in memory and per-document overhead stays small:
counters and timing are kept per batch, not per document. Corpus stages receive the
stream one document at a time and may hold documents back.

Failures follow ``[run] on_error``: the failing document is quarantined (written to the
quarantine file with stage, plugin, error, traceback and input location) or skipped,
and the run goes on; or the run stops. Renderers commit their output only when the run
finishes; a failed or interrupted run leaves earlier output untouched.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import structlog

from pipeline.document import Document
from pipeline.errors import (
    EXIT_FAILED,
    EXIT_OK,
    DocstageError,
    OptionError,
    RunError,
    StageError,
)
from pipeline.io import AtomicFile
from pipeline.plan import Plan, PlannedStage
from pipeline.plugins import format_traceback
from pipeline.records import to_record
from pipeline.run import Run, RunSummary, StageStats, new_run_id
from pipeline.stages import BadInput, CorpusStage, Drop, Reader, Renderer, StageContext, Transform
from pipeline.state import StateStore

log = structlog.get_logger()

Batches = Iterator[list[Document]]
perf = time.perf_counter


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
        if self._file is None:
            self._file = AtomicFile.open(self.path, option="quarantine")
        self._file.write(json.dumps({"run_id": self.run_id, **record}, ensure_ascii=False))
        self._file.write("\n")
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
        """Write the file (or remove a stale one when nothing was quarantined)."""
        if self._file is None:
            self.path.unlink(missing_ok=True)
            return None
        return self._file.commit()

    def discard(self) -> None:
        if self._file is not None:
            self._file.discard()


def document_location(doc: Document | None) -> str | None:
    """Where a document came from (``path`` or ``path:line``), for quarantine records."""
    if doc is None:
        return None
    path = doc.metadata.get("path")
    if path is None:
        return None
    line = doc.metadata.get("line")
    return f"{path}:{line}" if line is not None else str(path)


@attrs.define
class Runner:
    """Executes a :class:`~pipeline.plan.Plan` in this process.

    Attributes:
        plan: The resolved pipeline.
        documents: Documents to feed instead of the readers (tests, embedding).
        dry_run: Set stages up (inputs found, outputs writable), process nothing.
        on_progress: Called with the number of documents read since the last call.
        on_total: Called once with the expected number of documents, when readers know.
        on_output: Called with each batch of documents that leaves the last stage.
    """

    plan: Plan
    documents: Iterable[Document] | None = None
    dry_run: bool = False
    on_progress: Callable[[int], None] | None = None
    on_total: Callable[[int], None] | None = None
    on_output: Callable[[list[Document]], None] | None = None
    run: Run = attrs.field(init=False)
    _quarantine: Quarantine = attrs.field(init=False)
    _state: StateStore | None = attrs.field(init=False)
    _log: Any = attrs.field(init=False)
    _set_up: list[PlannedStage] = attrs.Factory(list)

    def __attrs_post_init__(self) -> None:
        run_id = new_run_id()
        stats = [StageStats(name=s.name, use=s.use, kind=s.kind) for s in self.plan.stages]
        self.run = Run(run_id=run_id, plan=self.plan, stats=stats)
        self._quarantine = Quarantine(Path(self.plan.config.run.quarantine), run_id)
        run = self.plan.config.run
        self._state = (
            None
            if self.dry_run
            else StateStore(Path(run.state), run_id, self.plan.config.pipeline.name)
        )
        self._log = log.bind(run_id=run_id, pipeline=self.plan.config.pipeline.name)

    # --- lifecycle ----------------------------------------------------------------------

    def execute(self) -> RunSummary:
        """Run the pipeline and return its summary; never raises for a stage's failure.

        Raises:
            ConfigError: A stage rejected its options in ``setup`` (missing input folder,
                unwritable output).
            KeyboardInterrupt: After discarding partial output.
        """
        started = perf()
        plugins = self.plan.plugins
        try:
            self._setup()
            if self.dry_run:
                self.estimate()
                return self._summary(started, documents=0, dry_run=True)
            plugins.notify("docstage_before_run", run=self.run)
            self._log.info("run started", stages=len(self.plan.stages))
            documents = self._drain()
            summary = self._summary(started, documents=documents)
            outputs, quarantine = self._finish(summary)
        except RunError as exc:
            self._abort()
            summary = self._summary(started, documents=0, failed=str(exc))
            self._log.error("run failed", error=str(exc))
            self._notify_after(summary)
            return summary
        except BaseException:
            self._abort()
            raise
        finally:
            self._close()
        summary = attrs.evolve(
            summary, outputs=tuple(outputs), quarantine_path=quarantine, seconds=perf() - started
        )
        self._log.info("run finished", documents=documents, seconds=round(summary.seconds, 3))
        self._notify_after(summary)
        return summary

    def _finish(self, summary: RunSummary) -> tuple[list[Path], Path | None]:
        """Let every renderer commit its output, then the quarantine file (if any).

        Raises:
            RunError: A renderer or the quarantine could not be written; renderers not yet
                finished are aborted by the caller (earlier ones have committed).
        """
        outputs: list[Path] = []
        for stage in self.plan.renderers:
            assert isinstance(stage.instance, Renderer)
            try:
                outputs.extend(stage.instance.finish(summary))
            except Exception as exc:
                raise RunError(
                    f"{stage.where}: writing output failed: {type(exc).__name__}: {exc}"
                ) from exc
            self._set_up.remove(stage)
        try:
            quarantine = self._quarantine.commit()
        except OSError as exc:
            raise RunError(f"writing the quarantine file failed: {exc}") from exc
        # Last: the store must never remember documents whose output was not written.
        if self._state is not None:
            try:
                self._state.commit()
            except sqlite3.Error as exc:
                raise RunError(f"[run] state: {self._state.path}: commit failed: {exc}") from exc
        return outputs, quarantine

    def _setup(self) -> None:
        config = self.plan.config
        for index, stage in enumerate(self.plan.stages, start=1):
            context = StageContext(
                run_id=self.run.run_id,
                config_dir=config.folder,
                stage_name=stage.name,
                index=index,
                log=self._log.bind(stage=stage.name),
                dry_run=self.dry_run,
                state=self._state,
            )
            try:
                stage.instance.setup(context)
            except OptionError as exc:
                raise config.stage_error(stage.config, str(exc), exc.option) from None
            except DocstageError:
                raise
            except Exception as exc:
                raise RunError(f"{stage.where}: setup failed: {type(exc).__name__}: {exc}") from exc
            self._set_up.append(stage)

    def estimate(self) -> int | None:
        total = 0
        for stage in self.plan.readers:
            assert isinstance(stage.instance, Reader)
            found = stage.instance.estimate()
            if found is None:
                return None
            total += found
        return total

    def _abort(self) -> None:
        for stage in self._set_up:
            if isinstance(stage.instance, Renderer):
                try:
                    stage.instance.abort()
                except Exception:
                    self._log.exception("renderer abort failed", stage=stage.name)
        self._quarantine.discard()
        if self._state is not None:
            try:
                self._state.rollback()
            except sqlite3.Error:
                self._log.exception("state store rollback failed")

    def _close(self) -> None:
        for stage in reversed(self._set_up):
            try:
                stage.instance.close()
            except Exception:
                self._log.exception("stage close failed", stage=stage.name)
        self._set_up.clear()
        if self._state is not None:
            self._state.close()

    def _notify_after(self, summary: RunSummary) -> None:
        try:
            self.plan.plugins.notify("docstage_after_run", run=self.run, summary=summary)
        except RunError as exc:
            self._log.error("after_run hook failed", error=str(exc))

    def _summary(
        self,
        started: float,
        *,
        documents: int,
        failed: str | None = None,
        dry_run: bool = False,
    ) -> RunSummary:
        quarantined = self._quarantine.count
        if failed is not None:
            code = EXIT_FAILED
        elif quarantined:
            code = self.plan.config.run.quarantine_exit_code
        else:
            code = EXIT_OK
        return RunSummary(
            run_id=self.run.run_id,
            pipeline=self.plan.config.pipeline.name,
            stages=tuple(s.copy() for s in self.run.stats),
            documents=documents,
            quarantined=quarantined,
            quarantine_path=self._quarantine.path if quarantined else None,
            seconds=perf() - started,
            failed=failed,
            exit_code=code,
            dry_run=dry_run,
            quarantine_sample=tuple(self._quarantine.sample),
        )

    # --- the document stream --------------------------------------------------------------

    def _drain(self) -> int:
        batches = self._read()
        for index, stage in enumerate(self.plan.stages):
            stats = self.run.stats[index]
            instance = stage.instance
            if isinstance(instance, Transform):
                batches = self._transform(stage, stats, batches)
            elif isinstance(instance, CorpusStage):
                batches = self._corpus(stage, stats, batches)
            elif isinstance(instance, Renderer):
                batches = self._render(stage, stats, batches)
        count = 0
        for batch in batches:
            count += len(batch)
            if self.on_output is not None:
                self.on_output(batch)
        return count

    def _read(self) -> Batches:
        size = self.plan.config.run.batch_size
        progress = self.on_progress
        if self.on_total is not None:
            total = self.estimate()
            if total is not None:
                self.on_total(total)
        if self.documents is not None:
            given = iter(self.documents)
            while chunk := list(itertools.islice(given, size)):
                if progress:
                    progress(len(chunk))
                yield chunk
            return
        for index, stage in enumerate(self.plan.stages):
            if not isinstance(stage.instance, Reader):
                continue
            stats = self.run.stats[index]
            items = self._guarded(stage, iter(stage.instance.read()))
            exhausted = False
            while not exhausted:
                started = perf()
                batch: list[Document] = []
                seen = 0
                for item in items:
                    seen += 1
                    if isinstance(item, Document):
                        batch.append(item)
                        if len(batch) >= size:
                            break
                    elif isinstance(item, Drop):
                        self._dropped(stage, stats, item.document, item.reason, item.location)
                    elif isinstance(item, BadInput):
                        error = StageError(
                            f"bad input at {item.location}: {item.reason}", stage=stage.name
                        )
                        self._failed(stage, stats, None, error, item.location, item.raw)
                    else:
                        self._wrong_type(stage, stats, None, item)
                else:
                    exhausted = True
                stats.docs_in += seen
                stats.docs_out += len(batch)
                stats.seconds += perf() - started
                if progress and seen:
                    progress(seen)
                if batch:
                    yield batch

    @staticmethod
    def _guarded(stage: PlannedStage, items: Iterator[object]) -> Iterator[object]:
        """A reader's items; a reader that raises stops the run, named in the error.

        Typed as object: a third-party reader may yield anything, and the runner reports it.
        """
        while True:
            try:
                item = next(items)
            except StopIteration:
                return
            except Exception as exc:
                raise RunError(
                    f"{stage.where} raised while reading: {type(exc).__name__}: {exc}"
                ) from exc
            yield item

    def _transform(self, stage: PlannedStage, stats: StageStats, batches: Batches) -> Batches:
        instance = stage.instance
        assert isinstance(instance, Transform)
        process = instance.process
        batched = type(instance).process_batch is not Transform.process_batch
        use = stage.use
        for batch in batches:
            started = perf()
            out: list[Document] = []
            results: Sequence[object] | None = None
            if batched:
                try:
                    results = instance.process_batch(batch)
                    if len(results) != len(batch):
                        raise StageError(
                            f"process_batch returned {len(results)} results for "
                            f"{len(batch)} documents",
                            stage=stage.name,
                        )
                except Exception as exc:
                    self._log.warning(
                        "batch failed; processing its documents one by one",
                        stage=stage.name,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                    results = None
            for position, doc in enumerate(batch):
                if results is not None:
                    result: object = results[position]
                else:
                    try:
                        result = process(doc)
                    except Exception as exc:
                        self._failed(stage, stats, doc, exc)
                        continue
                if result is doc:
                    out.append(doc)
                elif isinstance(result, Document):
                    if result.stages[-1:] != (use,):
                        result = attrs.evolve(result, stages=(*result.stages, use))
                    out.append(result)
                elif isinstance(result, Drop):
                    self._dropped(stage, stats, doc, result.reason)
                else:
                    self._wrong_type(stage, stats, doc, result)
            stats.docs_in += len(batch)
            stats.docs_out += len(out)
            stats.seconds += perf() - started
            if out:
                yield out

    def _corpus(self, stage: PlannedStage, stats: StageStats, batches: Batches) -> Batches:
        assert isinstance(stage.instance, CorpusStage)
        size = self.plan.config.run.batch_size
        use = stage.use
        upstream = 0.0
        received: weakref.WeakValueDictionary[int, Document] = weakref.WeakValueDictionary()

        def feed() -> Iterator[Document]:
            nonlocal upstream
            for_upstream = iter(batches)
            while True:
                started = perf()
                batch = next(for_upstream, None)
                upstream += perf() - started
                if batch is None:
                    return
                stats.docs_in += len(batch)
                for doc in batch:
                    received[id(doc)] = doc
                    yield doc

        results: Iterator[object] = iter(stage.instance.process_stream(feed()))
        out: list[Document] = []
        while True:
            started, upstream_before = perf(), upstream
            try:
                item = next(results)
            except StopIteration:
                stats.seconds += perf() - started - (upstream - upstream_before)
                break
            except RunError:
                raise
            except Exception as exc:
                raise RunError(
                    f"{stage.where} raised: {type(exc).__name__}: {exc} "
                    "(a corpus stage's exception stops the run)"
                ) from exc
            stats.seconds += perf() - started - (upstream - upstream_before)
            if isinstance(item, Document):
                if received.get(id(item)) is not item and item.stages[-1:] != (use,):
                    item = attrs.evolve(item, stages=(*item.stages, use))
                out.append(item)
                stats.docs_out += 1
                if len(out) >= size:
                    yield out
                    out = []
            elif isinstance(item, Drop):
                self._dropped(stage, stats, item.document, item.reason)
            else:
                self._wrong_type(stage, stats, None, item)
        if out:
            yield out

    def _render(self, stage: PlannedStage, stats: StageStats, batches: Batches) -> Batches:
        assert isinstance(stage.instance, Renderer)
        write = stage.instance.write
        for batch in batches:
            started = perf()
            out = batch
            for position, doc in enumerate(batch):
                try:
                    write(doc)
                except Exception as exc:
                    if out is batch:
                        out = batch[:position]
                    self._failed(stage, stats, doc, exc)
                    continue
                if out is not batch:
                    out.append(doc)
            stats.docs_in += len(batch)
            stats.docs_out += len(out)
            stats.seconds += perf() - started
            if out:
                yield out

    # --- outcomes -----------------------------------------------------------------------

    def _dropped(
        self,
        stage: PlannedStage,
        stats: StageStats,
        doc: Document | None,
        reason: str,
        location: str | None = None,
    ) -> None:
        stats.dropped[reason] += 1
        if location is not None or doc is not None:
            where = location or doc.id  # type: ignore[union-attr]
            self._log.info("document dropped", stage=stage.name, reason=reason, location=where)
        if self.plan.plugins.has_impls("docstage_document_dropped"):
            self.plan.plugins.notify(
                "docstage_document_dropped",
                run=self.run,
                stage=stage.name,
                document=doc,
                reason=reason,
            )

    def _wrong_type(
        self, stage: PlannedStage, stats: StageStats, doc: Document | None, result: object
    ) -> None:
        expected = {
            "reader": "a Document, Drop or BadInput",
            "transform": "a Document or Drop",
            "corpus": "a Document or Drop",
        }.get(stage.kind, "a Document")
        error = StageError(
            f"stage returned {type(result).__name__}, expected {expected}", stage=stage.name
        )
        self._failed(stage, stats, doc, error)

    def _failed(
        self,
        stage: PlannedStage,
        stats: StageStats,
        doc: Document | None,
        exc: BaseException,
        location: str | None = None,
        raw: str | None = None,
    ) -> None:
        stats.errors += 1
        plugins = self.plan.plugins
        plugins.notify(
            "docstage_on_document_error", run=self.run, stage=stage.name, document=doc, error=exc
        )
        message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, StageError) else str(exc)
        location = location or document_location(doc)
        doc_id = doc.id if doc is not None else None
        policy = self.plan.config.run.on_error
        self._log.warning(
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
            self._quarantine.add(
                {
                    "stage": stage.name,
                    "use": stage.use,
                    "stage_index": stage.config.index,
                    "plugin": stage.type.plugin,
                    "distribution": info.distribution if info else None,
                    "error": message,
                    "traceback": format_traceback(exc) if exc.__traceback__ else None,
                    "location": location,
                    "raw": raw,
                    "document": to_record(doc) if doc is not None else None,
                }
            )
