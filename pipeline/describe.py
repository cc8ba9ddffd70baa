"""What ``pipeline describe`` shows: a stage type's documentation, for a terminal or as
Markdown.

Stage docstrings are written in the reST-ish style of Python docstrings: code in double
backquotes, ``**bold**``, ``*emphasis*``, roles such as ``:func:`name```, bullet and
numbered lists, ``::`` before a literal block.
:func:`rest_to_markdown` turns that into Markdown, which is printed as it is when the
output is piped and rendered by rich on a terminal. Defaults are shown as a config would
write them (:func:`toml_value`): ``true``, ``"auto"``, ``["a", "b"]``, and "not set" for
an option whose default is no value.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.markdown import Markdown
from rich.padding import Padding
from rich.text import Text

from docstage.options import OptionSpec
from docstage.registry import StageType

#: How the kinds of stages read in a sentence: "A corpus stage, from ...".
_KIND_NOUN = {
    "reader": "A reader",
    "transform": "A transform",
    "corpus": "A corpus stage",
    "renderer": "A renderer",
}

_BULLET = re.compile(r"^(\s*)([-*+•]|\d+[.)]|#\.)\s+(.*)$")
_UNDERLINE = re.compile(r"^\s*([=\-~^\"'`#*+])\1{2,}\s*$")
# Inline markup, tried in this order at each place: ``literal``, :role:`target`,
# `text <url>`_ (a link), `interpreted` (shown as code), **strong**, *emphasis*.
_INLINE = re.compile(
    r"``(?P<literal>[^`](?:.*?[^`])??)``(?!`)"
    r"|:[\w:+.-]+:`(?P<role>[^`]+)`"
    r"|`(?P<label>[^`<]+?)\s*<(?P<url>[^>`]+)>`__?"
    r"|`(?P<code>[^`]+)`_{0,2}"
    r"|(?<![\w*\\])\*\*(?P<strong>\S(?:[^*]*?\S)??)\*\*(?![\w*])"
    r"|(?<![\w*\\/])\*(?P<em>[^\s*](?:[^*]*?[^\s*\\])??)\*(?![\w*])"
)
# Markdown reads these as markup: a backslash before punctuation, backticks, stars, "<"
# (HTML) and underscores that are not inside a word (snake_case stays as written).
_ESCAPE = re.compile(r"\\(?=[!-/:-@\[-`{-~])|[`*<]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# ... and these at the start of a line: a heading, a quote, a list item.
_LINE_START = re.compile(r"^(?:[#>]|[-+](?=\s)|\d+(?=[.)]\s))")
# Spaces at the end of a line, before the terminal's style codes if any.
_TRAILING = re.compile(r"[ \t]+(?=(?:\x1b\[[0-9;]*m)*$)", re.MULTILINE)


def toml_value(value: Any) -> str:
    """``value`` as a TOML file would write it: ``true``, ``0.8``, ``"auto"``, ``[]``,
    ``{ a = 1 }``. None, which TOML cannot write, is ``not set``."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return "[" + ", ".join(toml_value(item) for item in items) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        pairs = (f"{_toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(pairs) + " }"
    # A TOML basic string has JSON's escapes.
    text = str(value) if isinstance(value, Path) else value
    return json.dumps(text if isinstance(text, str) else str(text), ensure_ascii=False)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _code(text: str) -> str:
    """``text`` as a Markdown code span, whatever backticks and spaces it holds."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _escape(text: str) -> str:
    """Plain text with the characters Markdown would read as markup escaped."""
    return _ESCAPE.sub(lambda m: "\\" + m.group(0), text)


def inline_markdown(text: str, *, markup: bool = True) -> str:
    """One paragraph of reST-ish text as Markdown.

    Args:
        markup: Read ``**strong**`` and ``*emphasis*`` too; with False (option help texts,
            which are plain text with code in backticks) only code is markup, so that a
            glob such as ``'**/*.txt'`` stays as written.
    """
    out: list[str] = []
    position = 0
    for match in _INLINE.finditer(text):
        kind = match.lastgroup
        if kind in ("strong", "em") and not markup:
            continue
        out.append(_escape(text[position : match.start()]))
        position = match.end()
        if kind == "literal":
            out.append(_code(match.group("literal")))
        elif kind == "role":
            target = match.group("role")
            titled = re.match(r"(.*?)\s*<[^>]*>$", target)
            name = titled.group(1) if titled else target.lstrip("~.")
            if target.startswith("~"):
                name = name.rsplit(".", 1)[-1]
            out.append(_code(name))
        elif kind == "label":
            label, url = match.group("label", "url")
            out.append(f"[{_escape(label)}]({url})")
        elif kind == "code":
            out.append(_code(match.group("code")))
        else:
            inner = inline_markdown(match.group(kind or ""))
            out.append(f"**{inner}**" if kind == "strong" else f"*{inner}*")
    out.append(_escape(text[position:]))
    joined = "".join(out)
    start = _LINE_START.match(joined)
    if start is None:
        return joined
    if start.group(0)[0].isdigit():  # "2021. The" is no list item: "2021\. The"
        return f"{start.group(0)}\\{joined[start.end() :]}"
    return f"\\{joined}"


def rest_to_markdown(doc: str) -> str:
    """A docstring's reST-ish markup as Markdown: paragraphs (one line each), bullet and
    numbered lists, ``::`` literal blocks as fenced code, section titles in bold, and
    the inline markup of :func:`inline_markdown`."""
    lines = inspect.cleandoc(doc).splitlines()
    blocks: list[str] = []
    number = 0
    while number < len(lines):
        if not lines[number].strip():
            number += 1
            continue
        end = number
        while end < len(lines) and lines[end].strip():
            end += 1
        block, number = lines[number:end], end
        literal = block[-1].rstrip().endswith("::")
        if len(block) >= 2 and _UNDERLINE.match(block[1]):  # a section title
            blocks.append(f"**{inline_markdown(block[0].strip())}**")
            block = block[2:]
            if not block:
                continue
        blocks.append(_block(block))
        if literal:
            base = _indent(block[0])
            code: list[str] = []
            while number < len(lines) and (
                not lines[number].strip() or _indent(lines[number]) > base
            ):
                code.append(lines[number])
                number += 1
            while code and not code[-1].strip():
                code.pop()
            if code:
                shift = min(_indent(line) for line in code if line.strip())
                body = "\n".join(line[shift:] for line in code)
                blocks.append(f"```\n{body.strip(chr(10))}\n```")
    return "\n\n".join(block for block in blocks if block)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(block: list[str]) -> str:
    """One block of lines (no blank line inside) as Markdown: a paragraph, a list, or a
    paragraph followed by a list."""
    base = min(_indent(line) for line in block)
    items: list[tuple[int, str, list[str]]] = []  # (depth, marker, text lines)
    paragraph: list[str] = []
    indents: list[int] = []
    for place, line in enumerate(block):
        bullet = _BULLET.match(line)
        # A list starts a block, or follows a line that introduces it ("Two kinds:").
        starts = place == 0 or block[place - 1].rstrip().endswith(":")
        if bullet and (items or (starts and _indent(line) == base)):
            indent = len(bullet.group(1))
            while indents and indents[-1] > indent:
                indents.pop()
            if not indents or indents[-1] < indent:
                indents.append(indent)
            marker = bullet.group(2)
            marker = "-" if not marker[0].isdigit() else marker[:-1] + "."
            items.append((len(indents) - 1, marker, [bullet.group(3)]))
        elif items:
            items[-1][2].append(line.strip())
        else:
            paragraph.append(line.strip())
    text = " ".join(paragraph)
    if text.endswith("::"):  # reST: "Example::" reads "Example:"; "text ::" drops it
        text = text[:-2].rstrip() if text[:-2].endswith(" ") else text[:-1]
    parts = [inline_markdown(text)] if text else []
    lines = []
    for depth, marker, words in items:
        nesting, item = "  " * depth, inline_markdown(" ".join(words))
        lines.append(f"{nesting}{marker} {item}")
    if lines:
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _default(spec: OptionSpec) -> str:
    if spec.required:
        return "required"
    if spec.default is None:
        return "not set by default"
    return ""


def _summary(spec: OptionSpec) -> str:
    """``name = default`` (or ``name`` when required or unset), in TOML."""
    shown = _default(spec)
    return spec.name if shown else f"{spec.name} = {toml_value(spec.default)}"


def stage_markdown(stage: StageType) -> str:
    """The whole description of ``stage`` as Markdown (what a pipe gets)."""
    noun = _KIND_NOUN.get(stage.kind, f"A {stage.kind} stage")
    parts = [f"# {_escape(stage.name)}", f"{noun}, from {_escape(stage.origin)}."]
    doc = inspect.getdoc(stage.cls)
    if doc:
        parts.append(rest_to_markdown(doc))
    options = []
    for spec in stage.options:
        about = ", ".join(filter(None, [spec.type_name, _default(spec)]))
        help_text = inline_markdown(spec.help, markup=False)
        options.append(f"- {_code(_summary(spec))} ({_escape(about)}): {help_text}".rstrip())
    parts.append("## Options\n\n" + ("\n".join(options) if options else "None."))
    return "\n\n".join(parts) + "\n"


def print_stage(console: Console, stage: StageType) -> None:
    """Print ``stage``'s description for a terminal: the docstring rendered, each option
    with its default and type on one line and its help below."""
    parts: list[RenderableType] = [
        Text.assemble((stage.name, "bold"), f" ({stage.kind}) — from {stage.origin}")
    ]
    doc = inspect.getdoc(stage.cls)
    if doc:
        parts += [Text(), Markdown(rest_to_markdown(doc))]
    parts += [Text(), Text("Options", style="bold") if stage.options else Text("No options.")]
    for spec in stage.options:
        head = Text("  ")
        head.append(spec.name, style="bold")
        default = _default(spec)
        if not default:
            head.append(" = ")
            head.append(toml_value(spec.default), style="cyan")
        head.append(f"  {spec.type_name}", style="dim")
        if default:
            head.append(f", {default}", style="yellow" if spec.required else "dim")
        parts.append(head)
        if spec.help:
            parts.append(Padding(Markdown(inline_markdown(spec.help, markup=False)), (0, 0, 0, 6)))
    # rich pads every line to the width; what it prints is kept without that padding.
    with console.capture() as captured:
        for part in parts:
            console.print(part)
    console.file.write(_TRAILING.sub("", captured.get()))
