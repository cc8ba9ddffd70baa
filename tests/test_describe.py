"""``pipeline describe``: a stage's docstring rendered (text on a terminal, Markdown when
piped), never its raw markup; defaults shown as a config writes them."""

from __future__ import annotations

import io
import math
import re
import sys
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt
from rich.console import Console

from docstage.cli import cli
from docstage.describe import print_stage, rest_to_markdown, stage_markdown, toml_value
from docstage.loading import load_plugins
from docstage.options import option
from docstage.registry import StageType
from docstage.stages import Transform

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


def html(markdown: str) -> str:
    """What a Markdown viewer makes of ``markdown`` (CommonMark)."""
    return MarkdownIt().render(markdown)


@attrs.define(kw_only=True)
class Marked(Transform):
    """Mark documents, as an example of every kind of markup.

    **Matching.** Words are matched as whole words (``words``); see :func:`match_words`
    and :class:`~docstage.document.Document`. It is *fast*.

    Three modes:

    - ``keep``: documents stay,
      marked;
    - ``drop``: the others go.

    1. first
    2. second

    Written as::

        [[stages]]
        use = "marked"

    Notes
    -----
    A cell joined by `` | `` starts with ``=`` or ``+``. Globs such as 'a/**/*.txt'
    stay as written. 2021. That was the year.
    """

    name: ClassVar[str] = "marked"

    words: list[str] = option(help="Words to look for, e.g. 'articles/**/*.txt' or `x_y`.")
    mode: str = option("keep", help="'keep' or 'drop'.")
    limit: int | None = option(None, help="At most this many, or no limit.")
    ratio: float = option(0.5, help="A ratio.")
    table: dict[str, list[str]] = option(
        factory=lambda: {"New York City": ["NYC"]}, help="Aliases."
    )
    enabled: bool = option(True, help="On or off.")

    def process(self, doc: Any) -> Any:
        return doc


MARKED = StageType("marked", Marked, "transform", "example", "example 1.0")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "not set"),
        (True, "true"),
        (False, "false"),
        (5, "5"),
        (0.8, "0.8"),
        (math.inf, "inf"),
        ("auto", '"auto"'),
        ('say "hi"\n', '"say \\"hi\\"\\n"'),
        ("Zürich", '"Zürich"'),
        (Path("out/x.jsonl"), '"out/x.jsonl"'),
        ([], "[]"),
        (["PERSON", "ORG"], '["PERSON", "ORG"]'),
        ({}, "{}"),
        ({"text": "body"}, '{ text = "body" }'),
        ({"New York City": ["NYC"]}, '{ "New York City" = ["NYC"] }'),
    ],
)
def test_defaults_are_toml_values(value: Any, shown: str) -> None:
    assert toml_value(value) == shown


def builtin_stage_types() -> list[StageType]:
    return list(load_plugins(strict=False).registry)


def test_every_default_of_every_installed_stage_reads_back_as_toml() -> None:
    for stage_type in builtin_stage_types():
        for spec in stage_type.options:
            if spec.required or spec.default is None:
                continue
            text = toml_value(spec.default)
            read = tomllib.loads(f"v = {text}")["v"]
            default = spec.default
            if isinstance(default, (tuple, Path)):
                default = list(default) if isinstance(default, tuple) else str(default)
            assert read == default, f"{stage_type.name}.{spec.name}: {text}"


def test_inline_markup_becomes_markdown() -> None:
    markdown = rest_to_markdown(Marked.__doc__ or "")
    rendered = html(markdown)
    assert "<strong>Matching.</strong>" in rendered
    assert "<code>words</code>" in rendered
    assert "<code>match_words</code>" in rendered
    assert "<code>Document</code>" in rendered  # :class:`~a.b.Document`
    assert "<em>fast</em>" in rendered
    assert "<code> | </code>" in rendered  # the spaces inside are kept
    assert "<code>=</code> or <code>+</code>" in rendered
    assert "'a/**/*.txt'" in rendered  # not emphasis
    assert "2021. That was the year." in rendered  # not a numbered list
    assert "``words``" not in markdown
    assert ":func:" not in markdown


