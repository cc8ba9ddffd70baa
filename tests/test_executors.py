"""Executors, incremental runs, --resume and --retry-quarantined.

The ``processes`` executor must give byte-for-byte the output of ``local``; a second run
over unchanged input must do no stage work; a run killed with SIGKILL must resume without
losing or repeating a document; ``--retry-quarantined`` must reprocess the quarantined
documents only.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path
from typing import ClassVar

import attrs
from click.testing import CliRunner

from docstage.cli import cli
from docstage.document import Document
from docstage.stages import Transform
from docstage.state import read_manifest
from tests.conftest import CONFIGS, EXAMPLES, news_outputs

SLOW_PLUGIN = '''
"""A test plugin: a slow transform, and one that fails while a flag file exists."""
import time
from pathlib import Path
from typing import ClassVar

import attrs

from docstage import hookimpl
from docstage.stages import Transform


@attrs.define(kw_only=True)
class Slow(Transform):
    """Sleeps per document, so that a test can kill the run midway."""

    name: ClassVar[str] = "test.slow"
    seconds: float = 0.0

    def process(self, doc):
        time.sleep(self.seconds)
        return doc.evolve(text=doc.text.upper())


@attrs.define(kw_only=True)
class Flaky(Transform):
    """Fails on documents containing 'boom' while the file ``flag`` exists."""

    name: ClassVar[str] = "test.flaky"
    flag: str = "flag"

    def process(self, doc):
        if "boom" in doc.text.lower() and Path(self.flag).exists():
            raise ValueError("boom while the flag is up")
        return doc


@hookimpl
def docstage_register_stages(registry):
    registry.add(Slow)
    registry.add(Flaky)
'''


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def write_corpus(folder: Path, count: int, *, boom: tuple[int, ...] = ()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        extra = " boom" if number in boom else ""
        (folder / f"a{number:04d}.txt").write_text(
            f"Harbor report {number}: cranes idle at berth {number % 17}.{extra}\n",
            encoding="utf-8",
        )


def write_config(folder: Path, *, seconds: float = 0.0, batch_size: int = 20) -> Path:
    (folder / "slow.py").write_text(SLOW_PLUGIN, encoding="utf-8")
    config = folder / "pipeline.toml"
    config.write_text(
        textwrap.dedent(
            f"""\
            [pipeline]
            name = "slowpoke"
            plugins = ["slow.py"]

            [run]
            batch_size = {batch_size}
            quarantine = "out/quarantine.jsonl"
            state = "state/state.sqlite"
            cache = "state/cache"

            [[stages]]
            use = "read.files"
            path = "corpus/*.txt"

            [[stages]]
            use = "test.flaky"
            flag = "flag"

            [[stages]]
            use = "test.slow"
            seconds = {seconds}

            [[stages]]
            use = "dedup"
            stories = false
            passages = false

            [[stages]]
            use = "render.jsonl"
            path = "out/docs.jsonl"
            """
        ),
        encoding="utf-8",
    )
    return config


def output_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def summary_of(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def by_stage(summary: dict) -> dict[str, dict]:
    return {stage["name"]: stage for stage in summary["stages"]}


# --- incremental runs -------------------------------------------------------------------


def test_a_second_identical_run_does_no_stage_work(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "corpus", 60)
    config = write_config(tmp_path)
    code, first = invoke("run", str(config), "--log-format", "json")
    assert code == 0, first
    written = (tmp_path / "out" / "docs.jsonl").read_bytes()
    mtime = (tmp_path / "out" / "docs.jsonl").stat().st_mtime_ns
    code, second = invoke("run", str(config), "--log-format", "json")
    assert code == 0, second
    stages = by_stage(summary_of(second))
    for name in ("test.flaky", "test.slow", "dedup", "render.jsonl"):
        assert stages[name]["cached"] == stages[name]["in"] > 0, name
    assert summary_of(first)["cached"] == 0
    # The renderer's file is left as it was, not rewritten.
    assert (tmp_path / "out" / "docs.jsonl").read_bytes() == written
    assert (tmp_path / "out" / "docs.jsonl").stat().st_mtime_ns == mtime


def test_changing_a_dedup_option_reruns_dedup_and_what_follows_only(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "corpus", 40)
    config = write_config(tmp_path)
    assert invoke("run", str(config))[0] == 0
    code, output = invoke(
        "run", str(config), "--log-format", "json", "--set", 'stages.dedup.keep="longest"'
    )
    assert code == 0, output
    stages = by_stage(summary_of(output))
    assert stages["test.flaky"]["cached"] == stages["test.slow"]["cached"] == 40
    assert stages["dedup"]["cached"] == 0
    assert stages["render.jsonl"]["cached"] == 0
    # And a run without the cache gives the same output.
    incremental = (tmp_path / "out" / "docs.jsonl").read_bytes()
    code, _ = invoke("run", str(config), "--no-incremental", "--set", 'stages.dedup.keep="longest"')
    assert code == 0
    assert (tmp_path / "out" / "docs.jsonl").read_bytes() == incremental


def test_a_changed_document_is_processed_again(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "corpus", 30)
    config = write_config(tmp_path)
    assert invoke("run", str(config))[0] == 0
    (tmp_path / "corpus" / "a0003.txt").write_text("A new story about the ferry.\n")
    code, output = invoke("run", str(config), "--log-format", "json")
    assert code == 0
    stages = by_stage(summary_of(output))
    assert stages["test.slow"]["cached"] == 29
    lines = (tmp_path / "out" / "docs.jsonl").read_text().splitlines()
    assert any("A NEW STORY ABOUT THE FERRY." in line for line in lines)


# --- resume after a kill ----------------------------------------------------------------


def cached_outcomes(cache: Path) -> int:
    try:
        with closing(sqlite3.connect(cache, timeout=5)) as db:
            return int(db.execute("SELECT count(*) FROM segment_results").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_resume_after_sigkill_loses_and_repeats_nothing(tmp_path: Path) -> None:
    write_corpus(tmp_path / "corpus", 300)
    config = write_config(tmp_path, seconds=0.01, batch_size=10)
    command = [sys.executable, "-m", "docstage", "run", str(config), "--no-progress"]
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    cache = tmp_path / "state" / "cache" / "slowpoke.sqlite"
    deadline = time.monotonic() + 60
    try:
        while cached_outcomes(cache) < 60:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (tmp_path / "out" / "docs.jsonl").exists()
    done_before = cached_outcomes(cache)
    assert 60 <= done_before < 300

    result = subprocess.run(
        [*command, "--resume", "--log-format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = summary_of(result.stdout)
    assert summary["resumed_from"]
    # The work the killed run committed was reused, not redone.
    assert by_stage(summary)["test.slow"]["cached"] >= done_before
    ids = output_ids(tmp_path / "out" / "docs.jsonl")
    expected = sorted(f"a{n:04d}.txt" for n in range(300))
    assert sorted(ids) == expected  # every document exactly once
    manifest = read_manifest(tmp_path / "state" / "state.sqlite", "slowpoke")
    assert sorted(row["id"] for row in manifest) == expected
    assert {row["status"] for row in manifest} == {"done"}
    assert all(row["run_id"] == summary["run_id"] for row in manifest)


def test_resume_needs_an_interrupted_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "corpus", 5)
    config = write_config(tmp_path)
    code, output = invoke("run", str(config), "--resume")
    assert code == 2
    assert "--resume: no earlier run of pipeline 'slowpoke'" in output
    assert invoke("run", str(config))[0] == 0
    code, output = invoke("run", str(config), "--resume")
    assert code == 2
    assert "finished; there is nothing to resume" in output
    code, output = invoke("run", str(config), "--resume", "--retry-quarantined")
    assert code == 2
    assert "--resume and --retry-quarantined cannot be combined" in output
    code, output = invoke("run", str(config), "--resume", "--dry-run")
    assert code == 2
    assert "--resume cannot be combined with a dry run" in output
    code, output = invoke("run", str(config), "--resume", "--no-incremental")
    assert code == 2
    assert "--resume needs [run] incremental = true" in output


# --- retry the quarantine -----------------------------------------------------------------


def test_retry_quarantined_needs_a_finished_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "corpus", 3)
    config = write_config(tmp_path)
    code, output = invoke("run", str(config), "--retry-quarantined")
    assert code == 2
    assert "--retry-quarantined: no finished run of pipeline 'slowpoke'" in output


def test_retry_quarantined_reprocesses_only_the_quarantined(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "corpus", 30, boom=(4, 17))
    config = write_config(tmp_path)
    (tmp_path / "flag").touch()
    code, output = invoke("run", str(config), "--log-format", "json")
    assert code == 1, output
    assert summary_of(output)["quarantined"] == 2
    manifest = {
        row["id"]: row for row in read_manifest(tmp_path / "state/state.sqlite", "slowpoke")
    }
    assert manifest["a0004.txt"]["status"] == "quarantined"
    assert manifest["a0004.txt"]["stage"] == "test.flaky"
    assert "boom while the flag is up" in str(manifest["a0004.txt"]["detail"])

    # The stage is fixed; meanwhile a new file arrived, which the retry leaves out.
    (tmp_path / "flag").unlink()
    (tmp_path / "corpus" / "new.txt").write_text("A late arrival.\n")
    code, output = invoke("run", str(config), "--retry-quarantined", "--log-format", "json")
    assert code == 0, output
    summary = summary_of(output)
    stages = by_stage(summary)
    assert stages["test.flaky"]["in"] - stages["test.flaky"]["cached"] == 2
    assert stages["read.files"]["dropped"] == {"new since the run being retried": 1}
    ids = output_ids(tmp_path / "out" / "docs.jsonl")
    assert sorted(ids) == sorted(f"a{n:04d}.txt" for n in range(30))
    assert not (tmp_path / "out" / "quarantine.jsonl").exists()

    code, output = invoke("run", str(config), "--retry-quarantined")
    assert code == 2
    assert "quarantined no documents; there is nothing to retry" in output


# --- the processes executor ---------------------------------------------------------------


def run_news(folder: Path, corpus: str, executor: str, *extra: str) -> dict:
    overrides = [*news_outputs(folder), "run.incremental=false", f"run.cache={folder}/cache"]
    args = ["run", str(CONFIGS / "news.toml"), "--executor", executor, "--log-format", "json"]
    for override in overrides:
        args += ["--set", override]
    env = {**os.environ, "NEWS_INPUT": corpus}
    result = CliRunner(env=env).invoke(cli, [*args, *extra])
    assert result.exit_code in (0, 1), result.output
    return summary_of(result.output)


NEWS_FILES = ("news.jsonl", "digest.md", "entities.csv", "dedup.jsonl", "boilerplate.json")


def assert_same_outputs(left: Path, right: Path, left_run: str, right_run: str) -> None:
    """Every file byte for byte, but for the run id the digest names."""
    for name in NEWS_FILES:
        mine = (left / name).read_bytes().replace(left_run.encode(), b"RUN")
        theirs = (right / name).read_bytes().replace(right_run.encode(), b"RUN")
        assert mine == theirs, name


def test_processes_gives_the_output_of_local_on_the_examples(tmp_path: Path) -> None:
    corpus = f"{EXAMPLES}/news/**/*.txt"
    local = run_news(tmp_path / "local", corpus, "local")
    summary = run_news(tmp_path / "processes", corpus, "processes", "--workers", "2")
    assert summary["executor"] == "processes"
    assert_same_outputs(
        tmp_path / "local", tmp_path / "processes", local["run_id"], summary["run_id"]
    )


def test_every_executor_gives_the_output_of_local_on_20_newsgroups(
    tmp_path: Path, twenty_news: Path
) -> None:
    corpus = tmp_path / "corpus"
    files = sorted(p for p in twenty_news.rglob("*") if p.is_file())
    for path in files[::60]:  # ~330 messages from every group
        target = corpus / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    glob = f"{corpus}/**/*"
    local = run_news(tmp_path / "local", glob, "local")
    assert local["documents"] > 250
    executors = ["processes"]
    if importlib.util.find_spec("ray") is not None:
        executors.append("ray")
    for executor in executors:
        other = run_news(tmp_path / executor, glob, executor, "--workers", "2")
        assert other["executor"] == executor
        assert other["documents"] == local["documents"], executor
        assert_same_outputs(
            tmp_path / "local", tmp_path / executor, local["run_id"], other["run_id"]
        )
        counts = [(s["in"], s["out"], s["dropped"], s["errors"]) for s in other["stages"]]
        assert counts == [(s["in"], s["out"], s["dropped"], s["errors"]) for s in local["stages"]]


def test_a_stage_that_cannot_go_to_workers_is_named(tmp_path: Path, run_pipeline) -> None:
    @attrs.define(kw_only=True)
    class Local(Transform):  # defined in a function: no worker can import it
        name: ClassVar[str] = "test.local_only"

        def process(self, doc: Document) -> Document:
            return doc

    class Provides:
        def docstage_register_stages(self, registry: object) -> None:
            registry.add(Local)  # type: ignore[attr-defined]

    result = run_pipeline(
        {"run": {"executor": "processes", "workers": 1}, "stages": [{"use": "test.local_only"}]},
        documents=[Document(id="a", text="x")],
        plugins=[("provides", Provides())],
        folder=tmp_path,
    )
    assert result.exit_code == 3
    assert result.summary.failed is not None
    assert result.summary.failed.startswith(
        "[[stages]] #1 (test.local_only): cannot send the stage to worker processes"
    )
    assert "module top level" in result.summary.failed


def test_processes_quarantines_like_local(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "corpus", 40, boom=(3, 30))
    config = write_config(tmp_path)
    (tmp_path / "flag").touch()
    records = {}
    for executor in ("local", "processes"):
        code, output = invoke(
            "run", str(config), "--executor", executor, "--workers", "2", "--no-incremental"
        )
        assert code == 1, output
        lines = (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()
        records[executor] = [
            {k: v for k, v in json.loads(line).items() if k not in ("run_id", "traceback")}
            for line in lines
        ]
        tracebacks = [json.loads(line)["traceback"] for line in lines]
        assert all("boom while the flag is up" in t for t in tracebacks), executor
    assert records["local"] == records["processes"]
    assert [r["document"]["id"] for r in records["local"]] == ["a0003.txt", "a0030.txt"]


def test_an_option_error_in_a_worker_s_setup_is_a_config_error_as_under_local(
    tmp_path: Path,
) -> None:
    """Transforms are set up only in the workers under `processes`; a stage that rejects
    its options there still stops the run before any reading, with local's one line and
    exit code 2."""
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("Ferry strike in Eastmere.\n")
    config = tmp_path / "pipeline.toml"
    config.write_text(
        textwrap.dedent(
            """\
            [[stages]]
            use = "read.files"
            path = "corpus/*.txt"

            [[stages]]
            use = "entities"
            backend = "spacy"
            model = "no_such_model_here"

            [[stages]]
            use = "render.jsonl"
            path = "out/docs.jsonl"
            """
        ),
        encoding="utf-8",
    )
    errors = {}
    for executor in ("local", "processes"):
        result = CliRunner().invoke(cli, ["run", str(config), "--executor", executor])
        assert result.exit_code == 2, result.output
        errors[executor] = result.output.strip()
    assert errors["processes"] == errors["local"]
    assert errors["local"].startswith(
        f"error: {config}:8: [[stages]] #2 (entities): option 'model'"
    )
    assert "\n" not in errors["local"]
    # No output, and no temporary file left by the renderer (set up before the workers).
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_worker_process_that_dies_stops_the_run_in_one_line(tmp_path: Path) -> None:
    write_corpus(tmp_path / "corpus", 12, boom=(7,))
    die_on = Path(__file__).resolve().parent / "plugins" / "die_on.py"
    config = tmp_path / "pipeline.toml"
    config.write_text(
        textwrap.dedent(
            f"""\
            [pipeline]
            plugins = ["{die_on.as_posix()}"]

            [run]
            executor = "processes"
            workers = 2

            [[stages]]
            use = "read.files"
            path = "corpus/*.txt"

            [[stages]]
            use = "test.die_on"
            word = "boom"

            [[stages]]
            use = "render.jsonl"
            path = "out/docs.jsonl"
            """
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["run", str(config), "--log-format", "json"])
    assert result.exit_code == 3, result.output
    failed = json.loads(result.output.splitlines()[-1])["failed"]
    assert failed.startswith("a worker process died while running test.die_on (")
    assert failed.endswith("the run is stopped and its outputs are left as they were")
    assert "\n" not in failed
    assert not (tmp_path / "out" / "docs.jsonl").exists()
