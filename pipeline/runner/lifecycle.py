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

import collections
import hashlib
import itertools
import json
import re
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import structlog

from docstage.cache import Cached, Digest, RunCache, fingerprint, stage_keys
from docstage.document import Document
from docstage.errors import (
    EXIT_FAILED,
    EXIT_OK,
    DocstageError,
    RunError,
    StageError,
    format_traceback,
)
from docstage.executors import Executor, WorkerSpec, make_executor, worker_spec
from docstage.io import AtomicFile
from docstage.plan import Plan, PlannedStage, set_up_stage, stage_context
from docstage.records import to_record
from docstage.run import Run
from docstage.segments import Segment, SegmentResult, describe_error
from docstage.spool import Spool
from docstage.stages import BadInput, CorpusStage, Drop, Reader, Renderer, Transform
from docstage.state import Manifest, StateStore, read_manifest
from docstage.summary import RunSummary, StageStats, new_run_id

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
class Upstream:
    """What the runner knows about the stream reaching a stage.

    Attributes:
        digest: The digest of the documents the last corpus stage put out (renderers after
            it compare it with the input of their last output).
        replayed: That output came whole from the run cache.
    """

    digest: bytes | None = None
    replayed: bool = False


def cache_file(folder: Path, pipeline: str) -> Path:
    """The run cache of ``pipeline`` in the ``[run] cache`` folder."""
    return folder / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', pipeline) or 'pipeline'}.sqlite"


