"""Scale: the default news pipeline and ``dedup`` alone on 1×, 4×, 16× and 50× the size of
20 Newsgroups (generated corpora), a first day and an incremental second day.

Per scale, ``corpus.py`` generates ``scale × 19,997`` documents over 30 publication days
(one folder per day); days 1–27 (≈ 90 %) are the first run, days 28–30 (≈ 10 %, new
documents, some of them copies of the first days') the second, against the state store the
first run filled. Two pipelines, each in fresh processes under GNU ``time``:

* ``news``: ``configs/news.toml`` (every cleanup stage, rules entities, entity linking,
  ``dedup`` with every relation, JSONL out);
* ``dedup``: ``read.files`` → ``dedup`` (copies only) → ``render.jsonl``.

Reported per run: wall and CPU seconds, documents per CPU-second, peak RSS, the state
store's bytes per indexed document, and the copy pairs found against the planted ones
(pairs in one group of ``truth/copies_j080.tsv`` against pairs in one copy group:
precision, recall, F1). The CPU figures are the whole process's (start-up, reading, every
stage, writing); ``dedup_stage_cpu_s`` and ``stage_documents_per_cpu_s`` are those of the
``dedup`` stage alone (the CPU seconds spent inside it, the reader's and the renderer's
excluded), measured in the same process.

    python benchmarks/scale.py --scales 1 4          # about 30 minutes on 2 cores
    python benchmarks/scale.py --smoke               # 2,000 invented documents, a minute
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import itertools
import json
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from common import BENCH_DIR, ROOT

TIME = "/usr/bin/time"
BASE = 19_997
FIRST_DAYS = 27


def generate(folder: Path, documents: int, smoke: bool) -> tuple[Path, Path, Path]:
    """The corpus, split into a first-day and a second-day folder; and its truth folder."""
    command = [sys.executable, str(BENCH_DIR / "corpus.py"), str(folder / "corpus")]
    command += ["--documents", str(documents), "--format", "files", "--day-split"]
    command += ["--days", "30"] + (["--invented"] if smoke else [])
    subprocess.run(command, check=True, capture_output=True)
    docs = folder / "corpus" / "docs"
    first, second = folder / "day1", folder / "day2"
    for day, path in enumerate(sorted(docs.iterdir())):
        target = first if day < FIRST_DAYS else second
        target.mkdir(exist_ok=True)
        shutil.move(str(path), target / path.name)
    return first, second, folder / "corpus" / "truth"


def config(folder: Path, pipeline: str, inputs: Path) -> Path:
    if pipeline == "news":
        text = (ROOT / "configs" / "news.toml").read_text(encoding="utf-8")
        text = text.replace("${NEWS_INPUT:-../examples/news/**/*.txt}", f"{inputs}/**/*.txt")
        text = text.replace('backend = "auto"', 'backend = "rules"')
        text = text.replace('use = "dedup"\n', 'use = "dedup"\nreport = "dedup.jsonl"\n', 1)
        text = text.replace('report = "../out/dedup.jsonl"\n', "")
    else:
        text = (
            '[pipeline]\nname = "dedup"\n\n[run]\nstate = "../.docstage/news.sqlite"\n\n'
            f'[[stages]]\nuse = "read.files"\npath = "{inputs}/**/*.txt"\n\n'
            '[[stages]]\nuse = "dedup"\nstories = false\npassages = false\nquotes = false\n'
            'report = "dedup.jsonl"\n\n'
            '[[stages]]\nuse = "render.jsonl"\npath = "../out/news.jsonl"\n'
        )
    text = text.replace('state = "../.docstage/news.sqlite"', 'state = "state.sqlite"')
    text = text.replace('"../out/', '"out/').replace(
        'cache = "../.docstage/cache"', 'cache = "cache"'
    )
    path = folder / f"{pipeline}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run(path: Path, executor: str) -> dict[str, Any]:
    """One ``pipeline run`` under GNU ``time`` (:func:`timed_run`: the same command, with
    the CPU seconds spent inside the ``dedup`` stage measured as well)."""
    stage = path.parent / "stage_cpu.txt"
    stage.unlink(missing_ok=True)
    command = [TIME, "-f", "%M %U %S %e", sys.executable, __file__, "--timed-run", str(stage)]
    command += ["run", str(path), "--no-incremental", "--no-progress", "--executor", executor]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{path.name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    peak, user, system, wall = done.stderr.strip().splitlines()[-1].split()
    stage_cpu = float(stage.read_text(encoding="utf-8")) if stage.exists() else None
    return {
        "peak_rss_mib": round(int(peak) / 1024),
        "cpu_s": round(float(user) + float(system), 1),
        "wall_s": round(float(wall), 1),
        "dedup_stage_cpu_s": round(stage_cpu, 2) if stage_cpu is not None else None,
    }


def timed_run(record: Path, argv: list[str]) -> None:
    """``pipeline`` with ``argv``, in this process, writing to ``record`` the CPU seconds
    spent inside the ``dedup`` stage: in its generator, less the time its input took to
    come (the stages before it), not counting what is done with its output."""
    # (imported here: only the child process runs docstage)
    from docstage.cli import main as pipeline
    from docstage_plugins.dedup.stage import Dedup

    spent = [0.0]
    stream = Dedup.process_stream

    def upstream(docs: Any) -> Any:
        for_docs = iter(docs)
        while True:
            start = time.process_time()
            try:
                doc = next(for_docs)
            except StopIteration:
                spent[0] -= time.process_time() - start
                return
            spent[0] -= time.process_time() - start
            yield doc

    def measured(self: Dedup, docs: Any) -> Any:
        out = stream(self, upstream(docs))
        while True:
            start = time.process_time()
            try:
                item = next(out)
            except StopIteration:
                spent[0] += time.process_time() - start
                return
            spent[0] += time.process_time() - start
            yield item

    Dedup.process_stream = measured  # type: ignore[method-assign]
    sys.argv = ["pipeline", *argv]
    try:
        pipeline()
    finally:
        record.write_text(f"{spent[0]:.3f}", encoding="utf-8")


def indexed(state: Path) -> int:
    with closing(sqlite3.connect(state)) as db:
        return int(db.execute("SELECT count(*) FROM dedup_docs").fetchone()[0])


def pairs_found(*reports: Path) -> set[tuple[str, str]]:
    """Pairs of one copy group (ids without the day folder), from dedup reports (a second
    day's copy of a first day's original joins that original's group of the first day)."""
    groups: dict[str, set[str]] = {}
    for report in reports:
        with open(report, encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                original = record["original"]["id"].split("/", 1)[-1]
                groups.setdefault(original, {original}).add(record["id"].split("/", 1)[-1])
    return {tuple(sorted(p)) for g in groups.values() for p in itertools.combinations(g, 2)}


def pairs_planted(truth: Path, ids: set[str]) -> set[tuple[str, str]]:
    """Pairs of one planted copy group among ``ids``: the groups are the connected
    components of ``copies_j080.tsv`` (a copy group is transitive, like dedup's)."""
    parent: dict[str, str] = {}

    def root(item: str) -> str:
        while parent.setdefault(item, item) != item:
            item = parent[item]
        return item

    with open(truth / "copies_j080.tsv", encoding="utf-8") as rows:
        for row in csv.DictReader(rows, delimiter="\t"):
            if row["id_a"] in ids and row["id_b"] in ids:
                a, b = root(row["id_a"]), root(row["id_b"])
                parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = {}
    for item in list(parent):
        groups.setdefault(root(item), []).append(item)
    return {tuple(sorted(p)) for g in groups.values() for p in itertools.combinations(g, 2)}


def quality(found: set[tuple[str, str]], planted: set[tuple[str, str]]) -> dict[str, float]:
    hits = len(found & planted)
    precision = hits / len(found) if found else 1.0
    recall = hits / len(planted) if planted else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def ids_of(folder: Path) -> set[str]:
    return {str(p.relative_to(p.parents[1])) for p in folder.rglob("*.txt")}


def measure(
    scale: float, documents: int, pipelines: list[str], smoke: bool, executor: str
) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="docstage-scale-") as tmp:
        folder = Path(tmp)
        first, second, truth = generate(folder, documents, smoke)
        day_ids = [ids_of(first), ids_of(second)]
        for pipeline in pipelines:
            work = folder / pipeline
            work.mkdir()
            seen: set[str] = set()
            for day, inputs in enumerate((first, second), start=1):
                figures = run(config(work, pipeline, inputs), executor)
                count = len(day_ids[day - 1])
                seen |= day_ids[day - 1]
                state = work / "state.sqlite"
                report = work / f"dedup-day{day}.jsonl"
                shutil.move(work / "dedup.jsonl", report)
                found = pairs_found(*sorted(work.glob("dedup-day*.jsonl")))
                planted = pairs_planted(truth, seen)
                if day == 2:  # pairs with a document of the second day
                    second_day = day_ids[1]
                    found = {p for p in found if p[0] in second_day or p[1] in second_day}
                    planted = {p for p in planted if p[0] in second_day or p[1] in second_day}
                stage_cpu = figures["dedup_stage_cpu_s"]
                row = {
                    "scale": scale,
                    "pipeline": pipeline,
                    "day": day,
                    "executor": executor,
                    "documents": count,
                    **figures,
                    "documents_per_cpu_s": round(count / max(figures["cpu_s"], 0.01)),
                    "stage_documents_per_cpu_s": (
                        round(count / max(stage_cpu, 0.01)) if stage_cpu is not None else None
                    ),
                    "state_bytes_per_document": round(state.stat().st_size / indexed(state)),
                    **quality(found, planted),
                }
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def main() -> None:
    if sys.argv[1:2] == ["--timed-run"]:  # the child process of :func:`run`
        timed_run(Path(sys.argv[2]), sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 4, 16, 50])
    parser.add_argument(
        "--pipelines", nargs="+", choices=["news", "dedup"], default=["dedup", "news"]
    )
    parser.add_argument("--smoke", action="store_true", help="2,000 invented documents")
    parser.add_argument(
        "--executor",
        choices=["local", "processes"],
        default="local",
        help="processes: the per-document stages on every core (CPU seconds count them all)",
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "scale.json")
    args = parser.parse_args()
    rows = []
    for scale in [0.1] if args.smoke else args.scales:
        documents = 2_000 if args.smoke else round(scale * BASE)
        rows += measure(scale, documents, args.pipelines, args.smoke, args.executor)
        if not args.smoke:  # after each scale: a long run killed at 50x keeps the others
            report = {
                "date": dt.date.today().isoformat(),
                "machine": f"{platform.machine()}, {platform.python_version()}, 2 cores",
                "rows": rows,
            }
            args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
