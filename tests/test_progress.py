"""Progress for the whole run: a lane per kind of work, each corpus stage with its own
count of the documents it processed, the steps it names, and the bars on a terminal with
log lines printed above them."""

from __future__ import annotations

import os
import re
import select
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from docstage.config import config_from_dict
from docstage.document import Document
from docstage.plugins import hookimpl
from docstage.resolve import make_plan
from docstage.runner import Runner
from docstage.runner.progress import CorpusProgress, LaneView
from docstage.stages import CorpusStage, StageContext, StageProgress
from docstage.testing import run_stage
from tests.screen import Screen

#: The lanes the stage below saw, by the moment it looked.
SEEN: list[tuple[str, list[LaneView]]] = []
RUNNER: list[Runner] = []


@attrs.define(kw_only=True)
class Phased(CorpusStage):
    """Holds its input back, names a step and counts it, then puts everything out."""

    name: ClassVar[str] = "test.phased"
    _progress: StageProgress = attrs.field(factory=StageProgress, init=False)

    def setup(self, context: StageContext) -> None:
        self._progress = context.progress

    def process_stream(self, docs: Iterator[Document]) -> Iterator[Document]:
        held = []
        for doc in docs:
            held.append(doc)
            _look("input")
        self._progress.phase("learning", total=len(held))
        _look("learning")
        self._progress.advance(len(held))
        _look("learned")
        for doc in held:
            yield doc
            _look("output")


def _look(moment: str) -> None:
    SEEN.append((moment, RUNNER[0].progress.views()))


class _Stages:
    @hookimpl
    def docstage_register_stages(self, registry: Any) -> None:
        registry.add(Phased)


def test_each_kind_of_work_has_a_lane_and_a_corpus_stage_counts_its_own(tmp_path: Path) -> None:
    for number in range(6):
        (tmp_path / f"{number}.txt").write_text(f"article number {number}\n", encoding="utf-8")
    data = {
        "run": {"batch_size": 2, "state": str(tmp_path / "state.sqlite")},
        "stages": [
            {"use": "read.files", "path": str(tmp_path / "*.txt")},
            {"use": "cleanup.normalize"},
            {"use": "test.phased"},
            {"use": "render.jsonl", "path": str(tmp_path / "out.jsonl")},
        ],
    }
    plan = make_plan(config_from_dict(data, tmp_path), extra_plugins=[("phased", _Stages())])
    SEEN.clear()
    RUNNER[:] = [Runner(plan)]
    runner = RUNNER[0]
    runner.progress.shown = True  # as under the bars: the readers are asked for an estimate
    assert runner.progress.labels() == ["read", "transforms", "test.phased", "render"]
    runner.execute()

    def lane(views: list[LaneView]) -> LaneView:
        return next(v for v in views if v.label == "test.phased")

    inputs = [lane(views) for moment, views in SEEN if moment == "input"]
    assert [(v.phase, v.completed, v.total) for v in inputs] == [
        ("input", 2, 6),
        ("input", 2, 6),
        ("input", 4, 6),
        ("input", 4, 6),
        ("input", 6, 6),
        ("input", 6, 6),
    ]
    steps = {moment: lane(views) for moment, views in SEEN if moment != "output"}
    assert steps["learning"] == LaneView("test.phased", "learning", 0, 6)
    assert steps["learned"] == LaneView("test.phased", "learning", 6, 6)
    outputs = [lane(views) for moment, views in SEEN if moment == "output"]
    assert [(v.phase, v.completed, v.total) for v in outputs] == [
        ("output", n, 6) for n in range(1, 7)
    ]
    # While the stage learned, the lanes upstream had finished and the renderers waited.
    during = dict(SEEN)["learning"]
    assert during[0] == LaneView("read", "done", 6, 6)
    assert during[1] == LaneView("transforms", "done", 6, 6)
    assert during[3] == LaneView("render", "waiting", 0, 6)
    final = runner.progress.views()
    assert [(v.label, v.phase, v.completed, v.total) for v in final] == [
        ("read", "done", 6, 6),
        ("transforms", "done", 6, 6),
        ("test.phased", "done", 6, 6),
        ("render", "done", 6, 6),
    ]


def test_a_stage_between_its_input_and_its_first_step_is_working() -> None:
    lane = CorpusProgress(stats=_stats(docs_in=3))
    lane.received = True
    assert lane.view("s", 3, finished=False) == LaneView("s", "working", 0, None)
    lane.phase("stories")
    assert lane.view("s", 3, finished=False) == LaneView("s", "stories", 0, None)
    lane.stats.docs_out = 1
    assert lane.view("s", 3, finished=False) == LaneView("s", "output", 1, 3)
    lane.phase("index")  # after its last document: the step shows again
    assert lane.view("s", 3, finished=False) == LaneView("s", "index", 0, None)
    assert lane.view("s", 3, finished=True) == LaneView("s", "done", 1, 1)


def _stats(**counts: int) -> Any:
    from docstage.summary import StageStats

    return StageStats(name="s", use="s", kind="corpus", **counts)


@pytest.fixture
def phases(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int | None]]:
    """The steps corpus stages name, in order."""
    named: list[tuple[str, int | None]] = []
    original = CorpusProgress.phase

    def phase(self: CorpusProgress, name: str, total: int | None = None) -> None:
        named.append((name, total))
        original(self, name, total)

    monkeypatch.setattr(CorpusProgress, "phase", phase)
    return named