def content_hash(doc: Document) -> str:
    """The manifest's content hash: 16 hex digits of the text as read."""
    return hashlib.blake2b(doc.text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


@attrs.define
class Runner:
    """Executes a :class:`~docstage.plan.Plan`: readers, corpus stages and renderers here,
    per-document stages on the configured executor.

    Attributes:
        plan: The resolved pipeline.
        documents: Documents to feed instead of the readers (tests, embedding).
        dry_run: Set stages up (inputs found, outputs writable), process nothing.
        resume: Continue the last run of this pipeline, which was interrupted (``--resume``).
        retry_quarantined: Reprocess the documents the last run quarantined; documents it
            did not see are left out (``--retry-quarantined``).
        on_progress: Called with the number of documents read since the last call.
        on_total: Called once with the expected number of documents, when readers know.
        on_output: Called with each batch of documents that leaves the last stage.
    """

    plan: Plan
    documents: Iterable[Document] | None = None
    dry_run: bool = False
    resume: bool = False
    retry_quarantined: bool = False
    on_progress: Callable[[int], None] | None = None
    on_total: Callable[[int], None] | None = None
    on_output: Callable[[list[Document]], None] | None = None
    run: Run = attrs.field(init=False)
    _quarantine: Quarantine = attrs.field(init=False)
    _state: StateStore | None = attrs.field(init=False)
    _cache: RunCache | None = attrs.field(init=False, default=None)
    _manifest: Manifest | None = attrs.field(init=False, default=None)
    _keys: list[str] = attrs.field(init=False, factory=list)
    _executor: Executor | None = attrs.field(init=False, default=None)
    _resumed_from: str | None = attrs.field(init=False, default=None)
    _retry: tuple[set[str], set[str]] | None = attrs.field(init=False, default=None)
    _skipped_renderers: dict[int, list[Path]] = attrs.field(init=False, factory=dict)
    _renderer_inputs: dict[int, bytes] = attrs.field(init=False, factory=dict)
    _log: Any = attrs.field(init=False)
    _set_up: list[PlannedStage] = attrs.Factory(list)

    def __attrs_post_init__(self) -> None:
        run_id = new_run_id()
        stats = [StageStats(name=s.name, use=s.use, kind=s.kind) for s in self.plan.stages]
        self.run = Run(run_id=run_id, plan=self.plan, stats=stats)
        self._quarantine = Quarantine(Path(self.plan.config.run.quarantine), run_id)
        run = self.plan.config.run
        name = self.plan.config.pipeline.name
        self._state = None if self.dry_run else StateStore(Path(run.state), run_id, name)
        self._log = log.bind(run_id=run_id, pipeline=name)

    # --- lifecycle ----------------------------------------------------------------------

    def execute(self) -> RunSummary:
        """Run the pipeline and return its summary; never raises for a stage's failure.

        Raises:
            ConfigError: A stage rejected its options in ``setup`` (missing input folder,
                unwritable output).
            DocstageError: ``--resume`` or ``--retry-quarantined`` has nothing to work on.
            KeyboardInterrupt: After discarding partial output.
        """
        started = perf()
        plugins = self.plan.plugins
        try:
            spec = self._prepare()
            # Transforms that run in workers are set up there, not here too (a model would
            # be loaded once more, in the process that never uses it); a dry run sets
            # everything up here, to check it.
            self._setup(here_only=spec is not None and not self.dry_run)
            if self.dry_run:
                self.estimate()
                return self._summary(started, documents=0, dry_run=True)
            self._executor = make_executor(self.plan, spec)
            self._executor.wait_ready()
            if self._cache is not None:
                self._cache.begin(self.plan.config.pipeline.name, self._keys[-1])
            plugins.notify("docstage_before_run", run=self.run)
            self._log.info(
                "run started", stages=len(self.plan.stages), executor=self._executor.name
            )
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

    def _prepare(self) -> WorkerSpec | None:
        """Stage keys, the run cache, ``--resume``/``--retry-quarantined`` checks, and what
        worker processes need (captured before the stages are set up here).

        Raises:
            DocstageError: ``--resume`` or ``--retry-quarantined`` cannot be honoured.
            RunError: A stage cannot be sent to workers.
        """
        config = self.plan.config
        run = config.run
        name = config.pipeline.name
        self._keys = [key.hex() for key in stage_keys(self.plan)] or ["empty"]
        wanted = (
            "--resume" if self.resume else "--retry-quarantined" if self.retry_quarantined else None
        )
        if wanted and not run.incremental:
            raise DocstageError(
                f"{wanted} needs [run] incremental = true (it reuses the run cache)"
            )
        if wanted and (self.dry_run or self.documents is not None):
            raise DocstageError(f"{wanted} cannot be combined with a dry run or given documents")
        # Documents handed in (tests, embedding) are not the config's inputs: no cache, and
        # no manifest, which describes what the config's readers found.
        own_inputs = self.documents is None
        if run.incremental and not self.dry_run and own_inputs:
            self._cache = RunCache(cache_file(Path(run.cache), name), self.run.run_id)
        if self.resume:
            assert self._cache is not None
            last = self._cache.last_run(name)
            if last is None:
                raise DocstageError(
                    f"--resume: no earlier run of pipeline '{name}' in {self._cache.path}"
                )
            run_id, config_hash, finished = last
            if finished is not None:
                raise DocstageError(
                    f"--resume: the last run of pipeline '{name}' ({run_id}) finished; there is "
                    "nothing to resume (a plain run reuses its work for unchanged documents)"
                )
            if config_hash != self._keys[-1]:
                self._log.warning(
                    "the stage configuration changed since the interrupted run; stages from "
                    "the first changed one on start over",
                    resumed=run_id,
                )
            self._resumed_from = run_id
        if self.retry_quarantined:
            rows = read_manifest(Path(run.state), name)
            if not rows:
                raise DocstageError(
                    f"--retry-quarantined: no finished run of pipeline '{name}' in {run.state}"
                )
            failed = {str(r["id"]) for r in rows if r["status"] in ("quarantined", "skipped")}
            if not failed:
                raise DocstageError(
                    f"--retry-quarantined: the last run of pipeline '{name}' quarantined no "
                    "documents; there is nothing to retry"
                )
            self._retry = (failed, {str(r["id"]) for r in rows})
        if self._state is not None and own_inputs:
            self._manifest = Manifest(self._state, name, self._keys[-1])
        if run.executor == "local":
            return None
        return worker_spec(self.plan, self.run.run_id)

    def _finish(self, summary: RunSummary) -> tuple[list[Path], Path | None]:
        """Let every renderer commit its output, then the quarantine file (if any).

        Raises:
            RunError: A renderer or the quarantine could not be written; renderers not yet
                finished are aborted by the caller (earlier ones have committed).
        """
        outputs: list[Path] = []
        for position, stage in enumerate(self.plan.stages):
            if not isinstance(stage.instance, Renderer):
                continue
            kept = self._skipped_renderers.get(position)
            try:
                if kept is not None:
                    # Its input and options are those of the files on disk: leave them.
                    stage.instance.abort()
                    written = kept
                else:
                    written = list(stage.instance.finish(summary))
            except Exception as exc:
                raise RunError(
                    f"{stage.where}: writing output failed: {type(exc).__name__}: {exc}"
                ) from exc
            outputs.extend(written)
            self._set_up.remove(stage)
            digest = self._renderer_inputs.get(position)
            if self._cache is not None and digest is not None and kept is None:
                self._cache.renderer_done(bytes.fromhex(self._keys[position]), digest, written)
        try:
            quarantine = self._quarantine.commit()
        except OSError as exc:
            raise RunError(f"writing the quarantine file failed: {exc}") from exc
        # Last: the store must never remember documents whose output was not written.
        if self._state is not None:
            try:
                if self._manifest is not None:
                    self._manifest.flush()
                self._state.commit()
            except sqlite3.Error as exc:
                raise RunError(f"[run] state: {self._state.path}: commit failed: {exc}") from exc
        if self._cache is not None:
            try:
                self._cache.finish()
            except sqlite3.Error as exc:
                self._log.warning(
                    "run cache not updated", cache=str(self._cache.path), error=str(exc)
                )
        return outputs, quarantine

    def _setup(self, *, here_only: bool = False) -> None:
        config = self.plan.config
        for stage in self.plan.stages:
            if here_only and isinstance(stage.instance, Transform):
                continue
            context = stage_context(
                config,
                stage.config,
                run_id=self.run.run_id,
                log=self._log,
                dry_run=self.dry_run,
                state=self._state,
            )
            set_up_stage(config, stage.config, stage.instance, context)
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
        if self._executor is not None:
            try:
                self._executor.close()
            except Exception:
                self._log.exception("stopping the executor failed")
            self._executor = None
        for stage in reversed(self._set_up):
            try:
                stage.instance.close()
            except Exception:
                self._log.exception("stage close failed", stage=stage.name)
        self._set_up.clear()
        if self._state is not None:
            self._state.close()
        if self._cache is not None:
            try:
                self._cache.close()
            except sqlite3.Error:
                self._log.exception("closing the run cache failed")

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
            executor=self.plan.config.run.executor,
            resumed_from=self._resumed_from,
            quarantine_sample=tuple(self._quarantine.sample),
        )

    # --- the document stream --------------------------------------------------------------

    def _drain(self) -> int:
        batches = self._read()
        stages = self.plan.stages
        upstream = Upstream()
        position = 0
        while position < len(stages):
            stage = stages[position]
            stats = self.run.stats[position]
            instance = stage.instance
            if isinstance(instance, Transform):
                end = position
                while end < len(stages) and isinstance(stages[end].instance, Transform):
                    end += 1
                segment = Segment(tuple(range(position, end)))
                batches = self._segment(segment, batches)
                upstream = Upstream()
                position = end
                continue
            if isinstance(instance, CorpusStage):
                upstream = Upstream()
                batches = self._corpus(position, batches, upstream)
            elif isinstance(instance, Renderer):
                batches = self._render(position, stats, batches, upstream)
            position += 1
        count = 0
        manifest = self._manifest
        last = self._keys[-1]
        for batch in batches:
            count += len(batch)
            if manifest is not None:
                for doc in batch:
                    manifest.settle(doc.id, "done", last, None)
            if self.on_output is not None:
                self.on_output(batch)
        return count

    def _read(self) -> Batches:
        for batch in self._read_inputs():
            if self._manifest is not None:
                for doc in batch:
                    self._manifest.read(doc.id, content_hash(doc))
            if self._retry is not None:
                batch = self._retried(batch)
            if batch:
                yield batch

    def _retried(self, batch: list[Document]) -> list[Document]:
        """``--retry-quarantined``: documents the last run did not see are left out."""
        assert self._retry is not None
        _failed, seen = self._retry
        kept = [doc for doc in batch if doc.id in seen]
        if len(kept) < len(batch):
            reader = next(s for s in self.plan.stages if isinstance(s.instance, Reader))
            stats = self.run.stats[self.plan.stages.index(reader)]
            for doc in batch:
                if doc.id not in seen:
                    stats.docs_out -= 1
                    self._dropped(reader, stats, doc, "new since the run being retried")
        return kept

    def _read_inputs(self) -> Batches:
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

    def _segment(self, segment: Segment, batches: Batches) -> Batches:
        """Run consecutive transforms on the executor; with the run cache, only on the
        documents whose outcome is not cached, merged back in input order."""
        executor = self._executor
        assert executor is not None
        positions = segment.positions
        stages = [self.plan.stages[p] for p in positions]
        stats = [self.run.stats[p] for p in positions]
        cache = self._cache
        if cache is None:
            for _batch, result in executor.map(segment, batches):
                self._apply(stages, stats, result)
                if result.documents:
                    yield result.documents
            return
        key = bytes.fromhex(self._keys[positions[-1]])
        pending: collections.deque[tuple[list[Document], list[bytes], list[Cached | None]]]
        pending = collections.deque()

        def misses() -> Batches:
            for batch in batches:
                fps = [fingerprint(doc) for doc in batch]
                cached = cache.segment_lookup(key, fps)
                pending.append((batch, fps, cached))
                yield [doc for doc, hit in zip(batch, cached, strict=True) if hit is None]

        for _todo, result in executor.map(segment, misses()):
            self._apply(stages, stats, result)
            batch, fps, cached = pending.popleft()
            came_out = dict(zip(result.origins, result.documents, strict=True))
            drops = {e.origin: e for e in result.events if e.kind == "drop"}
            entries: list[tuple[bytes, Document | None, int | None, str | None]] = []
            out: list[Document] = []
            todo = 0
            for doc, fp, hit in zip(batch, fps, cached, strict=True):
                if hit is not None:
                    self._replay(stages, stats, doc, hit)
                    if hit.reason is None and hit.document is not None:
                        out.append(hit.document)
                    continue
                if (made := came_out.get(todo)) is not None:
                    out.append(made)
                    entries.append((fp, made, None, None))
                elif (drop := drops.get(todo)) is not None:
                    entries.append((fp, None, drop.stage, drop.reason))
                # A failure is not cached: the next run tries the document again.
                todo += 1
            if entries:
                cache.segment_store(key, entries)
            if out:
                yield out

    def _apply(
        self, stages: list[PlannedStage], stats: list[StageStats], result: SegmentResult
    ) -> None:
        """Count a segment's work and report its drops and failures, as if done here."""
        for counters, count in zip(stats, result.counts, strict=True):
            counters.docs_in += count.docs_in
            counters.docs_out += count.docs_out
            counters.seconds += count.seconds
        for event in result.events:
            stage, counters = stages[event.stage], stats[event.stage]
            if event.error is None:
                self._dropped(stage, counters, event.document, event.reason or "")
            else:
                self._failed(stage, counters, event.document, event.error, trace=event.traceback)

    def _replay(
        self, stages: list[PlannedStage], stats: list[StageStats], doc: Document, hit: Cached
    ) -> None:
        """Count a cached outcome: every stage of the segment passed the document on, or
        one dropped it."""
        through = len(stages) if hit.reason is None else hit.stage or 0
        for counters in stats[:through]:
            counters.docs_in += 1
            counters.docs_out += 1
            counters.cached += 1
        if hit.reason is not None:
            counters = stats[through]
            counters.docs_in += 1
            counters.cached += 1
            self._dropped(stages[through], counters, doc, hit.reason or "")

    def _corpus(self, position: int, batches: Batches, upstream: Upstream) -> Batches:
        if self._cache is None:
            yield from self._corpus_stream(position, batches, upstream)
            return
        cache = self._cache
        key = bytes.fromhex(self._keys[position])
        size = self.plan.config.run.batch_size
        with Spool() as spool:
            digest = Digest()
            for batch in batches:
                for doc in batch:
                    digest.add(fingerprint(doc))
                    spool.append(doc)
            made = digest.digest()
            outcomes = cache.corpus_lookup(key, made)
            if outcomes is not None:
                upstream.replayed = True
                yield from self._corpus_replay(position, spool, outcomes, upstream)
                return
            cache.corpus_begin(key, made)
            outputs = Digest()
            seq = 0

            def record(doc: Document, reason: str | None) -> None:
                nonlocal seq
                fp = cache.corpus_add(key, made, seq, doc, reason)
                seq += 1
                if reason is None:
                    outputs.add(fp)

            yield from self._corpus_stream(position, iter_batches(spool, size), upstream, record)
            upstream.digest = outputs.digest()

    def _corpus_replay(
        self, position: int, spool: Spool, outcomes: list[Cached], upstream: Upstream
    ) -> Batches:
        stage, stats = self.plan.stages[position], self.run.stats[position]
        size = self.plan.config.run.batch_size
        stats.docs_in += len(spool)
        stats.cached += len(spool)
        outputs = Digest()
        for cached in outcomes:
            if cached.reason is None:
                outputs.add(cached.fp)
        upstream.digest = outputs.digest()

        def kept() -> Iterator[Document]:
            for cached in outcomes:
                if cached.reason is not None:
                    self._dropped(stage, stats, cached.document, cached.reason)
                    continue
                assert cached.document is not None
                stats.docs_out += 1
                yield cached.document

        yield from iter_batches(kept(), size)

    def _corpus_stream(
        self,
        position: int,
        batches: Iterable[list[Document]],
        upstream: Upstream,
        record: Callable[[Document, str | None], None] | None = None,
    ) -> Batches:
        stage, stats = self.plan.stages[position], self.run.stats[position]
        assert isinstance(stage.instance, CorpusStage)
        size = self.plan.config.run.batch_size
        use = stage.use
        upstream_seconds = 0.0
        received: weakref.WeakValueDictionary[int, Document] = weakref.WeakValueDictionary()

        def feed() -> Iterator[Document]:
            nonlocal upstream_seconds
            for_upstream = iter(batches)
            while True:
                started = perf()
                batch = next(for_upstream, None)
                upstream_seconds += perf() - started
                if batch is None:
                    return
                stats.docs_in += len(batch)
                for doc in batch:
                    received[id(doc)] = doc
                    yield doc

        results: Iterator[object] = iter(stage.instance.process_stream(feed()))
        out: list[Document] = []
        while True:
            started, upstream_before = perf(), upstream_seconds
            try:
                item = next(results)
            except StopIteration:
                stats.seconds += perf() - started - (upstream_seconds - upstream_before)
                break
            except RunError:
                raise
            except Exception as exc:
                raise RunError(
                    f"{stage.where} raised: {type(exc).__name__}: {exc} "
                    "(a corpus stage's exception stops the run)"
                ) from exc
            stats.seconds += perf() - started - (upstream_seconds - upstream_before)
            if isinstance(item, Document):
                if received.get(id(item)) is not item and item.stages[-1:] != (use,):
                    item = attrs.evolve(item, stages=(*item.stages, use))
                if record is not None:
                    record(item, None)
                out.append(item)
                stats.docs_out += 1
                if len(out) >= size:
                    yield out
                    out = []
            elif isinstance(item, Drop):
                if record is not None and item.document is not None:
                    record(item.document, item.reason)
                self._dropped(stage, stats, item.document, item.reason)
            else:
                self._wrong_type(stage, stats, None, item)
        if out:
            yield out

    def _render(
        self, position: int, stats: StageStats, batches: Batches, upstream: Upstream
    ) -> Batches:
        stage = self.plan.stages[position]
        assert isinstance(stage.instance, Renderer)
        write = stage.instance.write
        skip: bool | None = None
        for batch in batches:
            if skip is None:
                skip = self._unchanged(position, upstream)
            stats.docs_in += len(batch)
            if skip:
                stats.docs_out += len(batch)
                stats.cached += len(batch)
                yield batch
                continue
            started = perf()
            out = batch
            for index, doc in enumerate(batch):
                try:
                    write(doc)
                except Exception as exc:
                    if out is batch:
                        out = batch[:index]
                    self._failed(stage, stats, doc, exc)
                    continue
                if out is not batch:
                    out.append(doc)
            stats.docs_out += len(out)
            stats.seconds += perf() - started
            if out:
                yield out
        if skip is None:
            self._unchanged(position, upstream)
        if upstream.digest is not None and not self._skipped_renderers.get(position):
            self._renderer_inputs[position] = upstream.digest

    def _unchanged(self, position: int, upstream: Upstream) -> bool:
        """The renderer's input is the one its files on disk were made from: skip it."""
        if self._cache is None or not upstream.replayed or upstream.digest is None:
            return False
        kept = self._cache.renderer_unchanged(bytes.fromhex(self._keys[position]), upstream.digest)
        if kept is None:
            return False
        self._skipped_renderers[position] = kept
        return True

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
        if doc is not None and self._manifest is not None:
            if stage.kind == "reader":
                self._manifest.read(doc.id, content_hash(doc))
            position = self.plan.stages.index(stage)
            self._manifest.settle(doc.id, "dropped", self._keys[position], stage.name, reason)
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
        *,
        trace: str | None = None,
    ) -> None:
        stats.errors += 1
        plugins = self.plan.plugins
        plugins.notify(
            "docstage_on_document_error", run=self.run, stage=stage.name, document=doc, error=exc
        )
        message = describe_error(exc)
        location = location or document_location(doc)
        doc_id = doc.id if doc is not None else None
        policy = self.plan.config.run.on_error
        if doc is not None and self._manifest is not None and policy != "fail":
            status = "quarantined" if policy == "quarantine" else "skipped"
            position = self.plan.stages.index(stage)
            self._manifest.settle(doc.id, status, self._keys[position], stage.name, message)
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
                    "traceback": trace or (format_traceback(exc) if exc.__traceback__ else None),
                    "location": location,
                    "raw": raw,
                    "document": to_record(doc) if doc is not None else None,
                }
            )


def iter_batches(docs: Iterable[Document], size: int) -> Batches:
    """``docs`` in lists of ``size``."""
    it = iter(docs)
    while chunk := list(itertools.islice(it, size)):
        yield chunk