def test_lists_literal_blocks_and_titles_become_markdown() -> None:
    markdown = rest_to_markdown(Marked.__doc__ or "")
    assert "- `keep`: documents stay, marked;\n- `drop`: the others go." in markdown
    assert "1. first\n2. second" in markdown
    assert 'Written as:\n\n```\n[[stages]]\nuse = "marked"\n```' in markdown
    assert "**Notes**" in markdown
    rendered = html(markdown)
    assert "<ul>\n<li><code>keep</code>: documents stay, marked;</li>" in rendered
    assert "<ol>\n<li>first</li>" in rendered
    assert "<pre><code>[[stages]]\nuse = &quot;marked&quot;\n</code></pre>" in rendered


def test_a_list_needs_a_line_that_introduces_it() -> None:
    """A wrapped line that happens to start with "- " is no list item."""
    markdown = rest_to_markdown("The range 1\n- 5 is wrong.\n\nKinds:\n- a\n- b")
    assert markdown == "The range 1 - 5 is wrong.\n\nKinds:\n\n- a\n- b"


def test_the_markdown_of_a_stage() -> None:
    markdown = stage_markdown(MARKED)
    lines = markdown.splitlines()
    assert lines[:3] == ["# marked", "", "A transform, from example (example 1.0)."]
    assert "## Options" in lines
    options = [line for line in lines if line.startswith("- `") and " (" in line]
    assert options[-6:] == [
        "- `words` (a list of strings, required): Words to look for, e.g. "
        "'articles/\\*\\*/\\*.txt' or `x_y`.",
        "- `mode = \"keep\"` (a string): 'keep' or 'drop'.",
        "- `limit` (an integer, not set by default): At most this many, or no limit.",
        "- `ratio = 0.5` (a number): A ratio.",
        '- `table = { "New York City" = ["NYC"] }` (a table): Aliases.',
        "- `enabled = true` (true or false): On or off.",
    ]
    rendered = html(markdown)
    assert "e.g. 'articles/**/*.txt' or <code>x_y</code>." in rendered


def test_the_text_of_a_stage_has_no_markup_and_fits() -> None:
    out = io.StringIO()
    print_stage(Console(file=out, width=60, color_system=None), MARKED)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == "marked (transform) — from example (example 1.0)"
    for markup in ("**Matching", "*fast*", "``", ":func:", ":class:", "`"):
        assert markup not in text, markup
    assert "Matching. Words are matched as whole words (words)" in " ".join(text.split())
    assert "  words  a list of strings, required" in lines
    assert '  mode = "keep"  a string' in lines
    assert "  limit  an integer, not set by default" in lines
    assert "  enabled = true  true or false" in lines
    assert "'a/**/*.txt'" in text
    assert all(len(line) <= 60 and line == line.rstrip() for line in lines)
    assert "None" not in text


def describe(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["describe", *args], env={"COLUMNS": "80"})
    return result.exit_code, result.output


def test_describe_piped_is_markdown() -> None:
    code, output = describe("dedup")
    assert code == 0, output
    assert output.startswith("# dedup\n\nA corpus stage, from docstage.dedup (docstage ")
    assert "**Copies.** Exact copies" in output
    assert "``" not in output
    assert "- `threshold = 0.8` (a number): " in output
    assert "- `report` (a path, not set by default): " in output
    assert "- `source_priority = []` (a list of strings): " in output
    assert "'None'" not in output


def test_describe_as_text_on_request() -> None:
    code, output = describe("dedup", "--format", "text")
    assert code == 0, output
    assert output.startswith("dedup (corpus) — from docstage.dedup (docstage ")
    assert "\nCopies. Exact copies" in output
    for markup in ("**", "``", "'None'"):
        assert markup not in output
    assert "  threshold = 0.8  a number" in output
    assert "  report  a path, not set by default" in output
    assert all(len(line) <= 80 for line in output.splitlines())


@pytest.mark.parametrize("output_format", ["markdown", "text"])
def test_every_installed_stage_is_described_whole(output_format: str) -> None:
    for stage_type in builtin_stage_types():
        code, output = describe(stage_type.name, "--format", output_format)
        assert code == 0, output
        assert not re.search(r"``\w", output), stage_type.name
        assert "…" not in output, stage_type.name
        for spec in stage_type.options:
            assert re.search(rf"^(- `|  ){re.escape(spec.name)}\b", output, re.M), spec.name
