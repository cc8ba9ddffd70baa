"""Story clustering in windows of publication time (:mod:`docstage_plugins.dedup.story_windows`).

A run with more originals than one clustering holds within the memory budget is
clustered window by window against the story index; the tests shrink the window so
that invented multi-day events, each told by several outlets, cross window borders.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sklearn.metrics import adjusted_rand_score

from docstage.document import Document
from docstage.testing import run_pipeline
from docstage_plugins.dedup import story_windows
from docstage_plugins.dedup.story_windows import window_size, windows

from .test_story_index import events


def test_windows_follow_publication_time_with_unknown_dates_as_today() -> None:
    nan = math.nan
    days = [20.0, 10.0, nan, 10.0, 30.0, 5.0]
    # today (day 19,000-ish) comes after every known day here
    assert windows(days, 2, today="2024-01-01") == [[1, 5], [0, 3], [2, 4]]
    assert windows(days, 6, today="2024-01-01") == [[0, 1, 2, 3, 4, 5]]
    assert windows([], 3) == []
    with pytest.raises(ValueError, match="at least 1"):
        windows(days, 0)


def test_runs_up_to_the_exact_search_size_are_one_window() -> None:
    assert window_size(0) == story_windows.EXACT_UP_TO
    assert window_size(1 << 40) > story_windows.EXACT_UP_TO


def documents() -> list[Document]:
    """Eight events over a week, each told by four outlets on consecutive days."""
    return [
        Document(id=doc_id, text=text, source=source, metadata={"published": published})
        for doc_id, source, published, text in events(8, 4)
    ]


def stories(state: Path | None, tmp_path: Path, *, window: int | None) -> dict[str, str]:
    config = {
        "run": {"state": str(state)} if state is not None else {},
        "stages": [{"use": "dedup", "passages": False, "quotes": False}],
    }
    with pytest.MonkeyPatch.context() as patch:
        if window is not None:  # a window this small, whatever the budget
            patch.setattr(story_windows, "EXACT_UP_TO", window)
            patch.setattr(story_windows, "BYTES_PER_DOCUMENT", 1 << 40)
        result = run_pipeline(config, documents=documents(), folder=tmp_path)
    return {doc.id: doc.annotations["story_id"] for doc in result.documents}


@pytest.mark.parametrize("with_state", [False, True], ids=["scratch index", "state store"])
def test_windows_give_the_stories_of_one_clustering(tmp_path: Path, with_state: bool) -> None:
    one = stories(None, tmp_path / "one", window=None)
    state = tmp_path / "state.sqlite" if with_state else None
    windowed = stories(state, tmp_path / "windowed", window=5)
    assert len(set(one.values())) == 8
    ids = sorted(one)
    assert adjusted_rand_score([one[i] for i in ids], [windowed[i] for i in ids]) == 1.0
    # an event's id is that of its first telling, as in one clustering
    assert windowed == one


def test_a_windowed_run_is_remembered_by_the_state_store(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    first = stories(state, tmp_path / "a", window=5)
    again = stories(state, tmp_path / "b", window=5)
    assert again == first


def test_the_stage_default_threshold_is_the_clustering_default() -> None:
    from docstage_plugins.dedup.stage import Dedup
    from docstage_plugins.dedup.stories import StoryOptions

    assert Dedup().story_threshold == StoryOptions().threshold


def test_a_run_without_stories_does_not_import_the_clustering() -> None:
    import subprocess
    import sys

    code = (
        "import sys, docstage_plugins.dedup.stage\n"
        "print(sorted(m for m in ('scipy', 'docstage_plugins.dedup.stories') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
