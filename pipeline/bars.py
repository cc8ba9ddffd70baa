"""The progress bars ``pipeline run`` draws on a terminal: one per lane of the run
(:mod:`docstage.runner.progress`), with documents, rate and time left.

The bars are drawn on stderr through the console log lines go through
(:func:`docstage.log.log_console`), so a warning prints above them, whole, and the bars
are drawn again below it. A thread of their own reads the run's progress ten times a
second; the run itself never waits for them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from docstage.runner.progress import LaneView, RunProgress

#: How often the bars are drawn, and the run's progress read, a second.
_REFRESH = 10


class _Count(ProgressColumn):
    """``done/total`` with thousands separators; ``done`` alone when the total is unknown."""

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        if task.total is None:
            return Text(f"{done:,}" if done else "", style="progress.download")
        return Text(f"{done:,}/{int(task.total):,}", style="progress.download")


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} docs/s" if speed else "", style="progress.data.speed")


class _Bars(Progress):
    """rich's Progress, its tasks following the lanes of a run."""

    def __init__(self, views: list[LaneView], console: Console) -> None:
        self._phases: list[str] = []
        self._lanes: list[TaskID] = []
        width = max((len(view.label) for view in views), default=0)
        super().__init__(
            SpinnerColumn(finished_text="[green]✓[/green]"),
            TextColumn(f"{{task.description:<{width}}}", markup=False),
            TextColumn("{task.fields[phase]:<8}", markup=False, style="progress.description"),
            BarColumn(),
            _Count(),
            _Rate(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            refresh_per_second=_REFRESH,
        )
        for view in views:
            self._lanes.append(
                self.add_task(view.label, total=view.total, phase=view.phase, start=False)
            )
            self._phases.append(view.phase)

    def follow(self, views: list[LaneView]) -> None:
        """Show ``views``, the lanes as they stand now."""
        for index, (task, view) in enumerate(zip(self._lanes, views, strict=False)):
            if view.phase == self._phases[index]:
                if view.phase != "done":
                    self.update(task, total=view.total, completed=view.completed)
            elif view.phase == "done":  # it keeps the rate it ended with
                self.start_task(task)  # (a lane may end before it was seen started)
                self.update(task, total=view.total, completed=view.completed, phase="done")
                with self._lock:
                    ended = self._tasks[task]
                    ended.finished_speed = ended.finished_speed or ended.speed
                self.stop_task(task)
            else:  # a new phase counts anew: its own rate and time left
                self.reset(
                    task,
                    total=view.total,
                    completed=view.completed,
                    phase=view.phase,
                    start=view.phase != "waiting",
                )
            self._phases[index] = view.phase
            if view.total is None:  # rich reads None as "unchanged": unset it here
                with self._lock:
                    self._tasks[task].total = None


@contextlib.contextmanager
def progress_bars(progress: RunProgress, console: Console) -> Iterator[None]:
    """Draw ``progress`` on ``console`` (a terminal) until the block ends; then the bars go."""
    progress.shown = True
    done = threading.Event()
    with _Bars(progress.views(), console) as bars:

        def follow() -> None:
            while not done.wait(1 / _REFRESH):
                try:
                    bars.follow(progress.views())
                except Exception:  # a bar drawn late must never spoil a run
                    continue

        thread = threading.Thread(target=follow, name="docstage-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
