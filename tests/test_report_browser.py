"""The HTML report in a real browser (headless Chromium through Playwright, no network):
the story with two sources, entity highlights, every stage in the run summary, no request
leaving the page, and a hostile document that shows its markup as text and runs nothing.

Chromium is the Debian package at ``/usr/bin/chromium``; ``.ci/run`` installs it when
missing. Without it the tests skip, unless ``DOCSTAGE_REQUIRE_BROWSER=1`` (set by
``.ci/run``) makes that a failure. ``DOCSTAGE_SCREENSHOT=PATH`` keeps the screenshot (the
README's picture is made so).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docstage.testing import run_pipeline
from tests.conftest import CONFIGS, ROOT, news_outputs

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = (
    "Ferry timetable posted\n"
    "The new timetable <script>alert(1)</script> starts in May, the operator said on Monday. "
    'Passengers can see it at the harbour office <img src=x onerror="alert(1)">.\n'
)

pytestmark = pytest.mark.slow


def _missing(what: str) -> None:
    if os.environ.get("DOCSTAGE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{what} (DOCSTAGE_REQUIRE_BROWSER=1)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install 'docstage[test]')")
    if not CHROMIUM.is_file():
        _missing(f"{CHROMIUM} not found (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield browser
        browser.close()


def open_page(browser: Any, report: Path) -> tuple[Any, list[str], list[str], float]:
    """The report opened offline: the page, requests that left it, dialogs, seconds."""
    context = browser.new_context(offline=True, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    requests: list[str] = []
    dialogs: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith(("file:", "data:")) else requests.append(r.url),
    )

    def dialog(d: Any) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    started = time.perf_counter()
    page.goto(report.as_uri(), wait_until="load")
    return page, requests, dialogs, time.perf_counter() - started


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The news pipeline's report of the invented examples plus a hostile scraped page."""
    folder = tmp_path_factory.mktemp("report")
    news = folder / "news"
    shutil.copytree(ROOT / "examples" / "news", news)
    (news / "island-scraper").mkdir()
    (news / "island-scraper" / "ferry.txt").write_text(HOSTILE, encoding="utf-8")
    result = run_pipeline(
        CONFIGS / "news.toml",
        overrides=[
            f"stages.read.files.path={news.as_posix()}/**/*.txt",
            "stages.entities.backend=rules",
            *news_outputs(folder),
        ],
    )
    assert result.summary.exit_code == 0
    return folder / "report.html"


def test_the_report_in_a_browser(browser: Any, report: Path, tmp_path: Path) -> None:
    page, requests, dialogs, _ = open_page(browser, report)
    shot = Path(os.environ.get("DOCSTAGE_SCREENSHOT") or tmp_path / "report.png")
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    # the story told by two outlets, side by side
    story = page.locator("article.story").first
    assert "2 sources: coastal-wire, harbor-times" in story.inner_text()
    assert story.locator("div.doc").count() == 2
    assert story.locator("span.quote").count() >= 2
    # entities highlighted in the text
    assert page.locator("article.story span.ent").count() >= 5
    person = page.locator("article.story span.ent-PERSON").first
    assert person.get_attribute("title") == "Marta Lindqvist (PERSON)"
    # the run summary lists every stage of the pipeline
    stages = page.locator("#summary tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.stage)"
    )
    assert stages == [
        "read.files",
        "cleanup.mail",
        "cleanup.metadata",
        "cleanup.boilerplate",
        "cleanup.normalize",
        "entities",
        "entities.link",
        "dedup",
        "render.jsonl",
        "render.markdown",
        "render.html",
        "render.csv",
    ]
    # nothing ran, nothing was fetched, the markup shows as text
    assert dialogs == []
    assert requests == []
    hostile = page.locator('details[data-id="island-scraper/ferry.txt"]')
    hostile.locator("summary").click()
    body = hostile.inner_text()
    assert "<script>alert(1)</script>" in body
    assert '<img src=x onerror="alert(1)">' in body
    assert page.locator("img").count() == 0
    # the little script we ship works: the entity filter hides rows
    rows = page.locator("table.entities tbody tr")
    page.fill("#entity-filter", "lindqvist")
    assert 1 <= sum(rows.nth(i).is_visible() for i in range(rows.count())) < rows.count()
    page.fill("#entity-filter", "")


