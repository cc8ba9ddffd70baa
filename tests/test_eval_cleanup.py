"""pipeline eval cleanup: the token metric, the gold file, the routes and the command."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from docstage.cli import cli
from docstage.config import load_config
from docstage.errors import DataError
from docstage.resolve import make_plan
from docstage_eval.cleanup_gold import FIELDS, load_gold, parse_fields
from docstage_eval.cleanup_routes import token_counts, tokens
from docstage_eval.metrics import Counts, macro_f1, total
from tests.test_read_html import PARAGRAPHS, SCRIPT_ONLY, news_page

# --- the metric ----------------------------------------------------------------------------


def test_tokens_are_lower_cased_word_characters() -> None:
    assert tokens("The port's cranes, the PORT; 1.2 million — Zoë!") == {
        "the": 2,
        "port": 2,
        "s": 1,
        "cranes": 1,
        "1": 1,
        "2": 1,
        "million": 1,
        "zoë": 1,
    }


def test_one_page_by_hand() -> None:
    # predicted: the×3 cat sat on mat end (8); gold: the×2 cat sat on a mat (7)
    # matched: the×2 cat sat on mat = 6
    score = token_counts("The cat sat on the mat. The end", "the cat sat on a mat, the")
    assert score == Counts.of(6, predicted=8, gold=7)
    assert score.precision == pytest.approx(6 / 8)
    assert score.recall == pytest.approx(6 / 7)
    assert score.f1 == pytest.approx(2 * 6 / (8 + 7))


def test_repeated_tokens_match_only_as_often_as_the_gold_has_them() -> None:
    score = token_counts("share share share share", "share this article")
    assert score == Counts.of(1, predicted=4, gold=3)


def test_micro_average_sums_the_counts_and_differs_from_macro() -> None:
    long_page = token_counts("a b c d e f g h", "a b c d e f g h")  # perfect, 8 tokens
    short_page = token_counts("z", "x y")  # nothing right
    summed = total([long_page, short_page])
    assert summed == Counts.of(8, predicted=9, gold=10)
    assert summed.precision == pytest.approx(8 / 9)
    assert summed.recall == pytest.approx(8 / 10)
    assert summed.f1 == pytest.approx(16 / 19)  # 0.842: the long page weighs more
    assert macro_f1([long_page, short_page]) == pytest.approx(0.5)  # (1 + 0) / 2


def test_empty_texts_score_zero_not_a_division_error() -> None:
    assert token_counts("", "gold text").f1 == 0.0
    assert token_counts("", "").precision == 0.0
    assert total([]) == Counts()
    assert macro_f1([]) == 0.0


# --- gold data -----------------------------------------------------------------------------

NAV = "Home\nNews\nSport\nWeather\nShare on Facebook"
FOOT = "Related articles\nFerry timetable changes\nCopyright 2024 Harbor Times."


def gold_set(folder: Path) -> Path:
    """Three invented pages: page text as scraped, gold text, and the HTML (one gzipped)."""
    pages = [
        ("harbor-1", "harbortimes.example", news_page(), PARAGRAPHS),
        (
            "harbor-2",
            "harbortimes.example",
            news_page("Ferry timetable changes", slug="ferry", paragraphs=PARAGRAPHS[2:]),
            PARAGRAPHS[2:],
        ),
        ("valley-1", "valleypost.example", SCRIPT_ONLY, ("Loading the page takes a while.",)),
    ]
    records = []
    for number, (page_id, domain, html, paragraphs) in enumerate(pages):
        name = f"html/{page_id}.html" + (".gz" if number == 0 else "")
        data = html.encode("utf-8")
        (folder / "html").mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        records.append(
            {
                "id": page_id,
                "url": f"https://{domain}/{page_id}",
                "domain": domain,
                "html_path": name,
                "page_text": "\n".join((NAV, *paragraphs, FOOT)),
                "clean_text": "\n\n".join(paragraphs),
            }
        )
    path = folder / "gold.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_load_gold(tmp_path: Path) -> None:
    gold = load_gold(gold_set(tmp_path), need=("text", "html"))
    assert [p.id for p in gold.pages] == ["harbor-1", "harbor-2", "valley-1"]
    first = gold.pages[0]
    assert (first.line, first.source, first.html) == (
        1,
        "harbortimes.example",
        "html/harbor-1.html.gz",
    )
    assert first.url == "https://harbortimes.example/harbor-1"
    assert first.gold.startswith("Dock workers")


def test_fields_are_configurable_and_id_is_optional(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "gold.jsonl",
        json.dumps({"body": "Menu\nThe text.", "article": "The text."}),
        "",
        json.dumps({"body": "Another text.", "article": "Another text."}),
    )
    fields = parse_fields(["text=body", "gold=article"])
    assert fields == {**FIELDS, "text": "body", "gold": "article"}
    gold = load_gold(path, fields, need=("text",))
    assert [(p.id, p.line, p.text) for p in gold.pages] == [
        ("gold.jsonl:1", 1, "Menu\nThe text."),
        ("gold.jsonl:3", 3, "Another text."),
    ]
    assert gold.lacking("html") == 1
    assert gold.lacking("text") is None


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ['{"clean_text": "a", "page_text": "a"}', '{"clean_text": '],
            r"gold\.jsonl:2: invalid JSON: ",
        ),
        (['["a list"]'], r"gold\.jsonl:1: expected a JSON object, got list"),
        (
            ['{"page_text": "a"}'],
            r"gold\.jsonl:1: missing field 'clean_text' \(the gold text; another key: "
            r"--field gold=KEY\)",
        ),
        (
            ['{"clean_text": "a"}'],
            r"gold\.jsonl:1: missing field 'page_text' \(the text route and the "
            r"keep-everything baseline read it; another key: --field text=KEY\)",
        ),
        (['{"clean_text": 3, "page_text": "a"}'], "field 'clean_text' must be a string, not int"),
        (
            ['{"id": 7, "clean_text": "a", "page_text": "a"}'] * 2,
            r"gold\.jsonl:2: duplicate id '7' \(first on line 1\)",
        ),
        (
            ['{"clean_text": "a", "page_text": "a", "html_path": "html/none.html"}'],
            r"gold\.jsonl:1: html_path 'html/none.html' is not a file",
        ),
        ([""], r"gold\.jsonl: no records"),
    ],
)
def test_bad_gold_data(tmp_path: Path, lines: list[str], message: str) -> None:
    path = write_lines(tmp_path / "gold.jsonl", *lines)
    with pytest.raises(DataError, match=message):
        load_gold(path, need=("text",))


def test_bad_field_specs() -> None:
    with pytest.raises(DataError, match=r"unknown role 'txt' — did you mean 'text'\?"):
        parse_fields(["txt=body"])
    with pytest.raises(DataError, match="expected ROLE=KEY"):
        parse_fields(["text"])


# --- the command ---------------------------------------------------------------------------

# A local plugin with a simple cleanup rule: keep lines of at least `min_words` words.
# A page whose text says EXPLODE makes it raise.
LINE_FILTER = '''\
from typing import ClassVar

import attrs

from docstage import Document, Drop, Transform, hookimpl, option


@attrs.define(kw_only=True)
class KeepLongLines(Transform):
    """Keep the lines of at least min_words words."""

    name: ClassVar[str] = "keep.long_lines"
    min_words: int = option(4, help="Words a line needs to be kept.")

    def process(self, doc: Document) -> Document | Drop:
        if "EXPLODE" in doc.text:
            raise ValueError("boom")
        kept = [line for line in doc.text.splitlines() if len(line.split()) >= self.min_words]
        return doc.evolve(text="\\n".join(kept))


@hookimpl
def docstage_register_stages(registry):
    registry.add(KeepLongLines)
'''

CONFIG = """\
[pipeline]
name = "trial"
plugins = ["./line_filter.py"]

