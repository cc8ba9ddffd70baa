"""A newsroom's day in invented documents, annotated as the news pipeline would leave them,
to render reports of any size without running the pipeline: stories of 1 to 40 articles
from 40 outlets over two months, each with a quote its outlets share (a speaker, matched
across sources, also a shared passage), entities placed in the text, and sentences of
each article's own. Seeded: the same arguments give the same documents.

    python tests/report_corpus.py /tmp/report.html 10000   # render.html of 10,000
    python tests/report_corpus.py --memory render.markdown 100000   # its peak memory
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from random import Random
from typing import Any

from docstage.document import Document, Entity, PassageMatch, SharedPassage

OUTLETS = [
    f"{a}-{b}"
    for a in ("harbor", "valley", "coastal", "metro", "north")
    for b in ("times", "post", "wire", "herald", "daily", "ledger", "courier", "gazette")
]
PEOPLE = [
    f"{first} {last}"
    for first in ("Ana", "Marta", "Henrik", "Tomas", "Sofia", "Jonas", "Lena", "Omar")
    for last in ("Ruiz", "Lindqvist", "Dahl", "Eriksen", "Nyberg", "Berg", "Okafor", "Weiss")
]
PLACES = ["Brevik", "Aldermouth", "Valdal", "Riverside", "Ostra", "Norrby", "Kestrel Bay", "Halden"]
ORGS = [
    "Port of Aldermouth",
    "Dockworkers' Union",
    "Harbour Ministry",
    "Valdal Council",
    "Brevik Chamber of Commerce",
    "Northern Rail",
    "Riverside Library",
    "Coast Guard",
]
VOCABULARY = (
    "talks council budget ferry strike harbour vote members offer shift pay minister "
    "freight ships terminal union rail library school storm flood bridge road tender "
    "contract mayor police court ruling market prices energy grid wind farm"
)
WORDS = re.findall(r"\w+", VOCABULARY)


def _sentence(rng: Random, words: int) -> str:
    chosen = [rng.choice(WORDS) for _ in range(words)]
    return " ".join(chosen).capitalize() + "."


def _sizes(rng: Random, documents: int) -> list[int]:
    sizes: list[int] = []
    while sum(sizes) < documents:
        roll = rng.random()
        size = 1 if roll < 0.4 else rng.randint(2, 3) if roll < 0.75 else rng.randint(4, 10)
        if roll > 0.97:
            size = rng.randint(11, 40)
        sizes.append(min(size, documents - sum(sizes)))
    return sizes


def newsroom(documents: int = 10_000, seed: int = 19) -> list[Document]:
    """``documents`` invented articles in stories, annotated by an imagined dedup."""
    return list(articles(documents, seed))


def articles(documents: int = 10_000, seed: int = 19) -> Iterator[Document]:
    """The documents of :func:`newsroom` one at a time, none kept."""
    rng = Random(seed)
    start = dt.date(2024, 3, 1)
    for number, size in enumerate(_sizes(rng, documents)):
        day = start + dt.timedelta(days=rng.randrange(60))
        speaker = rng.choice(PEOPLE)
        quote = _sentence(rng, rng.randint(8, 16))[:-1]
        cast = [rng.choice(PEOPLE), speaker, rng.choice(PLACES), rng.choice(ORGS)]
        members = []
        for n in range(size):
            source = rng.choice(OUTLETS)
            published = (day + dt.timedelta(days=rng.choice((0, 0, 1, 2)))).isoformat()
            members.append((f"{source}/{number}-{n}.txt", source, published))
        for id, source, published in members:
            others = [(i, s, p) for i, s, p in members if s != source]
            yield _article(rng, id, source, published, number, cast, speaker, quote, others)


def _article(
    rng: Random,
    id: str,
    source: str,
    published: str,
    story: int,
    cast: list[str],
    speaker: str,
    quote: str,
    others: list[tuple[str, str, str]],
) -> Document:
    parts: list[str] = []
    entities: list[Entity] = []

    def put(text: str, label: str | None = None) -> int:
        at = sum(map(len, parts))
        parts.append(text)
        if label:
            entities.append(Entity(label=label, text=text, start=at, end=at + len(text)))
        return at

    put(f"{rng.choice(PLACES).upper()} — ")
    put(cast[0], "PERSON")
    put(f" met {cast[3]} officials on {published}. ")
    put(cast[2], "GPE")
    put(" " + _sentence(rng, rng.randint(10, 20)) + "\n\n")
    said = put(f'"{quote}," ')
    put(speaker, "PERSON")
    put(" said.\n\n")
    for _ in range(rng.randint(4, 9)):
        put(_sentence(rng, rng.randint(8, 22)) + " ")
    text = "".join(parts).strip()
    end = said + len(quote) + 3
    annotations: dict[str, Any] = {"story_id": f"story-{story:05d}"}
    if others:
        matches = others[:50]
        annotations["quotes"] = [
            {
                "start": said,
                "end": end,
                "text": quote + ",",
                "parts": [[said, end]],
                "speaker": {"name": speaker, "text": speaker, "start": end + 1, "end": end + 1},
                "first": False,
                "matches": [
                    {
                        "id": i,
                        "source": s,
                        "text": quote + ",",
                        "speaker": speaker,
                        "published": p,
                        "score": 1.0,
                        "first": False,
                    }
                    for i, s, p in matches
                ],
            }
        ]
        annotations["shared_passages"] = (
            SharedPassage(
                start=said + 1,
                end=said + 1 + len(quote),
                text=quote,
                matches=tuple(PassageMatch(id=i, source=s, score=1.0) for i, s, _ in matches),
            ),
        )
    return Document(
        id=id,
        source=source,
        text=text,
        metadata={"published": published},
        entities=tuple(entities),
        annotations=annotations,
    )


def memory(stage: str, count: int, traced: bool = False) -> dict[str, Any]:
    """Feed ``count`` documents, made one at a time, straight to ``stage``
    (``render.html`` or ``render.markdown``) and measure its memory: the peak resident
    set of this process, what it held before the first document, and (``traced``) the
    peak of Python's allocations while the stage ran, by tracemalloc."""
    import resource
    import tempfile
    import time
    import tracemalloc

    import structlog

    from docstage.stages import StageContext
    from docstage.summary import RunSummary
    from docstage_plugins.render_html import RenderHtml
    from docstage_plugins.render_markdown import RenderMarkdown

    kinds: dict[str, Any] = {"render.html": RenderHtml, "render.markdown": RenderMarkdown}
    folder = Path(tempfile.mkdtemp(prefix="docstage-memory-"))
    renderer = kinds[stage](path=folder / "out")
    context = StageContext(
        run_id="memory", config_dir=folder, stage_name=stage, index=1, log=structlog.get_logger()
    )
    summary = RunSummary(
        run_id="memory",
        pipeline="newsroom",
        stages=(),
        documents=count,
        quarantined=0,
        quarantine_path=None,
    )
    start = _rss()
    began = time.perf_counter()
    if traced:
        tracemalloc.start()
    renderer.setup(context)
    for doc in articles(count):
        renderer.write(doc)
    (written,) = renderer.finish(summary)
    peak = tracemalloc.get_traced_memory()[1] if traced else None
    tracemalloc.stop()
    return {
        "stage": stage,
        "documents": count,
        "seconds": round(time.perf_counter() - began, 1),
        "rss_start_mib": round(start / 2**20, 1),
        "rss_peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10, 1),
        "tracemalloc_peak_mib": None if peak is None else round(peak / 2**20, 1),
        "output_mib": round(written.stat().st_size / 2**20, 1),
        "output": str(written),
    }


def _rss() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str]) -> int:
    from docstage.testing import run_pipeline

    if argv[:1] == ["--memory"]:
        import json

        traced = "--tracemalloc" in argv
        stage, count = [a for a in argv[1:] if a != "--tracemalloc"]
        print(json.dumps(memory(stage, int(count), traced)))
        return 0

    path = Path(argv[0]).resolve()
    count = int(argv[1]) if len(argv) > 1 else 10_000
    config = {
        "pipeline": {"name": "newsroom"},
        "stages": [{"use": "render.html", "path": str(path)}],
    }
    result = run_pipeline(config, documents=newsroom(count), folder=path.parent)
    print(f"{path}: {path.stat().st_size / 2**20:.1f} MiB, {count:,} documents")
    return result.summary.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