ARTICLES = [
    "Leaders met in Geneva on Wednesday to talk about trade and the climate summit.",
    "Leaders met in Geneva on Wednesday to talk about trade and the climate summit!",
    "Heavy rain is expected over the weekend across the northern valleys and hills.",
]


def _docs() -> list[Document]:
    return [Document(id=f"d{i}", text=t, source=f"s{i}") for i, t in enumerate(ARTICLES)]


def test_dedup_names_its_steps(phases: list[tuple[str, int | None]]) -> None:
    run_stage("dedup", _docs(), index=False)
    assert [name for name, _ in phases] == ["copies", "stories", "passages", "matching"]
    assert dict(phases)["passages"] == 2  # the originals: one near copy left the stream


def test_boilerplate_and_linking_name_their_steps(phases: list[tuple[str, int | None]]) -> None:
    run_stage("cleanup.boilerplate", _docs())
    run_stage("entities.link", _docs())
    assert phases == [("learning", None), ("names", None)]


# --- the bars on a terminal -------------------------------------------------------------

SLOW_CORPUS = '''
import time
from typing import ClassVar

import attrs

from docstage import hookimpl
from docstage.stages import CorpusStage


@attrs.define(kw_only=True)
class SlowCorpus(CorpusStage):
    """Takes its time over each document: reading, learning (with a warning half way)
    and putting it out."""

    name: ClassVar[str] = "test.slow_corpus"
    seconds: float = 0.05

    def setup(self, context):
        self.context = context

    def process_stream(self, docs):
        held = []
        for doc in docs:
            held.append(doc)
            time.sleep(self.seconds / 2)
        progress = self.context.progress
        progress.phase("learning", total=len(held))
        for number, doc in enumerate(held):
            if number == len(held) // 2:
                self.context.log.warning("half way through learning", documents=number)
            time.sleep(self.seconds)
            progress.advance()
        for doc in held:
            time.sleep(self.seconds)
            yield doc


@hookimpl
def docstage_register_stages(registry):
    registry.add(SlowCorpus)
'''

PIPELINE = """\
[pipeline]
name = "slow"
plugins = ["slow_corpus.py"]

[run]
state = "state.sqlite"

[[stages]]
use = "read.files"
path = "in/*.txt"

[[stages]]
use = "test.slow_corpus"

[[stages]]
use = "render.jsonl"
path = "out.jsonl"
"""

#: A lane's line: its label, phase, then ``done/total`` (or ``done/?``).
LANE = re.compile(r"^\S\s+test\.slow_corpus\s+(\w+)\s.*?\s(\d+)/(\d+|\?)")


def _run_on_a_terminal(folder: Path, *args: str) -> tuple[int, list[str], str]:
    """``pipeline ARGS`` on a pseudo-terminal of 120 columns: its exit code, the slow
    corpus stage's lane each time the screen changed, and the screen at the end."""
    import fcntl
    import pty
    import struct
    import termios

    command = [sys.executable, "-m", "docstage", *args]
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, on the terminal
        os.chdir(folder)
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
        env["TERM"] = "xterm-256color"
        os.execvpe(command[0], command, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    screen = Screen()
    lanes: list[str] = []
    deadline = time.monotonic() + 120
    decoder = __import__("codecs").getincrementaldecoder("utf-8")()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        screen.feed(decoder.decode(data))
        for line in screen.lines[-8:]:
            if LANE.match(line) and (not lanes or lanes[-1] != line):
                lanes.append(line)
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), lanes, screen.text()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_a_corpus_stage_progress_moves_on_a_terminal_and_a_warning_prints_above_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "in").mkdir()
    for number in range(24):
        (tmp_path / "in" / f"{number:02}.txt").write_text(f"story {number}\n", encoding="utf-8")
    (tmp_path / "slow_corpus.py").write_text(SLOW_CORPUS, encoding="utf-8")
    (tmp_path / "p.toml").write_text(PIPELINE, encoding="utf-8")

    code, lanes, screen = _run_on_a_terminal(tmp_path, "run", "p.toml")

    assert code == 0, screen
    seen = [LANE.match(line).groups() for line in lanes]  # type: ignore[union-attr]
    learning = [int(done) for phase, done, total in seen if phase == "learning" and total == "24"]
    output = [int(done) for phase, done, total in seen if phase == "output" and total == "24"]
    # The bar moved while the stage learned and while it put documents out.
    assert len({n for n in learning if 0 < n < 24}) >= 2, lanes
    assert learning == sorted(learning), lanes
    assert len({n for n in output if 0 < n < 24}) >= 2, lanes
    assert output == sorted(output), lanes
    # The warning is one whole line of its own, above the bars: nothing before it on its
    # line, no bar after it; and the bars are gone at the end.
    lines = screen.splitlines()
    (warning,) = [line for line in lines if "half way through learning" in line]
    assert re.match(r"^\d{4}-\d\d-\d\dT[\d:.]+Z \[warning\s*\] half way through learning", warning)
    assert "documents=12" in warning
    assert "stage=test.slow_corpus" in warning
    assert "━" not in screen
    assert "wrote out.jsonl" in screen
