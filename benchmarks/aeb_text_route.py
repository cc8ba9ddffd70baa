"""How well ``cleanup.boilerplate`` cleans scraped page text: token F1 on the AEB pages.

The Article Extraction Benchmark (``../shared/corpora/boilerplate/aeb.jsonl``) gives,
for 181 news pages, the text a naive scraper gets (``page_text``: menus, share bars,
bylines and all) and the gold article body (``clean_text``). Each contestant turns
``page_text`` into kept text, scored against the gold as a bag of ``\\w+`` tokens,
lower-cased: per page, the multiset intersection; precision, recall and F1 micro-averaged
over pages (the quality target in benchmarks/README.md).

Contestants:

* **keep everything**: ``page_text`` as it is (the floor: F1 0.698);
* **cleanup.boilerplate**: the stage run through the pipeline runner, one document per
  page with the page's domain as its source, default options unless ``--set`` says
  otherwise (``--set min_documents=2 --set furniture_everywhere=true``).

Usage::

    python benchmarks/aeb_text_route.py
    python benchmarks/aeb_text_route.py --set furniture=false
    python benchmarks/aeb_text_route.py --worst 10      # the pages that lose most

The AEB file is taken from ``../shared/corpora`` next to the repository, or from
``$DOCSTAGE_SHARED/corpora``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_TOKEN = re.compile(r"\w+")


def default_corpus() -> Path:
    shared = Path(os.environ.get("DOCSTAGE_SHARED", ROOT.parent / "shared"))
    return shared / "corpora" / "boilerplate" / "aeb.jsonl"


def load_pages(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def tokens(text: str) -> Counter[str]:
    return Counter(token.lower() for token in _TOKEN.findall(text))


def page_counts(kept: str, gold: str) -> tuple[int, int, int]:
    """(matched, kept, gold) token counts of one page."""
    ours, theirs = tokens(kept), tokens(gold)
    return sum((ours & theirs).values()), sum(ours.values()), sum(theirs.values())


def prf(counts: Iterable[tuple[int, int, int]]) -> dict[str, float]:
    """Micro-averaged precision, recall and F1 over pages."""
    matched = kept = gold = 0
    for m, k, g in counts:
        matched, kept, gold = matched + m, kept + k, gold + g
    precision = matched / kept if kept else 0.0
    recall = matched / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def run_stage(pages: Sequence[dict[str, Any]], options: dict[str, Any]) -> list[str]:
    """The texts ``cleanup.boilerplate`` keeps, one per page, in page order."""
    from docstage.document import Document
    from docstage.testing import run_stage as run
    from docstage_plugins.cleanup.boilerplate import CleanupBoilerplate

    docs = [
        Document(id=str(page["id"]), text=page["page_text"], source=page["domain"])
        for page in pages
    ]
    result = run(CleanupBoilerplate, docs, **options)
    by_id = {doc.id: doc.text for doc in result.documents}
    return [by_id[str(page["id"])] for page in pages]


def evaluate(pages: Sequence[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    """Scores of keeping everything and of the stage with ``options``."""
    gold = [page["clean_text"] for page in pages]
    started = time.perf_counter()
    cleaned = run_stage(pages, options)
    seconds = time.perf_counter() - started
    per_page = [page_counts(text, g) for text, g in zip(cleaned, gold, strict=True)]
    return {
        "pages": len(pages),
        "options": options,
        "keep_everything": prf(
            page_counts(page["page_text"], g) for page, g in zip(pages, gold, strict=True)
        ),
        "cleanup.boilerplate": prf(per_page),
        "seconds": seconds,
        "per_page": per_page,
    }


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=default_corpus(), help="aeb.jsonl")
    parser.add_argument(
        "--set", action="append", default=[], metavar="OPTION=VALUE", help="a stage option"
    )
    parser.add_argument("--worst", type=int, default=0, help="list the N worst pages")
    args = parser.parse_args(argv)
    if not args.corpus.is_file():
        print(f"AEB corpus not found: {args.corpus} (set DOCSTAGE_SHARED)", file=sys.stderr)
        return 2
    options = dict(item.split("=", 1) for item in args.set)
    options = {key: _value(value) for key, value in options.items()}
    from docstage.log import configure_logging

    configure_logging("console")  # as `pipeline run`: warnings and errors only
    pages = load_pages(args.corpus)
    result = evaluate(pages, options)
    print(f"AEB text route: {result['pages']} pages, options {options or 'default'}")
    print(f"{'':22} {'precision':>9} {'recall':>7} {'F1':>7}")
    for name in ("keep_everything", "cleanup.boilerplate"):
        scores = result[name]
        print(f"{name:22} {scores['precision']:9.3f} {scores['recall']:7.3f} {scores['f1']:7.3f}")
    rate = result["pages"] / result["seconds"]
    print(f"stage time: {result['seconds']:.2f}s ({rate:.0f} pages/s, run included)")
    if args.worst:
        lost = sorted(
            zip(result["per_page"], pages, strict=True),
            key=lambda item: -(item[0][1] + item[0][2] - 2 * item[0][0]),
        )
        print(f"\n{'page':16} {'extra':>6} {'missed':>6}  domain")
        for (matched, kept, gold), page in lost[: args.worst]:
            shown = str(page["id"])[:16]
            print(f"{shown:16} {kept - matched:6} {gold - matched:6}  {page['domain']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