@pytest.mark.corpus
def test_the_20news_report_opens_in_under_5_seconds(
    browser: Any, twenty_news: Path, tmp_path: Path
) -> None:
    config = {
        "pipeline": {"name": "20news"},
        "run": {"state": "state.sqlite"},
        "stages": [
            {
                "use": "read.files",
                "path": f"{twenty_news.as_posix()}/raw/**/*",
                "encoding": "latin-1",
            },
            {"use": "cleanup.mail"},
            {"use": "cleanup.boilerplate"},
            {"use": "entities", "backend": "rules"},
            {"use": "entities.link"},
            {"use": "dedup"},
            {"use": "render.html", "path": "report.html"},
        ],
    }
    result = run_pipeline(config, folder=tmp_path)
    assert result.summary.exit_code == 0
    report = tmp_path / "report.html"
    page, requests, dialogs, seconds = open_page(browser, report)
    size = report.stat().st_size
    print(f"20 Newsgroups report: {size / 2**20:.1f} MiB, opened in {seconds:.2f} s")
    assert seconds < 5
    assert page.locator("article.story").count() == 50
    assert "The 50 largest of" in page.locator("#stories p.note").inner_text()
    assert requests == []
    assert dialogs == []


# --- the Markdown digest, rendered as many viewers do (CommonMark with HTML on) --------

HOSTILE_ID = "wire/a`\n\n<img src=x onerror=alert(1)>\n\n`b"


def hostile_digest(folder: Path) -> Path:
    from docstage import Document, Entity

    payload = '<img src=x onerror="alert(2)"><script>alert(3)</script>'
    docs = [
        Document(
            id=HOSTILE_ID,
            source="wire<script>alert(4)</script>",
            text=f"Ferry timetable {payload} posted.",
            metadata={
                "title": f"Timetable {payload}\n\n<svg onload=alert(5)>",
                "published": "2024-05-01\n\n<img src=y onerror=alert(6)>",
            },
            entities=[Entity(label="ORG", text="Ferry", start=0, end=5, canonical=payload)],
            annotations={"story_id": "story-1"},
        ),
        Document(
            id="wire/b",
            source="<b onmouseover=alert(7)>x</b>",
            text="Ferry timetable posted.",
            metadata={"published": "`<img src=z onerror=alert(8)>`"},
            annotations={"story_id": "story-1"},
        ),
    ]
    result = run_pipeline(
        {"stages": [{"use": "render.markdown", "path": "digest.md"}]},
        documents=docs,
        folder=folder,
    )
    assert result.summary.exit_code == 0
    return folder / "digest.md"


def test_the_markdown_digest_runs_nothing_when_rendered_with_html_on(
    browser: Any, tmp_path: Path
) -> None:
    from markdown_it import MarkdownIt

    digest = hostile_digest(tmp_path)
    html = MarkdownIt("commonmark", {"html": True}).render(digest.read_text(encoding="utf-8"))
    for tag in ("<img", "<script", "<svg", "<b "):
        assert tag not in html
    page_file = tmp_path / "digest.html"
    page_file.write_text(f"<!doctype html><meta charset=utf-8><body>{html}", encoding="utf-8")
    page, requests, dialogs, _ = open_page(browser, page_file)
    page.locator("li").first.hover()
    page.wait_for_timeout(200)
    assert dialogs == []
    assert requests == []
    assert page.locator("img, script, svg, b").count() == 0
    text = page.inner_text("body")
    assert "<script>alert(3)</script>" in text  # the markup shows as text
    assert "wire/a' <img src=x onerror=alert(1)> 'b" in text
