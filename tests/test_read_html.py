"""read.html: main text without page furniture, metadata, gzip, encodings, bad pages.

The pages are invented, shaped like scraped news pages: navigation, a share bar, an
article with a byline, related links, a footer, scripts and meta tags.
"""

from __future__ import annotations

import gzip
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from docstage import Document, hookimpl
from docstage.cli import cli
from docstage.errors import ConfigError
from docstage.testing import RunResult, run_pipeline
from docstage_plugins import html
from docstage_plugins.html import ReadHtml

PARAGRAPHS = (
    "Dock workers at the port of Easthaven voted on Thursday to end a strike that had "
    "idled cranes for nine days, after the port authority agreed to a new shift schedule "
    "and a wage increase of four percent over two years.",
    '"We came back to the table because the ships were piling up outside the '
    'breakwater," said Mira Castell, who chairs the dockworkers\' union. "Nobody wanted '
    'this to last into the spring season."',
    "The port authority said the agreement would add about 1.2 million euros a year to "
    "its labour costs, which it expects to cover with higher fees on container traffic. "
    "Shipping lines had diverted at least fourteen vessels to neighbouring ports.",
    "Work resumed on the night shift, and the authority expects the backlog of "
    "containers to be cleared by the end of next week.",
)

HEAD = """\
<meta charset="{charset}">
<title>{title} | Harbor Times</title>
<link rel="canonical" href="https://harbortimes.example/news/2024/03/{slug}">
<meta property="og:title" content="{title}">
<meta property="og:site_name" content="Harbor Times">
<meta name="author" content="Jane Doe; Omar Lindqvist">
<meta property="article:published_time" content="2024-03-14T09:30:00+01:00">
<meta property="article:section" content="Business">
<meta property="article:tag" content="Labour">
<meta name="keywords" content="strike, port">
<script>window.tracker = {{page: "{slug}"}}; document.write("TRACKING-CODE");</script>
<style>.share {{ color: red }}</style>
"""

BODY = """\
<nav class="menu"><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/weather">Weather</a></li></ul></nav>
<div class="share-bar"><a href="#">Share on Facebook</a> <a href="#">Share on Twitter</a></div>
<article>
<h1>{title}</h1>
<p class="byline">By Jane Doe and Omar Lindqvist</p>
{paragraphs}
</article>
{comments}
<div class="related"><h3>Related articles</h3><ul><li><a href="/a">Ferry timetable changes</a></li>
<li><a href="/b">New crane arrives at the container terminal</a></li></ul></div>
<script>console.log("another tracker");</script>
<footer><p>Copyright 2024 Harbor Times. All rights reserved.</p>
<p>Follow us on Twitter and Facebook</p><a href="/privacy">Privacy policy</a></footer>
"""

COMMENTS = """\
<div id="comments" class="comments"><h3>Comments</h3>
<div class="comment"><p>Finally some good news for the harbour, well done to the union
negotiators.</p></div></div>
"""

FURNITURE = (
    "Sport",
    "Weather",
    "Share on Facebook",
    "Related articles",
    "Ferry timetable",
    "Copyright",
    "Follow us",
    "Privacy policy",
    "By Jane Doe",
    "TRACKING",
    "tracker",
    "color: red",
)


def news_page(
    title: str = "Harbor strike ends after nine days",
    *,
    slug: str = "harbor-strike-ends",
    paragraphs: tuple[str, ...] = PARAGRAPHS,
    charset: str = "utf-8",
    comments: bool = False,
) -> str:
    """An invented news page with the usual furniture around the article."""
    head = HEAD.format(charset=charset, title=title, slug=slug)
    body = BODY.format(
        title=title,
        paragraphs="\n".join(f"<p>{p}</p>" for p in paragraphs),
        comments=COMMENTS if comments else "",
    )
    return (
        f"<!DOCTYPE html>\n<html lang='en'>\n<head>\n{head}</head>\n<body>\n{body}</body></html>\n"
    )


