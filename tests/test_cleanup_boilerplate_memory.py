"""cleanup.boilerplate's learning pass in bounded memory: line counts spill to disk, and a
tiny budget learns and cuts the same lines as a large one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docstage.document import Document
from docstage.testing import run_pipeline
from docstage_plugins.cleanup.line_keys import LineKeys
from tests.test_cleanup_boilerplate import _Provides, page


def pages(count: int) -> list[Document]:
    """Pages of two outlets with their menus and footers, and of a third without any."""
    sources = ("harbor-times", "valley-post", "fjord-daily")
    return [page(sources[n % 3], n, page_of=n % 7 + 1) for n in range(count)]


def learn(docs: list[Document], **kwargs: int) -> tuple[dict[str, set[int]], int, list[int]]:
    """What LineKeys learns at threshold 3, how often it spilled, and the keys replayed."""
    with LineKeys(**kwargs) as keys:
        for doc in docs:
            keys.add(doc.source, doc.text, [line.casefold() for line in doc.text.split("\n")])
        learned = keys.learned({"harbor-times": 3, "valley-post": 3, "fjord-daily": 0})
        return learned, keys.spilled, [key for doc_keys in keys for key in doc_keys]


@pytest.mark.parametrize(("memory", "partitions"), [(1, 4), (1, 256), (1 << 14, 2), (1, 1)])
def test_a_tiny_budget_spills_and_learns_the_same_lines(memory: int, partitions: int) -> None:
    docs = pages(300)
    learned, spilled, replayed = learn(docs, memory=memory, partitions=partitions)
    reference, once, replayed_once = learn(docs)
    assert learned == reference
    assert replayed == replayed_once
    assert spilled > 1
    assert once == 1  # the large budget writes its buffer once, when counting
    assert set(learned) == {"harbor-times", "valley-post"}  # fjord-daily learns nothing
    assert len(learned["harbor-times"]) == 7  # its menu and footer lines, not the articles'
    assert len(learned["valley-post"]) == 3 + 2 + 7  # and "Page n of m" for n from 1 to 7


def test_the_stage_output_does_not_depend_on_the_run_memory_budget(tmp_path: Path) -> None:
    docs = pages(240)

    def output(memory: str) -> tuple[list[Document], dict[str, object]]:
        report = tmp_path / f"{memory}.json"
        config = {
            "run": {"memory": memory},
            "stages": [{"use": "cleanup.boilerplate", "report": str(report)}],
        }
        result = run_pipeline(
            config, documents=docs, plugins=[("test-boilerplate", _Provides())], folder=tmp_path
        )
        assert result.exit_code == 0
        return result.documents, json.loads(report.read_text(encoding="utf-8"))

    small, large = output("1 MiB"), output("1 GiB")
    assert small == large
    assert any(doc.text != original.text for doc, original in zip(small[0], docs, strict=True))