[run]
quarantine = "out/quarantine.jsonl"

# Never set up by eval: the folder does not exist.
[[stages]]
use = "read.files"
path = "no-such-folder/*.txt"

[[stages]]
use = "keep.long_lines"

# Never written by eval.
[[stages]]
use = "render.jsonl"
path = "out/trial.jsonl"
"""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the gold set, the plugin and the config; the working folder."""
    monkeypatch.chdir(tmp_path)
    gold_set(tmp_path / "data")
    (tmp_path / "line_filter.py").write_text(LINE_FILTER, encoding="utf-8")
    (tmp_path / "trial.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["eval", "cleanup", "--gold", *args], env={"COLUMNS": "200"})


def routes(result: Result) -> dict[str, dict[str, Any]]:
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    return {route["route"]: route for route in data["routes"]}


def expected(gold: Path, texts: list[str]) -> Counts:
    pages = load_gold(gold).pages
    return total(token_counts(text, page.gold) for text, page in zip(texts, pages, strict=True))


def test_text_route_runs_the_config_cleanup_stages_only(workspace: Path) -> None:
    result = invoke("data/gold.jsonl", "--config", "trial.toml", "--json")
    data = json.loads(result.output)
    assert (data["gold"], data["pages"], data["config"]) == ("data/gold.jsonl", 3, "trial.toml")
    (text,) = data["routes"]
    assert text["route"] == "text"
    assert text["label"] == "text (trial)"
    assert text["stages"] == ["keep.long_lines"]
    # The filter keeps the paragraphs and "Copyright 2024 Harbor Times." (4 words).
    pages = load_gold(workspace / "data/gold.jsonl").pages
    kept = [
        "\n".join(line for line in p.text.splitlines() if len(line.split()) >= 4) for p in pages
    ]  # type: ignore[union-attr]
    score = expected(workspace / "data/gold.jsonl", kept)
    assert (text["matched"], text["predicted"], text["gold"]) == (
        score.tp,
        score.predicted,
        score.gold,
    )
    assert text["precision"] == round(score.precision, 4)
    assert text["f1"] == round(score.f1, 4)
    assert 0.9 < text["precision"] < 1.0
    assert text["recall"] == 1.0
    assert (text["dropped"], text["errors"]) == ({}, 0)
    # Neither the reader nor the renderer ran; no quarantine file either.
    assert not (workspace / "out").exists()


def test_set_overrides_the_config(workspace: Path) -> None:
    default = routes(invoke("data/gold.jsonl", "--config", "trial.toml", "--json"))["text"]
    everything = routes(
        invoke(
            "data/gold.jsonl",
            "--config",
            "trial.toml",
            "--set",
            "stages.keep.long_lines.min_words=1",
            "--json",
        )
    )["text"]
    baseline = routes(invoke("data/gold.jsonl", "--baselines", "--json"))["keep-everything"]
    assert everything["f1"] == baseline["f1"] < default["f1"]


def test_html_route_and_baselines(workspace: Path) -> None:
    found = routes(invoke("data/gold.jsonl", "--html", "--baselines", "--json"))
    assert list(found) == ["keep-everything", "trafilatura", "html"]
    keep, plain, ours = found["keep-everything"], found["trafilatura"], found["html"]
    assert keep["recall"] == 1.0
    assert keep["precision"] < 0.9
    assert keep["stages"] == []
    assert plain["label"].startswith("plain trafilatura ")
    assert ours["label"] == "html (read.html)"
    assert ours["stages"] == ["read.html"]
    # The script-only page has no main text: dropped, scored as empty text.
    assert ours["dropped"] == {"no main text": 1}
    assert ours["pages"] == 3
    assert ours["precision"] > keep["precision"]
    assert ours["f1"] >= plain["f1"]
    assert ours["pages_per_second"] > 0


def test_html_route_with_the_config_stages(workspace: Path) -> None:
    found = routes(invoke("data/gold.jsonl", "--config", "trial.toml", "--html", "--json"))
    assert list(found) == ["text", "html"]
    assert found["html"]["label"] == "html (read.html + trial)"
    assert found["html"]["stages"] == ["read.html", "keep.long_lines"]


PROVIDE_HTML = """\
from docstage import hookimpl
from docstage_plugins.html import ReadHtml


@hookimpl
def docstage_register_stages(registry):
    if registry.get("read.html") is None:
        registry.add(ReadHtml)
"""

CONFIG_WITH_READ_HTML = """\
[pipeline]
name = "pages"
plugins = ["./line_filter.py", "./provide_html.py"]

[[stages]]
use = "read.html"
path = "no-such-folder/*.html"

[[stages]]
use = "keep.long_lines"
min_words = 1
"""


def test_html_route_takes_read_html_options_from_the_config(workspace: Path) -> None:
    (workspace / "provide_html.py").write_text(PROVIDE_HTML, encoding="utf-8")
    (workspace / "pages.toml").write_text(CONFIG_WITH_READ_HTML, encoding="utf-8")
    args = ("data/gold.jsonl", "--config", "pages.toml", "--html", "--json")
    default = routes(invoke(*args))["html"]
    pruned = routes(invoke(*args, "--set", 'stages.read.html.prune_xpath=["//p"]'))["html"]
    assert default["label"] == "html (read.html + pages)"
    assert default["recall"] > 0.9
    assert pruned["recall"] < 0.5


def test_a_stage_that_fails_on_a_page_is_counted(workspace: Path) -> None:
    gold = workspace / "data/gold.jsonl"
    records = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines()]
    records[1]["page_text"] += "\nEXPLODE"
    gold.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    result = invoke("data/gold.jsonl", "--config", "trial.toml", "--json")
    text = routes(result)["text"]
    assert text["errors"] == 1
    assert text["recall"] < 1.0  # the failed page scores as empty text
    assert not (workspace / "out").exists()


