"""The run lifecycle: :class:`Runner` takes a plan through setup, stream, commit (or abort)
and close, in the five steps of docs/architecture.md ("The streaming runner").

The work of each step lives with a collaborator: the incremental preparation
(:mod:`.incremental`), the stream drivers (:mod:`.drivers`, wrapped by :mod:`.replay`
when the run cache is used) and the accounting of drops and failures (:mod:`.outcomes`).
This module decides only their order, and what a failed or interrupted run undoes: every
file the run writes (renderers' outputs, corpus stages' reports, the quarantine file) is
finished under a temporary name and published with the others only when all of them are
finished (:func:`docstage.io.outputs_together`), so a failed or interrupted run leaves
every earlier output untouched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs
import structlog

from docstage.document import Document
from docstage.errors import (
    EXIT_FAILED,
    EXIT_OK,
    RunError,
    os_error_text,
)
from docstage.executors import Executor, WorkerSpec, make_executor, worker_spec
from docstage.io import Outputs, outputs_together
from docstage.plan import Plan, PlannedStage, set_up_stage, stage_context
from docstage.run import Run
from docstage.runner.drivers import Drivers, given_documents
from docstage.runner.incremental import Incremental, prepare_incremental
from docstage.runner.outcomes import Outcomes, Quarantine, check_quarantine
from docstage.runner.progress import RunProgress
from docstage.runner.replay import CachedDrivers
from docstage.runner.stagerun import Batches, StageRun, perf, stage_runs
from docstage.stages import Reader, Renderer, Transform
from docstage.state import StateStore, forget_manifest
from docstage.summary import RunSummary, StageStats, new_run_id

log = structlog.get_logger()


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
        on_output: Called with each batch of documents that leaves the last stage.
        progress: Where the run is, for progress bars (:mod:`docstage.runner.progress`).
    """

    plan: Plan
    documents: Iterable[Document] | None = None
    dry_run: bool = False
    resume: bool = False
    retry_quarantined: bool = False
    on_output: Callable[[list[Document]], None] | None = None
    progress: RunProgress = attrs.field(init=False)
    run: Run = attrs.field(init=False)
    _stages: tuple[StageRun, ...] = attrs.field(init=False)
    _outcomes: Outcomes = attrs.field(init=False)
    _state: StateStore | None = attrs.field(init=False)
    _log: Any = attrs.field(init=False)
    _incremental: Incremental = attrs.field(init=False, factory=Incremental)
    _executor: Executor | None = attrs.field(init=False, default=None)
    _replay: CachedDrivers | None = attrs.field(init=False, default=None)
    _set_up: list[PlannedStage] = attrs.field(init=False, factory=list)

    def __attrs_post_init__(self) -> None:
        run_id = new_run_id()
        config = self.plan.config
        stats = [StageStats(name=s.name, use=s.use, kind=s.kind) for s in self.plan.stages]
        self.run = Run(run_id=run_id, plan=self.plan, stats=stats)
        self._stages = stage_runs(self.plan, stats)
        self.progress = RunProgress(self._stages)
        self._log = log.bind(run_id=run_id, pipeline=config.pipeline.name)
        quarantine = Quarantine(Path(config.run.quarantine), run_id)
        self._outcomes = Outcomes(run=self.run, quarantine=quarantine, log=self._log)
        path = Path(config.run.state)
        self._state = None if self.dry_run else StateStore(path, run_id, config.pipeline.name)

    @property
    def _config_hash(self) -> str:
        """The key of the whole stage configuration (the last stage's)."""
        return self._stages[-1].config_hash if self._stages else "empty"

    # --- the lifecycle ----------------------------------------------------------------------

    def execute(self) -> RunSummary:
        """Run the pipeline and return its summary; never raises for a stage's failure.

        Raises:
            ConfigError: A stage rejected its options in ``setup`` (missing input folder,
                unwritable output).
            DocstageError: ``--resume`` or ``--retry-quarantined`` has nothing to work on.
            RunLocked: Another run is using this run's state store or run cache
                (:mod:`docstage.runlock`).
            KeyboardInterrupt: After discarding partial output.
        """
        started = perf()
        with outputs_together() as files:
            return self._execute(started, files)

    def _execute(self, started: float, files: Outputs) -> RunSummary:
        try:
            self._prepare_incremental()
            spec = self._worker_spec()
            # Transforms that run in workers are set up there, not here too (a model would
            # be loaded once more, in the process that never uses it); a dry run sets
            # everything up here, to check it.
            self._set_up_stages(here_only=spec is not None and not self.dry_run)
            if self.dry_run:
                return self._summary(started, documents=0, dry_run=True)
            self._start_executor(spec)
            self._before_run()
            documents = self._stream()
            summary = self._summary(started, documents=documents)
            outputs, quarantine = self._commit(summary, files)
        except RunError as exc:
            self._abort()
            summary = self._summary(started, documents=0, failed=str(exc))
            self._log.error("run failed", error=str(exc))
            self._after_run(summary)
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
        self._after_run(summary)
        return summary

    def estimate(self) -> int | None:
        """The number of documents the readers expect to produce, if all of them know."""
        total = 0
        for stage in self.plan.readers:
            assert isinstance(stage.instance, Reader)
            found = stage.instance.estimate()
            if found is None:
                return None
            total += found
        return total

    # --- 1. setup ----------------------------------------------------------------------------

    def _prepare_incremental(self) -> None:
        """The run cache, the manifest, ``--resume`` and ``--retry-quarantined``.

        Raises:
            DocstageError: ``--resume`` or ``--retry-quarantined`` cannot be honoured.
        """
        self._incremental = prepare_incremental(
            self.plan,
            run_id=self.run.run_id,
            config_hash=self._config_hash,
            state=self._state,
            resume=self.resume,
            retry_quarantined=self.retry_quarantined,
            dry_run=self.dry_run,
            own_inputs=self.documents is None,
            log=self._log,
        )
        self._outcomes.manifest = self._incremental.manifest

    def _worker_spec(self) -> WorkerSpec | None:
        """What worker processes need, captured before the stages are set up here.

        Raises:
            RunError: A stage cannot be sent to workers.
        """
        if self.plan.config.run.executor == "local":
            return None
        return worker_spec(self.plan, self.run.run_id)

    def _set_up_stages(self, *, here_only: bool) -> None:
        config = self.plan.config
        check_quarantine(config)
        for position, stage in enumerate(self.plan.stages):
            if here_only and isinstance(stage.instance, Transform):
                continue
            context = stage_context(
                config,
                stage.config,
                run_id=self.run.run_id,
                log=self._log,
                dry_run=self.dry_run,
                state=self._state,
                progress=self.progress.stage(position),
            )
            set_up_stage(config, stage.config, stage.instance, context)
            self._set_up.append(stage)

    def _start_executor(self, spec: WorkerSpec | None) -> None:
        self._executor = make_executor(self.plan, spec)
        self._executor.wait_ready()

    # --- 2. docstage_before_run --------------------------------------------------------------

    def _before_run(self) -> None:
        assert self._executor is not None
        cache = self._incremental.cache
        if cache is not None:
            cache.begin(self.plan.config.pipeline.name, self._config_hash)
        self.plan.plugins.notify("docstage_before_run", run=self.run)
        self._log.info("run started", stages=len(self.plan.stages), executor=self._executor.name)

    # --- 3. stream ---------------------------------------------------------------------------

    def _stream(self) -> int:
        """Chain the stages' drivers, pull every document through; the number that came out."""
        assert self._executor is not None
        settings = self.plan.config.run
        progress = self.progress
        plain = Drivers(
            self._outcomes,
            self._executor,
            settings.batch_size,
            settings.duplicate_ids,
            received=progress.received,
        )
        cache = self._incremental.cache
        drivers: Drivers | CachedDrivers = plain
        if cache is not None:
            assert self._state is not None  # a dry run streams nothing
            state = self._state
            drivers = self._replay = CachedDrivers(plain, cache, state.stamp(), state.finished)
        batches = progress.watch(0, self._inputs(plain))
        for index, unit in enumerate(progress.units[1:], start=1):
            kind = unit.stages[0].stage.kind
            if kind == "transform":
                batches = drivers.segment(unit.stages, batches)
            elif kind == "corpus":
                batches = drivers.corpus(unit.stages[0], batches)
            else:
                batches = drivers.render(unit.stages[0], batches)
            batches = progress.watch(index, batches)
        count = 0
        config_hash = self._config_hash
        for batch in batches:
            count += len(batch)
            self._outcomes.came_out(batch, config_hash)
            if self.on_output is not None:
                self.on_output(batch)
        return count

    def _inputs(self, plain: Drivers) -> Batches:
        """The documents entering the first stage after the readers."""
        if self.progress.shown:
            self.progress.estimate = self.estimate()
        if self.documents is not None:
            batches = given_documents(self.documents, plain.batch_size)
        else:
            batches = plain.read(self.progress.units[0].stages)
        batches = self._read(batches)
        retry = self._incremental.retry
        if retry is not None:
            reader = next(s for s in self._stages if isinstance(s.stage.instance, Reader))
            batches = retry.keep_seen(batches, reader, self._outcomes)
        return batches

    def _read(self, batches: Batches) -> Batches:
        for batch in batches:
            self._outcomes.read(batch)
            yield batch

    # --- 4. commit or abort ------------------------------------------------------------------

    def _commit(self, summary: RunSummary, files: Outputs) -> tuple[list[Path], Path | None]:
        """Let every renderer finish its output and the quarantine file finish; then, all
        of them finished, publish them together and commit the state store.

        Raises:
            RunError: An output, the quarantine or the state store could not be written;
                nothing is published (or what was is put back).
        """
        outputs: list[Path] = []
        replay = self._replay
        committed: list[tuple[StageRun, list[Path]]] = []
        for where in self._stages:
            stage = where.stage
            if not isinstance(stage.instance, Renderer):
                continue
            kept = replay.kept.get(where.position) if replay is not None else None
            try:
                if kept is not None:
                    # Its input and options are those of the files on disk: leave them.
                    stage.instance.abort()
                    written = kept
                else:
                    written = list(stage.instance.finish(summary))
            except OSError as exc:
                reason = os_error_text(exc)
                raise RunError(f"{stage.where}: writing output failed: {reason}") from exc
            except Exception as exc:
                raise RunError(
                    f"{stage.where}: writing output failed: {type(exc).__name__}: {exc}"
                ) from exc
            outputs.extend(written)
            self._set_up.remove(stage)
            if replay is not None and kept is None:
                committed.append((where, written))
        try:
            quarantine = self._outcomes.quarantine.commit()
        except OSError as exc:
            raise RunError(f"[run] quarantine: writing failed: {os_error_text(exc)}") from exc
        try:
            files.publish()
        except OSError as exc:
            raise RunError(f"publishing the outputs failed: {os_error_text(exc)}") from exc
        # The store must never remember documents whose output was not written: it
        # commits after the outputs are in place, and puts them back if it cannot. The
        # cache's entries are on disk before it: a run killed after the state commit
        # counts as finished by the state's word (RunCache.corpus_lookup).
        try:
            self._update_cache(finish=False)
            self._commit_state()
        except BaseException:
            files.restore()
            raise
        files.confirm()
        if quarantine is None:
            self._outcomes.quarantine.remove_stale()
        if replay is not None:
            for where, written in committed:
                replay.committed(where, written)
        self._update_cache(finish=True)
        return outputs, quarantine

    def _update_cache(self, *, finish: bool) -> None:
        """Write the run cache's entries (``finish``: and mark them the run's); a cache
        that cannot be written costs recomputation later, never this run."""
        cache = self._incremental.cache
        if cache is not None:
            try:
                if finish:
                    cache.finish()
                else:
                    cache.checkpoint(force=True)
            except sqlite3.Error as exc:
                self._log.warning("run cache not updated", cache=str(cache.path), error=str(exc))

    def _commit_state(self) -> None:
        state = self._state
        if state is None:
            return
        manifest = self._incremental.manifest
        try:
            if manifest is not None:
                manifest.flush()
            elif self._incremental.forget_manifest:
                forget_manifest(state)
            state.commit()
        except sqlite3.Error as exc:
            raise RunError(f"[run] state: {state.path}: commit failed: {exc}") from exc

    def _abort(self) -> None:
        for stage in self._set_up:
            if isinstance(stage.instance, Renderer):
                try:
                    stage.instance.abort()
                except Exception:
                    self._log.exception("renderer abort failed", stage=stage.name)
        self._outcomes.quarantine.discard()
        if self._state is not None:
            try:
                self._state.rollback()
            except sqlite3.Error:
                self._log.exception("state store rollback failed")

    # --- 5. docstage_after_run, and close ----------------------------------------------------

    def _after_run(self, summary: RunSummary) -> None:
        try:
            self.plan.plugins.notify("docstage_after_run", run=self.run, summary=summary)
        except RunError as exc:
            self._log.error("after_run hook failed", error=str(exc))

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
        cache = self._incremental.cache
        if cache is not None:
            try:
                cache.close()
            except sqlite3.Error:
                self._log.exception("closing the run cache failed")

    def _summary(
        self,
        started: float,
        *,
        documents: int,
        failed: str | None = None,
        dry_run: bool = False,
    ) -> RunSummary:
        quarantine = self._outcomes.quarantine
        quarantined = quarantine.count
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
            quarantine_path=quarantine.path if quarantined and failed is None else None,
            seconds=perf() - started,
            failed=failed,
            exit_code=code,
            dry_run=dry_run,
            executor=self.plan.config.run.executor,
            resumed_from=self._incremental.resumed_from,
            quarantine_sample=tuple(quarantine.sample),
        )