#: A page with nothing a reader could call main text.
SCRIPT_ONLY = (
    "<!DOCTYPE html><html><head><title>Loading</title>"
    "<script>var app = 'boot';</script></head><body><script>start(app);</script></body></html>"
)


def write(base: Path, name: str, content: str | bytes) -> Path:
    path = base / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


class ProvideReadHtml:
    """Registers read.html for the test, unless an installed plugin already does."""

    @hookimpl
    def docstage_register_stages(self, registry: Any) -> None:
        if registry.get(ReadHtml.name) is None:
            registry.add(ReadHtml)


PLUGINS = [("test-read-html", ProvideReadHtml())]


def read_html(folder: Path, path: str = "pages/**/*.html*", **options: Any) -> RunResult:
    config = {"stages": [{"use": "read.html", "path": path, **options}]}
    return run_pipeline(config, plugins=PLUGINS, folder=folder)


def by_id(result: RunResult) -> dict[str, Document]:
    return {doc.id: doc for doc in result.documents}


def test_module_exports_its_stage_without_registering_it() -> None:
    assert (ReadHtml,) == html.STAGES
    assert not hasattr(html, "docstage_register_stages")


def test_keeps_the_article_and_leaves_the_page_furniture_out(tmp_path: Path) -> None:
    write(tmp_path, "pages/harbortimes/strike.html", news_page())
    result = read_html(tmp_path)
    (doc,) = result.documents
    for paragraph in PARAGRAPHS:
        assert paragraph in doc.text
    for furniture in FURNITURE:
        assert furniture not in doc.text, furniture
    assert doc.stages == ("read.html",)
    assert result.stage("read.html").docs_out == 1


def test_metadata_from_the_page(tmp_path: Path) -> None:
    write(tmp_path, "pages/harbortimes/strike.html", news_page())
    (doc,) = read_html(tmp_path).documents
    assert dict(doc.metadata) == {
        "path": "harbortimes/strike.html",
        "extracted_by": "trafilatura",
        "title": "Harbor strike ends after nine days",
        "published": "2024-03-14",
        "authors": ["Jane Doe", "Omar Lindqvist"],
        "categories": ["Business"],
        "tags": ["Labour", "strike", "port"],
        "url": "https://harbortimes.example/news/2024/03/harbor-strike-ends",
        "sitename": "Harbor Times",
    }


def test_without_metadata_only_the_path_is_kept(tmp_path: Path) -> None:
    write(tmp_path, "pages/harbortimes/strike.html", news_page())
    (doc,) = read_html(tmp_path, with_metadata=False).documents
    assert dict(doc.metadata) == {
        "path": "harbortimes/strike.html",
        "extracted_by": "trafilatura",
    }
    assert PARAGRAPHS[0] in doc.text


def test_ids_and_sources_as_in_read_files(tmp_path: Path) -> None:
    write(tmp_path, "pages/harbortimes/strike.html", news_page())
    write(tmp_path, "pages/valleypost/2024/library.htm", news_page("Library reopens"))
    result = read_html(tmp_path, path="pages/**/*.htm*", source="site:{parent}")
    docs = by_id(result)
    assert list(docs) == ["harbortimes/strike.html", "valleypost/2024/library.htm"]
    assert docs["harbortimes/strike.html"].source == "site:harbortimes"
    assert docs["valleypost/2024/library.htm"].source == "site:2024"
    assert result.stage("read.html").docs_in == 2


def test_gzipped_pages_are_read_transparently(tmp_path: Path) -> None:
    page = news_page()
    write(tmp_path, "pages/plain/strike.html", page)
    write(tmp_path, "pages/zipped/strike.html.gz", gzip.compress(page.encode("utf-8")))
    # Gzip bytes are recognised by their magic number, whatever the file's name.
    write(tmp_path, "pages/zipped/misnamed.html", gzip.compress(page.encode("utf-8")))
    docs = by_id(read_html(tmp_path))
    plain = docs["plain/strike.html"]
    for name in ("zipped/strike.html.gz", "zipped/misnamed.html"):
        assert docs[name].text == plain.text
        assert {**docs[name].metadata, "path": None} == {**plain.metadata, "path": None}


