"""What the docstage runner costs on top of its reader: a reproducible overhead benchmark.

Two ways of reading the same files are timed against each other, interleaved:

* **plain loop**: ``read.files``'s ``read()`` called directly, in a plain Python loop
  that counts the documents (same glob, same ``source`` and ``encoding`` options);
* **runner**: the full library path ``pipeline run`` takes (``config_from_dict`` ->
  ``make_plan`` -> ``Runner.execute``) on a config of ``read.files`` plus five
  ``bench.noop`` transforms loaded from ``noop_plugin.py`` by path. No renderer: the
  runner does not need one, and writing JSONL would time ``json.dumps``, not the runner.

The runner's time includes building the plan (loading plugins and entry points), so the
ratio is what a user pays end to end, minus interpreter start-up; the execute-only time
is reported beside it. Peak RSS is measured in fresh subprocesses at 1x, 2x and 4x the
corpus (folders of hard links to its files) to show that memory does not grow with it.

Usage::

    python benchmarks/overhead.py                      # 20 Newsgroups, 5 repeats
    python benchmarks/overhead.py --repeats 9
    python benchmarks/overhead.py --corpus DIR         # any folder of text files
    python benchmarks/overhead.py --smoke              # tiny invented corpus, seconds

The 20 Newsgroups archive is taken from ``../shared/corpora`` next to the repository,
or from ``$DOCSTAGE_SHARED/corpora``, and unpacked into a temporary folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BENCH_DIR, ROOT, default_tarball, peak_rss_mib, unpack

DEFAULT_OUTPUT = BENCH_DIR / "results" / "overhead.json"
TARGET_RATIO = 1.25
NOOP_STAGES = 5
SCALES = (1, 2, 4)


_WORDS = (
    "council", "harbor", "budget", "vote", "school", "river", "bridge", "storm", "market",
    "festival", "museum", "library", "mayor", "port", "strike", "talks", "union", "ferry",
    "contract", "city", "valley", "coast", "rail", "report", "week", "plan", "residents",
    "officials", "said", "would", "new", "year", "local", "board", "meeting",
)  # fmt: skip


def invented_corpus(target: Path, count: int = 300) -> Path:
    """Write ``count`` small invented articles in six outlet folders; return the folder.

    A few files are cp1252 rather than UTF-8, one is empty and one is binary, so the
    decoding and skipping paths of ``read.files`` run too.
    """
    rng = random.Random(20)
    folder = target / "invented"
    for number in range(count):
        outlet = folder / f"outlet-{number % 6}"
        outlet.mkdir(parents=True, exist_ok=True)
        words = [rng.choice(_WORDS) for _ in range(rng.randint(40, 160))]
        text = f"Story {number}\n\n" + " ".join(words).capitalize() + ".\n"
        data = text.encode("utf-8")
        if number % 50 == 7:
            data = text.replace("Story", "Caf\u00e9 story").encode("cp1252")
        elif number == 100:
            data = b"   \n"
        elif number == 200:
            data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
        (outlet / f"{number:04d}.txt").write_bytes(data)
    return folder


def _link(source: Path, target: Path) -> None:
    """Hard-link ``source`` as ``target``; symlink it across file systems; copy if both fail."""
    try:
        os.link(source, target)
    except OSError:
        try:
            target.symlink_to(source)
        except OSError:
            shutil.copyfile(source, target)


def scaled(corpus: Path, work: Path, factor: int) -> Path:
    """A folder that holds ``factor`` copies of ``corpus``, ``copy1/`` to ``copyN/``.

    The copies are real folders of hard-linked files (no folder symlinks, which a reader
    may rightly refuse to follow twice), so the reader sees ``factor`` times the files.
    """
    if factor == 1:
        return corpus
    folder = work / f"x{factor}"
    if folder.is_dir():
        return folder
    for copy in range(1, factor + 1):
        for parent, dirs, files in os.walk(corpus):
            dirs.sort()
            inside = folder / f"copy{copy}" / Path(parent).relative_to(corpus)
            inside.mkdir(parents=True, exist_ok=True)
            for name in files:
                _link(Path(parent) / name, inside / name)
    return folder


def measured_corpus(
    args: argparse.Namespace, parser: argparse.ArgumentParser, work: Path, *, count: int = 300
) -> tuple[Path, str]:
    """The corpus a benchmark measures and its label: ``count`` invented articles with
    ``--smoke``, the folder of ``--corpus``, else 20 Newsgroups unpacked into ``work``
    from ``--tarball`` (default: the shared corpora)."""
    if args.smoke:
        return invented_corpus(work, count=count), "invented (smoke)"
    if args.corpus:
        return args.corpus.resolve(), str(args.corpus)
    archive = args.tarball or default_tarball()
    if not archive.is_file():
        parser.error(f"{archive} not found; give --tarball, --corpus or DOCSTAGE_SHARED")
    print(f"unpacking {archive} ...", flush=True)
    return unpack(archive, work / "20news"), archive.name


def count_files(folder: Path) -> int:
    """Files below ``folder`` that ``read.files`` looks at (hidden names skipped)."""
    total = 0
    for _, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        total += sum(1 for f in files if not f.startswith("."))
    return total


def glob_of(folder: Path) -> str:
    return f"{folder.as_posix()}/**/*"


# --- the two contestants ----------------------------------------------------------------


def _reader_options(glob: str) -> dict[str, Any]:
    return {"path": glob, "source": "{parent}", "encoding": "auto"}


def run_plain_loop(glob: str) -> dict[str, Any]:
    """Call ``read.files``'s ``read()`` directly and count what it yields."""
    import structlog

    from docstage import Document
    from docstage.stages import StageContext
    from docstage_plugins.readers import ReadFiles

    wall, cpu = time.perf_counter(), time.process_time()
    reader = ReadFiles(**_reader_options(glob))
    reader.setup(
        StageContext(
            run_id="plain-loop",
            config_dir=BENCH_DIR,
            stage_name=ReadFiles.name,
            index=1,
            log=structlog.get_logger(),
        )
    )
    docs = other = 0
    try:
        for item in reader.read():
            if isinstance(item, Document):
                docs += 1
            else:
                other += 1
    finally:
        reader.close()
    return {
        "seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "documents": docs,
        "not_documents": other,
    }


