"""Peak memory of one huge plain-text document through ``read.files`` → ``dedup`` →
``render.jsonl``: how many times its size does a run hold at once?

A text of ``--size-mb`` MB (invented sentences of Zipf-distributed invented words, in
paragraphs; one sentence in ten from a pool of recurring ones) goes into a folder beside
the four sample articles of ``examples/news/``; each row runs ``pipeline run`` on that
folder in a fresh process under GNU ``time`` (``[run] incremental = false``, a new state
store, ``max_file_size`` raised above the text): the reader alone, the reader and the
renderer (what any run of that document holds), the reader and ``dedup`` with its
defaults (copies, stories and passages) without a renderer (the stage's own peak), and
the whole pipeline; with ``--relations``, each relation of ``dedup`` alone (no renderer).
Reported per row: peak RSS, its ratio to the document's size, CPU and wall seconds, and,
with a renderer, the SHA-256 of the whole output and of the output without the huge
document's line (to compare two checkouts).

    python benchmarks/huge_document.py                  # 100 MB, a few minutes
    python benchmarks/huge_document.py --size-mb 20 --relations
    python benchmarks/huge_document.py --smoke          # 5 MB, no result file
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import BENCH_DIR, ROOT

TIME = "/usr/bin/time"
MB = 1_000_000
HUGE_ID = "huge/huge.txt"
#: Row name: ``dedup``'s options (None: no ``dedup``) and whether ``render.jsonl`` runs.
Row = tuple[dict[str, bool] | None, bool]
ROWS: dict[str, Row] = {
    "read.files alone": (None, False),
    "read.files, render.jsonl": (None, True),
    "read.files, dedup (no renderer)": ({}, False),
    "read.files, dedup, render.jsonl": ({}, True),
}
RELATIONS: dict[str, Row] = {
    "read.files, dedup copies only (no renderer)": ({"stories": False, "passages": False}, False),
    "read.files, dedup stories only (no renderer)": (
        {"exact": False, "near": False, "passages": False},
        False,
    ),
    "read.files, dedup passages only (no renderer)": (
        {"exact": False, "near": False, "stories": False},
        False,
    ),
}


def _words(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct invented words of two to four syllables, a few with accents."""
    onsets = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "tr"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou", "é"]
    found: dict[str, None] = {}
    while len(found) < count:
        syllables = rng.randint(1, 4)
        word = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables))
        found.setdefault(word)
    return list(found)


def write_huge(path: Path, size: int, seed: int = 17) -> int:
    """Write an invented text of about ``size`` characters to ``path``; its bytes."""
    rng = random.Random(seed)
    vocabulary = _words(rng, 30_000)
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf
    cumulative = list(_accumulate(weights))
    recurring = [_sentence(rng, vocabulary, cumulative) for _ in range(2_000)]
    written = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        while written < size:
            paragraph = []
            for _ in range(rng.randint(3, 8)):
                if rng.random() < 0.1:
                    paragraph.append(rng.choice(recurring))
                else:
                    paragraph.append(_sentence(rng, vocabulary, cumulative))
            text = " ".join(paragraph) + "\n\n"
            out.write(text)
            written += len(text)
    return path.stat().st_size


def _accumulate(values: list[float]) -> list[float]:
    total, out = 0.0, []
    for value in values:
        total += value
        out.append(total)
    return out


def _sentence(rng: random.Random, vocabulary: list[str], cumulative: list[float]) -> str:
    words = rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(6, 28))
    if rng.random() < 0.15:
        words.insert(rng.randint(1, len(words) - 1), "“" + rng.choice(vocabulary) + "”")
    ending = rng.choice([".", ".", ".", ".", "!", "?", "…"])
    return " ".join(words).capitalize() + ending


def config(folder: Path, files: Path, row: Row, limit: int) -> Path:
    relations, render = row
    lines = [
        '[pipeline]\nname = "huge"\n',
        '[run]\nincremental = false\nstate = "state.sqlite"\n',
        f'[[stages]]\nuse = "read.files"\npath = "{files}"\nmax_file_size = {limit}\n',
    ]
    if relations is not None:
        options = "".join(f"{k} = {str(v).lower()}\n" for k, v in relations.items())
        lines.append(f'[[stages]]\nuse = "dedup"\n{options}')
    if render:
        lines.append('[[stages]]\nuse = "render.jsonl"\npath = "out.jsonl"\n')
    path = folder / "pipeline.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def run_once(files: Path, row: Row, size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="docstage-huge-run-") as tmp:
        folder = Path(tmp)
        path = config(folder, files, row, 2 * size + MB)
        command = [TIME, "-f", "%M %U %S %e", sys.executable, "-m", "docstage", "run", str(path)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"pipeline run failed ({done.returncode}):\n{done.stderr[-3000:]}")
        peak_kib, user, system, wall = done.stderr.strip().splitlines()[-1].split()
        output = _hashes(folder / "out.jsonl") if row[1] else {}
    peak = int(peak_kib) * 1024
    return {
        "peak_rss_mib": round(peak / 2**20),
        "peak_over_document": round(peak / size, 2),
        "cpu_s": round(float(user) + float(system), 1),
        "wall_s": round(float(wall), 1),
        **output,
    }


def _hashes(path: Path) -> dict[str, Any]:
    """The ids written, the SHA-256 of the output and of its lines but the huge one's."""
    whole, others = hashlib.sha256(), hashlib.sha256()
    ids = []
    with open(path, "rb") as out:
        for line in out:
            whole.update(line)
            # The id comes first in every record: the huge line is not parsed for it.
            doc_id = json.loads(line)["id"] if len(line) < 10 * MB else _huge_id(line[:300])
            ids.append(doc_id)
            if doc_id != HUGE_ID:
                others.update(line)
    return {
        "documents_out": ids,
        "output_sha256": whole.hexdigest(),
        "others_sha256": others.hexdigest(),
    }


def _huge_id(head: bytes) -> str:
    """The id of a record too big to parse for it (checked to be the huge one)."""
    if f'"id": "{HUGE_ID}"'.encode() not in head and f'"id":"{HUGE_ID}"'.encode() not in head:
        raise SystemExit(f"a record over 10 MB that is not {HUGE_ID}: {head[:200]!r}")
    return HUGE_ID


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=100.0, help="the huge text's size")
    parser.add_argument(
        "--relations", action="store_true", help="also run each dedup relation alone"
    )
    parser.add_argument("--smoke", action="store_true", help="5 MB, no result file")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "huge_document.json")
    args = parser.parse_args()
    size_mb = 5.0 if args.smoke else args.size_mb
    rows = dict(ROWS)
    if args.relations:
        rows.update(RELATIONS)
    with tempfile.TemporaryDirectory(prefix="docstage-huge-") as tmp:
        files = Path(tmp) / "files"
        shutil.copytree(ROOT / "examples" / "news", files)
        (files / "huge").mkdir()
        size = write_huge(files / "huge" / "huge.txt", int(size_mb * MB))
        print(f"document: {size:,} bytes", file=sys.stderr, flush=True)
        results = []
        for name, row in rows.items():
            figures = run_once(files, row, size)
            row = {"row": name, **figures}
            print(json.dumps(row), flush=True)
            results.append(row)
    if not args.smoke:
        report = {
            "date": dt.date.today().isoformat(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
            f"{platform.python_implementation()} {platform.python_version()}",
            "document_bytes": size,
            "rows": results,
        }
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