def test_declared_charset_is_honoured(tmp_path: Path) -> None:
    paragraphs = (
        *PARAGRAPHS[:2],
        "The café on the quay reopened at once; a coffee now costs 3 € after the "
        "agreement, and the owner, Zoë Ångström, said trade was back to normal.",
    )
    page = news_page(charset="windows-1252", paragraphs=paragraphs)
    write(tmp_path, "pages/quay/cafe.html", page.encode("cp1252"))
    (doc,) = read_html(tmp_path).documents
    assert "café on the quay" in doc.text
    assert "3 €" in doc.text
    assert "Zoë Ångström" in doc.text
    assert doc.metadata["encoding"] == "cp1252"
    assert "decode_errors" not in doc.metadata


def test_declared_charset_beats_detection(tmp_path: Path) -> None:
    # A few Greek letters in English text: on their own they would pass for cp1252.
    paragraphs = (*PARAGRAPHS[:3], "The harbour master, Νίκος, welcomed the vote.")
    page = news_page(charset="iso-8859-7", paragraphs=paragraphs)
    write(tmp_path, "pages/quay/greek.html", page.encode("iso-8859-7"))
    (doc,) = read_html(tmp_path).documents
    assert "The harbour master, Νίκος, welcomed the vote." in doc.text
    assert doc.metadata["encoding"] == "iso8859-7"


def test_undeclared_latin_1_is_detected(tmp_path: Path) -> None:
    paragraphs = (*PARAGRAPHS[:3], "Le café du port a rouvert à l'aube, a déclaré Zoë.")
    page = news_page(paragraphs=paragraphs).replace('<meta charset="utf-8">\n', "")
    write(tmp_path, "pages/port/cafe.html", page.encode("latin-1"))
    (doc,) = read_html(tmp_path).documents
    assert "Le café du port a rouvert à l'aube, a déclaré Zoë." in doc.text


def test_comments_are_left_out_unless_asked_for(tmp_path: Path) -> None:
    write(tmp_path, "pages/harbortimes/strike.html", news_page(comments=True))
    (without,) = read_html(tmp_path).documents
    (with_comments,) = read_html(tmp_path, include_comments=True).documents
    assert "union negotiators" not in without.text
    assert "union negotiators" in with_comments.text
    assert with_comments.text.startswith(without.text)


def test_prune_xpath_removes_elements_before_extraction(tmp_path: Path) -> None:
    page = news_page().replace("<p>Work resumed", "<p class='update'>Work resumed")
    write(tmp_path, "pages/harbortimes/strike.html", page)
    (doc,) = read_html(tmp_path, prune_xpath=["//p[@class='update']"]).documents
    assert "Work resumed" not in doc.text
    assert PARAGRAPHS[0] in doc.text


def test_page_without_main_text_is_dropped_and_counted(tmp_path: Path) -> None:
    write(tmp_path, "pages/app/shell.html", SCRIPT_ONLY)
    write(tmp_path, "pages/app/blank.html", "<html><body>  </body></html>")
    write(tmp_path, "pages/harbortimes/strike.html", news_page())
    result = read_html(tmp_path)
    assert result.exit_code == 0
    assert result.ids == ["harbortimes/strike.html"]
    stats = result.stage("read.html")
    assert (stats.docs_in, stats.docs_out, stats.errors) == (3, 1, 0)
    assert stats.dropped == {"no main text": 2}


