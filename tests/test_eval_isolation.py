"""``pipeline eval …`` never reads or writes a config's state store, run cache, quarantine
or outputs: evaluating a config on gold pages must not change the config's next real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from docstage.cli import cli

ARTICLE = (
    "The harbour board approved a new ferry timetable on Tuesday after months of "
    "complaints from commuters on the island routes. Boats will leave every twenty "
    "minutes at peak hours, and the last crossing moves to half past eleven.\n\n"
    '"We heard the riders loud and clear," said the board\'s chair, Mara Lindqvist. '
    "The changes start next month and cost the port about two million a year."
)

CONFIG = """\
[pipeline]
name = "harbour"

[run]
state = "state/state.sqlite"
cache = "state/cache"
quarantine = "out/quarantine.jsonl"

[[stages]]
use = "read.files"
path = "articles/*.txt"

[[stages]]
use = "dedup"
stories = false
passages = false

[[stages]]
use = "render.jsonl"
path = "out/docs.jsonl"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config with a state store, a dedup stage and a renderer; one article; gold files
    whose texts are that article."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "ferry.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "news.toml").write_text(CONFIG, encoding="utf-8")
    page = {"id": "gold-1", "page_text": ARTICLE, "clean_text": ARTICLE}
    (tmp_path / "cleanup-gold.jsonl").write_text(json.dumps(page) + "\n", encoding="utf-8")
    record = {"id": "gold-1", "text": ARTICLE, "entities": []}
    (tmp_path / "entities-gold.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    (tmp_path / "pairs.tsv").write_text(
        "path_a\tpath_b\tjaccard\narticles/ferry.txt\tarticles/other.txt\t1.0\n",
        encoding="utf-8",
    )
    return tmp_path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})


@pytest.mark.parametrize(
    "command",
    [
        ["eval", "cleanup", "--gold", "cleanup-gold.jsonl", "--config", "news.toml"],
        ["eval", "dedup", "--gold", "pairs.tsv", "--config", "news.toml"],
        ["eval", "entities", "--gold", "entities-gold.jsonl", "--config", "news.toml"],
    ],
    ids=["cleanup", "dedup", "entities"],
)
def test_eval_leaves_the_config_s_state_cache_and_outputs_alone(
    project: Path, command: list[str]
) -> None:
    if command[1] == "entities":
        # The entities evaluation runs a config's transforms: give it one (text kept).
        text = CONFIG.replace(
            '[[stages]]\nuse = "dedup"',
            '[[stages]]\nuse = "entities"\nbackend = "rules"\n\n[[stages]]\nuse = "dedup"',
        )
        (project / "news.toml").write_text(text, encoding="utf-8")
    result = invoke(*command, "--json")
    assert result.exit_code == 0, result.output
    assert not (project / "state").exists()
    assert not (project / "out").exists()

    # The next real run sees the article for the first time: it is published, not
    # dropped as a copy of the evaluation's gold page.
    result = invoke("run", "news.toml")
    assert result.exit_code == 0, result.output
    lines = (project / "out" / "docs.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == ["ferry.txt"]
    assert records[0]["duplicates"] == []
