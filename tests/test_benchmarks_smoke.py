"""The benchmarks still run: each one's `--smoke` mode on invented data."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

# About 50 s in all: tox runs them on one Python (see tox.ini).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def test_overhead_smoke_reports_a_ratio(tmp_path: Path) -> None:
    output = tmp_path / "overhead.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "overhead.py"), "--smoke", "--output", output],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"overhead ratio: \d+\.\d+", done.stdout), done.stdout
    assert "| 4x | 1,192 |" in done.stdout  # 298 documents (one empty, one binary file) x 4
    assert output.is_file()


def smoke(script: str, *arguments: str | Path) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--smoke", *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_dedup_near_smoke_finds_every_copy(tmp_path: Path) -> None:
    output = tmp_path / "dedup_near.json"
    stdout = smoke("dedup_near.py", "--invented", "--output", output)
    assert "invented: 282 files, 21 exact groups, 39 near pairs" in stdout
    assert "recall 1.000 (21/21 groups), 21 found exactly, 0 extra groups" in stdout
    assert re.search(r"\| ours \| 21×6 \|[^\n]*\| \*\*1\.0000\*\* \|", stdout), stdout
    figures = json.loads(output.read_text(encoding="utf-8"))
    assert figures["contestants"]["ours"]["quality"]["f1"] == 1.0
    assert [s["copies"] for s in figures["scaling"]] == [1, 2]


def test_stories_smoke_clusters_the_invented_articles() -> None:
    stdout = smoke("stories.py")
    assert "invented: 28 articles, 16 stories" in stdout
    assert "| ours (defaults), entities: none | **1.000** |" in stdout


def test_dedup_stage_smoke_runs_every_scale() -> None:
    stdout = smoke("dedup_stage.py")
    assert "| 1× | 300 |" in stdout
    assert "| 2× | 600 |" in stdout
    assert "At 1× with stories and passages on:" in stdout


def test_executors_smoke_compares_outputs_and_caches(tmp_path: Path) -> None:
    output = tmp_path / "executors.json"
    stdout = smoke("executors.py", "--output", output)
    assert "identical to the first local run: processes: out.jsonl yes" in stdout
    assert "processes: news.jsonl yes, digest.md yes, entities.csv yes, dedup.jsonl yes" in stdout
    assert "every stage after the reader cached in the second run: yes" in stdout
    assert "stages before dedup cached yes, dedup and renderers recomputed yes" in stdout
    assert "| 2x | 240 |" in stdout  # 120 invented files, twice
    figures = json.loads(output.read_text(encoding="utf-8"))
    assert figures["problems"] == []
    assert figures["entities"]["summary"]["processes"]["speedup"] > 0
    assert figures["incremental"]["second_all_cached"] is True
    ran = set(figures["news"]["identical"])
    assert {"processes"} <= ran
    for executor in ran:
        assert all(f["identical"] for f in figures["news"]["identical"][executor].values())


def test_corpus_smoke_is_deterministic_and_its_copies_are_found(tmp_path: Path) -> None:
    from docstage.records import to_record
    from docstage.testing import run_pipeline
    from docstage_eval.dedup_gold import Predictions, read_gold
    from docstage_eval.dedup_scores import score

    def generate(folder: Path) -> dict[str, bytes]:
        stdout = smoke("corpus.py", folder, "--documents", 600, "--seed", 7, "--days", 3)
        assert "600 documents" in stdout
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}

    first = generate(tmp_path / "a")
    assert first == generate(tmp_path / "b")  # one seed, the same bytes
    smoke("corpus.py", tmp_path / "d", "--documents", 600, "--seed", 7, "--days", 3, "--day-split")
    days = sorted((tmp_path / "d" / "days").glob("*.jsonl"))
    assert [p.name for p in days] == ["2024-01-01.jsonl", "2024-01-02.jsonl", "2024-01-03.jsonl"]
    assert sum(len(p.read_bytes().splitlines()) for p in days) == 600

    manifest = json.loads(first["manifest.json"])
    counts = manifest["counts"]
    assert counts["exact_groups"] > 5
    assert counts["near_pairs_at_threshold"] > 5
    assert counts["quote_groups"] > 3
    texts = {}
    for line in first["docs.jsonl"].decode("utf-8").splitlines():
        record = json.loads(line)
        texts[record["id"]] = record["text"]
    for line in first["truth/quotes.jsonl"].decode("utf-8").splitlines():
        quote = json.loads(line)
        assert len(set(quote["sources"])) > 1
        assert all(f"“{quote['quote']}”" in texts[ident] for ident in quote["ids"])

    result = run_pipeline(
        {
            "run": {"incremental": False},
            "stages": [
                {"use": "read.jsonl", "path": str(tmp_path / "a" / "docs.jsonl")},
                {"use": "dedup", "stories": False, "passages": False, "index": False},
            ],
        },
        folder=tmp_path,
    )
    predictions = Predictions("smoke")
    for doc in result.documents:
        predictions.add(to_record(doc))
    found = score(read_gold(tmp_path / "a" / "truth" / "copies_j080.tsv"), predictions, "copies")
    assert found.matched == found.gold_ids
    assert (found.pairs.precision, found.pairs.recall, found.pairs.f1) == (1.0, 1.0, 1.0)