def census(glob: str) -> dict[str, Any]:
    """What ``read.files`` makes of the corpus (untimed): documents, skips, encodings."""
    from docstage import BadInput, Document, Drop
    from docstage_plugins.readers import ReadFiles

    encodings: dict[str, int] = {}
    dropped: dict[str, int] = {}
    docs = bad = with_errors = replaced = 0
    for item in ReadFiles(**_reader_options(glob)).read():
        if isinstance(item, Document):
            docs += 1
            encoding = item.metadata.get("encoding", "utf-8")
            encodings[encoding] = encodings.get(encoding, 0) + 1
            if item.metadata.get("decode_errors"):
                with_errors += 1
                replaced += item.metadata["decode_errors"]
        elif isinstance(item, Drop):
            dropped[item.reason] = dropped.get(item.reason, 0) + 1
        elif isinstance(item, BadInput):
            bad += 1
    return {
        "documents": docs,
        "dropped": dropped,
        "bad_input": bad,
        "encodings": dict(sorted(encodings.items(), key=lambda kv: -kv[1])),
        "documents_with_replaced_bytes": with_errors,
        "replaced_bytes": replaced,
    }


def pipeline_config(glob: str, quarantine: Path) -> dict[str, Any]:
    """The config the runner executes: read.files, then five bench.noop stages."""
    noops = [{"use": "bench.noop", "name": f"noop{i}"} for i in range(1, NOOP_STAGES + 1)]
    return {
        "pipeline": {"name": "bench-overhead", "plugins": ["./noop_plugin.py"]},
        # The runner itself, without the run cache ([run] incremental costs a fingerprint
        # and a cache write per document, and the run manifest a hash and a row;
        # benchmarks/executors.py measures it).
        "run": {"on_error": "quarantine", "quarantine": str(quarantine), "incremental": False},
        "stages": [{"use": "read.files", **_reader_options(glob)}, *noops],
    }


def run_runner(glob: str, quarantine: Path) -> dict[str, Any]:
    """Build the plan from a config mapping and execute it, as ``pipeline run`` does."""
    from docstage.config import config_from_dict
    from docstage.resolve import make_plan
    from docstage.runner import Runner

    wall, cpu = time.perf_counter(), time.process_time()
    # Relative paths (the plugin) resolve against this folder, as for a config file here.
    plan = make_plan(config_from_dict(pipeline_config(glob, quarantine), BENCH_DIR))
    planned = time.perf_counter()
    summary = Runner(plan).execute()
    end = time.perf_counter()
    reader = summary.stages[0]
    return {
        "seconds": end - wall,
        "execute_seconds": end - planned,
        "plan_seconds": planned - wall,
        "cpu_seconds": time.process_time() - cpu,
        "documents": summary.documents,
        "files_seen": reader.docs_in,
        "dropped": dict(reader.dropped),
        "errors": summary.errors,
        "quarantined": summary.quarantined,
        "exit_code": summary.exit_code,
        "failed": summary.failed,
    }


