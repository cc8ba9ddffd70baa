"""Executors, incremental runs and memory: what ``[run] executor`` and ``[run] incremental``
buy on 2 cores, and whether memory stays flat as the input grows.

Every contestant is a fresh ``python -m docstage run CONFIG --log-format json`` process
(start-up, plugin loading, model loading, worker or Ray start-up and shut-down included),
timed from here; the run summary is the last line of its stdout. Four parts:

1. **entities**: ``read.files`` -> ``entities`` (spaCy) -> ``render.jsonl`` on a subset of
   20 Newsgroups, ``incremental = false``: ``local`` against ``processes`` and ``ray`` with
   2 workers. Target: ``processes`` at least 1.7x faster than ``local``.
2. **news**: ``configs/news.toml`` with every output sent to a fresh folder per run,
   ``incremental = false``: the same three executors, and their outputs compared byte
   for byte once each run's id is replaced by a placeholder.
3. **incremental**: ``configs/news.toml`` with a fresh run cache: a first run, the same
   run again (target: second / first < 0.10, every stage's work served from the cache),
   then a run with ``dedup``'s ``keep`` changed (the stages before dedup stay cached).
4. **memory**: the ``local`` executor's peak RSS at 1x, 2x, 4x and 8x the corpus (folders
   of hard links), for the cleanup chain alone (should be flat) and with ``dedup`` (whose
   index grows with every document it has seen).

Repeats are interleaved (the order rotates) and medians reported, speed-ups as ratios of
medians measured in the same run. Peak RSS is the pipeline process's own ``VmHWM``, read
by an ``atexit`` hook that a two-line bootstrap puts in front of ``python -m docstage``
(``ru_maxrss`` would not do: Linux carries the parent's peak over into a child across
``exec``); for ``processes`` and ``ray`` the summed RSS of the whole process tree (workers,
Ray's own processes) is also sampled from here every 0.25 s.

Usage::

    python benchmarks/executors.py                        # everything, about 45 minutes
    python benchmarks/executors.py --only entities,news   # some parts
    python benchmarks/executors.py --smoke                # invented texts, seconds

A failing ``ray`` run is recorded in the results (and retried once at the end) rather
than stopping the benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from common import BENCH_DIR, ROOT
from overhead import count_files, glob_of, measured_corpus, scaled

DEFAULT_OUTPUT = BENCH_DIR / "results" / "executors.json"
NEWS_CONFIG = ROOT / "configs" / "news.toml"
PARTS = ("entities", "news", "incremental", "memory")
TARGET_SPEEDUP = 1.7
TARGET_INCREMENTAL = 0.10
#: The files compared between executors (report.html carries timings; not compared).
NEWS_FILES = ("news.jsonl", "digest.md", "entities.csv", "dedup.jsonl", "boilerplate.json")
PLACEHOLDER = b"RUN-ID"
#: Where a running local Ray cluster leaves its address (``/tmp/ray/...``).
RAY_ADDRESS_FILE = "ray_current_cluster"

#: ``python -c BOOTSTRAP PEAK_FILE run CONFIG ...`` is ``python -m docstage run CONFIG
#: ...`` that writes its own peak RSS (VmHWM, KiB) to PEAK_FILE when it exits.
BOOTSTRAP = """\
import atexit, runpy, sys
def _peak(path=sys.argv[1]):
    with open("/proc/self/status", encoding="ascii") as status:
        kib = next((l.split()[1] for l in status if l.startswith("VmHWM:")), "0")
    with open(path, "w", encoding="ascii") as out:
        out.write(kib)
