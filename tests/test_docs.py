"""The user documentation in ``docs/`` matches the code.

Every hook specification is documented once in ``docs/plugin-hooks.md`` with its exact
signature; every built-in stage and option is in ``docs/stages.md``; relative links and
their anchors resolve; and the plugin tutorial in ``docs/writing-plugins.md`` runs as
written (its stage, config, hook and tests, and the error messages it shows).
"""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import itertools
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from docstage import hookspecs
from docstage.loading import ENTRY_POINT_GROUP, load_plugins

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples" / "news"

_FENCE = re.compile(r"^(```+|~~~+)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_INLINE_CODE = re.compile(r"(`+).*?\1", re.S)


@attrs.frozen
class Section:
    """A heading of a Markdown file and the text up to the next heading."""

    level: int
    title: str
    body: str


@attrs.frozen
class CodeBlock:
    """A fenced code block: its info string (language) and its text."""

    language: str
    text: str


def _lines_outside_code(text: str) -> Iterator[tuple[str, bool]]:
    """Yield each line with True when it lies inside a fenced code block."""
    fence: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        match = _FENCE.match(stripped)
        if fence is None and match:
            fence = match.group(1)
            yield line, True
        elif fence is not None and stripped.startswith(fence) and not stripped[len(fence) :]:
            fence = None
            yield line, True
        else:
            yield line, fence is not None


def sections(text: str) -> list[Section]:
    """Split Markdown into sections at headings (headings in code blocks do not count)."""
    found: list[Section] = []
    level, title = 0, ""
    body: list[str] = []
    for line, in_code in _lines_outside_code(text):
        heading = None if in_code else _HEADING.match(line)
        if heading:
            found.append(Section(level, title, "\n".join(body)))
            level, title, body = len(heading.group(1)), heading.group(2).strip(), []
        else:
            body.append(line)
    found.append(Section(level, title, "\n".join(body)))
    return found[1:] if not found[0].title else found


def code_blocks(text: str) -> list[CodeBlock]:
    """The fenced code blocks of Markdown text, indented ones included, in order."""
    blocks: list[CodeBlock] = []
    current: list[str] | None = None
    language, indent = "", ""
    for line in text.splitlines():
        stripped = line.strip()
        if current is None:
            match = _FENCE.match(stripped)
            if match:
                current, language = [], stripped[len(match.group(1)) :].strip()
                indent = line[: len(line) - len(line.lstrip())]
        elif _FENCE.match(stripped) and not stripped.strip("`~"):
            blocks.append(CodeBlock(language, "\n".join(current) + "\n"))
            current = None
        else:
            current.append(line.removeprefix(indent))
    return blocks


def prose(text: str) -> str:
    """Markdown text without code blocks and inline code, where links live."""
    kept = [line for line, in_code in _lines_outside_code(text) if not in_code]
    return _INLINE_CODE.sub("", "\n".join(kept))


def slug(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to -."""
    text = _INLINE_CODE.sub(lambda m: m.group(0).strip("`"), title).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file (repeated headings get -1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    for section in sections(path.read_text(encoding="utf-8")):
        base = slug(section.title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def doc_files() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


# --- (a) every hook specification is documented, once, with its signature --------------


def hook_specs() -> dict[str, Callable[..., Any]]:
    """The hook specifications: the functions named docstage_* in docstage.hookspecs."""
    return {
        name: function
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("docstage_")
    }


def _annotation(annotation: Any) -> str | None:
    if annotation is inspect.Parameter.empty:
        return None
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def documented_hooks() -> dict[str, list[Section]]:
    text = (DOCS / "plugin-hooks.md").read_text(encoding="utf-8")
    found: dict[str, list[Section]] = {}
    for section in sections(text):
        name = section.title.strip("`")
        if name.startswith("docstage_"):
            found.setdefault(name, []).append(section)
    return found


def test_hookspecs_are_found() -> None:
    assert "docstage_register_stages" in hook_specs()


def test_every_hook_is_documented_once() -> None:
    documented = documented_hooks()
    for name in hook_specs():
        assert len(documented.get(name, [])) == 1, f"{name}: expected one '## {name}' heading"
    for name, found in documented.items():
        assert found[0].level == 2, f"{name}: use a level-2 heading"


def test_no_documented_hook_that_is_not_a_spec() -> None:
    unknown = set(documented_hooks()) - set(hook_specs())
    assert not unknown, f"docs/plugin-hooks.md documents hooks that do not exist: {unknown}"


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_documented_signature_matches_the_spec(name: str) -> None:
    (section,) = documented_hooks()[name]
    python = [b for b in code_blocks(section.body) if b.language == "python"]
    assert python, f"{name}: no ```python block with the signature under its heading"
    tree = ast.parse(python[0].text.rstrip() + "\n    ...\n")
    (definition,) = tree.body
    assert isinstance(definition, ast.FunctionDef)
    assert definition.name == name

    signature = inspect.signature(hook_specs()[name])
    arguments = definition.args
    assert not arguments.posonlyargs
    assert not arguments.kwonlyargs
    assert arguments.vararg is None
    documented = [
        (a.arg, ast.unparse(a.annotation) if a.annotation else None) for a in arguments.args
    ]
    expected = [(p.name, _annotation(p.annotation)) for p in signature.parameters.values()]
    assert documented == expected
    returns = ast.unparse(definition.returns) if definition.returns else None
    assert returns == _annotation(signature.return_annotation)


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_documented_firstresult_matches_the_spec(name: str) -> None:
    (section,) = documented_hooks()[name]
    options = getattr(hook_specs()[name], "docstage_spec", {})
    expected = "yes" if options.get("firstresult") else "no"
    assert f"**firstresult:** {expected}" in section.body


# --- (b) every built-in stage and option is in docs/stages.md ---------------------------


def builtin_plugin_names() -> set[str]:
    entry_points = importlib.metadata.distribution("docstage").entry_points
    return {ep.name for ep in entry_points if ep.group == ENTRY_POINT_GROUP}


def test_builtin_stages_are_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCSTAGE_DISABLE_PLUGINS", raising=False)
    plugins = load_plugins(strict=False)
    names = builtin_plugin_names()
    assert names, "docstage declares no entry point in the docstage group"
    stage_types = [t for t in plugins.registry if t.plugin in names]
    assert stage_types, "the built-in plugins registered no stage"

    documented = {s.title.strip("`"): s for s in sections((DOCS / "stages.md").read_text())}
    for stage_type in stage_types:
        section = documented.get(stage_type.name)
        assert section is not None, f"docs/stages.md has no heading '## {stage_type.name}'"
        for spec in stage_type.options:
            assert f"`{spec.name}`" in section.body, (
                f"docs/stages.md: option '{spec.name}' of {stage_type.name} is not documented"
            )


# --- (c) relative links point at files (and headings) that exist -------------------------


def links(path: Path) -> list[str]:
    """The link targets of a Markdown file (not those shown in code)."""
    return _LINK.findall(prose(path.read_text(encoding="utf-8")))


def test_docs_exist_and_link() -> None:
    names = {path.name for path in doc_files()}
    assert {"configuration.md", "cli.md", "plugin-hooks.md", "stages.md"} <= names
    assert any(links(path) for path in doc_files())


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: p.name)
def test_relative_links_resolve(path: Path) -> None:
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        assert linked.exists(), f"{path.name}: link to missing file {target!r}"
        if fragment and linked.suffix == ".md":
            assert fragment in anchors(linked), f"{path.name}: no heading for {target!r}"


# --- the plugin tutorial runs as written ------------------------------------------------


_FILE_MARKER = re.compile(r"# ([\w./-]+\.(?:py|toml))")


def tutorial_files() -> dict[str, str]:
    """Code blocks of writing-plugins.md whose first line names their file (``# x.py``)."""
    files = {}
    for block in code_blocks((DOCS / "writing-plugins.md").read_text(encoding="utf-8")):
        marker = _FILE_MARKER.fullmatch(block.text.splitlines()[0]) if block.text else None
        if marker:
            files[marker.group(1)] = block.text
    return files


def _pipeline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from docstage.cli import main; main()", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def tutorial(tmp_path: Path) -> Path:
    """The tutorial's folder: its files, and the example articles under articles/."""
    folder = tmp_path / "news"
    for name, text in tutorial_files().items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    shutil.copytree(EXAMPLES, folder / "articles")
    return folder


def test_tutorial_has_its_files() -> None:
    expected = {
        "watchlist.py",
        "pipeline.toml",
        "test_watchlist.py",
        "test_source_size.py",
        "run_log.py",
        "source_size.py",
        "sizes.toml",
    }
    assert expected <= set(tutorial_files())


def test_tutorial_pipeline_runs(tutorial: Path) -> None:
    result = _pipeline("run", "pipeline.toml", "--no-progress", cwd=tutorial)
    assert result.returncode == 0, result.stderr
    assert "wrote out/port-watch.jsonl" in result.stdout
    output = (tutorial / "out/port-watch.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line) for line in output.splitlines()]
    assert [r["annotations"]["watchlist"] for r in records] == [["strike", "Lindqvist"]]
    assert records[0]["stages"] == ["read.files", "watchlist"]


def test_tutorial_stage_runs_under_the_processes_executor(tutorial: Path) -> None:
    """What "Running under every executor" promises: a plugin file's stage runs in worker
    processes with nothing special, and the output is local's, byte for byte."""
    outputs = {}
    for executor in ("local", "processes"):
        result = _pipeline(
            "run",
            "pipeline.toml",
            "--executor",
            executor,
            "--workers",
            "2",
            "--no-incremental",  # the second run must do the work, not reuse the first's
            "--log-format",
            "json",
            cwd=tutorial,
        )
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout.splitlines()[-1])
        assert summary["executor"] == executor
        assert summary["cached"] == 0
        outputs[executor] = (tutorial / "out/port-watch.jsonl").read_bytes()
    assert outputs["processes"] == outputs["local"]
    assert b"Lindqvist" in outputs["local"]


def test_tutorial_corpus_stage_keeps_the_sources_with_two_articles(tutorial: Path) -> None:
    result = _pipeline("run", "sizes.toml", "--log-format", "json", cwd=tutorial)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    [stage] = [s for s in summary["stages"] if s["name"] == "source_size"]
    assert (stage["in"], stage["out"], stage["dropped"]) == (4, 2, {"source too small": 2})
    output = (tutorial / "out/sizes.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line) for line in output.splitlines()]
    assert {r["source"] for r in records} == {"valley-post"}
    assert [r["annotations"]["source_size"] for r in records] == [2, 2]


def test_tutorial_run_log_hook_writes_a_line(tutorial: Path) -> None:
    plugins = 'pipeline.plugins=["./watchlist.py", "./run_log.py"]'
    result = _pipeline("run", "pipeline.toml", "--set", plugins, cwd=tutorial)
    assert result.returncode == 0, result.stderr
    log = (tutorial / "runs.log").read_text(encoding="utf-8")
    assert re.fullmatch(r"\S+ port-watch: 1 out, 0 quarantined\n", log)


def test_tutorial_error_messages_are_current(tutorial: Path) -> None:
    """Each `$ pipeline ... --set ...` followed by an `error:` line shows today's message."""
    text = (DOCS / "writing-plugins.md").read_text(encoding="utf-8")
    checked = 0
    for block in code_blocks(text):
        lines = block.text.splitlines()
        for command, output in itertools.pairwise(lines):
            if command.startswith("$ pipeline ") and "--set" in command:
                if not output.startswith("error:"):
                    continue
                result = _pipeline(*shlex.split(command)[2:], cwd=tutorial)
                assert result.returncode == 2, result.stderr
                assert result.stderr.strip() == output
                checked += 1
    assert checked >= 3


def test_tutorial_tests_pass(tutorial: Path) -> None:
    tests = sorted(name for name in tutorial_files() if name.startswith("test_"))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    result = subprocess.run(
        command, cwd=tutorial, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    defined = sum(tutorial_files()[name].count("\ndef test_") for name in tests)
    assert re.search(rf"\b{defined} passed\b", result.stdout), result.stdout


def test_tutorial_package_declares_its_entry_point() -> None:
    pyproject = tomllib.loads(tutorial_files()["docstage-watchlist/pyproject.toml"])
    entry_points = pyproject["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert entry_points == {"watchlist": "docstage_watchlist"}
    assert pyproject["tool"]["setuptools"]["packages"] == ["docstage_watchlist"]


def help_blocks() -> list[tuple[list[str], str]]:
    """The ``$ pipeline ... --help`` blocks of docs/cli.md: arguments and the text shown."""
    found = []
    for block in code_blocks((DOCS / "cli.md").read_text(encoding="utf-8")):
        first, _, shown = block.text.partition("\n")
        if first.startswith("$ pipeline ") and first.endswith("--help"):
            found.append((shlex.split(first)[1:], shown))
    return found


def test_cli_reference_shows_every_command_s_help() -> None:
    from docstage.cli import cli

    commands = {("pipeline", name) for name in cli.commands} - {("pipeline", "eval")}
    shown = {tuple(args[:2]) for args, _ in help_blocks()}
    assert commands <= shown, f"docs/cli.md lacks the --help of {sorted(commands - shown)}"


@pytest.mark.parametrize(
    ("args", "shown"), help_blocks(), ids=[" ".join(args) for args, _ in help_blocks()]
)
def test_cli_reference_help_is_current(args: list[str], shown: str) -> None:
    """docs/cli.md shows each command's --help as the command prints it (80 columns)."""
    from click.testing import CliRunner

    from docstage.cli import cli

    result = CliRunner().invoke(cli, args[1:], terminal_width=80, prog_name="pipeline")
    assert result.exit_code == 0, result.output
    assert result.output == shown


def _table_rows(section: str) -> dict[str, str]:
    """The option rows of a ``## `[section]` `` table in docs/configuration.md: name ->
    default cell."""
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    body = next(s.body for s in sections(text) if s.title == f"`[{section}]`")
    rows = {}
    for line in body.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows[cells[0].strip("`")] = cells[2]
    return rows


@pytest.mark.parametrize("section", ["pipeline", "run"])
def test_every_config_option_is_documented_with_its_default(section: str) -> None:
    from docstage.config import PipelineSection, RunSection

    cls = PipelineSection if section == "pipeline" else RunSection
    documented = _table_rows(section)
    fields = {f.name: f for f in attrs.fields(cls)}
    assert set(documented) == set(fields), f"docs/configuration.md [{section}] differs"
    for name, field in fields.items():
        default = field.default
        if isinstance(default, attrs.Factory):
            default = default.factory()
        assert documented[name] == f"`{json.dumps(default)}`", name