def child(mode: str, glob: str, quarantine: Path) -> None:
    """Run one contestant in this fresh process and print its figures and peak RSS."""
    from docstage.log import configure_logging

    for module in ("docstage.plan", "docstage.runner", "docstage_plugins.readers"):
        importlib.import_module(module)  # so that "before" includes the code, not the run
    configure_logging("console")
    before = peak_rss_mib()
    result = run_plain_loop(glob) if mode == "loop" else run_runner(glob, quarantine)
    result["peak_rss_before_mib"] = before
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))


def in_subprocess(mode: str, glob: str, quarantine: Path) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--glob", glob]
    command += ["--quarantine", str(quarantine)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} subprocess failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- measuring and reporting -------------------------------------------------------------


def measure(glob: str, quarantine: Path, repeats: int) -> dict[str, list[dict[str, Any]]]:
    """One warm-up of each, then ``repeats`` interleaved pairs, alternating who goes first."""
    runs: dict[str, list[dict[str, Any]]] = {"loop": [], "runner": []}
    run_plain_loop(glob)
    run_runner(glob, quarantine)
    for number in range(repeats):
        order = ("loop", "runner") if number % 2 == 0 else ("runner", "loop")
        for mode in order:
            gc.collect()
            result = run_plain_loop(glob) if mode == "loop" else run_runner(glob, quarantine)
            runs[mode].append(result)
            shown = f"{result['seconds']:.3f} s"
            print(f"  repeat {number + 1}/{repeats} {mode:6s} {shown}", flush=True)
    return runs


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def summarise(runs: dict[str, list[dict[str, Any]]], documents: int) -> dict[str, Any]:
    loop, runner = runs["loop"], runs["runner"]
    loop_s, runner_s = _median(loop, "seconds"), _median(runner, "seconds")
    execute_s = _median(runner, "execute_seconds")
    pairs = [r["seconds"] / b["seconds"] for b, r in zip(loop, runner, strict=True)]
    return {
        "documents": documents,
        "loop_seconds": loop_s,
        "runner_seconds": runner_s,
        "runner_execute_seconds": execute_s,
        "runner_plan_seconds": _median(runner, "plan_seconds"),
        "loop_docs_per_s": documents / loop_s,
        "runner_docs_per_s": documents / runner_s,
        "loop_cpu_seconds": _median(loop, "cpu_seconds"),
        "runner_cpu_seconds": _median(runner, "cpu_seconds"),
        "ratio": runner_s / loop_s,
        "ratio_execute_only": execute_s / loop_s,
        "ratio_cpu": _median(runner, "cpu_seconds") / _median(loop, "cpu_seconds"),
        "ratio_paired_median": statistics.median(pairs),
        "pair_ratios": pairs,
    }


def check_counts(result: dict[str, Any], files: int, expected_docs: int, where: str) -> list[str]:
    """Problems with a run's counts: every file read, every document out, nothing failed."""
    problems = []
    if result["documents"] != expected_docs:
        problems.append(f"{where}: {result['documents']} documents, expected {expected_docs}")
    if "files_seen" in result:
        if result["files_seen"] != files:
            problems.append(f"{where}: reader looked at {result['files_seen']} of {files} files")
        if result["errors"] or result["failed"]:
            problems.append(f"{where}: {result['errors']} errors, failed={result['failed']}")
    return problems


