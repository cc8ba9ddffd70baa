"""The ``dedup`` stage end to end through ``pipeline run``, on 1×, 2×, 4× and 8× the 20
Newsgroups bodies (every extra copy with a few words changed): does time grow linearly with
the documents, and memory only with the index?

Per scale, in fresh processes under GNU ``time``: a baseline pipeline (``read.jsonl``
alone), the same with ``dedup`` (copies only: ``stories`` and ``passages`` off, a new state
store), that pipeline again over the same input against the store it just filled (an
incremental run: every document is read again, so every earlier one is looked up), and a
"day": 1,000 new documents (edited copies of every k-th article, new ids) against that
store, whose memory should not grow with the index. Dedup's own cost is
the run's CPU time minus the baseline's. At 1× the stage also runs with every relation on.
A "split" then runs the scale's documents as two days against a new store (the odd lines,
then the even ones, so that most copies meet an original of the day before): the second
day verifies its candidates against the sets the first stored.

    python benchmarks/dedup_stage.py              # 20 Newsgroups, about 12 minutes
    python benchmarks/dedup_stage.py --smoke      # invented texts, seconds
    python benchmarks/dedup_stage.py --keep DIR   # keep the reports (DIR/x1/reports/...)

With ``--keep``, each run's report is kept (``first``, ``again``, ``day``, ``split1``,
``split2``), to compare two checkouts' results line by line.
"""

from __future__ import annotations

import argparse
import datetime as dt
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

from common import BENCH_DIR, default_tarball, unpack
from dedup_near import body_of, scaled_bodies

TIME = "/usr/bin/time"
DAY = 1_000  # new documents in the "day" run against the filled store


