"""Throughput of the cleanup stages on 20 Newsgroups, against the bare reader in the same run.

Three pipelines run over the same unpacked files, interleaved and repeated:

* **reader**: ``read.files`` alone (the baseline);
* **chain**: ``read.files`` → ``cleanup.mail`` → ``cleanup.metadata`` →
  ``cleanup.normalize`` (the target: ≥ 15 MB/s per core for these three);
* **chain + boilerplate**: the chain followed by ``cleanup.boilerplate`` (two passes
  over a disk spool).

Each cleanup stage's own time comes from the runner's per-stage counters, so MB/s per
stage is the text it received divided by the seconds it spent; the chain's MB/s is the
corpus size divided by the chain's extra wall time over the reader. Everything runs in
one process, so "per core" is what is reported.

Usage::

    python benchmarks/cleanup.py                 # 20 Newsgroups, 3 repeats
    python benchmarks/cleanup.py --repeats 5
    python benchmarks/cleanup.py --corpus DIR    # any folder of text files
    python benchmarks/cleanup.py --smoke         # a few hundred invented mails, seconds
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BENCH_DIR, default_tarball, unpack

CHAIN = ("cleanup.mail", "cleanup.metadata", "cleanup.normalize")
VARIANTS = {
    "reader": (),
    "chain": CHAIN,
    "chain+boilerplate": (*CHAIN, "cleanup.boilerplate"),
}
TARGET_MB_S = 15.0


def invented_mails(target: Path, count: int = 400) -> Path:
    """Small Usenet-style posts with headers, quotes and signatures, for --smoke."""
    groups = ("sci.space", "rec.bikes", "comp.misc")
    for number in range(count):
        group = groups[number % len(groups)]
        folder = target / group
        folder.mkdir(parents=True, exist_ok=True)
        (folder / str(number)).write_text(
            f"From: poster{number}@example.org (Poster {number})\n"
            f"Subject: Re: question {number % 37}\n"
            f"Newsgroups: {group}\n"
            f"Date: Mon, {1 + number % 28} Apr 1993 10:{number % 60:02d}:00 GMT\n"
            f"Message-ID: <{number}@example.org>\n"
            "Organization: Example University\n\n"
            f"In article <{number - 1}@example.org> someone writes:\n"
            "> Has anyone measured this before?\n\n"
            f"Yes, we measured it {number} times last spring and the numbers held.\n"
            "The harbour committee will publish the full table next week.\n\n"
            "-- \nPoster, Example University\n",
            encoding="utf-8",
        )
    return target


def config(glob: str, stages: tuple[str, ...], quarantine: Path) -> dict[str, Any]:
    return {
        "pipeline": {"name": "bench-cleanup"},
        "run": {"quarantine": str(quarantine), "incremental": False},
        "stages": [
            {"use": "read.files", "path": glob, "source": "{parent}"},
            *({"use": name} for name in stages),
        ],
    }


def run_once(glob: str, stages: tuple[str, ...], quarantine: Path) -> dict[str, Any]:
    from docstage.config import config_from_dict
    from docstage.resolve import make_plan
    from docstage.runner import Runner

    plan = make_plan(config_from_dict(config(glob, stages, quarantine), BENCH_DIR))
    sizes = {"in": 0, "out": 0}

    def count(batch: list[Any]) -> None:
        sizes["out"] += sum(len(doc.text.encode("utf-8")) for doc in batch)

    wall, cpu = time.perf_counter(), time.process_time()
    summary = Runner(plan, on_output=count).execute()
    return {
        "seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "documents": summary.documents,
        "errors": summary.errors,
        "failed": summary.failed,
        "bytes_out": sizes["out"],
        "stages": {s.name: s.seconds for s in summary.stages},
    }


def corpus_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="a folder of text files")
    parser.add_argument("--tarball", type=Path, default=default_tarball())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny invented corpus")
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    from docstage.log import configure_logging

    configure_logging("console")
    with tempfile.TemporaryDirectory(prefix="docstage-bench-") as work:
        base = Path(work)
        if args.smoke:
            corpus, repeats = invented_mails(base / "mails"), 1
        elif args.corpus:
            corpus, repeats = args.corpus, args.repeats
        else:
            if not args.tarball.is_file():
                parser.error(f"{args.tarball} not found: give --corpus or --tarball")
            corpus, repeats = unpack(args.tarball, base / "20news"), args.repeats
        glob = f"{corpus.as_posix()}/**/*"
        size = corpus_bytes(corpus)
        quarantine = base / "quarantine.jsonl"
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
        for number in range(repeats):
            order = list(VARIANTS) if number % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                gc.collect()
                result = run_once(glob, VARIANTS[name], quarantine)
                if result["failed"] or result["errors"]:
                    raise SystemExit(f"{name}: run failed: {result['failed'] or result['errors']}")
                runs[name].append(result)
                print(f"  repeat {number + 1}/{repeats} {name:18s} {result['seconds']:.2f} s")

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    def stage_seconds(name: str, stage: str) -> float:
        return statistics.median(r["stages"][stage] for r in runs[name])

    mb = size / 1e6
    docs = runs["reader"][0]["documents"]
    reader_s = median("reader", "seconds")
    chain_s = median("chain", "seconds")
    chain_only = sum(stage_seconds("chain", s) for s in CHAIN)
    rows = [
        ("reader alone", reader_s, docs / reader_s, mb / reader_s),
        ("reader + chain", chain_s, docs / chain_s, mb / chain_s),
        ("chain only (its stages' own time)", chain_only, docs / chain_only, mb / chain_only),
    ]
    for stage in CHAIN:
        seconds = stage_seconds("chain", stage)
        rows.append((f"  {stage}", seconds, docs / seconds, mb / seconds))
    boiler = stage_seconds("chain+boilerplate", "cleanup.boilerplate")
    rows.append(("  cleanup.boilerplate", boiler, docs / boiler, mb / boiler))

    lines = [
        f"{docs:,} documents, {mb:.1f} MB; median of {repeats} interleaved repeat(s); "
        f"Python {platform.python_version()}, {dt.date.today()}",
        "",
        "| what | seconds | docs/s | MB/s |",
        "|---|---:|---:|---:|",
        *(f"| {w} | {s:.2f} | {d:,.0f} | {m:.1f} |" for w, s, d, m in rows),
        "",
        f"chain MB/s per core: {mb / chain_only:.1f} (target ≥ {TARGET_MB_S:.0f}); "
        f"text out / in: {median('chain', 'bytes_out') / size:.2f}",
    ]
    print("\n".join(lines))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({"bytes": size, "runs": runs}, indent=1), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