def markdown(summary: dict[str, Any], memory: list[dict[str, Any]], repeats: int) -> str:
    s = summary
    status = "within" if s["ratio"] <= TARGET_RATIO else "ABOVE"
    lines = [
        f"| {s['documents']:,} documents, median of {repeats} | plain loop "
        f"| runner + {NOOP_STAGES} no-ops |",
        "|---|---:|---:|",
        f"| wall seconds | {s['loop_seconds']:.3f} | {s['runner_seconds']:.3f} |",
        f"| documents/s | {s['loop_docs_per_s']:,.0f} | {s['runner_docs_per_s']:,.0f} |",
        f"| CPU seconds | {s['loop_cpu_seconds']:.3f} | {s['runner_cpu_seconds']:.3f} |",
        f"| of which plan (plugins, config) | - | {s['runner_plan_seconds']:.3f} |",
        "",
        f"overhead ratio: {s['ratio']:.3f} (runner / plain loop, medians of wall time; "
        f"target <= {TARGET_RATIO}: {status} target)",
        f"median of paired ratios: {s['ratio_paired_median']:.3f}; execute-only ratio: "
        f"{s['ratio_execute_only']:.3f}; CPU-time ratio: {s['ratio_cpu']:.3f}; pairs: "
        + ", ".join(f"{r:.3f}" for r in s["pair_ratios"]),
        "",
        "| corpus | documents | plain loop peak RSS | runner peak RSS "
        "| runner RSS before run | runner docs/s (one run) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in memory:
        loop, runner = row["loop"], row["runner"]
        lines.append(
            f"| {row['scale']}x | {runner['documents']:,} | {loop['peak_rss_mib']:.1f} MiB "
            f"| {runner['peak_rss_mib']:.1f} MiB | {runner['peak_rss_before_mib']:.1f} MiB "
            f"| {runner['documents'] / runner['seconds']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time the docstage runner (read.files + 5 no-op stages) against a plain "
        "loop over the same reader, and its peak RSS at 1x, 2x and 4x the corpus."
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--corpus", type=Path, help="A folder of text files to read (all files).")
    source.add_argument(
        "--tarball",
        type=Path,
        help="The 20 Newsgroups archive to unpack (default: "
        "$DOCSTAGE_SHARED or ../shared, corpora/20news/20news-19997.tar.gz).",
    )
    parser.add_argument("--repeats", type=int, default=5, help="Timed pairs (default 5).")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="A tiny invented corpus and one repeat: exercises the code, measures nothing.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"JSON results file (default {DEFAULT_OUTPUT.relative_to(ROOT)}; none with --smoke).",
    )
    parser.add_argument("--child", choices=["loop", "runner"], help=argparse.SUPPRESS)
    parser.add_argument("--glob", help=argparse.SUPPRESS)
    parser.add_argument("--quarantine", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        child(args.child, args.glob, args.quarantine)
        return 0

    from docstage.log import configure_logging

    configure_logging("console")  # as `pipeline run`: warnings and errors only
    repeats = 1 if args.smoke else args.repeats
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    output = args.output if args.output or args.smoke else DEFAULT_OUTPUT

    with tempfile.TemporaryDirectory(prefix="docstage-bench-") as temp:
        work = Path(temp)
        quarantine = work / "quarantine.jsonl"
        corpus, label = measured_corpus(args, parser, work)
        files = count_files(corpus)
        print(f"corpus: {label}: {files:,} files in {corpus}", flush=True)

        glob = glob_of(corpus)
        read = census(glob)
        print(f"read.files: {json.dumps(read)}", flush=True)
        first = run_runner(glob, quarantine)
        expected = first["documents"]
        problems = check_counts(first, files, expected, "runner")
        print(f"timing {repeats} interleaved pair(s) ...", flush=True)
        runs = measure(glob, quarantine, repeats)
        for mode, results in runs.items():
            for result in results:
                problems += check_counts(result, files, expected, mode)
        summary = summarise(runs, expected)

        print("peak RSS in fresh processes ...", flush=True)
        memory = []
        for factor in SCALES:
            folder_glob = glob_of(scaled(corpus, work, factor))
            row: dict[str, Any] = {"scale": factor}
            for mode in ("loop", "runner"):
                row[mode] = in_subprocess(mode, folder_glob, quarantine)
                problems += check_counts(
                    row[mode], files * factor, expected * factor, f"{mode} {factor}x"
                )
            memory.append(row)

    table = markdown(summary, memory, repeats)
    print()
    print(table)
    if problems:
        print("\nPROBLEMS:\n" + "\n".join(problems))
    if output is not None:
        record = {
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(["python", "benchmarks/overhead.py", *sys.argv[1:]]),
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
            },
            "corpus": label,
            "files": files,
            "census": read,
            "first_run": first,
            "repeats": repeats,
            "noop_stages": NOOP_STAGES,
            "target_ratio": TARGET_RATIO,
            "summary": summary,
            "memory": memory,
            "runs": runs,
            "problems": problems,
        }
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"\nresults written to {output}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
