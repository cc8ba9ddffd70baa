"""The streaming runner: counters, error policies, quarantine, lifecycle hooks, streaming."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import attrs
import pytest

from docstage.document import Document
from docstage.options import option
from docstage.plugins import hookimpl
from docstage.stages import CorpusStage, Drop, Failed, Reader, Transform
from docstage.testing import HookRecorder


@attrs.define(kw_only=True)
class FailOn(Transform):
    """Raise on documents whose text contains ``word``."""

    name: ClassVar[str] = "test.fail_on"
    word: str = option("boom", help="The word that makes this stage raise.")

    def process(self, doc: Document) -> Document:
        if self.word in doc.text:
            raise ValueError(f"cannot handle {self.word!r}")
        return doc.evolve(text=doc.text.strip())


@attrs.define(kw_only=True)
class DropShort(Transform):
    name: ClassVar[str] = "test.drop_short"
    min_words: int = option(3, help="Drop documents with fewer words.")

    def process(self, doc: Document) -> Document | Drop:
        if len(doc.text.split()) < self.min_words:
            return Drop("too short")
        return doc


@attrs.define
class ReturnsNone(Transform):
    name: ClassVar[str] = "test.returns_none"

    def process(self, doc: Document) -> Document:
        return None  # type: ignore[return-value]


@attrs.define
class Count(CorpusStage):
    """A corpus stage that numbers the documents in arrival order."""

    name: ClassVar[str] = "test.count"

    def process_stream(self, docs: Iterator[Document]) -> Iterator[Document]:
        for number, doc in enumerate(docs):
            yield doc.with_metadata(number=number)


@attrs.define
class CountOrFail(CorpusStage):
    """A corpus stage that numbers the documents, and fails on those that say boom."""

    name: ClassVar[str] = "test.count_or_fail"

    def process_stream(self, docs: Iterator[Document]) -> Iterator[Document | Failed]:
        for number, doc in enumerate(list(docs)):
            if "boom" in doc.text:
                yield Failed(doc, ValueError(f"cannot count {doc.id}"))
            else:
                yield doc.with_metadata(number=number)


class Stages:
    @hookimpl
    def docstage_register_stages(self, registry: object) -> None:
        for cls in (FailOn, DropShort, ReturnsNone, Count, CountOrFail):
            registry.add(cls)  # type: ignore[attr-defined]


def docs(*texts: str) -> list[Document]:
    return [Document(id=f"d{i}", text=t, source="wire") for i, t in enumerate(texts)]


def pipeline_of(*stages: dict, **run: object) -> dict:
    return {"run": dict(run), "stages": list(stages)}


TEXTS = ("Markets open higher today", "boom goes the dynamite", "Rain expected over weekend")


def test_a_raising_stage_quarantines_one_document_and_the_rest_go_on(run_pipeline) -> None:
    result = run_pipeline(
        pipeline_of({"use": "test.fail_on"}),
        documents=docs(*TEXTS),
        plugins=[("stages", Stages())],
    )
    assert result.ids == ["d0", "d2"]
    assert result.exit_code == 1
    [record] = result.quarantine
    assert record["stage"] == "test.fail_on"
    assert record["plugin"] == "stages"
    assert record["error"] == "ValueError: cannot handle 'boom'"
    assert "Traceback" in record["traceback"]
    assert "raise ValueError" in record["traceback"]
    assert record["document"]["id"] == "d1"
    assert record["location"] is None  # in-memory input has no file or line
    stats = result.stage("test.fail_on")
    assert (stats.docs_in, stats.docs_out, stats.errors) == (3, 2, 1)


def test_a_corpus_stage_failing_on_one_document_quarantines_it_and_goes_on(
    run_pipeline,
) -> None:
    result = run_pipeline(
        pipeline_of({"use": "test.count_or_fail"}),
        documents=docs(*TEXTS),
        plugins=[("stages", Stages())],
    )
    assert result.ids == ["d0", "d2"]
    assert [d.metadata["number"] for d in result.documents] == [0, 2]
    assert result.exit_code == 1
    [record] = result.quarantine
    assert record["stage"] == "test.count_or_fail"
    assert record["error"] == "ValueError: cannot count d1"
    assert record["document"]["id"] == "d1"
    stats = result.stage("test.count_or_fail")
    assert (stats.docs_in, stats.docs_out, stats.errors) == (3, 2, 1)


def test_a_corpus_stage_failure_stops_the_run_when_the_config_says_so(run_pipeline) -> None:
    result = run_pipeline(
        pipeline_of({"use": "test.count_or_fail"}, on_error="fail"),
        documents=docs(*TEXTS),
        plugins=[("stages", Stages())],
    )
    assert result.exit_code == 3
    assert result.documents == []
    assert result.summary.failed == (
        "[[stages]] #1 (test.count_or_fail) failed on document 'd1': ValueError: cannot count d1"
    )


def test_quarantine_exit_code_is_configurable(run_pipeline) -> None:
    result = run_pipeline(
        pipeline_of({"use": "test.fail_on"}, quarantine_exit_code=0),
        documents=docs(*TEXTS),
        plugins=[("stages", Stages())],
    )
    assert result.exit_code == 0
    assert len(result.quarantine) == 1


def test_skip_policy_counts_but_writes_no_quarantine(run_pipeline) -> None:
    result = run_pipeline(
        pipeline_of({"use": "test.fail_on"}, on_error="skip"),
        documents=docs(*TEXTS),
        plugins=[("stages", Stages())],
    )
    assert result.ids == ["d0", "d2"]
    assert result.quarantine == []
    assert result.stage("test.fail_on").errors == 1


def test_fail_policy_stops_the_run_naming_stage_and_document(run_pipeline) -> None:
    result = run_pipeline(
        pipeline_of({"use": "test.fail_on"}, on_error="fail"),
        documents=docs(*TEXTS),
        plugins=[("stages", Stages())],
    )
    assert result.exit_code == 3
    assert result.documents == []  # nothing half-done is handed on
    message = result.summary.failed
    assert "[[stages]] #1 (test.fail_on)" in message
    assert "'d1'" in message
    assert "cannot handle 'boom'" in message


def test_wrong_return_type_is_a_document_error(run_pipeline) -> None:
    result = run_pipeline(
        pipeline_of({"use": "test.returns_none"}),
        documents=docs("one", "two"),
        plugins=[("stages", Stages())],
    )
    assert result.documents == []
    assert len(result.quarantine) == 2
    assert "NoneType" in result.quarantine[0]["error"]
    assert "Document" in result.quarantine[0]["error"]


def test_drops_are_counted_by_reason(run_pipeline) -> None:
    result = run_pipeline(
        pipeline_of({"use": "test.drop_short", "min_words": 4}),
        documents=docs("a b", "a b c d", "x"),
        plugins=[("stages", Stages())],
    )
    assert result.ids == ["d1"]
    assert result.stage("test.drop_short").dropped == {"too short": 2}
    assert result.exit_code == 0


def test_stages_run_in_order_and_record_provenance(run_pipeline) -> None:
    result = run_pipeline(
        pipeline_of(
            {"use": "test.fail_on", "word": "zzz"},
            {"use": "test.count"},
            {"use": "test.drop_short", "name": "short", "min_words": 1},
        ),
        documents=docs("  padded text  ", "more text"),
        plugins=[("stages", Stages())],
    )
    assert result.texts == ["padded text", "more text"]
    assert [d.metadata["number"] for d in result.documents] == [0, 1]
    # An unchanged document is not stamped by the stage that passed it on.
    assert result.documents[0].stages == ("test.fail_on", "test.count")


def test_lifecycle_hooks_are_called_in_order(run_pipeline) -> None:
    recorder = HookRecorder()
    run_pipeline(
        pipeline_of({"use": "test.fail_on"}, {"use": "test.drop_short", "min_words": 4}),
        documents=docs(*TEXTS, "too short"),
        plugins=[("stages", Stages()), ("recorder", recorder)],
    )
    assert recorder.names == [
        "docstage_before_run",
        "docstage_on_document_error",
        "docstage_document_dropped",
        "docstage_after_run",
    ]
    [error] = recorder.of("docstage_on_document_error")
    assert error["stage"] == "test.fail_on"
    assert error["document"].id == "d1"
    [dropped] = recorder.of("docstage_document_dropped")
    assert dropped["reason"] == "too short"
    [after] = recorder.of("docstage_after_run")
    assert after["summary"].documents == 2


class RaisingObserver:
    @hookimpl
    def docstage_before_run(self, run: object) -> None:
        raise RuntimeError("metrics server down")


def test_a_raising_lifecycle_hook_stops_the_run_naming_the_plugin(run_pipeline) -> None:
    result = run_pipeline(
        pipeline_of({"use": "test.drop_short"}),
        documents=docs("x"),
        plugins=[("stages", Stages()), ("acme-metrics", RaisingObserver())],
    )
    assert result.exit_code == 3
    assert "plugin 'acme-metrics'" in result.summary.failed
    assert "metrics server down" in result.summary.failed


@attrs.define(kw_only=True)
class Endless(Reader):
    """A reader that never ends: the runner must stream, not collect."""

    name: ClassVar[str] = "test.endless"
    seen: list[int] = attrs.field(factory=list)

    def read(self) -> Iterator[Document]:
        number = 0
        while True:
            self.seen.append(number)
            yield Document(id=str(number), text="x " * 50)
            number += 1


@attrs.define
class StopAfter(Transform):
    name: ClassVar[str] = "test.stop_after"

    def process(self, doc: Document) -> Document:
        if int(doc.id) >= 1000:
            raise KeyboardInterrupt
        return doc


class StreamingStages:
    @hookimpl
    def docstage_register_stages(self, registry: object) -> None:
        registry.add(Endless)  # type: ignore[attr-defined]
        registry.add(StopAfter)  # type: ignore[attr-defined]


def test_documents_stream_through_in_batches(tmp_path: Path, run_pipeline) -> None:
    # An endless reader: if the runner collected the input first, this would never stop.
    config = {
        "run": {"batch_size": 10},
        "stages": [
            {"use": "test.endless"},
            {"use": "test.stop_after"},
            {"use": "render.jsonl", "path": "out.jsonl"},
        ],
    }
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(config, plugins=[("streaming", StreamingStages())], folder=tmp_path)
    # Interrupted: the renderer leaves no output under the final name.
    assert not (tmp_path / "out.jsonl").exists()
    # Only the run cache, which remembers the interrupted run for --resume.
    assert [p.name for p in tmp_path.iterdir()] == [".docstage"]
    assert "out.jsonl" not in {p.name for p in (tmp_path / ".docstage").iterdir()}


def test_quarantine_file_is_jsonl_next_to_the_config(tmp_path: Path, run_pipeline) -> None:
    (tmp_path / "in").mkdir()
    for name, text in (("a.txt", "fine words here"), ("b.txt", "boom here")):
        (tmp_path / "in" / name).write_text(text, encoding="utf-8")
    config = {
        "run": {"quarantine": "q/quarantine.jsonl"},
        "stages": [
            {"use": "read.files", "path": "in/*.txt"},
            {"use": "test.fail_on"},
            {"use": "render.jsonl", "path": "out/docs.jsonl"},
        ],
    }
    result = run_pipeline(config, plugins=[("stages", Stages())], folder=tmp_path)
    lines = (tmp_path / "q" / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()
    [record] = [json.loads(line) for line in lines]
    assert record["location"].endswith("b.txt")
    assert record["document"]["metadata"]["path"] == "b.txt"
    out = (tmp_path / "out" / "docs.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in out] == ["a.txt"]
    assert result.exit_code == 1


@attrs.define
class Crashing(Reader):
    name: ClassVar[str] = "test.crashing"

    def read(self) -> Iterator[Document]:
        yield Document(id="1", text="first")
        raise OSError("disk vanished")


class CrashingStages:
    @hookimpl
    def docstage_register_stages(self, registry: object) -> None:
        registry.add(Crashing)  # type: ignore[attr-defined]


def test_a_reader_that_raises_fails_the_run_naming_it(tmp_path: Path, run_pipeline) -> None:
    config = {"stages": [{"use": "test.crashing"}, {"use": "render.jsonl", "path": "o.jsonl"}]}
    result = run_pipeline(config, plugins=[("crashing", CrashingStages())], folder=tmp_path)
    assert result.exit_code == 3
    assert "[[stages]] #1 (test.crashing) raised while reading" in result.summary.failed
    assert "OSError: disk vanished" in result.summary.failed
    assert not (tmp_path / "o.jsonl").exists()


def test_in_memory_input_is_consumed_lazily(run_pipeline) -> None:
    pulled: list[int] = []

    def many() -> Iterator[Document]:
        for number in range(100_000):
            pulled.append(number)
            yield Document(id=str(number), text="a b c d")

    with pytest.raises(KeyboardInterrupt):  # test.stop_after interrupts at id 1000
        run_pipeline(
            pipeline_of({"use": "test.stop_after"}, batch_size=10),
            documents=many(),
            plugins=[("streaming", StreamingStages())],
        )
    assert len(pulled) <= 1010


@attrs.define
class Batched(Transform):
    """Upper-cases a batch at once; raises for the whole batch when one text says boom."""

    name: ClassVar[str] = "test.batched"
    sizes: list[int] = attrs.field(factory=list)

    def process(self, doc: Document) -> Document:
        if "boom" in doc.text:
            raise ValueError("boom")
        return doc.evolve(text=doc.text.upper())

    def process_batch(self, docs):  # type: ignore[no-untyped-def]
        self.sizes.append(len(docs))
        if any("boom" in d.text for d in docs):
            raise ValueError("boom somewhere in the batch")
        return [d.evolve(text=d.text.upper()) if d.text else Drop("empty") for d in docs]


class BatchedStages:
    @hookimpl
    def docstage_register_stages(self, registry: object) -> None:
        registry.add(Batched)  # type: ignore[attr-defined]


def test_process_batch_gets_whole_batches(run_pipeline) -> None:
    result = run_pipeline(
        pipeline_of({"use": "test.batched"}, batch_size=4),
        documents=docs("a", "b", "", "d", "e", "f"),
        plugins=[("batched", BatchedStages())],
    )
    assert result.texts == ["A", "B", "D", "E", "F"]
    assert result.stage("test.batched").dropped == {"empty": 1}


def test_a_failing_batch_falls_back_to_one_by_one(run_pipeline) -> None:
    result = run_pipeline(
        pipeline_of({"use": "test.batched"}, batch_size=10),
        documents=docs("a", "boom", "c"),
        plugins=[("batched", BatchedStages())],
    )
    assert result.texts == ["A", "C"]
    [record] = result.quarantine
    assert record["error"] == "ValueError: boom"