atexit.register(_peak)
sys.argv = ["pipeline", *sys.argv[2:]]
runpy.run_module("docstage", run_name="__main__", alter_sys=True)
"""


# --- one pipeline run in a fresh process ------------------------------------------------


def _tree_rss(pid: int, stop: threading.Event, peak: list[float]) -> None:
    """Sample the summed RSS of ``pid`` and its descendants until ``stop``; keep the max."""
    try:
        import psutil
    except ImportError:
        return
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    while not stop.wait(0.25):
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        peak[0] = max(peak[0], total / 2**20)


def pipeline_run(
    config: Path,
    folder: Path,
    *,
    executor: str | None = None,
    workers: int | None = None,
    incremental: bool = False,
    sets: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``pipeline run CONFIG`` in a fresh process; its figures, summary and peak RSS.

    Its stderr (JSON log lines) goes to ``folder/stderr.log``; ``error`` is set when it
    failed (exit code other than 0 or 1, or no summary).
    """
    folder.mkdir(parents=True, exist_ok=True)
    peak_file = folder / "peak.kib"
    command = [sys.executable, "-c", BOOTSTRAP, str(peak_file), "run", str(config)]
    command += ["--log-format", "json", "--no-progress"]
    if executor:
        command += ["--executor", executor]
    if workers:
        command += ["--workers", str(workers)]
    if not incremental:
        command.append("--no-incremental")
    for override in sets:
        command += ["--set", override]
    # A Ray cluster already running here would be joined ("auto") rather than started.
    other_ray = executor == "ray" and Path(tempfile.gettempdir(), "ray", RAY_ADDRESS_FILE).exists()
    stop, tree = threading.Event(), [0.0]
    with (folder / "stdout.log").open("wb") as out, (folder / "stderr.log").open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            command, stdout=out, stderr=err, env={**os.environ, **(env or {})}, cwd=folder
        )
        watcher = threading.Thread(target=_tree_rss, args=(proc.pid, stop, tree), daemon=True)
        watcher.start()
        code = proc.wait()
        wall = time.perf_counter() - started
        stop.set()
        watcher.join()
    lines = (folder / "stdout.log").read_text(encoding="utf-8", errors="replace").splitlines()
    record: dict[str, Any] = {
        "executor": executor or "local",
        "workers": workers,
        "incremental": incremental,
        "exit_code": code,
        "wall_seconds": wall,
        "stderr_bytes": (folder / "stderr.log").stat().st_size,
        "error": None,
        "load_average_before": os.getloadavg()[0],
    }
    if executor == "ray":
        record["joined_running_ray"] = other_ray
    try:
        record["peak_rss_mib"] = int(peak_file.read_text(encoding="ascii")) / 1024
    except (OSError, ValueError):
        record["peak_rss_mib"] = None
    record["tree_peak_rss_mib"] = tree[0] or None
    summary: dict[str, Any] | None = None
    if lines:
        try:
            summary = json.loads(lines[-1])
        except json.JSONDecodeError:
            summary = None
    if code not in (0, 1) or summary is None or summary.get("failed"):
        tail = (folder / "stderr.log").read_text(encoding="utf-8", errors="replace")
        reason = summary.get("failed") if summary else None
        record["error"] = reason or "\n".join(tail.strip().splitlines()[-5:]) or f"exit {code}"
        return record
    record.update(
        run_id=summary["run_id"],
        run_seconds=summary["seconds"],
        startup_seconds=wall - summary["seconds"],
        documents=summary["documents"],
        quarantined=summary["quarantined"],
        cached=summary["cached"],
        stages=summary["stages"],
    )
    return record


def stage_seconds(record: dict[str, Any], name: str) -> float:
    return float(next(s["seconds"] for s in record["stages"] if s["name"] == name))


def counters(record: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Per stage: documents in and out, drops by reason, errors (not the timings)."""
    return [
        (s["name"], s["in"], s["out"], json.dumps(s["dropped"]), s["errors"])
        for s in record["stages"]
    ]


def shown(record: dict[str, Any]) -> str:
    if record["error"]:
        return "FAILED: " + record["error"].splitlines()[0][:120]
    return f"{record['wall_seconds']:.1f} s wall, peak {record['peak_rss_mib'] or 0:.0f} MiB"


# --- outputs ----------------------------------------------------------------------------


def normalised(path: Path, run_id: str) -> bytes:
    """A file's bytes with the run's id replaced (the digest names the run)."""
    return path.read_bytes().replace(run_id.encode(), PLACEHOLDER)


def first_difference(left: bytes, right: bytes) -> str:
    """Where two normalised files part: line number and both lines, shortened."""
    a, b = left.splitlines(), right.splitlines()
    for number, (x, y) in enumerate(zip(a, b, strict=False), start=1):
        if x != y:
            return f"line {number}: {x[:160]!r} != {y[:160]!r}"
    return f"{len(a)} lines != {len(b)} lines"


def compare_outputs(
    reference_record: dict[str, Any], record: dict[str, Any], names: Sequence[str]
) -> dict[str, Any]:
    """Per file of two runs (their records: ``folder``, ``run_id``): identical
    (True/False) and, when not, the first difference."""
    reference, reference_run = Path(reference_record["folder"]), reference_record["run_id"]
    other, other_run = Path(record["folder"]), record["run_id"]
    found: dict[str, Any] = {}
    for name in names:
        mine, theirs = reference / name, other / name
        if not mine.exists() and not theirs.exists():
            continue
        if not mine.exists() or not theirs.exists():
            found[name] = {"identical": False, "difference": "missing in one run"}
            continue
        left, right = normalised(mine, reference_run), normalised(theirs, other_run)
        same = left == right
        found[name] = {"identical": same, "sha256": hashlib.sha256(right).hexdigest()[:16]}
        if not same:
            found[name]["difference"] = first_difference(left, right)
    return found


def news_sets(folder: Path) -> list[str]:
    """``--set`` overrides that send everything configs/news.toml writes into ``folder``
    (as ``news_outputs`` in tests/conftest.py), the run cache too."""
    return [
        f"stages.render.jsonl.path={(folder / 'news.jsonl').as_posix()}",
        f"stages.render.csv.path={(folder / 'entities.csv').as_posix()}",
        f"stages.render.markdown.path={(folder / 'digest.md').as_posix()}",
        f"stages.render.html.path={(folder / 'report.html').as_posix()}",
        f"stages.cleanup.boilerplate.report={(folder / 'boilerplate.json').as_posix()}",
        f"stages.dedup.report={(folder / 'dedup.jsonl').as_posix()}",
        f"run.quarantine={(folder / 'quarantine.jsonl').as_posix()}",
        f"run.state={(folder / 'state.sqlite').as_posix()}",
        f"run.cache={(folder / 'cache').as_posix()}",
    ]


def own_sets(folder: Path, output: str = "out.jsonl") -> list[str]:
    """Overrides for the benchmark's own configs: output, quarantine, state, cache."""
    return [
        f"stages.render.jsonl.path={(folder / output).as_posix()}",
        f"run.quarantine={(folder / 'quarantine.jsonl').as_posix()}",
        f"run.state={(folder / 'state.sqlite').as_posix()}",
        f"run.cache={(folder / 'cache').as_posix()}",
    ]


# --- corpora and configs ----------------------------------------------------------------


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.is_file() and not p.name.startswith("."))


