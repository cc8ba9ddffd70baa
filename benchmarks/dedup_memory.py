"""Peak memory of the ``dedup`` stage by relation on 20 Newsgroups, under memory budgets.

The pipeline ``read.files`` → ``cleanup.mail`` → ``dedup`` → ``render.jsonl`` over the
19,997 raw files (``incremental = false``, a new state store each), one fresh
``pipeline run`` per row under GNU ``time``: reader and cleanup alone, then ``dedup`` with
copies only, copies and stories, copies and passages, and every relation (the default).
The rows with every relation run again under smaller ``[run] memory`` budgets; their
outputs must be byte for byte those of the default budget (checked, and reported).

    python benchmarks/dedup_memory.py                       # about 10 minutes
    python benchmarks/dedup_memory.py --budgets "1 GiB" "64 MiB"   # the defaults: 128 MiB, 16 MiB
    python benchmarks/dedup_memory.py --smoke               # invented texts, seconds
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import BENCH_DIR, default_tarball, unpack

TIME = "/usr/bin/time"
ROWS = {
    "none (reader and cleanup.mail only)": None,
    "copies (exact and near)": {"stories": False, "passages": False},
    "copies and stories": {"stories": True, "passages": False},
    "copies and passages": {"stories": False, "passages": True},
    "all (the default)": {},
}


def invented(folder: Path) -> Path:
    """300 invented posts in 5 groups, with shared sentences (the smoke corpus)."""
    rng = random.Random(5)
    words = [f"w{i}" for i in range(2_000)]
    quotes = [" ".join(rng.choice(words) for _ in range(12)) + "." for _ in range(40)]
    for i in range(300):
        group = folder / f"group{i % 5}"
        group.mkdir(parents=True, exist_ok=True)
        sentences = [" ".join(rng.choice(words) for _ in range(15)) + "." for _ in range(8)]
        sentences += rng.sample(quotes, 2)
        (group / f"{i}.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    return folder


def config(folder: Path, files: Path, relations: dict[str, bool] | None, memory: str) -> Path:
    lines = [
        '[pipeline]\nname = "memory"\n',
        f'[run]\nincremental = false\nmemory = "{memory}"\nstate = "state.sqlite"\n',
        f'[[stages]]\nuse = "read.files"\npath = "{files}"\n',
        '[[stages]]\nuse = "cleanup.mail"\n',
    ]
    if relations is not None:
        options = "".join(f"{k} = {str(v).lower()}\n" for k, v in relations.items())
        lines.append(f'[[stages]]\nuse = "dedup"\n{options}')
    lines.append('[[stages]]\nuse = "render.jsonl"\npath = "out.jsonl"\n')
    path = folder / "pipeline.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def run_once(files: Path, relations: dict[str, bool] | None, memory: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="docstage-memory-") as tmp:
        folder = Path(tmp)
        path = config(folder, files, relations, memory)
        command = [TIME, "-f", "%M %U %S %e", sys.executable, "-m", "docstage", "run", str(path)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode not in (0, 1):
            raise SystemExit(f"pipeline run failed ({done.returncode}):\n{done.stderr[-2000:]}")
        peak_kib, user, system, wall = done.stderr.strip().splitlines()[-1].split()
        output = (folder / "out.jsonl").read_bytes()
    return {
        "peak_rss_mib": round(int(peak_kib) / 1024),
        "cpu_s": round(float(user) + float(system), 1),
        "wall_s": round(float(wall), 1),
        "output_sha256": hashlib.sha256(output).hexdigest(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tarball", type=Path, default=default_tarball())
    parser.add_argument("--budgets", nargs="+", default=["128 MiB", "16 MiB"])
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--smoke", action="store_true", help="invented texts, seconds")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "dedup_memory.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docstage-memory-corpus-") as tmp:
        folder = Path(tmp)
        files = invented(folder) if args.smoke else unpack(args.tarball, folder)
        results = []
        reference: dict[str, str] = {}
        for name in args.rows:
            relations = ROWS[name]
            budgets = args.budgets if name == "all (the default)" else args.budgets[:1]
            for memory in budgets:
                figures = run_once(files, relations, memory)
                first = reference.setdefault(name, figures["output_sha256"])
                figures["same_output_as_first_budget"] = figures["output_sha256"] == first
                row = {"relations": name, "memory": memory, **figures}
                print(json.dumps(row), flush=True)
                results.append(row)
    if not args.smoke:
        report = {
            "date": dt.date.today().isoformat(),
            "machine": f"{platform.machine()}, {platform.python_version()}",
            "corpus": "smoke" if args.smoke else str(args.tarball.name),
            "rows": results,
        }
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