def test_empty_binary_and_corrupt_files(tmp_path: Path) -> None:
    write(tmp_path, "pages/bad/empty.html", b"")
    write(tmp_path, "pages/bad/image.html", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    write(tmp_path, "pages/bad/cut.html.gz", gzip.compress(news_page().encode())[:200])
    write(tmp_path, "pages/good/strike.html", news_page())
    result = read_html(tmp_path)
    assert result.ids == ["good/strike.html"]
    stats = result.stage("read.html")
    assert stats.dropped == {"empty file": 1, "binary file": 1}
    assert stats.errors == 1
    (record,) = result.quarantine
    assert record["location"] == "bad/cut.html.gz"
    assert "cannot decompress gzip data" in record["error"]
    assert result.exit_code == 1


def test_page_method_for_pages_named_elsewhere() -> None:
    reader = ReadHtml(path=".")
    page = news_page().replace('<link rel="canonical"', '<link rel="alternate"')
    doc = reader.page(
        page.encode(),
        "html/strike.html",
        source="harbortimes.example",
        doc_id="gold:1",
        url="https://harbortimes.example/strike",
    )
    assert isinstance(doc, Document)
    assert (doc.id, doc.source) == ("gold:1", "harbortimes.example")
    assert doc.metadata["path"] == "html/strike.html"
    assert doc.metadata["url"] == "https://harbortimes.example/strike"


def test_favor_precision_and_recall_exclude_each_other(tmp_path: Path) -> None:
    write(tmp_path, "pages/a.html", news_page())
    with pytest.raises(
        ConfigError, match="'favor_precision' and 'favor_recall' exclude each other"
    ):
        read_html(tmp_path, favor_precision=True, favor_recall=True)
    for option in ("favor_precision", "favor_recall"):
        (doc,) = read_html(tmp_path, **{option: True}).documents
        assert PARAGRAPHS[0] in doc.text


def test_option_errors_name_the_option(tmp_path: Path) -> None:
    write(tmp_path, "pages/a.html", news_page())
    with pytest.raises(ConfigError, match=r"option 'prune_xpath': invalid XPath '//p\[@'"):
        read_html(tmp_path, prune_xpath=["//p[@"])
    with pytest.raises(ConfigError, match="option 'encoding': unknown encoding 'klingon'"):
        read_html(tmp_path, encoding="klingon")
    with pytest.raises(ConfigError, match=r"option 'path': no file matches '.*pages/\*\.htm'"):
        read_html(tmp_path, path="pages/*.htm")
    with pytest.raises(ConfigError, match=r"option 'path': no such folder '.*pages/missing'"):
        read_html(tmp_path, path="pages/missing/*.html")
    assert read_html(tmp_path, path="pages/*.none", allow_empty=True).ids == []


def test_missing_trafilatura_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "pages/a.html", news_page())
    monkeypatch.setitem(sys.modules, "trafilatura", None)  # `import trafilatura` fails
    with pytest.raises(ConfigError) as raised:
        read_html(tmp_path)
    assert str(raised.value) == "read.html needs the html extra: pip install 'docstage[html]'"


PLUGIN_FILE = """\
from docstage import hookimpl
from docstage_plugins.html import ReadHtml


@hookimpl
def docstage_register_stages(registry):
    if registry.get("read.html") is None:
        registry.add(ReadHtml)
"""


def test_missing_trafilatura_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "pages/a.html", news_page())
    write(tmp_path, "provide_html.py", PLUGIN_FILE)
    config = write(
        tmp_path,
        "pipeline.toml",
        textwrap.dedent(
            """\
            [pipeline]
            plugins = ["./provide_html.py"]

            [[stages]]
            use = "read.html"
            path = "pages/*.html"
            """
        ),
    )
    monkeypatch.setitem(sys.modules, "trafilatura", None)
    result = CliRunner().invoke(cli, ["run", str(config)])
    assert result.exit_code == 2
    assert result.output == "error: read.html needs the html extra: pip install 'docstage[html]'\n"