def subset(corpus: Path, target: Path, *, every: int = 1, count: int | None = None) -> Path:
    """Hard links to every ``every``-th file of ``corpus`` (sorted paths, so every group
    is represented), at most ``count`` of them; returns ``target``."""
    files = corpus_files(corpus)
    if count is not None:
        every = max(1, len(files) // count)
    chosen = files[::every][:count] if count is not None else files[::every]
    for path in chosen:
        link = target / path.relative_to(corpus)
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, link)
        except OSError:
            shutil.copyfile(path, link)
    return target


def corpus_facts(folder: Path) -> dict[str, Any]:
    files = corpus_files(folder)
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def toml_config(path: Path, name: str, glob: str, stages: Sequence[dict[str, Any]]) -> Path:
    """Write a config: ``read.files`` over ``glob``, then ``stages``, then render.jsonl
    (outputs, quarantine, state and cache are set per run by ``own_sets``)."""
    lines = [
        "[pipeline]",
        f"name = {json.dumps(name)}",
        "",
        "[[stages]]",
        'use = "read.files"',
        f"path = {json.dumps(glob)}",
        'source = "{parent}"',
    ]
    for stage in [*stages, {"use": "render.jsonl", "path": "out.jsonl"}]:
        lines += ["", "[[stages]]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in stage.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


CLEANUP = [
    {"use": "cleanup.mail"},
    {"use": "cleanup.metadata"},
    {"use": "cleanup.boilerplate"},
    {"use": "cleanup.normalize"},
]


# --- measuring --------------------------------------------------------------------------


class Contestant(NamedTuple):
    """One way of running: a label, the executor, its workers and extra ``--set``s."""

    label: str
    executor: str
    workers: int | None = None
    sets: tuple[str, ...] = ()


class Contest:
    """Contestants run interleaved; a ``ray`` failure is kept and that one left out after."""

    def __init__(self, contestants: Sequence[Contestant], ray_errors: list[Any]):
        self.contestants = list(contestants)
        self.runs: dict[str, list[dict[str, Any]]] = {c.label: [] for c in self.contestants}
        self.failed: dict[str, dict[str, Any]] = {}
        self.ray_errors = ray_errors

    def measure(self, repeats: int, run: Any, part: str) -> None:
        """``run(contestant, label)`` ``repeats`` times each, the order rotating."""
        for number in range(repeats):
            shift = number % len(self.contestants)
            for who in self.contestants[shift:] + self.contestants[:shift]:
                if who.label in self.failed:
                    continue
                record = run(who, f"{who.label}-{number + 1}")
                self.keep(part, who, record)
                shown_run = shown(record)
                print(f"  {part} {number + 1}/{repeats} {who.label:13s} {shown_run}", flush=True)

    def keep(self, part: str, who: Contestant, record: dict[str, Any]) -> None:
        record["label"] = who.label
        if record["error"]:
            self.failed[who.label] = record
            if who.executor == "ray":
                self.ray_errors.append({"part": part, "label": who.label, "error": record["error"]})
        else:
            self.runs[who.label].append(record)


def medians(records: list[dict[str, Any]], stage: str | None = None) -> dict[str, Any]:
    if not records:
        return {}
    found: dict[str, Any] = {"repeats": len(records)}
    for key in ("wall_seconds", "run_seconds", "startup_seconds", "peak_rss_mib"):
        values = [r[key] for r in records if r.get(key) is not None]
        found[key] = statistics.median(values) if values else None
    trees = [r["tree_peak_rss_mib"] for r in records if r.get("tree_peak_rss_mib")]
    found["tree_peak_rss_mib"] = statistics.median(trees) if trees else None
    if stage is not None:
        found["stage_seconds"] = statistics.median(stage_seconds(r, stage) for r in records)
    found["documents"] = records[0]["documents"]
    return found


def speedups(contest: Contest, stage: str | None = None) -> dict[str, Any]:
    """Per executor: medians, and the speed-up over local (ratio of median walls)."""
    summary: dict[str, Any] = {}
    local = contest.runs.get("local", [])
    base = medians(local, stage)
    for executor, records in contest.runs.items():
        figures = medians(records, stage)
        if not figures:
            continue
        if base and executor != "local":
            figures["speedup"] = base["wall_seconds"] / figures["wall_seconds"]
            figures["speedup_run_only"] = base["run_seconds"] / figures["run_seconds"]
            pairs = zip(local, records, strict=False)
            figures["paired_speedups"] = [a["wall_seconds"] / b["wall_seconds"] for a, b in pairs]
        summary[executor] = figures
    for executor, record in contest.failed.items():
        summary[executor] = {"error": record["error"]}
    return summary


def part_entities(
    corpus: Path, work: Path, args: argparse.Namespace, ray_errors: list[Any]
) -> dict[str, Any]:
    folder = subset(corpus, work / "entities-corpus", count=args.entities_files)
    stages = [{"use": "entities", "backend": args.backend}]
    config = toml_config(work / "entities.toml", "bench-entities", glob_of(folder), stages)
    facts = corpus_facts(folder)
    print(f"entities: {facts['files']:,} files, backend {args.backend}", flush=True)
    contest = Contest(executors(args, batch_sizes=args.entities_batch_sizes), ray_errors)

    def run(who: Contestant, label: str) -> dict[str, Any]:
        out = work / "runs" / "entities" / label
        sets = [*own_sets(out), *who.sets]
        record = pipeline_run(config, out, executor=who.executor, workers=who.workers, sets=sets)
        record["folder"] = str(out)
        return record

    warm_up(work, args, stages, contest)
    contest.measure(args.repeats, run, "entities")
    identical = compare_contestants(contest, ("out.jsonl",))
    tidy(contest)
    return {
        "corpus": facts,
        "backend": args.backend,
        "summary": speedups(contest, "entities"),
        "identical": identical,
        "runs": contest.runs,
        "_contest": contest,
        "_config": str(config),
    }


def warm_up(
    work: Path, args: argparse.Namespace, stages: Sequence[dict[str, Any]], contest: Contest
) -> None:
    """One untimed run of each contestant on a handful of files: page cache, model files."""
    if args.smoke or args.warmed:
        return
    args.warmed = True
    tiny = work / "warm-corpus"
    if not tiny.is_dir():
        subset(args.corpus_folder, tiny, count=10)
    config = toml_config(work / "warm.toml", "bench-warm", glob_of(tiny), stages)
    for who in contest.contestants:
        out = work / "runs" / "warm" / who.label
        sets = [*own_sets(out), *who.sets]
        record = pipeline_run(config, out, executor=who.executor, workers=who.workers, sets=sets)
        print(f"  warm-up {who.label:13s} {shown(record)}", flush=True)


def compare_contestants(
    contest: Contest, names: Sequence[str], only: str | None = None
) -> dict[str, Any]:
    """Every run's files against the first local run's: per executor (or ``only`` that
    one), per file, identical in every repeat (and the first difference otherwise)."""
    local = contest.runs.get("local") or []
    if not local:
        return {}
    reference = local[0]
    found: dict[str, Any] = {}
    for executor, records in contest.runs.items():
        if only is not None and executor != only:
            continue
        per_file: dict[str, Any] = {}
        for record in records:
            if record is reference:
                continue
            same = compare_outputs(reference, record, names)
            record["identical"] = {name: f["identical"] for name, f in same.items()}
            for name, result in same.items():
                entry = per_file.setdefault(name, {"identical": True})
                if not result["identical"]:
                    entry["identical"] = False
                    entry.setdefault("difference", result.get("difference"))
        found[executor] = per_file
    return found


def tidy(contest: Contest) -> None:
    """Remove the runs' output folders but the reference (first local run)."""
    local = contest.runs.get("local") or []
    keep = local[0]["folder"] if local else None
    for records in contest.runs.values():
        for record in records:
            if record["folder"] != keep:
                shutil.rmtree(record["folder"], ignore_errors=True)


def executors(args: argparse.Namespace, batch_sizes: Sequence[int] = ()) -> list[Contestant]:
    """local, processes and ray (when wanted), each with the default batch size; then
    processes and ray again with each of ``batch_sizes``."""
    kinds = ["processes", "ray"] if args.ray else ["processes"]
    chosen = [Contestant("local", "local")]
    chosen += [Contestant(kind, kind, args.workers) for kind in kinds]
    for size in batch_sizes:
        sets = (f"run.batch_size={size}",)
        chosen += [Contestant(f"{kind}-b{size}", kind, args.workers, sets) for kind in kinds]
    return chosen


def part_news(
    corpus: Path, work: Path, args: argparse.Namespace, ray_errors: list[Any]
) -> dict[str, Any]:
    folder = subset(corpus, work / "news-corpus", every=args.news_every)
    facts = corpus_facts(folder)
    env = {"NEWS_INPUT": glob_of(folder)}
    extra = [f"stages.entities.backend={json.dumps(args.backend)}"]
    print(f"news: {facts['files']:,} files (every {args.news_every})", flush=True)
    contest = Contest(executors(args), ray_errors)

    def run(who: Contestant, label: str) -> dict[str, Any]:
        out = work / "runs" / "news" / label
        sets = [*news_sets(out), *extra, *who.sets]
        record = pipeline_run(
            NEWS_CONFIG, out, executor=who.executor, workers=who.workers, sets=sets, env=env
        )
        record["folder"] = str(out)
        return record

    warm_up(work, args, [{"use": "entities", "backend": args.backend}], contest)
    contest.measure(args.news_repeats, run, "news")
    identical = compare_contestants(contest, NEWS_FILES)
    tidy(contest)
    return {
        "corpus": {**facts, "every": args.news_every},
        "backend": args.backend,
        "summary": speedups(contest, "entities"),
        "stage_seconds": {
            executor: {
                s["name"]: statistics.median(stage_seconds(r, s["name"]) for r in records)
                for s in records[0]["stages"]
            }
            for executor, records in contest.runs.items()
            if records
        },
        "identical": identical,
        "same_counters": same_counters(contest),
        "runs": contest.runs,
        "_contest": contest,
        "_env": env,
        "_extra": extra,
    }


def same_counters(contest: Contest) -> dict[str, bool]:
    """Per executor that ran: every run's stage counters equal the first local run's."""
    local = contest.runs.get("local") or []
    return {
        executor: all(counters(r) == counters(local[0]) for r in records)
        for executor, records in contest.runs.items()
        if local and records
    }


def part_incremental(
    corpus: Path, work: Path, args: argparse.Namespace, news: dict[str, Any] | None
) -> dict[str, Any]:
    folder = work / "news-corpus"
    if not folder.is_dir():
        subset(corpus, folder, every=args.news_every)
    env = {"NEWS_INPUT": glob_of(folder)}
    extra = [f"stages.entities.backend={json.dumps(args.backend)}"]
    out = work / "runs" / "incremental" / "out"  # one output folder, state and cache
    runs: dict[str, dict[str, Any]] = {}
    steps = [
        ("first", []),
        ("second", []),
        ("keep_changed", ['stages.dedup.keep="longest"']),
    ]
    for label, more in steps:
        record = pipeline_run(
            NEWS_CONFIG,
            out,
            incremental=True,
            sets=[*news_sets(out), *extra, *more],
            env=env,
        )
        record["cache_bytes"] = sum(p.stat().st_size for p in (out / "cache").glob("*"))
        if label == "first" and not record["error"]:
            keep = work / "runs" / "incremental" / "first"
            shutil.copytree(out, keep, ignore=shutil.ignore_patterns("cache", "*.log"))
            record["folder"] = str(keep)
        runs[label] = record
        print(f"  incremental {label:12s} {shown(record)}", flush=True)
    result: dict[str, Any] = {"runs": runs, "problems": []}
    first, second, third = runs["first"], runs["second"], runs["keep_changed"]
    if any(r["error"] for r in runs.values()):
        result["problems"].append("an incremental run failed")
        return result
    result["ratio"] = second["wall_seconds"] / first["wall_seconds"]
    result["ratio_run_only"] = second["run_seconds"] / first["run_seconds"]
    # Readers always read (the files must be fingerprinted); every other stage is judged.
    work_stages = [s for s in second["stages"] if s["kind"] != "reader"]
    result["second_all_cached"] = all(s["cached"] == s["in"] for s in work_stages)
    result["second_not_cached"] = [s["name"] for s in work_stages if s["cached"] != s["in"]]
    names = [s["name"] for s in third["stages"]]
    at = names.index("dedup")
    before = third["stages"][1:at]  # after the reader
    after = third["stages"][at:]
    result["third_before_dedup_cached"] = all(s["cached"] == s["in"] for s in before)
    result["third_from_dedup_not_cached"] = all(s["cached"] == 0 for s in after)
    result["third_ratio"] = third["wall_seconds"] / first["wall_seconds"]
    result["second_outputs_untouched"] = second["stages"][-1]["cached"] == second["documents"]
    if news and news["runs"].get("local"):
        reference = news["runs"]["local"][0]
        same = compare_outputs(reference, first, NEWS_FILES)
        result["first_same_as_no_incremental"] = {n: f["identical"] for n, f in same.items()}
        base = statistics.median(r["wall_seconds"] for r in news["runs"]["local"])
        result["first_over_no_incremental"] = first["wall_seconds"] / base
    if not result["second_all_cached"]:
        result["problems"].append(
            f"second run: not every stage cached: {result['second_not_cached']}"
        )
    if not (result["third_before_dedup_cached"] and result["third_from_dedup_not_cached"]):
        result["problems"].append("keep changed: cached stages are not the ones before dedup")
    return result


def part_memory(corpus: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    plain = toml_config(work / "memory-plain.toml", "bench-memory", "${MEMORY_INPUT}", CLEANUP)
    with_dedup = toml_config(
        work / "memory-dedup.toml",
        "bench-memory-dedup",
        "${MEMORY_INPUT}",
        [*CLEANUP, {"use": "dedup"}],
    )
    documents = corpus_facts(corpus)["files"]
    rows: list[dict[str, Any]] = []
    for factor in args.scales:
        folder = scaled(corpus, work / "scaled", factor)
        env = {"MEMORY_INPUT": glob_of(folder)}
        row: dict[str, Any] = {"scale": factor, "files": documents * factor}
        variants = [("plain", plain, False)]
        if factor in args.incremental_scales:
            variants.append(("plain_incremental", plain, True))
        if factor <= args.dedup_max_scale:
            variants.append(("dedup", with_dedup, False))
        for variant, config, incremental in variants:
            out = work / "runs" / "memory" / f"{variant}-{factor}"
            record = pipeline_run(config, out, incremental=incremental, sets=own_sets(out), env=env)
            if variant == "dedup" and not record["error"]:
                state = out / "state.sqlite"
                record["state_bytes"] = state.stat().st_size if state.exists() else None
            row[variant] = record
            print(f"  memory {factor}x {variant:17s} {shown(record)}", flush=True)
            shutil.rmtree(out / "cache", ignore_errors=True)
            (out / "out.jsonl").unlink(missing_ok=True)
        rows.append(row)
    return {"scales": rows, "growth": memory_growth(rows)}


def memory_growth(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Peak RSS growth from the smallest to the largest scale, per variant."""
    growth: dict[str, Any] = {}
    for variant in ("plain", "plain_incremental", "dedup"):
        done = [r for r in rows if variant in r and not r[variant]["error"]]
        if len(done) < 2:
            continue
        low, high = done[0], done[-1]
        mib = high[variant]["peak_rss_mib"] - low[variant]["peak_rss_mib"]
        seen = high["files"] - low["files"]
        growth[variant] = {
            "from_scale": low["scale"],
            "to_scale": high["scale"],
            "mib": mib,
            "bytes_per_document": mib * 2**20 / seen if seen else None,
        }
    return growth


def retry_ray(results: dict[str, Any], args: argparse.Namespace, ray_errors: list[Any]) -> None:
    """Run each ray contestant that failed once more; record what happens."""
    for part in ("entities", "news"):
        found = results.get(part)
        if not found:
            continue
        contest: Contest = found["_contest"]
        for who in contest.contestants:
            if who.executor != "ray" or who.label not in contest.failed:
                continue
            out = Path(results["_work"]) / "runs" / part / f"{who.label}-retry"
            if part == "entities":
                config, env = Path(found["_config"]), None
                sets = [*own_sets(out), *who.sets]
            else:
                config, env = NEWS_CONFIG, found["_env"]
                sets = [*news_sets(out), *found["_extra"], *who.sets]
            record = pipeline_run(
                config, out, executor="ray", workers=who.workers, sets=sets, env=env
            )
            record["folder"], record["label"] = str(out), who.label
            print(f"  {part} {who.label} retry {shown(record)}", flush=True)
            ray_errors.append(
                {"part": part, "label": who.label, "retry": True, "error": record["error"]}
            )
            if record["error"]:
                continue
            del contest.failed[who.label]
            contest.runs[who.label] = [record]
            found["summary"] = speedups(contest, "entities")
            names = ("out.jsonl",) if part == "entities" else NEWS_FILES
            found["identical"].update(compare_contestants(contest, names, only=who.label))
            if part == "news":
                found["same_counters"] = same_counters(contest)


# --- reporting --------------------------------------------------------------------------


def _mib(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} MiB"


#: The head of the executors' figures tables; :func:`executor_rows` gives the rows.
EXECUTOR_TABLE_HEAD = (
    "| executor | wall s | run s | start-up s | entities stage s (summed) "
    "| speed-up vs local | peak RSS (coordinator) | peak RSS (tree) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
)


def _yes(value: Any) -> str:
    return "yes" if value else "**no**"


def report(results: dict[str, Any]) -> str:
    lines: list[str] = []
    entities = results.get("entities")
    if entities:
        summary = entities["summary"]
        lines += [
            f"Entities ({entities['corpus']['files']:,} files, backend "
            f"{entities['backend']}, incremental off), medians of "
            f"{summary.get('local', {}).get('repeats', 0)}:",
            "",
            *EXECUTOR_TABLE_HEAD,
        ]
        lines += executor_rows(summary)
        for label, figures in summary.items():
            if label.startswith("processes") and "speedup" in figures:
                status = "meets" if figures["speedup"] >= TARGET_SPEEDUP else "MISSES"
                lines += [
                    "",
                    f"entities speed-up {label}/local: {figures['speedup']:.2f} "
                    f"(target >= {TARGET_SPEEDUP}: {status} it); paired: "
                    + ", ".join(f"{v:.2f}" for v in figures["paired_speedups"]),
                ]
        lines += ["", identical_line(entities["identical"])]
    news = results.get("news")
    if news:
        summary = news["summary"]
        lines += [
            "",
            f"News pipeline ({news['corpus']['files']:,} files, every "
            f"{news['corpus']['every']}; incremental off), medians of "
            f"{summary.get('local', {}).get('repeats', 0)}:",
            "",
            *EXECUTOR_TABLE_HEAD,
        ]
        lines += executor_rows(summary)
        lines += ["", identical_line(news["identical"])]
        lines += [
            "same counters as local: "
            + ", ".join(f"{e} {_yes(v)}" for e, v in news["same_counters"].items())
        ]
    incremental = results.get("incremental")
    if incremental and "ratio" in incremental:
        runs = incremental["runs"]
        status = "meets" if incremental["ratio"] < TARGET_INCREMENTAL else "MISSES"
        lines += [
            "",
            "| incremental run | wall s | run s | cached stage-documents | peak RSS |",
            "|---|---:|---:|---:|---:|",
        ]
        for label, record in runs.items():
            lines.append(
                f"| {label} | {record['wall_seconds']:.1f} | {record['run_seconds']:.1f} "
                f"| {record['cached']:,} | {_mib(record['peak_rss_mib'])} |"
            )
        lines += [
            "",
            f"incremental second/first: {incremental['ratio']:.3f} (target < "
            f"{TARGET_INCREMENTAL}: {status} it); every stage after the reader cached in the "
            f"second run: {_yes(incremental['second_all_cached'])}; keep changed: stages "
            f"before dedup cached {_yes(incremental['third_before_dedup_cached'])}, dedup and "
            f"renderers recomputed {_yes(incremental['third_from_dedup_not_cached'])}, "
            f"{incremental['third_ratio']:.3f} of the first run",
        ]
        if "first_over_no_incremental" in incremental:
            same = incremental["first_same_as_no_incremental"]
            lines.append(
                f"first incremental run / local run without the cache: "
                f"{incremental['first_over_no_incremental']:.2f}; same outputs: "
                + ", ".join(f"{n} {_yes(v)}" for n, v in same.items())
            )
    memory = results.get("memory")
    if memory:
        lines += [
            "",
            "| corpus | files | cleanup chain: peak RSS, wall s | same, incremental on "
            "| with dedup: peak RSS, wall s, documents out |",
            "|---|---:|---|---|---|",
        ]
        for row in memory["scales"]:
            cells = []
            for variant in ("plain", "plain_incremental", "dedup"):
                record = row.get(variant)
                if record is None:
                    cells.append("–")
                elif record["error"]:
                    cells.append("failed")
                else:
                    cell = f"{_mib(record['peak_rss_mib'])}, {record['wall_seconds']:.1f}"
                    if variant == "dedup":
                        cell += f", {record['documents']:,}"
                    cells.append(cell)
            lines.append(f"| {row['scale']}x | {row['files']:,} | " + " | ".join(cells) + " |")
        for variant, found in memory["growth"].items():
            per = found["bytes_per_document"]
            lines.append(
                f"\nmemory growth {variant} {found['from_scale']}x -> {found['to_scale']}x: "
                f"{found['mib']:+.1f} MiB"
                + (f", {per:,.0f} bytes per extra document" if per is not None else "")
            )
    if results.get("ray_errors"):
        lines += ["", "ray errors: " + json.dumps(results["ray_errors"])]
    return "\n".join(lines)


def executor_rows(summary: dict[str, Any]) -> list[str]:
    rows = []
    for executor, figures in summary.items():
        if "error" in figures:
            rows.append(f"| {executor} | failed: {figures['error'].splitlines()[0][:80]} |")
            continue
        speedup = f"{figures['speedup']:.2f}" if "speedup" in figures else "1.00"
        rows.append(
            f"| {executor} | {figures['wall_seconds']:.1f} | {figures['run_seconds']:.1f} "
            f"| {figures['startup_seconds']:.1f} | {figures['stage_seconds']:.1f} | {speedup} "
            f"| {_mib(figures['peak_rss_mib'])} | {_mib(figures['tree_peak_rss_mib'])} |"
        )
    return rows


def identical_line(identical: dict[str, Any]) -> str:
    parts = []
    for executor, files in identical.items():
        if executor == "local" and not files:
            continue
        shown_files = ", ".join(f"{name} {_yes(f['identical'])}" for name, f in files.items())
        parts.append(f"{executor}: {shown_files}")
    return "identical to the first local run: " + ("; ".join(parts) or "nothing to compare")


# --- main -------------------------------------------------------------------------------


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def machine() -> dict[str, Any]:
    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "commit": commit or None,
        "uncommitted_changes": dirty.splitlines() if dirty else [],
        "spacy": version("spacy"),
        "ray": version("ray"),
        "memory_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Executors (local, processes, ray), incremental runs and peak memory "
        "of `pipeline run`, each run a fresh process."
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--corpus", type=Path, help="A folder of text files instead of 20news.")
    source.add_argument("--tarball", type=Path, help="The 20 Newsgroups archive to unpack.")
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"Parts to run, comma-separated: {PARTS}."
    )
    parser.add_argument("--repeats", type=int, default=3, help="Entities repeats (default 3).")
    parser.add_argument("--news-repeats", type=int, default=3, help="News repeats (default 3).")
    parser.add_argument(
        "--entities-files", type=int, default=1250, help="Files for the entities part."
    )
    parser.add_argument(
        "--news-every", type=int, default=4, help="News part: every Nth file (1: all)."
    )
    parser.add_argument("--workers", type=int, default=2, help="processes/ray workers.")
    parser.add_argument(
        "--entities-batch-sizes",
        type=_ints,
        default=(64,),
        help="Entities part: processes and ray again with these [run] batch_size values "
        "(default 64; the runner's default is 256). Empty: none.",
    )
    parser.add_argument("--backend", default="spacy", help="The entities backend.")
    parser.add_argument("--no-ray", dest="ray", action="store_false", help="Leave ray out.")
    parser.add_argument("--scales", type=_ints, default=(1, 2, 4, 8), help="Memory scales.")
    parser.add_argument("--dedup-max-scale", type=int, default=8, help="Largest dedup scale.")
    parser.add_argument(
        "--incremental-scales", type=_ints, default=(1, 4), help="Memory, incremental on."
    )
    parser.add_argument("--smoke", action="store_true", help="Invented texts, seconds.")
    parser.add_argument("--output", type=Path, help="JSON results file.")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"--only: unknown part(s) {sorted(unknown)}; choose from {PARTS}")
    if args.ray and importlib.util.find_spec("ray") is None:
        print("ray is not installed: left out", flush=True)
        args.ray = False
    if args.smoke:
        # Seconds, not minutes (the test allows 30): the rules backend (no model to load),
        # one repeat, small scales, dedup at 1x only; ray (its start-up alone takes
        # seconds) only in the news part.
        args.repeats = args.news_repeats = 1
        args.entities_batch_sizes = ()
        args.entities_files, args.news_every, args.backend = 40, 2, "rules"
        args.scales, args.incremental_scales, args.dedup_max_scale = (1, 2), (), 1
    output = args.output if args.output or args.smoke else DEFAULT_OUTPUT
    started = dt.datetime.now(dt.timezone.utc)
    ray_errors: list[Any] = []
    results: dict[str, Any] = {"ray_errors": ray_errors}
    problems: list[str] = []

    with tempfile.TemporaryDirectory(prefix="docstage-executors-") as temp:
        work = Path(temp)
        results["_work"] = str(work)
        corpus, label = measured_corpus(args, parser, work, count=120)
        args.corpus_folder, args.warmed = corpus, False
        print(f"corpus: {label}: {count_files(corpus):,} files", flush=True)
        load = [os.getloadavg()]

        if "entities" in parts:
            ray_in_entities = args.ray
            args.ray = args.ray and not args.smoke
            results["entities"] = part_entities(corpus, work, args, ray_errors)
            args.ray = ray_in_entities
        if "news" in parts:
            results["news"] = part_news(corpus, work, args, ray_errors)
        if "incremental" in parts:
            results["incremental"] = part_incremental(corpus, work, args, results.get("news"))
            problems += results["incremental"]["problems"]
        if "memory" in parts:
            results["memory"] = part_memory(corpus, work, args)
        retry_ray(results, args, ray_errors)
        load.append(os.getloadavg())
        problems += check(results)

        table = report(results)
        print()
        print(table)
        if problems:
            print("\nPROBLEMS:\n" + "\n".join(problems))
        for part in ("entities", "news"):
            if part in results:
                results[part] = {k: v for k, v in results[part].items() if not k.startswith("_")}
        del results["_work"]
        if output is not None:
            record = {
                "date": started.isoformat(timespec="seconds"),
                "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "command": " ".join(["python", "benchmarks/executors.py", *sys.argv[1:]]),
                "machine": {**machine(), "load_average_start_end": load},
                "corpus": label,
                "options": {
                    "parts": parts,
                    "repeats": args.repeats,
                    "news_repeats": args.news_repeats,
                    "entities_files": args.entities_files,
                    "news_every": args.news_every,
                    "workers": args.workers,
                    "backend": args.backend,
                    "scales": list(args.scales),
                    "dedup_max_scale": args.dedup_max_scale,
                    "incremental_scales": list(args.incremental_scales),
                },
                "targets": {
                    "processes_speedup_at_least": TARGET_SPEEDUP,
                    "incremental_ratio_below": TARGET_INCREMENTAL,
                },
                **results,
                "problems": problems,
            }
            output.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(record, indent=1, default=str).replace(str(work), "<tmp>")
            output.write_text(text + "\n", encoding="utf-8")
            print(f"\nresults written to {output}")
    return 1 if problems else 0


def check(results: dict[str, Any]) -> list[str]:
    """Failed runs (but ray's, which are recorded), outputs or counters that differ."""
    problems = []
    for part in ("entities", "news"):
        found = results.get(part)
        if not found:
            continue
        for executor, record in found["_contest"].failed.items():
            if not executor.startswith("ray"):
                problems.append(f"{part}: {executor} failed: {record['error']}")
        for executor, files in found["identical"].items():
            for name, result in files.items():
                if not result["identical"]:
                    problems.append(
                        f"{part}: {executor}: {name} differs from local's: "
                        f"{result.get('difference')}"
                    )
        for executor, same in found.get("same_counters", {}).items():
            if not same:
                problems.append(f"{part}: {executor}: stage counters differ from local's")
    memory = results.get("memory")
    if memory:
        for row in memory["scales"]:
            for variant, record in row.items():
                if isinstance(record, dict) and record.get("error"):
                    problems.append(f"memory {row['scale']}x {variant}: {record['error']}")
    return problems


if __name__ == "__main__":
    sys.exit(main())
