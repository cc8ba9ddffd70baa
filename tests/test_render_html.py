"""``render.html``: one self-contained page; document text always escaped; user templates
override ours; a render that fails midway leaves the previous report as it was."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from docstage import ConfigError
from docstage.document import Document
from tests.conftest import CONFIGS, news_outputs

HOSTILE = "Ferry timetable <script>alert(1)</script> and <img src=x onerror=alert(1)> posted."


def news_report(run_pipeline, folder: Path, *overrides: str) -> str:
    result = run_pipeline(
        CONFIGS / "news.toml",
        overrides=["stages.entities.backend=rules", *news_outputs(folder), *overrides],
    )
    assert result.summary.exit_code == 0
    return (folder / "report.html").read_text(encoding="utf-8")


def render(run_pipeline, folder: Path, docs: list[Document], **options) -> Path:
    stage = {"use": "render.html", "path": "out/report.html", **options}
    result = run_pipeline({"stages": [stage]}, documents=docs, folder=folder)
    assert result.summary.exit_code == 0
    return folder / "out" / "report.html"


def test_the_news_report_shows_the_story_entities_and_every_stage(
    run_pipeline, tmp_path: Path
) -> None:
    page = news_report(run_pipeline, tmp_path)
    story = page[page.index('<section id="stories">') : page.index('<section id="documents">')]
    # the story told by two outlets, side by side, its shared quote highlighted in both
    assert "2 sources: coastal-wire, harbor-times" in story
    assert story.count('<div class="doc"') == 2
    assert story.count("line by line") >= 2
    assert re.search(r'<span class="[^"]*quote[^"]*">[^<]*line by line', story)
    assert 'title="Marta Lindqvist (PERSON)"' in story
    summary = page[page.index('<section id="summary">') : page.index("</section>")]
    for stage in ("read.files", "cleanup.mail", "entities.link", "dedup", "render.html"):
        assert f'data-stage="{stage}"' in summary
    assert "1 duplicate (near)" in summary
    # the copy dropped and its survivor; the entity table; nothing fetched
    duplicates = page[page.index('<section id="duplicates">') :]
    assert "valley-post/dockworkers-framework.txt" in duplicates
    assert '<table class="entities">' in page
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
    for section in ("stories", "entities", "duplicates", "boilerplate", "quarantine"):
        assert f'id="{section}"' not in page_text
    assert '<section id="documents">' in page_text


def test_a_big_corpus_shows_the_largest_stories_with_a_note(run_pipeline, tmp_path) -> None:
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
    assert page.count('<article class="story"') == 3
    assert "The 3 largest of 10 stories are shown" in page


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
