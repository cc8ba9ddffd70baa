"""Test helpers for plugin authors: run stages and configs, record hook calls.

Run one stage or a whole config on in-memory documents and assert on what came out::

    def test_shout(run_stage):
        result = run_stage("shout", [Document(id="1", text="hi")])
        assert result.texts == ["HI"]
        assert result.stage("shout").docs_out == 1

    def test_a_bad_document_is_quarantined(run_stage):
        result = run_stage(MyStage, [Document(id="1", text="ok"), Document(id="2", text="")])
        assert result.ids == ["1"]
        result.quarantined("2", stage="my.stage", error="ValueError: empty text")

    def test_lifecycle(run_pipeline, hook_recorder):
        run_pipeline(CONFIG_TOML, plugins=[("recorder", hook_recorder)])
        assert hook_recorder.names[0] == "docstage_before_run"

The pytest fixtures ``run_stage``, ``run_pipeline`` (both write into ``tmp_path``) and
``hook_recorder`` come from :mod:`docstage.pytest_plugin`; annotate them with
:class:`RunStage`, :class:`RunPipeline` and :class:`HookRecorder` in typed tests. The plain
functions :func:`run_stage` and :func:`run_pipeline` work outside pytest too.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

from docstage.config import Config, config_from_dict, load_config
from docstage.document import Document
from docstage.plugins import hookimpl
from docstage.resolve import make_plan
from docstage.runner import Runner
from docstage.summary import RunSummary, StageStats


@attrs.frozen
class RunResult:
    """What a test run produced.

    Attributes:
        summary: The run summary (counters per stage, exit code, outputs).
        documents: The documents that left the last stage, in order.
        quarantine: The records written to the quarantine file.
    """

    summary: RunSummary
    documents: list[Document]
    quarantine: list[dict[str, Any]]

    @property
    def texts(self) -> list[str]:
        return [doc.text for doc in self.documents]

    @property
    def ids(self) -> list[str]:
        return [doc.id for doc in self.documents]

    @property
    def exit_code(self) -> int:
        return self.summary.exit_code

    @property
    def quarantined_ids(self) -> list[str | None]:
        """The ids of the quarantined documents, in order (``None`` for input a reader
        could not turn into a document)."""
        return [(record.get("document") or {}).get("id") for record in self.quarantine]

    def quarantined(
        self, doc_id: str, *, stage: str | None = None, error: str | None = None
    ) -> dict[str, Any]:
        """The quarantine record of document ``doc_id``, checked as a test assertion.

        Args:
            doc_id: The document that must have been quarantined.
            stage: When given, the stage that must have quarantined it.
            error: When given, text the record's error (``"Type: message"``) must contain.

        Raises:
            AssertionError: The document was not quarantined, or not by ``stage``, or not
                with ``error``; the message says what was quarantined instead.
        """
        records = [r for r in self.quarantine if (r.get("document") or {}).get("id") == doc_id]
        if not records:
            raise AssertionError(
                f"document {doc_id!r} was not quarantined; quarantined: {self.quarantined_ids}"
            )
        record = records[0]
        if stage is not None and record.get("stage") != stage:
            raise AssertionError(
                f"document {doc_id!r} was quarantined by {record.get('stage')!r}, not {stage!r}"
            )
        if error is not None and error not in str(record.get("error")):
            raise AssertionError(
                f"document {doc_id!r} was quarantined with {record.get('error')!r}, "
                f"which does not contain {error!r}"
            )
        return record

    def stage(self, name: str) -> StageStats:
        """The counters of the stage called ``name`` (its config name or type)."""
        for stats in self.summary.stages:
            if name in (stats.name, stats.use):
                return stats
        raise KeyError(f"no stage {name!r} in this run: {[s.name for s in self.summary.stages]}")


def _config(
    config: str | Path | Mapping[str, Any], folder: Path, overrides: Sequence[str]
) -> Config:
    if isinstance(config, Mapping):
        if overrides:
            raise ValueError("overrides apply to TOML configs; edit the mapping instead")
        return config_from_dict(config, folder)
    if isinstance(config, str) and ("\n" in config or "[[stages]]" in config):
        path = folder / "pipeline.toml"
        path.write_text(config, encoding="utf-8")
        return load_config(path, overrides)
    return load_config(config, overrides)


def _temporary_folder() -> Path:
    """A new temporary folder, removed when the Python process exits."""
    path = Path(tempfile.mkdtemp(prefix="docstage-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def run_pipeline(
    config: str | Path | Mapping[str, Any],
    *,
    documents: Iterable[Document] | None = None,
    overrides: Sequence[str] = (),
    plugins: Sequence[tuple[str, object]] = (),
    folder: str | Path | None = None,
) -> RunResult:
    """Run a whole pipeline and collect its output.

    Args:
        config: A config file, TOML text, or the parsed TOML as a mapping.
        documents: Feed these instead of running the readers (the config may then have
            no reader).
        overrides: ``--set`` expressions.
        plugins: Extra ``(name, plugin)`` pairs, e.g. a :class:`HookRecorder`.
        folder: Where TOML text is written and relative paths resolve (default: a new
            temporary folder, removed when the Python process exits).
    """
    base = Path(folder) if folder is not None else _temporary_folder()
    loaded = _config(config, base, overrides)
    plan = make_plan(loaded, extra_plugins=plugins, require_reader=documents is None)
    output: list[Document] = []
    runner = Runner(plan, documents=documents, on_output=output.extend)
    summary = runner.execute()
    quarantine: list[dict[str, Any]] = []
    if summary.quarantine_path is not None:
        with open(summary.quarantine_path, encoding="utf-8") as handle:
            quarantine = [json.loads(line) for line in handle]
    return RunResult(summary=summary, documents=output, quarantine=quarantine)


class _Provides:
    """A plugin that registers one stage class unless an installed plugin already does."""

    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls

    @hookimpl
    def docstage_register_stages(self, registry: Any) -> None:
        if registry.get(self.cls.name) is None:
            registry.add(self.cls)


def run_stage(
    stage: str | type[Any],
    documents: Iterable[Document],
    *,
    plugins: Sequence[tuple[str, object]] = (),
    folder: str | Path | None = None,
    **options: Any,
) -> RunResult:
    """Run one stage, by name or class, on in-memory documents.

    Args:
        stage: A registered stage name, or a stage class (registered for this run if no
            installed plugin provides it).
        documents: The input.
        plugins: Extra ``(name, plugin)`` pairs.
        folder: Base folder for relative path options (default: a temporary folder,
            removed when the Python process exits).
        **options: The stage's options, as they would appear in TOML.
    """
    extra = list(plugins)
    if isinstance(stage, str):
        name = stage
    else:
        name = stage.name
        extra.append((f"test-provides-{name}", _Provides(stage)))
    data = {"stages": [{"use": name, **options}]}
    return run_pipeline(data, documents=documents, plugins=extra, folder=folder)


class HookRecorder:
    """A plugin that records every hook call, in order: ``calls`` and ``names``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def of(self, hook: str) -> list[dict[str, Any]]:
        """The arguments of every call to ``hook``."""
        return [kwargs for name, kwargs in self.calls if name == hook]

    @hookimpl
    def docstage_before_run(self, run: Any) -> None:
        self.calls.append(("docstage_before_run", {"run": run}))

    @hookimpl
    def docstage_after_run(self, run: Any, summary: Any) -> None:
        self.calls.append(("docstage_after_run", {"run": run, "summary": summary}))

    @hookimpl
    def docstage_on_document_error(
        self, run: Any, stage: str, document: Any, error: BaseException
    ) -> None:
        self.calls.append(
            ("docstage_on_document_error", {"stage": stage, "document": document, "error": error})
        )

    @hookimpl
    def docstage_document_dropped(self, run: Any, stage: str, document: Any, reason: str) -> None:
        self.calls.append(
            ("docstage_document_dropped", {"stage": stage, "document": document, "reason": reason})
        )


class RunPipeline(Protocol):
    """The type of the ``run_pipeline`` fixture, for annotating tests."""

    def __call__(
        self,
        config: str | Path | Mapping[str, Any],
        *,
        documents: Iterable[Document] | None = None,
        overrides: Sequence[str] = (),
        plugins: Sequence[tuple[str, object]] = (),
        folder: str | Path | None = None,
    ) -> RunResult: ...


class RunStage(Protocol):
    """The type of the ``run_stage`` fixture, for annotating tests."""

    def __call__(
        self,
        stage: str | type[Any],
        documents: Iterable[Document],
        *,
        plugins: Sequence[tuple[str, object]] = (),
        folder: str | Path | None = None,
        **options: Any,
    ) -> RunResult: ...
