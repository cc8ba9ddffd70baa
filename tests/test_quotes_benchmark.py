"""benchmarks/quotes.py still runs: its --smoke mode scores invented articles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def test_quotes_benchmark_smoke_scores_the_invented_articles(tmp_path: Path) -> None:
    output = tmp_path / "quotes.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "quotes.py"), "--smoke", "--output", output],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # both quotes found from their mark, both speakers right (one named, one pronoun)
    assert "| docstage | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 |" in done.stdout
    report = json.loads(output.read_text("utf-8"))
    assert set(report["contestants"]) == {"docstage", "regex"}
    assert report["contestants"]["docstage"]["gold_quotes"] == 2
