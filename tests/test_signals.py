"""A run stopped from outside: SIGTERM (systemd, Kubernetes, ``timeout``) is handled like
Ctrl-C, a ``kill -9`` of the run takes its worker processes with it, and the temporary
files a killed run left are swept by the next one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from docstage.io import AtomicFile
from tests.conftest import pipeline_command

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

SLOW = Path(__file__).parent / "plugins" / "slow.py"
PREVIOUS = b'{"id": "yesterday"}\n'


def write_config(folder: Path, *, seconds: float, executor: str = "local") -> None:
    (folder / "in").mkdir()
    for number in range(4):
        (folder / "in" / f"{number}.txt").write_text(f"Harbour news {number}.", encoding="utf-8")
    (folder / "out").mkdir()
    (folder / "out" / "docs.jsonl").write_bytes(PREVIOUS)
    (folder / "p.toml").write_text(
        f'[pipeline]\nplugins = ["{SLOW.as_posix()}"]\n\n'
        f'[run]\nstate = "state.sqlite"\nexecutor = "{executor}"\nworkers = 2\nbatch_size = 1\n\n'
        '[[stages]]\nuse = "read.files"\npath = "in/*.txt"\n\n'
        f'[[stages]]\nuse = "test.slow"\nseconds = {seconds}\n\n'
        '[[stages]]\nuse = "render.jsonl"\npath = "out/docs.jsonl"\n',
        encoding="utf-8",
    )


def start(folder: Path, *, output: bool = True) -> subprocess.Popen[str]:
    pipe = subprocess.PIPE if output else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "docstage", "run", "p.toml", "--no-progress"],
        cwd=folder,
        stdout=pipe,
        stderr=pipe,
        text=True,
    )


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def test_sigterm_discards_the_partial_output_and_says_so(tmp_path: Path) -> None:
    write_config(tmp_path, seconds=1.0)
    run = start(tmp_path)
    time.sleep(2.5)  # set up and into the slow stage
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)

    assert run.returncode == 3, err
    assert "terminated (SIGTERM); partial output was discarded" in err
    assert "Traceback" not in err
    assert (tmp_path / "out" / "docs.jsonl").read_bytes() == PREVIOUS
    assert os.listdir(tmp_path / "out") == ["docs.jsonl"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_end_when_the_run_is_killed(tmp_path: Path) -> None:
    write_config(tmp_path, seconds=30.0, executor="processes")
    run = start(tmp_path, output=False)  # workers would hold the pipes open
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.5)
        workers = [pid for pid in children(run.pid) if not gone(pid)]
    assert workers, "the run started no worker process"
    run.kill()
    run.wait(timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(gone(pid) for pid in workers):
        time.sleep(0.2)
    assert all(gone(pid) for pid in workers)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_killed_runs_temporary_files_are_swept(tmp_path: Path) -> None:
    target = tmp_path / "docs.jsonl"
    stale = tmp_path / f".docs.jsonl.{dead_pid()}.k2j3h4.tmp"
    stale_backup = tmp_path / f".docs.jsonl.{dead_pid()}.previous"
    live = tmp_path / f".docs.jsonl.{os.getppid()}.a1b2c3.tmp"  # a process that is alive
    other = tmp_path / f".other.jsonl.{dead_pid()}.x.tmp"  # another output's
    for path in (stale, stale_backup, live, other):
        path.write_text("partial")

    with AtomicFile.open(target) as file:
        file.write("today\n")

    assert sorted(os.listdir(tmp_path)) == sorted(["docs.jsonl", live.name, other.name])


# --- [run] document_timeout ------------------------------------------------------------------


@pytest.mark.parametrize("executor", ["local", "processes"])
def test_a_document_a_stage_is_stuck_on_is_quarantined_and_the_run_goes_on(
    tmp_path: Path, executor: str
) -> None:
    write_config(tmp_path, seconds=60.0, executor=executor)
    config = tmp_path / "p.toml"
    config.write_text(
        config.read_text().replace("[run]\n", "[run]\ndocument_timeout = 0.5\n"), encoding="utf-8"
    )
    started = time.monotonic()
    done = pipeline_command(tmp_path, "run", "p.toml", "--no-progress", timeout=120)
    assert done.returncode == 1, done.stderr  # finished, with quarantined documents
    assert time.monotonic() - started < 60  # not 4 x 60 s
    quarantine = tmp_path / ".docstage" / "quarantine.jsonl"
    records = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert len(records) == 4
    assert {r["error"] for r in records} == {
        "DocumentTimeout: took longer than 0.5 s ([run] document_timeout)"
    }


def test_a_timeout_must_be_positive(tmp_path: Path) -> None:
    write_config(tmp_path, seconds=0.0)
    config = tmp_path / "p.toml"
    config.write_text(
        config.read_text().replace("[run]\n", "[run]\ndocument_timeout = 0\n"), encoding="utf-8"
    )
    done = pipeline_command(tmp_path, "check", "p.toml")
    assert done.returncode == 2
    assert "'document_timeout' must be above 0" in done.stderr


@pytest.mark.slow
def test_a_worker_stuck_in_c_is_replaced_and_its_document_quarantined(tmp_path: Path) -> None:
    write_config(tmp_path, seconds=0.0, executor="processes")
    config = tmp_path / "p.toml"
    text = config.read_text().replace("[run]\n", "[run]\ndocument_timeout = 0.5\n")
    config.write_text(text.replace("seconds = 0.0\n", 'seconds = 0.0\nstuck_on = "news 2"\n'))
    started = time.monotonic()
    done = pipeline_command(tmp_path, "run", "p.toml", "--no-progress", timeout=150)
    assert done.returncode == 1, done.stderr  # finished, with a quarantined document
    assert time.monotonic() - started < 120  # not the half hour the C loop takes
    output = (tmp_path / "out" / "docs.jsonl").read_text()
    written = [json.loads(line) for line in output.splitlines()]
    assert sorted(record["text"] for record in written) == [
        "Harbour news 0.",
        "Harbour news 1.",
        "Harbour news 3.",
    ]
    quarantine = tmp_path / ".docstage" / "quarantine.jsonl"
    (record,) = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert record["stage"] == "test.slow"
    assert record["error"].startswith("DocumentTimeout: stuck for over 6 s in a call")
    assert "its worker was replaced" in record["error"]
    assert "was stuck past [run] document_timeout and was replaced" in done.stderr
