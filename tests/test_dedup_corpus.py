"""``dedup`` on 20 Newsgroups (skipped without ``../shared``): the Message-ID groups are all
found, near copies match the exact similarity join, and two incremental runs (the second
against the first's state store) drop the same documents as one run over shuffled input,
each removal of the second run naming its original from the first."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from docstage.document import Document

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

DEDUP = {"use": "dedup", "stories": False, "passages": False, "report": "dedup.jsonl"}


@pytest.fixture(scope="module")
def mails(twenty_news: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Document]:
    """Every article with its header block in metadata (the signature kept, as in the
    ground truth's bodies)."""
    from docstage.testing import run_pipeline

    config = {
        "stages": [
            {
                "use": "read.files",
                "path": str(twenty_news / "raw" / "**" / "*"),
                "encoding": "latin-1",
            },
            {"use": "cleanup.mail", "max_signature_lines": 0},
        ]
    }
    result = run_pipeline(config, folder=tmp_path_factory.mktemp("mails"))
    assert len(result.documents) == 19_997
    return result.documents


def dedup(run_pipeline, folder: Path, documents: list[Document]):
    config = {"run": {"state": "state.sqlite"}, "stages": [DEDUP]}
    folder.mkdir(exist_ok=True)
    result = run_pipeline(config, documents=documents, folder=folder)
    assert result.summary.exit_code == 0
    report = [json.loads(line) for line in (folder / "dedup.jsonl").read_text().splitlines()]
    dropped = {d.id for d in documents} - {d.id for d in result.documents}
    assert dropped == {line["id"] for line in report}
    return result, dropped, report


def groups(path: Path, column: int) -> list[set[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [{p.removeprefix("raw/") for p in line.split("\t")[column:]} for line in lines]


def test_message_id_groups_and_near_copies_are_found(
    run_pipeline, mails: list[Document], shared: Path, tmp_path: Path
) -> None:
    _, _, report = dedup(run_pipeline, tmp_path, mails)
    original = {line["id"]: line["original"]["id"] for line in report}

    def root(doc_id: str) -> str:
        return original.get(doc_id, doc_id)

    truth = shared / "corpora" / "20news"
    message_ids = groups(truth / "duplicates.tsv", 2)
    assert len(message_ids) == 525
    for group in message_ids:  # every group of copies ends up with one survivor
        assert len({root(m) for m in group}) == 1, group
    lines = (truth / "near_duplicates_j080.tsv").read_text(encoding="utf-8").splitlines()[1:]
    near = [[p.removeprefix("raw/") for p in line.split("\t")[:2]] for line in lines]
    assert len(near) == 936
    found = sum(root(a) == root(b) for a, b in near)
    assert found / len(near) >= 0.99
    # a copy's score is its similarity to the survivor: below the threshold only for a
    # copy linked to it through another copy
    low = [line for line in report if line["score"] < 0.8]
    assert all(line["relation"] == "near" for line in low)
    assert len(low) < 0.05 * len(report), low


def test_two_runs_drop_what_one_run_over_shuffled_input_drops(
    run_pipeline, mails: list[Document], tmp_path: Path
) -> None:
    shuffled = list(mails)
    random.Random(7).shuffle(shuffled)
    _, once, _ = dedup(run_pipeline, tmp_path / "once", shuffled)

    # yesterday's articles, then today's: published dates split the corpus in two
    dates = sorted(str(d.metadata.get("published", "")) for d in mails)
    cut = dates[len(dates) // 2]
    first_half = [d for d in mails if str(d.metadata.get("published", "")) < cut]
    second_half = [d for d in mails if str(d.metadata.get("published", "")) >= cut]
    first, dropped_first, _ = dedup(run_pipeline, tmp_path / "halves", first_half)
    _, dropped_second, report = dedup(run_pipeline, tmp_path / "halves", second_half)

    assert dropped_first | dropped_second == once
    kept_first = {d.id for d in first.documents}
    from_first = [line for line in report if line["original"]["id"] in kept_first]
    assert from_first, "no copy of the first run's documents in the second"
    for line in from_first:
        assert line["original"]["run_id"] == first.summary.run_id, line
