"""The routes of ``pipeline eval cleanup`` and the token metric that scores them.

A page is a bag (multiset) of lower-cased ``\\w+`` tokens; the tokens its cleaned text
shares with its gold text are its matches (:func:`token_counts`). Precision, recall and
F1 are micro-averaged over the pages: the sums of matches, predicted tokens and gold tokens
over all pages give one precision and one recall, so a long page weighs more than a short
one (:class:`RouteResult`).

The routes it compares, each on the same gold records:

- **text**: each record's page text becomes a document and goes through the transform
  and corpus stages of a config (its readers and renderers are left out);
- **html**: each record's HTML file is read with ``read.html``, then goes through the
  same stages (or none, without a config);
- baselines: **keep everything** (the page text as it is) and **plain trafilatura**
  (``trafilatura.extract`` with its defaults on the HTML).

A config's stages run through :func:`~docstage_eval.scratch.run_scratch`.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import structlog

from docstage.document import Document
from docstage.errors import RunError
from docstage.plan import Plan
from docstage.resolve import load_plan
from docstage.stages import Drop
from docstage_eval.cleanup_gold import GoldFile, Page
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
        return load_plan(self.config, self.overrides, require_reader=False)


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
