"""What a run reports: its id, the counters of each stage, and the summary.

A leaf module: stages (``Renderer.finish`` receives the summary), the runner, hooks and
the CLI all use these values, and it imports nothing of theirs.
"""

from __future__ import annotations

import collections
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import attrs

from docstage.errors import EXIT_FAILED, EXIT_OK


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp plus a random suffix."""
    now = dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@attrs.define(kw_only=True)
class StageStats:
    """Counters of one stage in one run.

    Attributes:
        name: The stage's name in the config.
        use: The stage type.
        kind: reader, transform, corpus or renderer.
        docs_in: Documents the stage received (readers: files or records looked at).
        docs_out: Documents it passed on.
        dropped: Documents it dropped on purpose, by reason.
        errors: Documents it failed on (quarantined, skipped or fatal).
        seconds: Time spent inside the stage (summed over workers).
        cached: Of ``docs_in``, documents whose outcome came from the run cache: the stage
            did no work for them (renderers: documents of output left as it was).
    """

    name: str
    use: str
    kind: str
    docs_in: int = 0
    docs_out: int = 0
    dropped: collections.Counter[str] = attrs.Factory(collections.Counter)
    errors: int = 0
    seconds: float = 0.0
    cached: int = 0

    def copy(self) -> StageStats:
        return attrs.evolve(self, dropped=collections.Counter(self.dropped))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "use": self.use,
            "kind": self.kind,
            "in": self.docs_in,
            "out": self.docs_out,
            "dropped": dict(sorted(self.dropped.items())),
            "errors": self.errors,
            "cached": self.cached,
            "seconds": round(self.seconds, 4),
        }


@attrs.frozen(kw_only=True)
class RunSummary:
    """The outcome of a run, handed to renderers, ``docstage_after_run`` and the CLI.

    Attributes:
        run_id: The run's id.
        pipeline: The pipeline's name.
        stages: Counters per stage, in config order.
        documents: Documents that came out of the last stage.
        quarantined: Documents written to the quarantine file.
        quarantine_path: The quarantine file, when anything was quarantined.
        outputs: Files the renderers wrote.
        seconds: Wall-clock duration.
        failed: Why the run stopped early, or None.
        exit_code: What ``pipeline run`` exits with.
        dry_run: True when nothing was processed.
        executor: Where the per-document stages ran.
        resumed_from: The interrupted run this one resumed (``--resume``), or None.
    """

    run_id: str
    pipeline: str
    stages: tuple[StageStats, ...]
    documents: int
    quarantined: int
    quarantine_path: Path | None
    outputs: tuple[Path, ...] = ()
    seconds: float = 0.0
    failed: str | None = None
    exit_code: int = EXIT_OK
    dry_run: bool = False
    executor: str = "local"
    resumed_from: str | None = None
    #: The first quarantined documents (stage, error, location, id), for renderers: the
    #: quarantine file itself is written after them.
    quarantine_sample: tuple[dict[str, Any], ...] = ()

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.stages)

    @property
    def cached(self) -> int:
        """Stage-documents served from the run cache (0 when every stage did its work)."""
        return sum(s.cached for s in self.stages)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "documents": self.documents,
            "quarantined": self.quarantined,
            "quarantine_path": str(self.quarantine_path) if self.quarantine_path else None,
            "outputs": [str(p) for p in self.outputs],
            "seconds": round(self.seconds, 3),
            "failed": self.failed,
            "exit_code": self.exit_code,
            "executor": self.executor,
            "resumed_from": self.resumed_from,
            "errors": self.errors,
            "cached": self.cached,
            "stages": [s.as_dict() for s in self.stages],
        }

    @property
    def ok(self) -> bool:
        return self.exit_code != EXIT_FAILED and self.failed is None
