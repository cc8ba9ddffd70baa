"""One run at a time per state store and run cache: a second run stops at once with one
line naming the run that holds them (exit 2), and a killed run's lock is gone with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from docstage.runlock import RunLock, RunLocked, lock_path
from tests.conftest import pipeline_command

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="runs are locked with flock")

CONFIG = """
[pipeline]
name = "harbour"

[run]
state = "state/state.sqlite"
cache = "state/cache"

[[stages]]
use = "read.files"
path = "in/*.txt"

[[stages]]
use = "render.jsonl"
path = "out/docs.jsonl"
"""

HOLD = """
import sys, time
from pathlib import Path
from docstage.runlock import RunLock
lock = RunLock([Path(sys.argv[1])], "harbour", "run-that-holds")
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("The harbour board met again.", encoding="utf-8")
    (tmp_path / "p.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def pipeline_run(folder: Path) -> subprocess.CompletedProcess[str]:
    return pipeline_command(folder, "run", "p.toml", "--no-progress")


def hold(folder: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder / "state" / "state.sqlite")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_stops_at_once_naming_the_first(folder: Path) -> None:
    holder = hold(folder)
    try:
        done = pipeline_run(folder)
    finally:
        holder.kill()
        holder.communicate()
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert f"another run of pipeline harbour (pid {holder.pid}, started " in message
    assert "is using 'state/state.sqlite'" in message
    assert "Traceback" not in done.stderr
    assert not (folder / "out").exists() or os.listdir(folder / "out") == []


def test_a_killed_run_leaves_no_lock_behind(folder: Path) -> None:
    holder = hold(folder)
    os.kill(holder.pid, signal.SIGKILL)
    holder.communicate()
    assert lock_path(folder / "state" / "state.sqlite").exists()

    done = pipeline_run(folder)

    assert done.returncode == 0, done.stderr
    assert (folder / "out" / "docs.jsonl").exists()


def test_the_run_cache_is_locked_too(folder: Path) -> None:
    cache = folder / "state" / "cache" / "harbour.sqlite"
    lock = RunLock([cache], "harbour", "another")
    lock.acquire()
    try:
        done = pipeline_run(folder)
    finally:
        lock.release()
    assert done.returncode == 2
    assert "harbour.sqlite" in done.stderr


def test_one_process_cannot_take_a_lock_twice(tmp_path: Path) -> None:
    first = RunLock([tmp_path / "state.sqlite"], "harbour", "first")
    first.acquire()
    second = RunLock([tmp_path / "state.sqlite"], "harbour", "second")
    try:
        with pytest.raises(RunLocked, match=r"another run of pipeline harbour \(pid"):
            second.acquire()
    finally:
        first.release()
    started = time.monotonic()
    second.acquire()  # free again
    second.release()
    assert time.monotonic() - started < 5
