"""``pipeline eval cleanup``: cleaned text scored against gold text, token by token.

A page is a bag (multiset) of lower-cased ``\\w+`` tokens; the tokens its cleaned text
shares with its gold text are its matches. Precision, recall and F1 are micro-averaged
over the pages: the sums of matches, predicted tokens and gold tokens over all pages give one
precision and one recall, so a long page weighs more than a short one.

The routes it compares, each on the same gold records:

- **text**: each record's page text becomes a document and goes through the transform
  and corpus stages of a config (its readers and renderers are left out);
- **html**: each record's HTML file is read with ``read.html``, then goes through the
  same stages (or none, without a config);
- baselines: **keep everything** (the page text as it is) and **plain trafilatura**
  (``trafilatura.extract`` with its defaults on the HTML).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click
import structlog
from rich.console import Console
from rich.table import Table
from rich.text import Text

from docstage.cli_support import overrides_option, user_errors
from docstage.config import load_config
from docstage.document import Document
from docstage.errors import DataError, RunError, did_you_mean, display, one_of
from docstage.log import configure_logging
from docstage.plan import Plan
from docstage.resolve import make_plan
from docstage.stages import Drop
from docstage_eval.command import eval_command, file_option, json_option, show
from docstage_eval.metrics import Counts, macro_f1, total
from docstage_eval.scratch import run_scratch

if TYPE_CHECKING:
    from docstage_plugins.html import ReadHtml

log = structlog.get_logger()

_TOKEN = re.compile(r"\w+")


# --- the metric ----------------------------------------------------------------------------


def tokens(text: str) -> Counter[str]:
    """The bag of lower-cased ``\\w+`` tokens of ``text``."""
    return Counter(_TOKEN.findall(text.lower()))


def token_counts(predicted: str, gold: str) -> Counts:
    """Score one page's ``predicted`` text against its ``gold`` text: the hits are the
    tokens of both (multiset intersection)."""
    ours, theirs = tokens(predicted), tokens(gold)
    return Counts.of(sum((ours & theirs).values()), ours.total(), theirs.total())


# --- the gold file -------------------------------------------------------------------------

#: Roles of a gold record's fields and their default keys (``--field ROLE=KEY``).
FIELDS: Mapping[str, str] = {
    "text": "page_text",
    "gold": "clean_text",
    "html": "html_path",
    "id": "id",
    "source": "domain",
    "url": "url",
}


@attrs.frozen(kw_only=True)
class Page:
    """One gold record.

    Attributes:
        id: The record's id (its ``id`` field, else the file's name and the line).
        line: Its line in the gold file.
        gold: The gold text.
        text: The page's text as scraped (for the text route), if the record has it.
        html: The HTML file, relative to the gold file's folder, if the record has it.
        source: The document source (the record's ``domain``), or "".
        url: The page's address, if the record has it.
    """

    id: str
    line: int
    gold: str
    text: str | None = None
    html: str | None = None
    source: str = ""
    url: str | None = None


@attrs.frozen
class GoldFile:
    """The records of a gold JSONL file, in file order."""

    path: Path
    pages: tuple[Page, ...]

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def shown(self) -> str:
        return display(self.path)

    def lacking(self, role: str) -> int | None:
        """The line of the first record without the ``text`` or ``html`` field, or None."""
        return next((p.line for p in self.pages if getattr(p, role) is None), None)


def parse_fields(specs: Sequence[str]) -> dict[str, str]:
    """``ROLE=KEY`` specs (``--field text=body``) applied to :data:`FIELDS`."""
    fields = dict(FIELDS)
    for spec in specs:
        role, sep, key = spec.partition("=")
        role, key = role.strip(), key.strip()
        if not sep or not key:
            raise DataError(f"--field {spec!r}: expected ROLE=KEY, e.g. --field text=body")
        if role not in FIELDS:
            raise DataError(
                f"--field {spec!r}: unknown role '{role}'{did_you_mean(role, FIELDS)}; "
                f"roles: {one_of(FIELDS)}"
            )
        fields[role] = key
    return fields


def load_gold(
    path: Path,
    fields: Mapping[str, str] = FIELDS,
    *,
    need: Sequence[str] = (),
    limit: int | None = None,
) -> GoldFile:
    """Read a gold JSONL file: one JSON object per line, with the gold text.

    Args:
        path: The file.
        fields: Role -> key of the records (:data:`FIELDS`).
        need: Roles every record must have (``text``, ``html``) for the routes asked for.
        limit: Read only the first ``limit`` records.

    Raises:
        DataError: The file cannot be read, a line is not a JSON object, a record
            lacks the gold text or a needed field, an id repeats, an HTML file is missing.
    """
    shown = display(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, read line by line
    except FileNotFoundError:
        raise DataError(f"no such file: {shown}") from None
    except IsADirectoryError:
        raise DataError(f"{shown} is a folder; give the path of a .jsonl file") from None
    except OSError as exc:
        raise DataError(f"cannot read {shown}: {exc.strerror or exc}") from None
    pages: list[Page] = []
    lines: dict[str, int] = {}
    with handle:
        for number, raw in enumerate(handle, start=1):
            if limit is not None and len(pages) >= limit:
                break
            if not raw.strip():
                continue
            page = _page(raw, number, path, fields, need)
            if page.id in lines:
                raise DataError(
                    f"{shown}:{number}: duplicate id '{page.id}' (first on line {lines[page.id]})"
                )
            lines[page.id] = number
            if page.html is not None and not (path.parent / page.html).is_file():
                raise DataError(
                    f"{shown}:{number}: {fields['html']} '{page.html}' is not a file "
                    f"(relative to {display(path.parent)})"
                )
            pages.append(page)
    if not pages:
        raise DataError(f"{shown}: no records")
    return GoldFile(path, tuple(pages))


_NEEDED_BY = {
    "gold": "the gold text",
    "text": "the text route and the keep-everything baseline read it",
    "html": "the HTML route and the trafilatura baseline read it",
}


def _page(
    raw: bytes, number: int, path: Path, fields: Mapping[str, str], need: Sequence[str]
) -> Page:
    name = path.name
    where = f"{display(path)}:{number}"
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: invalid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")

    def string(role: str, required: bool) -> str | None:
        key = fields[role]
        value = record.get(key)
        if value is None:
            if required:
                raise DataError(
                    f"{where}: missing field '{key}' ({_NEEDED_BY[role]}; "
                    f"another key: --field {role}=KEY)"
                )
            return None
        if not isinstance(value, str):
            raise DataError(f"{where}: field '{key}' must be a string, not {type(value).__name__}")
        return value

    gold = string("gold", True)
    assert gold is not None
    doc_id = record.get(fields["id"])
    source = record.get(fields["source"])
    url = record.get(fields["url"])
    return Page(
        id=str(doc_id) if doc_id is not None else f"{name}:{number}",
        line=number,
        gold=gold,
        text=string("text", "text" in need),
        html=string("html", "html" in need),
        source=str(source) if source is not None else "",
        url=str(url) if url else None,
    )


# --- routes --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RouteResult:
    """How one route scored.

    Attributes:
        route: ``keep-everything``, ``trafilatura``, ``text`` or ``html``.
        label: What the table shows.
        stages: The stages the pages went through.
        score: Token counts summed over the pages (micro average).
        macro_f1: The mean of the pages' F1, for comparison.
        pages: Pages scored (a page the route dropped scores as empty text).
        seconds: Time to produce the texts, scoring excluded.
        dropped: Pages dropped, by reason.
        errors: Pages a stage failed on (scored as empty text).
    """

    route: str
    label: str
    stages: tuple[str, ...]
    score: Counts
    macro_f1: float
    pages: int
    seconds: float
    dropped: Mapping[str, int] = attrs.field(factory=dict)
    errors: int = 0

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        rate = self.pages_per_second
        return {
            "route": self.route,
            "label": self.label,
            "stages": list(self.stages),
            "pages": self.pages,
            **self.score.scores(),
            "macro_f1": round(self.macro_f1, 4),
            "matched": self.score.tp,
            "predicted": self.score.predicted,
            "gold": self.score.gold,
            "seconds": round(self.seconds, 3),
            "pages_per_second": round(rate, 1) if rate != float("inf") else None,
            "dropped": dict(sorted(self.dropped.items())),
            "errors": self.errors,
        }


@attrs.define
class _Outcome:
    """What a route produced: a text per page id, and what it dropped or failed on."""

    texts: dict[str, str] = attrs.Factory(dict)
    dropped: Counter[str] = attrs.Factory(Counter)
    errors: int = 0
    seconds: float = 0.0


def _result(
    gold: GoldFile, route: str, label: str, stages: Sequence[str], outcome: _Outcome
) -> RouteResult:
    scores = [token_counts(outcome.texts.get(page.id, ""), page.gold) for page in gold.pages]
    return RouteResult(
        route=route,
        label=label,
        stages=tuple(stages),
        score=total(scores),
        macro_f1=macro_f1(scores),
        pages=len(scores),
        seconds=outcome.seconds,
        dropped=dict(outcome.dropped),
        errors=outcome.errors,
    )


def keep_everything(gold: GoldFile) -> RouteResult:
    """The baseline that keeps each page's text as it is."""
    started = time.perf_counter()
    texts = {page.id: page.text or "" for page in gold.pages}
    outcome = _Outcome(texts, seconds=time.perf_counter() - started)
    return _result(gold, "keep-everything", "keep everything", (), outcome)


def plain_trafilatura(gold: GoldFile) -> RouteResult:
    """The baseline of ``trafilatura.extract`` with its defaults on each page's HTML."""
    from docstage_plugins.html import decompress, require_trafilatura

    require_trafilatura("the plain trafilatura baseline")
    import trafilatura

    outcome = _Outcome()
    started = time.perf_counter()
    for page in gold.pages:
        assert page.html is not None
        try:
            html = decompress((gold.folder / page.html).read_bytes())
            outcome.texts[page.id] = trafilatura.extract(html) or ""
        except Exception as exc:  # a baseline's failure on one page is counted, not fatal
            log.warning("page failed", location=page.html, error=f"{type(exc).__name__}: {exc}")
            outcome.errors += 1
    outcome.seconds = time.perf_counter() - started
    label = f"plain trafilatura {trafilatura.__version__}"
    return _result(gold, "trafilatura", label, ("trafilatura.extract",), outcome)


@attrs.frozen
class Cleanup:
    """The transform and corpus stages of a config, to run on the gold pages.

    Attributes:
        config: The config file.
        overrides: ``--set`` expressions.
    """

    config: Path
    overrides: tuple[str, ...] = ()

    def plan(self) -> Plan:
        """A fresh plan of the whole config: corpus stages keep state, so one per route."""
        return make_plan(load_config(self.config, self.overrides), require_reader=False)


def _run(plan: Plan, documents: Iterable[Document], outcome: _Outcome) -> None:
    """Run ``plan`` on ``documents``; texts, drops and errors go to ``outcome``.

    A document a stage fails on is skipped and counted (it scores as empty text); the
    config's state store, run cache, quarantine file and outputs are left alone.
    """

    def collect(batch: list[Document]) -> None:
        outcome.texts.update((doc.id, doc.text) for doc in batch)

    summary = run_scratch(plan, collect, documents=documents)
    if summary.failed:
        raise RunError(f"the cleanup stages of {plan.config.display_path} failed: {summary.failed}")
    for stats in summary.stages:
        outcome.dropped.update(stats.dropped)
        outcome.errors += stats.errors


def text_route(gold: GoldFile, cleanup: Cleanup) -> RouteResult:
    """Each page's text through the config's transform and corpus stages."""
    plan = cleanup.plan().only("transform", "corpus")
    documents = (
        Document(
            id=page.id, text=page.text or "", source=page.source, metadata=_metadata(gold, page)
        )
        for page in gold.pages
    )
    outcome = _Outcome()
    started = time.perf_counter()
    _run(plan, documents, outcome)
    outcome.seconds = time.perf_counter() - started
    stages = [stage.name for stage in plan.stages]
    return _result(gold, "text", f"text ({plan.config.pipeline.name})", stages, outcome)


def _metadata(gold: GoldFile, page: Page) -> dict[str, Any]:
    """Where a page came from (for log lines about it) and its address."""
    found: dict[str, Any] = {"path": gold.shown, "line": page.line}
    if page.url:
        found["url"] = page.url
    return found


def html_route(gold: GoldFile, cleanup: Cleanup | None) -> RouteResult:
    """Each page's HTML through read.html, then the config's transform and corpus stages.

    read.html takes its options from the config when the config has a read.html stage.
    """
    from docstage_plugins.html import ReadHtml, require_trafilatura

    require_trafilatura()
    full = cleanup.plan() if cleanup is not None else None
    reader = _html_reader(full)
    outcome = _Outcome()

    def documents() -> Iterator[Document]:
        for page in gold.pages:
            assert page.html is not None
            try:
                data = (gold.folder / page.html).read_bytes()
            except OSError as exc:
                log.warning("page failed", location=page.html, error=exc.strerror or str(exc))
                outcome.errors += 1
                continue
            item = reader.page(data, page.html, source=page.source, doc_id=page.id, url=page.url)
            if isinstance(item, Document):
                yield item
            elif isinstance(item, Drop):
                outcome.dropped[item.reason] += 1
            else:
                log.warning("page failed", location=item.location, error=item.reason)
                outcome.errors += 1

    started = time.perf_counter()
    if full is None:
        outcome.texts.update((doc.id, doc.text) for doc in documents())
        stages: list[str] = [ReadHtml.name]
        label = f"html ({ReadHtml.name})"
    else:
        plan = full.only("transform", "corpus")
        _run(plan, documents(), outcome)
        stages = [ReadHtml.name, *(stage.name for stage in plan.stages)]
        label = f"html ({ReadHtml.name} + {plan.config.pipeline.name})"
    outcome.seconds = time.perf_counter() - started
    return _result(gold, "html", label, stages, outcome)


def _html_reader(plan: Plan | None) -> ReadHtml:
    """The config's read.html stage (for its options), else read.html with its defaults."""
    from docstage_plugins.html import ReadHtml

    for stage in plan.readers if plan is not None else ():
        if isinstance(stage.instance, ReadHtml):
            return stage.instance
    return ReadHtml(path=".")


# --- the commands --------------------------------------------------------------------------


@eval_command("cleanup")
@file_option(
    "--gold",
    "JSON Lines of pages with their gold text (page_text / clean_text by default).",
    metavar="GOLD",
    required=True,
)
@file_option(
    "--config",
    "A pipeline config: its transform and corpus stages clean the pages (the text route, "
    "and the HTML route after read.html). Its readers and renderers are not run.",
    metavar="CONFIG",
)
@overrides_option("Override one value of CONFIG, as for pipeline run. Repeatable.")
@click.option(
    "--html",
    "with_html",
    is_flag=True,
    help="Score the HTML route: each record's HTML file through read.html (then CONFIG's "
    "stages, with --config).",
)
@click.option(
    "--baselines",
    is_flag=True,
    help="Score the baselines too: the page text kept as it is, and plain trafilatura on the HTML.",
)
@click.option(
    "--field",
    "field_specs",
    multiple=True,
    metavar="ROLE=KEY",
    help="The record key of a role: text (page_text), gold (clean_text), html (html_path, "
    "relative to GOLD's folder), id (id), source (domain), url (url). Repeatable.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Score only the first N records.")
@json_option()
def cleanup_command(
    gold: Path,
    config: Path | None,
    overrides: tuple[str, ...],
    with_html: bool,
    baselines: bool,
    field_specs: tuple[str, ...],
    limit: int | None,
    as_json: bool,
) -> None:
    """Token-level precision, recall and F1 of cleaned text against gold text.

    GOLD is a JSON Lines file with one record per page: the text as scraped
    (page_text), the gold text (clean_text) and, for --html, the page's HTML file
    (html_path). Scores are micro-averaged over the pages: lower-cased \\w+ tokens,
    matched as bags per page, summed over all pages.

    \b
    Routes:
      --config CONFIG   text route: page_text through CONFIG's cleanup stages
      --html            HTML route: the HTML through read.html (then CONFIG's stages)
      --baselines       keep everything; plain trafilatura on the HTML
    """

    configure_logging("console")
    with user_errors():
        data = _evaluate(gold, config, overrides, with_html, baselines, field_specs, limit)
    show(data, as_json=as_json, tables=lambda console: _print(console, data))


def _evaluate(
    gold_path: Path,
    config: Path | None,
    overrides: tuple[str, ...],
    with_html: bool,
    baselines: bool,
    field_specs: tuple[str, ...],
    limit: int | None,
) -> dict[str, Any]:
    if config is None and not with_html and not baselines:
        raise DataError(
            "nothing to evaluate: give --config CONFIG (the text route), --html (the HTML "
            "route) or --baselines"
        )
    if overrides and config is None:
        raise DataError("--set changes a config: give --config CONFIG too")
    fields = parse_fields(field_specs)
    need = [role for role, wanted in (("text", config), ("html", with_html)) if wanted]
    gold = load_gold(gold_path, fields, need=need, limit=limit)
    cleanup = Cleanup(config, overrides) if config is not None else None
    notes: list[str] = []
    results: list[RouteResult] = []
    if baselines:
        for role, name, baseline in (
            ("text", "keep everything", keep_everything),
            ("html", "plain trafilatura", plain_trafilatura),
        ):
            line = gold.lacking(role)
            if line is None:
                results.append(baseline(gold))
            else:
                notes.append(f"{name} skipped: the record on line {line} has no '{fields[role]}'")
    if cleanup is not None:
        results.append(text_route(gold, cleanup))
    if with_html:
        results.append(html_route(gold, cleanup))
    return {
        "gold": gold.shown,
        "pages": len(gold.pages),
        "config": display(cleanup.config) if cleanup is not None else None,
        "routes": [result.as_dict() for result in results],
        "notes": notes,
    }


def _rate(pages_per_second: float | None) -> str:
    if pages_per_second is None:
        return "-"
    return f"{pages_per_second:,.0f}" if pages_per_second >= 1000 else f"{pages_per_second:.1f}"


def _print(console: Console, data: Mapping[str, Any]) -> None:
    """The table of routes, then what a reader needs to trust it: drops, errors, notes."""
    table = Table(
        title=Text(f"Cleanup evaluation: {data['gold']} ({data['pages']:,} pages)"),
        title_justify="left",
    )
    table.add_column("route")
    for column in ("pages", "precision", "recall", "F1", "pages/s"):
        table.add_column(column, justify="right")
    for route in data["routes"]:
        rate = route["pages_per_second"]
        table.add_row(
            Text(route["label"]),
            f"{route['pages']:,}",
            f"{route['precision']:.3f}",
            f"{route['recall']:.3f}",
            f"{route['f1']:.3f}",
            _rate(rate),
        )
    console.print(table)
    for route in data["routes"]:
        if route["route"] in ("text", "html") and data["config"]:
            console.print(Text(f"{route['label']}: {' → '.join(route['stages']) or 'no stages'}"))
        dropped = ", ".join(f"{n} {reason}" for reason, n in route["dropped"].items())
        if dropped:
            console.print(Text(f"{route['label']}: dropped {dropped} (scored as empty text)"))
        if route["errors"]:
            console.print(
                Text(f"{route['label']}: {route['errors']} page(s) failed (scored as empty text)")
            )
    if data["config"]:
        console.print(Text(f"config: {data['config']}"))
    for note in data["notes"]:
        console.print(Text(note))
