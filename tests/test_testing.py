"""``docstage.testing``: the helpers plugin authors assert with."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import attrs
import pytest

from docstage import Document, Transform, hookspecs
from docstage.testing import HookRecorder, RunResult, run_stage


@attrs.define(kw_only=True)
class NotEmpty(Transform):
    """Refuse documents without text."""

    name: ClassVar[str] = "test.not_empty"

    def process(self, doc: Document) -> Document:
        if not doc.text.strip():
            raise ValueError("empty text")
        return doc


@pytest.fixture
def result(run_stage) -> RunResult:  # type: ignore[no-untyped-def]
    docs = [Document(id="a", text="ok"), Document(id="b", text=" "), Document(id="c", text="")]
    run: RunResult = run_stage(NotEmpty, docs)
    return run


def test_quarantined_returns_the_checked_record(result: RunResult) -> None:
    assert result.ids == ["a"]
    assert result.quarantined_ids == ["b", "c"]
    record = result.quarantined("b", stage="test.not_empty", error="ValueError: empty")
    assert record["document"]["text"] == " "
    assert "Traceback" in record["traceback"]


@pytest.mark.parametrize(
    ("doc_id", "checks", "message"),
    [
        ("a", {}, "document 'a' was not quarantined; quarantined: ['b', 'c']"),
        ("b", {"stage": "other"}, "quarantined by 'test.not_empty', not 'other'"),
        ("b", {"error": "KeyError"}, "which does not contain 'KeyError'"),
    ],
)
def test_quarantined_fails_saying_what_happened_instead(
    result: RunResult, doc_id: str, checks: dict[str, str], message: str
) -> None:
    with pytest.raises(AssertionError) as raised:
        result.quarantined(doc_id, **checks)
    assert message in str(raised.value)


def test_the_recorder_records_every_run_hook() -> None:
    """A new hook must be recorded too (register_stages runs before the run, at plan time)."""
    specs = {name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)}
    specs = {name for name in specs if name.startswith("docstage_")}
    recorded = {name for name in dir(HookRecorder) if name.startswith("docstage_")}
    assert recorded == specs - {"docstage_register_stages"}


def test_a_run_without_a_folder_cleans_up_when_python_exits(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """\
        from docstage import Document
        from docstage.testing import run_stage
        from tests.test_testing import NotEmpty

        result = run_stage(NotEmpty, [Document(id="a", text="")])
        print(result.summary.quarantine_path)
        """
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    quarantine = Path(done.stdout.splitlines()[-1])
    assert quarantine.name == "quarantine.jsonl"
    assert not quarantine.exists()
    assert not quarantine.parent.parent.exists()  # the temporary folder itself


def test_the_plain_function_works_outside_pytest_with_a_folder(tmp_path: Path) -> None:
    result = run_stage(NotEmpty, [Document(id="a", text="x")], folder=tmp_path)
    assert result.ids == ["a"]
    assert result.quarantine == []