def test_table_for_people(workspace: Path) -> None:
    result = invoke("data/gold.jsonl", "--config", "trial.toml", "--html", "--baselines")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Cleanup evaluation: data/gold.jsonl (3 pages)" in out
    for column in ("route", "pages", "precision", "recall", "F1", "pages/s"):
        assert column in out
    for label in (
        "keep everything",
        "plain trafilatura",
        "text (trial)",
        "html (read.html + trial)",
    ):
        assert label in out
    assert "html (read.html + trial): read.html → keep.long_lines" in out
    assert "html (read.html + trial): dropped 1 no main text (scored as empty text)" in out
    assert "config: trial.toml" in out


def test_baselines_the_data_cannot_support_are_skipped_with_a_note(workspace: Path) -> None:
    write_lines(workspace / "text-only.jsonl", json.dumps({"page_text": "a b", "clean_text": "b"}))
    result = invoke("text-only.jsonl", "--baselines", "--json")
    data = json.loads(result.output)
    assert [r["route"] for r in data["routes"]] == ["keep-everything"]
    assert data["notes"] == ["plain trafilatura skipped: the record on line 1 has no 'html_path'"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl", "--baselines"], "no such file: missing.jsonl"),
        (["data", "--baselines"], "data is a folder; give the path of a .jsonl file"),
        (
            ["data/gold.jsonl"],
            "nothing to evaluate: give --config CONFIG (the text route), --html (the HTML "
            "route) or --baselines",
        ),
        (
            ["data/gold.jsonl", "--baselines", "--set", "run.on_error=fail"],
            "--set changes a config: give --config CONFIG too",
        ),
        (["data/gold.jsonl", "--config", "none.toml"], "no such config file: none.toml"),
        (
            ["bad.jsonl", "--baselines"],
            "bad.jsonl:2: invalid JSON: Expecting property name enclosed in double quotes",
        ),
        (
            ["data/gold.jsonl", "--html", "--field", "html=page"],
            "data/gold.jsonl:1: missing field 'page' (the HTML route and the trafilatura "
            "baseline read it; another key: --field html=KEY)",
        ),
        (
            [
                "data/gold.jsonl",
                "--config",
                "trial.toml",
                "--set",
                "stages.keep.long_lines.min_words=x",
            ],
            "option 'min_words' must be an integer, not a string",
        ),
    ],
)
def test_errors_are_one_line_with_exit_code_2(
    workspace: Path, args: list[str], message: str
) -> None:
    write_lines(workspace / "bad.jsonl", json.dumps({"clean_text": "a", "page_text": "a"}), "{oops")
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ")
    assert result.output.count("\n") == 1
    assert message in result.output


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--html", "error: read.html needs the html extra: pip install 'docstage[html]'\n"),
        (
            "--baselines",
            "error: the plain trafilatura baseline needs the html extra: "
            "pip install 'docstage[html]'\n",
        ),
    ],
)
def test_missing_trafilatura_is_one_clear_error(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, flag: str, message: str
) -> None:
    monkeypatch.setitem(sys.modules, "trafilatura", None)  # `import trafilatura` fails
    result = invoke("data/gold.jsonl", flag)
    assert result.exit_code == 2
    assert result.output == message