def corpus_bodies(smoke: bool, folder: Path) -> list[tuple[str, str, str]]:
    """``(id, source, body)`` of every 20 Newsgroups article, or of invented ones."""
    if smoke or not default_tarball().is_file():
        rng = random.Random(5)
        words = [f"w{i}" for i in range(3_000)]
        return [
            (f"invented/{i}", f"group{i % 5}", " ".join(rng.choice(words) for _ in range(120)))
            for i in range(300)
        ]
    raw = unpack(default_tarball(), folder)
    found = []
    for path in sorted(p for p in raw.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("latin-1")
        found.append((path.relative_to(raw).as_posix(), path.parent.name, body_of(text)))
    return found


def write_scale(articles: list[tuple[str, str, str]], copies: int, target: Path) -> int:
    bodies = scaled_bodies([a[2] for a in articles], copies)
    with target.open("w", encoding="utf-8") as out:
        for number, body in enumerate(bodies):
            round_, at = divmod(number, len(articles))
            doc_id, source, _ = articles[at]
            doc_id = doc_id if round_ == 0 else f"copy{round_}/{doc_id}"
            out.write(json.dumps({"id": doc_id, "source": source, "text": body}) + "\n")
    return len(bodies)


def write_day(articles: list[tuple[str, str, str]], target: Path, count: int = DAY) -> int:
    """``count`` new documents: edited copies of every k-th article, under new ids."""
    chosen = articles[:: max(1, len(articles) // count)][:count]
    edited = scaled_bodies([a[2] for a in chosen], 2)[len(chosen) :]
    with target.open("w", encoding="utf-8") as out:
        for (doc_id, source, _), body in zip(chosen, edited, strict=True):
            out.write(json.dumps({"id": f"day/{doc_id}", "source": source, "text": body}) + "\n")
    return len(chosen)


def config(
    folder: Path, data: Path, dedup: dict[str, Any] | None, name: str = "pipeline.toml"
) -> Path:
    lines = [
        "[run]",
        'state = "state.sqlite"',
        "incremental = false",
        "",
        "[[stages]]",
        'use = "read.jsonl"',
        f"path = {json.dumps(data.as_posix())}",
    ]
    if dedup is not None:
        lines += ["", "[[stages]]", 'use = "dedup"', 'report = "dedup.jsonl"']
        lines += [f"{key} = {json.dumps(value)}" for key, value in dedup.items()]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_split(data: Path, target: Path, half: int) -> int:
    """Every other line of ``data`` (``half`` 0: the odd ones, 1: the even ones)."""
    lines = data.read_text(encoding="utf-8").splitlines(keepends=True)
    chosen = lines[1 - half :: 2]
    target.write_text("".join(chosen), encoding="utf-8")
    return len(chosen)


def keep_report(folder: Path, name: str) -> None:
    """Keep the report the last run in ``folder`` wrote, as ``reports/<name>.jsonl``."""
    (folder.parent / "reports").mkdir(exist_ok=True)
    shutil.copy(folder / "dedup.jsonl", folder.parent / "reports" / f"{name}.jsonl")


def timed_run(path: Path) -> dict[str, float]:
    """``pipeline run`` in a child under GNU time: CPU seconds, wall seconds, peak RSS."""
    done = subprocess.run(
        [TIME, "-f", "%U %S %e %M", sys.executable, "-m", "docstage", "run", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=path.parent,
    )
    if done.returncode != 0:
        raise SystemExit(f"{path}: pipeline run failed:\n{done.stdout}\n{done.stderr}")
    user, system, wall, peak = done.stderr.strip().splitlines()[-1].split()
    return {
        "cpu": float(user) + float(system),
        "wall": float(wall),
        "peak_rss_mib": int(peak) / 1024,
    }


def best(path: Path, repeats: int, fresh: bool) -> dict[str, float]:
    runs = []
    for _ in range(repeats):
        if fresh:
            for name in ("state.sqlite", "state.sqlite-wal", "state.sqlite-shm"):
                (path.parent / name).unlink(missing_ok=True)
        runs.append(timed_run(path))
    return min(runs, key=lambda r: r["cpu"])


def measure(articles: list[tuple[str, str, str]], scales: list[int], repeats: int, work: Path):
    rows = []
    for copies in scales:
        folder = work / f"x{copies}"
        for name in ("base", "dedup", "full"):
            (folder / name).mkdir(parents=True, exist_ok=True)
        data = folder / "docs.jsonl"
        documents = write_scale(articles, copies, data)
        base = best(config(folder / "base", data, None), repeats, fresh=True)
        plan = config(folder / "dedup", data, {"stories": False, "passages": False})
        first = best(plan, repeats, fresh=True)
        state = (folder / "dedup" / "state.sqlite").stat().st_size
        dropped = len((folder / "dedup" / "dedup.jsonl").read_text().splitlines())
        keep_report(folder / "dedup", "first")
        again = best(plan, repeats, fresh=False)
        keep_report(folder / "dedup", "again")
        day_data = folder / "day.jsonl"
        day_documents = write_day(articles, day_data)
        day_plan = config(
            folder / "dedup", day_data, {"stories": False, "passages": False}, "day.toml"
        )
        day = timed_run(day_plan)
        keep_report(folder / "dedup", "day")
        split = []
        (folder / "split").mkdir(exist_ok=True)
        for half in (0, 1):
            half_data = folder / f"split{half + 1}.jsonl"
            count = write_split(data, half_data, half)
            half_plan = config(folder / "split", half_data, {"stories": False, "passages": False})
            if half == 0:
                (folder / "split" / "state.sqlite").unlink(missing_ok=True)
            split.append({"documents": count, **timed_run(half_plan)})
            keep_report(folder / "split", f"split{half + 1}")
        split_state = (folder / "split" / "state.sqlite").stat().st_size
        row = {
            "copies": copies,
            "documents": documents,
            "dropped": dropped,
            "baseline": base,
            "dedup": first,
            "dedup_cpu": first["cpu"] - base["cpu"],
            "dedup_us_per_doc": 1e6 * (first["cpu"] - base["cpu"]) / documents,
            "state_bytes": state,
            "state_bytes_per_doc": state / documents,
            "rss_over_baseline_mib": first["peak_rss_mib"] - base["peak_rss_mib"],
            "incremental": again,
            "day": {"documents": day_documents, **day},
            "split": {
                "days": split,
                "dropped": [
                    len((folder / "reports" / f"split{n}.jsonl").read_text().splitlines())
                    for n in (1, 2)
                ],
                "state_bytes_per_doc": split_state / documents,
            },
        }
        if copies == 1:
            row["all_relations"] = best(config(folder / "full", data, {}), repeats, fresh=True)
        rows.append(row)
        print(
            f"{copies}x: {documents:,} documents, dedup {row['dedup_cpu']:.2f} CPU-s "
            f"({row['dedup_us_per_doc']:.0f} µs/doc), peak {first['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scale | documents | dropped | dedup CPU s | µs/doc | peak RSS (baseline) "
        "| state bytes/doc | incremental run: CPU s, peak RSS | a day of new documents: "
        "CPU s, peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['copies']}× | {r['documents']:,} | {r['dropped']:,} | {r['dedup_cpu']:.2f} "
            f"| {r['dedup_us_per_doc']:.0f} | {r['dedup']['peak_rss_mib']:.0f} MiB "
            f"({r['baseline']['peak_rss_mib']:.0f}) | {r['state_bytes_per_doc']:,.0f} "
            f"| {r['incremental']['cpu'] - r['baseline']['cpu']:.2f}, "
            f"{r['incremental']['peak_rss_mib']:.0f} MiB "
            f"| {r['day']['documents']:,}: {r['day']['cpu']:.2f}, "
            f"{r['day']['peak_rss_mib']:.0f} MiB |"
        )
    full = rows[0].get("all_relations")
    if full:
        lines.append(
            f"\nAt 1× with stories and passages on: {full['cpu'] - rows[0]['baseline']['cpu']:.1f}"
            f" CPU-s for dedup, peak {full['peak_rss_mib']:.0f} MiB."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="invented texts, 1× and 2×")
    parser.add_argument("--repeats", type=int, default=1, help="runs per figure, best kept")
    parser.add_argument("--output", type=Path, help="JSON figures (default: none for --smoke)")
    parser.add_argument(
        "--scales", type=int, nargs="+", help="copies of the corpus (default: 1 2 4 8)"
    )
    parser.add_argument(
        "--keep", type=Path, help="work in this folder and keep it (reports, stores)"
    )
    args = parser.parse_args()
    scales = args.scales or ([1, 2] if args.smoke else [1, 2, 4, 8])
    with tempfile.TemporaryDirectory(prefix="dedup-stage-") as tmp:
        work = args.keep or Path(tmp)
        articles = corpus_bodies(args.smoke, Path(tmp) / "corpus")
        print(f"{len(articles):,} articles", flush=True)
        rows = measure(articles, scales, args.repeats, work)
    print(table(rows))
    output = args.output or (None if args.smoke else BENCH_DIR / "results" / "dedup_stage.json")
    if output is not None:
        figures = {
            "command": " ".join(["python", "benchmarks/dedup_stage.py", *sys.argv[1:]]),
            "machine": {
                "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
            },
            "scales": rows,
        }
        output.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
