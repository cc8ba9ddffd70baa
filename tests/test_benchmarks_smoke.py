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