def test_listed_in_help() -> None:
    result = CliRunner().invoke(cli, ["eval", "--help"])
    assert result.exit_code == 0
    assert "cleanup" in result.output
    result = CliRunner().invoke(cli, ["eval", "cleanup", "-h"])
    assert "micro-averaged" in result.output


# --- the Article Extraction Benchmark ------------------------------------------------------


@pytest.mark.corpus
@pytest.mark.slow
def test_html_route_on_aeb_matches_plain_trafilatura(shared: Path) -> None:
    gold = shared / "corpora" / "boilerplate" / "aeb.jsonl"
    if not gold.is_file():
        pytest.skip(f"{gold} not found")
    found = routes(invoke(str(gold), "--html", "--baselines", "--json"))
    keep, plain, ours = found["keep-everything"], found["trafilatura"], found["html"]
    assert keep["pages"] == plain["pages"] == ours["pages"] == 181
    assert keep["f1"] == pytest.approx(0.698, abs=0.001)  # as docs/cli.md shows
    assert keep["precision"] == pytest.approx(0.536, abs=0.001)
    assert ours["f1"] >= plain["f1"] - 0.005, (ours, plain)
    assert (ours["dropped"], ours["errors"]) == ({}, 0)


def test_plan_only_keeps_the_stages_of_some_kinds(workspace: Path) -> None:
    plan = make_plan(load_config(workspace / "trial.toml"))
    assert [s.kind for s in plan.stages] == ["reader", "transform", "renderer"]
    only = plan.only("transform", "corpus")
    assert [s.use for s in only.stages] == ["keep.long_lines"]
    assert only.config is plan.config
    with pytest.raises(ValueError, match="unknown stage kinds"):
        plan.only("transformer")
