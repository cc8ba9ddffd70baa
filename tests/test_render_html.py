"""``render.html``: one self-contained page, story first (the stories as escaped JSON data
our script draws, the texts of the largest side by side), the run summary last; document
text always escaped; user templates override ours; a render that fails midway leaves the
previous report as it was."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest

from docstage import ConfigError
from docstage.document import Document, Entity
from tests.conftest import CONFIGS, news_outputs

HOSTILE = "Ferry timetable <script>alert(1)</script> and <img src=x onerror=alert(1)> posted."


def news_report(run_pipeline, folder: Path, *overrides: str) -> str:
    result = run_pipeline(
        CONFIGS / "news.toml",
        overrides=["stages.entities.backend=rules", *news_outputs(folder), *overrides],
    )
    assert result.summary.exit_code == 0
    return (folder / "report.html").read_text(encoding="utf-8")


def report_data(page: str) -> dict:
    """The stories the page carries for its script."""
    raw = page.split('<script type="application/json" id="report-data">', 1)[1]
    return json.loads(raw.split("</script>", 1)[0])


def render(run_pipeline, folder: Path, docs: list[Document], **options) -> Path:
    stage = {"use": "render.html", "path": "out/report.html", **options}
    result = run_pipeline({"stages": [stage]}, documents=docs, folder=folder)
    assert result.summary.exit_code == 0
    return folder / "out" / "report.html"


def test_the_news_report_shows_the_story_entities_and_every_stage(
    run_pipeline, tmp_path: Path
) -> None:
    page = news_report(run_pipeline, tmp_path)
    # story first, the run summary last
    order = [page.index(f'<section id="{s}">') for s in ("stories", "timeline", "matrix")]
    order += [page.index(f'<section id="{s}">') for s in ("documents", "entities", "summary")]
    assert order == sorted(order)
    assert page.index('<a href="#stories">') < page.index('<a href="#summary">')
    # the story told by two outlets: its headline, quotes with speaker and carriers, and
    # what each outlet added
    (story,) = report_data(page)["stories"]
    assert story["title"].startswith("Negotiators for striking dockworkers")  # no dateline
    assert story["sources"] == ["coastal-wire", "harbor-times"]
    assert story["when"] == "2024-03-12"
    assert ["Marta Lindqvist", "PERSON", 2] in story["entities"]
    quote = next(q for q in story["quotes"] if "line by line" in q["text"])
    assert quote["speaker"] == "Marta Lindqvist"
    assert [c[0] for c in quote["carriers"]] == ["coastal-wire", "harbor-times"]
    assert "We are not going to sign" in quote["carriers"][1][3]  # harbor-times' wording
    added = {source: passages for source, passages, _ in story["added"]}
    assert any("forty container ships" in p for p in added["harbor-times"])
    assert not any("line by line" in p for p in added["harbor-times"])  # shared, not added
    assert any("ministry building" in p for p in added["coastal-wire"])
    # its two articles side by side, the shared quote highlighted in both
    texts = page[page.index('<div id="story-texts"') : page.index('<section id="timeline">')]
    assert "2 sources: coastal-wire, harbor-times" in texts
    assert texts.count('<div class="doc"') == 2
    assert texts.count("line by line") >= 2
    assert re.search(r'<span class="[^"]*quote[^"]*">[^<]*line by line', texts)
    assert 'title="Marta Lindqvist (PERSON)"' in texts
    summary = page[page.index('<section id="summary">') :]
    for stage in ("read.files", "cleanup.mail", "entities.link", "dedup", "render.html"):
        assert f'data-stage="{stage}"' in summary
    assert "1 duplicate (near)" in summary
    # the copy dropped and its survivor; the entity table, people before dates; nothing
    # fetched
    duplicates = page[page.index('<section id="duplicates">') :]
    assert "valley-post/dockworkers-framework.txt" in duplicates
    labels = re.findall(r'<tr data-label="([A-Z]+)">', page)
    assert labels[0] == "PERSON"
    assert "DATE" not in labels or labels.index("DATE") > labels.index("PERSON")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<link" not in page


def test_document_text_is_escaped_never_markup(run_pipeline, tmp_path: Path) -> None:
    doc = Document(id="x", source="s", text=HOSTILE, metadata={"title": "<b>bold</b>"})
    page = render(run_pipeline, tmp_path, [doc]).read_text(encoding="utf-8")
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    # the page's own script is the only one, and it is ours
    assert page.count("<script>") == 1


def hostile_story() -> list[Document]:
    """Two outlets of one story whose every field a scraper could fill is hostile."""
    payload = "</script><script>alert(1)</script><img src=x onerror=alert(2)> & more"
    quote = {
        "start": 0,
        "end": len(HOSTILE),
        "text": f"We said {payload} at last",
        "parts": [[0, len(HOSTILE)]],
        "speaker": {"name": f"Ana {payload}", "text": "Ana", "start": 0, "end": 3},
        "first": True,
    }
    docs = []
    for n, other in ((0, 1), (1, 0)):
        match = {
            "id": f"d{other}",
            "source": f"<b>s{other}</b>",
            "text": f"We said {payload} at last",
            "speaker": f"Ana {payload}",
            "published": None,
            "score": 1.0,
            "first": False,
        }
        docs.append(
            Document(
                id=f"d{n}",
                source=f"<b>s{n}</b>",
                text=HOSTILE + f"\nAnd {payload} only here number {n}.",
                metadata={"title": f"<b>{payload}</b> {n}", "published": f"2024-05-0{n + 1}"},
                entities=(Entity(label="PERSON", text="Ferry", start=0, end=5, canonical=payload),),
                annotations={
                    "story_id": f"story-{payload}",
                    "quotes": [{**quote, "matches": [match]}],
                },
            )
        )
    return docs


def test_the_story_data_is_escaped_json_that_no_text_can_close(
    run_pipeline, tmp_path: Path
) -> None:
    page = render(run_pipeline, tmp_path, hostile_story()).read_text(encoding="utf-8")
    raw = page.split('id="report-data">', 1)[1].split("</script>", 1)[0]
    for character in "<>&":
        assert character not in raw
    assert page.count("<script>") == 1
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    (story,) = report_data(page)["stories"]
    assert story["title"].startswith("<b></script><script>alert(1)")  # the text, whole
    assert story["quotes"][0]["speaker"].endswith("onerror=alert(2)> & more")
    assert [a[0] for a in story["added"]] == ["<b>s0</b>", "<b>s1</b>"]
    assert any("only here number 1" in p for p in story["added"][1][1])


def test_only_our_own_script_may_run_by_its_hash(run_pipeline, tmp_path: Path) -> None:
    page = render(run_pipeline, tmp_path, [Document(id="x", source="s", text="t")])
    html = page.read_text(encoding="utf-8")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html)
    assert policy is not None
    script_src = next(p for p in policy.group(1).split("; ") if p.startswith("script-src"))
    script = html.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    assert script_src == f"script-src 'sha256-{digest}'"  # no 'unsafe-inline'


def test_sections_of_stages_that_did_not_run_are_left_out(run_pipeline, tmp_path: Path) -> None:
    page = render(run_pipeline, tmp_path, [Document(id="a", text="Just text.")])
    page_text = page.read_text(encoding="utf-8")
    left_out = ("stories", "timeline", "matrix", "entities", "duplicates", "boilerplate")
    for section in (*left_out, "quarantine"):
        assert f'id="{section}"' not in page_text
    assert '<section id="documents">' in page_text


def test_every_story_is_listed_the_largest_with_their_texts(run_pipeline, tmp_path) -> None:
    docs = [
        Document(
            id=f"d{i}",
            source=f"s{i % 2}",
            text=f"Story {i // 2} text",
            annotations={"story_id": f"story-{i // 2}"},
        )
        for i in range(20)
    ]
    page = render(run_pipeline, tmp_path, docs, max_stories=3).read_text(encoding="utf-8")
    assert len(report_data(page)["stories"]) == 10
    assert [s["texts"] for s in report_data(page)["stories"]] == [True] * 3 + [False] * 7
    assert page.count('<div class="texts"') == 3
    assert "The 3 largest of 10 stories carry their articles' texts" in page


def test_user_templates_override_ours(run_pipeline, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.html.j2").write_text(
        '<section id="summary"><p>Our own summary of {{ summary.run_id }}</p></section>\n'
    )
    page = render(run_pipeline, tmp_path, [Document(id="a", text="A.")], templates="mine")
    assert "Our own summary of " in page.read_text(encoding="utf-8")


def test_a_render_that_fails_midway_leaves_the_previous_report(
    run_pipeline, tmp_path: Path
) -> None:
    report = render(run_pipeline, tmp_path, [Document(id="a", text="First run.")])
    before = report.read_bytes()
    broken = tmp_path / "broken"
    broken.mkdir()
    # a template that raises halfway through the page
    (broken / "tables.html.j2").write_text("{{ summary.no_such_field }}\n")
    config = {"stages": [{"use": "render.html", "path": "out/report.html", "templates": "broken"}]}
    result = run_pipeline(config, documents=[Document(id="b", text="Second run.")])
    assert result.summary.exit_code != 0
    assert report.read_bytes() == before
    assert [p.name for p in report.parent.iterdir()] == ["report.html"]


def test_bad_options_are_one_line_errors(run_pipeline, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"option 'templates'.*is not a folder"):
        render(run_pipeline, tmp_path, [], templates="nowhere")
    (tmp_path / "out").mkdir()
    with pytest.raises(ConfigError, match=r"'path'.*is a folder"):
        run_pipeline({"stages": [{"use": "render.html", "path": "out"}]}, documents=[])


def test_a_huge_document_is_cut_in_the_report_with_a_note(run_pipeline, tmp_path: Path) -> None:
    text = "The harbour board met again. " * 10_000  # 290,000 characters
    page = render(run_pipeline, tmp_path, [Document(id="x", source="s", text=text)])
    html = page.read_text(encoding="utf-8")
    assert "the text is cut here: 100,000 of its 290,000 characters are shown" in html
    assert len(html) < 200_000
    small = render(
        run_pipeline,
        tmp_path / "b",
        [Document(id="x", source="s", text=text)],
        max_text_chars=1_000,
    )
    assert "1,000 of its 290,000 characters" in small.read_text(encoding="utf-8")
