"""``pipeline state``: what the state store holds, read without writing, and ``--compact``."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from docstage.cli import cli
from docstage.testing import run_pipeline

ARTICLES = {
    "harbor-times/ferry.txt": "The harbour ferry to Kell Island resumes service on Monday "
    "after storm repairs to the pier, the port authority said on Friday. Crews replaced "
    "two pylons and the landing ramp.",
    "valley-post/ferry.txt": "The harbour ferry to Kell Island resumes service on Monday "
    "after storm repairs to the pier, the port authority said on Friday. Crews replaced "
    "two pylons and the landing ramp.",
    "valley-post/council.txt": "The Brenmoor town council voted seven to two to extend the "
    "library's opening hours into the evening from March, funded by a small parking levy.",
    "coastal-wire/orchard.txt": "Apple growers in the Tarn valley expect a late but large "
    "harvest this year after a wet spring, the growers' cooperative said in its report.",
}

CONFIG = """\
[pipeline]
name = "daily"

[run]
state = "state.sqlite"
cache = "cache"
quarantine = "quarantine.jsonl"

[[stages]]
use = "read.files"
path = "news/**/*.txt"
source = "{parent}"

[[stages]]
use = "dedup"

[[stages]]
use = "render.jsonl"
path = "out.jsonl"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    for name, text in ARTICLES.items():
        path = tmp_path / "news" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    path = tmp_path / "daily.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["state", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_shows_the_dedup_index_a_run_wrote(config: Path) -> None:
    result = run_pipeline(config)
    assert len(result.documents) == 3
    code, output = invoke(str(config))
    assert code == 0, output
    assert "state.sqlite" in output
    assert "schema version 1" in output
    # Piped, the tables are plain text: columns two spaces apart.
    runs = next(line for line in output.splitlines() if line.startswith("daily "))
    assert runs.split()[1] == "1"
    assert "run manifest rows of daily: 4" in output
    row = next(line for line in output.splitlines() if line.startswith("dedup_docs "))
    assert row.split()[1] == "4"
    assert "dedup index: 4 documents" in output
    assert "story index: 3 stories, 0 merged into others, 3 documents" in output


def test_json(config: Path) -> None:
    run_pipeline(config)
    run_pipeline(config)
    code, output = invoke(str(config), "--json")
    assert code == 0, output
    found = json.loads(output)
    assert set(found) == {
        "exists", "path", "size", "free", "schema_version", "pipeline", "runs", "all_runs",
        "tables", "dbstat", "dedup", "manifest_rows", "stories",
    }  # fmt: skip
    assert found["exists"] is True
    assert found["path"] == str(config.parent / "state.sqlite")
    assert found["size"] == Path(found["path"]).stat().st_size
    assert found["schema_version"] == 1
    assert found["pipeline"] == "daily"
    assert found["runs"]["count"] == found["all_runs"]["count"] == 2
    assert found["runs"]["first_started"] < found["runs"]["last_started"]
    assert found["runs"]["last_finished"] >= found["runs"]["last_started"]
    tables = {t["name"]: t for t in found["tables"]}
    assert {"docstage_meta", "docstage_runs", "docstage_manifest", "dedup_docs"} <= set(tables)
    assert tables["dedup_docs"]["rows"] == 4
    assert tables["docstage_runs"]["rows"] == 2
    assert found["dedup"]["documents"] == 4
    assert found["manifest_rows"] == 4
    # Three originals (one of the four is an exact copy), in three stories.
    assert found["stories"]["documents"] == 3
    assert found["stories"]["stories"] == 3
    assert found["stories"]["merges"] == 0
    if found["dbstat"]:
        assert tables["dedup_docs"]["bytes"] > 0
        assert found["dedup"]["bytes_per_document"] > 0
    first_run = found["dedup"]["oldest_run"]
    assert first_run == found["dedup"]["newest_run"]  # the second run indexed nothing new


def test_reading_writes_nothing(config: Path) -> None:
    run_pipeline(config)
    path = config.parent / "state.sqlite"
    before = path.read_bytes()
    assert invoke(str(config))[0] == 0
    assert path.read_bytes() == before


def test_a_missing_store_is_not_created(config: Path) -> None:
    code, output = invoke(str(config))
    assert (code, output) == (0, f"no state store yet at {config.parent / 'state.sqlite'} "
                              "(a run creates it)\n")  # fmt: skip
    code, output = invoke(str(config), "--json")
    assert code == 0
    assert json.loads(output) == {"path": str(config.parent / "state.sqlite"), "exists": False}
    assert invoke(str(config), "--compact")[0] == 0
    assert not (config.parent / "state.sqlite").exists()


def test_compact_shrinks_the_store_and_changes_no_result(config: Path) -> None:
    first = run_pipeline(config)
    path = config.parent / "state.sqlite"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE filler (blob BLOB)")
        db.executemany("INSERT INTO filler VALUES (?)", [(b"x" * 4000,)] * 200)
        db.commit()
        db.execute("DROP TABLE filler")
        db.commit()
    code, output = invoke(str(config), "--compact", "--json")
    assert code == 0, output
    sizes = json.loads(output)
    assert sizes["after"] < sizes["before"]
    assert sizes["after"] == path.stat().st_size
    code, output = invoke(str(config), "--compact")
    assert code == 0
    assert output.startswith("compacted ")
    assert "bytes)" in output
    second = run_pipeline(config)
    assert [d.id for d in second.documents] == [d.id for d in first.documents]
    assert second.texts == first.texts


def test_compact_is_refused_while_a_run_holds_the_store(config: Path) -> None:
    run_pipeline(config)
    with closing(sqlite3.connect(config.parent / "state.sqlite", isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        code, output = invoke(str(config), "--compact")
    assert code == 2
    assert output == (
        f"error: [run] state: {config.parent / 'state.sqlite'}: in use by another process "
        "(a run?); compact it when that finishes\n"
    )


def test_not_a_state_store(config: Path) -> None:
    (config.parent / "state.sqlite").write_text("not sqlite at all " * 100, encoding="utf-8")
    code, output = invoke(str(config))
    assert code == 2
    assert output.startswith(f"error: [run] state: {config.parent / 'state.sqlite'}: not a ")
    assert len(output.splitlines()) == 1


def test_a_bad_config_is_one_line_per_mistake(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[run]\nbatch_size = 0\n", encoding="utf-8")
    code, output = invoke(str(path))
    assert code == 2
    lines = output.splitlines()
    # Two mistakes (no stages, a batch size of 0): one line each, both in one pass.
    assert len(lines) == 2
    assert all(line.startswith("error: ") for line in lines)
    assert any("bad.toml:2: [run]" in line and "batch_size" in line for line in lines)
    assert any("no stages" in line for line in lines)
    code, output = invoke(str(tmp_path / "missing.toml"))
    assert code == 2
    assert output.startswith("error: ")
    assert len(output.splitlines()) == 1


def test_without_dbstat_rows_only(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import docstage.state_usage

    run_pipeline(config)
    monkeypatch.setattr(docstage.state_usage, "_table_bytes", lambda db: None)
    code, output = invoke(str(config))
    assert code == 0, output
    assert "bytes (with indexes)" not in output
    assert "(this SQLite lacks the dbstat table: rows only, no bytes per table)" in output
    assert "dedup index: 4 documents\n" in output
    found = json.loads(invoke(str(config), "--json")[1])
    assert found["dbstat"] is False
    assert {t["bytes"] for t in found["tables"]} == {None}
    assert found["dedup"]["bytes_per_document"] is None
