"""The overhead benchmark still runs: ``benchmarks/overhead.py --smoke`` on invented files."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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
