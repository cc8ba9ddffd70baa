"""The incremental preparation of a run: what it reuses or honours from earlier runs.

Before any stage is set up, :func:`prepare_incremental` checks ``--resume`` and
``--retry-quarantined`` against ``[run] incremental`` and the earlier runs, opens the run
cache, and decides whether this run keeps a run manifest. :class:`Retry` then leaves out
of the stream the documents the run being retried did not see.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs

from docstage.cache import RunCache
from docstage.errors import DocstageError
from docstage.plan import Plan
from docstage.runner.outcomes import Outcomes
from docstage.runner.stagerun import Batches, StageRun
from docstage.state import Manifest, StateStore, read_manifest


def cache_file(folder: Path, pipeline: str) -> Path:
    """The run cache of ``pipeline`` in the ``[run] cache`` folder."""
    return folder / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', pipeline) or 'pipeline'}.sqlite"


@attrs.frozen
class Retry:
    """``--retry-quarantined``: the documents the run being retried saw.

    Attributes:
        seen: Their ids; documents new since then are left out.
    """

    seen: frozenset[str]

    def keep_seen(self, batches: Batches, reader: StageRun, outcomes: Outcomes) -> Batches:
        """The stream less the documents the retried run did not see, each counted as
        dropped at ``reader`` ("new since the run being retried")."""
        seen = self.seen
        for batch in batches:
            kept = [doc for doc in batch if doc.id in seen]
            if len(kept) < len(batch):
                for doc in batch:
                    if doc.id not in seen:
                        reader.stats.docs_out -= 1
                        outcomes.dropped(reader, doc, "new since the run being retried")
            if kept:
                yield kept


@attrs.frozen
class Incremental:
    """What a run reuses from earlier runs and keeps for later ones.

    Attributes:
        cache: The run cache (``[run] incremental`` with the config's own readers).
        manifest: The run manifest this run writes, if any.
        forget_manifest: This run keeps no manifest, and an earlier run's must go when it
            commits (it would no longer describe the last run).
        resumed_from: The run ``--resume`` continues.
        retry: What ``--retry-quarantined`` retries.
    """

    cache: RunCache | None = None
    manifest: Manifest | None = None
    forget_manifest: bool = False
    resumed_from: str | None = None
    retry: Retry | None = None


def prepare_incremental(
    plan: Plan,
    *,
    run_id: str,
    config_hash: str,
    state: StateStore | None,
    resume: bool,
    retry_quarantined: bool,
    dry_run: bool,
    own_inputs: bool,
    log: Any,
) -> Incremental:
    """Check the incremental modes asked for and open what the run will use.

    Args:
        plan: The plan.
        run_id: This run's id.
        config_hash: The key of the whole stage configuration (the last stage's).
        state: The state store (None for a dry run).
        resume: ``--resume``.
        retry_quarantined: ``--retry-quarantined``.
        dry_run: Nothing is processed.
        own_inputs: The config's readers run (no documents were handed in).
        log: The run's logger.

    Raises:
        DocstageError: ``--resume`` or ``--retry-quarantined`` cannot be honoured.
    """
    settings = plan.config.run
    name = plan.config.pipeline.name
    wanted = "--resume" if resume else "--retry-quarantined" if retry_quarantined else None
    if wanted and not settings.incremental:
        raise DocstageError(f"{wanted} needs [run] incremental = true (it reuses the run cache)")
    if wanted and (dry_run or not own_inputs):
        raise DocstageError(f"{wanted} cannot be combined with a dry run or given documents")
    # Documents handed in (tests, embedding) are not the config's inputs: no cache, and
    # no manifest, which describes what the config's readers found.
    cache = None
    if settings.incremental and not dry_run and own_inputs:
        cache = RunCache(cache_file(Path(settings.cache), name), run_id, name)
    resumed_from = None
    retry = None
    try:
        if resume:
            assert cache is not None
            resumed_from = _resumable(cache, name, config_hash, log)
        if retry_quarantined:
            retry = _retry(Path(settings.state), name)
    except BaseException:
        # The run never gets the cache to close: close it here.
        if cache is not None:
            cache.close()
        raise
    manifest = None
    forget = False
    if state is not None and own_inputs:
        # Only --retry-quarantined reads the manifest, and it needs an incremental run: a
        # run without the cache pays for no manifest (a hash and a row per document).
        if settings.incremental:
            manifest = Manifest(state, name, config_hash)
        else:
            forget = True
    return Incremental(
        cache=cache,
        manifest=manifest,
        forget_manifest=forget,
        resumed_from=resumed_from,
        retry=retry,
    )


def _resumable(cache: RunCache, name: str, config_hash: str, log: Any) -> str:
    """The interrupted run ``--resume`` continues."""
    last = cache.last_run(name)
    if last is None:
        raise DocstageError(f"--resume: no earlier run of pipeline '{name}' in {cache.path}")
    run_id, last_config, finished = last
    if finished is not None:
        raise DocstageError(
            f"--resume: the last run of pipeline '{name}' ({run_id}) finished; there is "
            "nothing to resume (a plain run reuses its work for unchanged documents)"
        )
    if last_config != config_hash:
        log.warning(
            "the stage configuration changed since the interrupted run; stages from "
            "the first changed one on start over",
            resumed=run_id,
        )
    return run_id


def _retry(state: Path, name: str) -> Retry:
    """What ``--retry-quarantined`` retries, from the last manifest."""
    rows = read_manifest(state, name)
    if not rows:
        raise DocstageError(
            f"--retry-quarantined: no finished run of pipeline '{name}' in {state} "
            "(a run with [run] incremental = false keeps no run manifest)"
        )
    if not any(r["status"] in ("quarantined", "skipped") for r in rows):
        raise DocstageError(
            f"--retry-quarantined: the last run of pipeline '{name}' quarantined no "
            "documents; there is nothing to retry"
        )
    return Retry(seen=frozenset(str(r["id"]) for r in rows))
