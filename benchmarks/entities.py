"""The ``entities`` stage against bare spaCy, in the same run: throughput, quality, memory.

Contestants, over the same texts (CoNLL-2003 valid by default, 216 documents, 51,362
tokens; ``--20news N`` adds N message bodies from 20 Newsgroups), interleaved, the order
alternating each repeat:

* **bare**: ``spacy.load(model, exclude=<every component but ner>)``, then
  ``for doc in nlp.pipe(texts)`` collecting ``(start_char, end_char, label_)`` of
  ``doc.ents``: what a user would write without docstage (the baseline, spaCy's default
  batch size of 1,000);
* **bare64**: the same with ``batch_size=64``, the stage's default: like for like, so
  the difference is only what the stage adds;
* **stage**: our ``entities`` stage (``backend = "spacy"``, same model), set up once, then
  ``process_batch`` on batches of 256 documents as the runner calls it: line-break
  sentence starts, long-text pieces, post-processing, linking, new documents;
* **runner**: the same stage run by the docstage runner (``docstage.testing.run_stage``
  on in-memory documents); its time is the runner's own per-stage counter, so model
  loading in setup is not counted;
* **rules**: the stage with ``backend = "rules"``, set up once, ``process_batch``.

Tokens are whitespace-separated words (CoNLL's own tokens). "Per core" figures divide by
CPU seconds (every contestant runs on one core); wall figures are printed too. Reported:
medians, the overhead of stage over bare (target ≤ 10%), rules tokens/s (target ≥
100,000).

Quality: exact-span precision, recall and F1 on CoNLL-2003 valid with the mapping of
``corpora/conll2003/SOURCE.md`` (PERSON→PER, ORG→ORG, GPE/LOC/FAC→LOC, NORP/EVENT/PRODUCT/
WORK_OF_ART/LAW/LANGUAGE→MISC; other labels ignored), per label and overall, for the bare
model, the spacy backend and the rules backend.

Memory: one 1 MB article (CoNLL texts joined, blank lines between documents) through
the stage in a fresh process for each backend, peak RSS against the RSS with the model
loaded; ``--memory-bare`` adds bare ``nlp(text)`` with ``max_length`` raised (slow, ~3 GB).

Usage::

    python benchmarks/entities.py                    # CoNLL valid, 3 repeats
    python benchmarks/entities.py --repeats 5 --20news 2000
    python benchmarks/entities.py --memory-bare      # also bare spaCy on the 1 MB text
    python benchmarks/entities.py --smoke            # invented texts, seconds
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import gc
import json
import platform
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import BENCH_DIR, ROOT, default_tarball, peak_rss_mib, shared_folder

sys.path.insert(0, str(ROOT))

CONLL_MAP = {
    "PERSON": "PER",
    "ORG": "ORG",
    **dict.fromkeys(("GPE", "LOC", "FAC"), "LOC"),
    **dict.fromkeys(("NORP", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW", "LANGUAGE"), "MISC"),
}
BATCH = 256  # the runner's default batch_size
TARGET_OVERHEAD = 0.10
TARGET_RULES = 100_000
INVENTED = (
    "Finnish President Anna Korhonen on Tuesday said that the Kremlin and Washington had "
    "agreed to resume talks. Speaking after meeting US envoy Daniel Okafor in Geneva, "
    "Korhonen said NATO would meet in Helsinki in March 2024.\n\nMr. Steele, a spokesman "
    "for the Harbour Institute, declined to comment. Michael Steele later said the talks "
    "were a first step.\n"
)


# --- data ---------------------------------------------------------------------------


def conll(path: Path) -> tuple[list[str], list[set[tuple[int, int, str]]]]:
    texts, gold = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts.append(record["text"])
            gold.append({(e["start"], e["end"], e["label"]) for e in record["entities"]})
    return texts, gold


def twenty_news(archive: Path, count: int) -> list[str]:
    """``count`` message bodies (after the header block), spread over the archive."""
    with tarfile.open(archive) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
        step = max(1, len(members) // count)
        bodies = []
        for member in members[::step][:count]:
            handle = tar.extractfile(member)
            assert handle is not None
            raw = handle.read().decode("utf-8", errors="replace")
            body = raw.split("\n\n", 1)[1] if "\n\n" in raw else raw
            if body.strip():
                bodies.append(body)
    return bodies


def tokens(texts: Sequence[str]) -> int:
    return sum(len(text.split()) for text in texts)


# --- contestants --------------------------------------------------------------------


def bare_pipeline(model: str) -> Any:
    import spacy

    from docstage_plugins.entities.spacy_backend import load_ner

    names = spacy.util.get_model_meta(spacy.util.get_package_path(model))["components"]
    nlp = spacy.load(model, exclude=[name for name in names if name != "ner"])
    assert load_ner(model).pipe_names == nlp.pipe_names == ["ner"]
    return nlp


def run_bare(
    nlp: Any, texts: Sequence[str], batch_size: int | None = None
) -> list[list[tuple[int, int, str]]]:
    return [
        [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        for doc in nlp.pipe(texts, batch_size=batch_size)
    ]


def set_up(backend: str) -> Any:
    import structlog

    from docstage.stages import StageContext
    from docstage_plugins.entities.extract import Entities

    stage = Entities(backend=backend)
    stage.setup(
        StageContext(
            run_id="bench",
            config_dir=BENCH_DIR,
            stage_name="entities",
            index=1,
            log=structlog.get_logger(),
        )
    )
    return stage


def run_stage_direct(stage: Any, docs: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for start in range(0, len(docs), BATCH):
        out.extend(stage.process_batch(docs[start : start + BATCH]))
    return out


def run_runner(docs: Sequence[Any], backend: str) -> float:
    """The runner's own seconds for the stage (setup excluded)."""
    from docstage.testing import run_stage
    from docstage_plugins.entities.extract import Entities

    result = run_stage(Entities, docs, backend=backend)
    assert result.summary.documents == len(docs)
    assert not result.summary.failed
    return float(result.stage("entities").seconds)


def timed(function: Callable[[], Any]) -> tuple[Any, float, float]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    value = function()
    return value, time.perf_counter() - wall, time.process_time() - cpu


# --- quality ------------------------------------------------------------------------


def score(
    predicted: Sequence[set[tuple[int, int, str]]], gold: Sequence[set[tuple[int, int, str]]]
) -> dict[str, dict[str, float]]:
    counts: dict[str, collections.Counter[str]] = {
        k: collections.Counter() for k in ("tp", "fp", "fn")
    }
    for found, truth in zip(predicted, gold, strict=True):
        for span in found & truth:
            counts["tp"][span[2]] += 1
        for span in found - truth:
            counts["fp"][span[2]] += 1
        for span in truth - found:
            counts["fn"][span[2]] += 1
    table: dict[str, dict[str, float]] = {}
    labels = sorted(set(counts["tp"]) | set(counts["fn"]) | set(counts["fp"]))
    for label in [*labels, "overall"]:
        if label == "overall":
            tp, fp, fn = (sum(counts[k].values()) for k in ("tp", "fp", "fn"))
        else:
            tp, fp, fn = (counts[k][label] for k in ("tp", "fp", "fn"))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        table[label] = {"p": 100 * p, "r": 100 * r, "f1": 100 * f, "gold": tp + fn}
    return table


def mapped(spans: Sequence[tuple[int, int, str]]) -> set[tuple[int, int, str]]:
    return {(s, e, CONLL_MAP[label]) for s, e, label in spans if label in CONLL_MAP}


def from_documents(docs: Sequence[Any]) -> list[set[tuple[int, int, str]]]:
    return [mapped([(e.start, e.end, e.label) for e in doc.entities]) for doc in docs]


# --- memory -------------------------------------------------------------------------


def long_text(texts: Sequence[str], size: int = 1_000_000) -> str:
    """``texts`` joined by blank lines, repeated or cut to ``size`` characters."""
    text = "\n\n".join(texts)
    while len(text) < size:
        text = text + "\n\n" + text
    return text[:size]


def memory_child(what: str, source: Path, size: int) -> None:
    """Run in a fresh process: one long article through ``what``; print JSON."""
    from docstage.document import Document

    texts, _ = conll(source) if source.suffix == ".jsonl" else ([INVENTED * 4], None)
    text = long_text(texts, size)
    if what == "bare":
        from docstage_plugins.entities.spacy_backend import find_model

        nlp = bare_pipeline(find_model())
        nlp("warm up")
        before = peak_rss_mib()
        nlp.max_length = len(text) + 1
        started = time.perf_counter()
        count = len(nlp(text).ents)
    else:
        stage = set_up(what)
        stage.process(Document(id="warm", text="warm up"))
        before = peak_rss_mib()
        started = time.perf_counter()
        result = stage.process(Document(id="big", text=text))
        count = len(result.entities)
    print(
        json.dumps(
            {
                "what": what,
                "chars": len(text),
                "entities": count,
                "seconds": time.perf_counter() - started,
                "rss_before_mib": before,
                "peak_rss_mib": peak_rss_mib(),
            }
        )
    )


def measure_memory(what: str, source: Path, size: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            *("--memory-child", what, "--conll", str(source), "--memory-chars", str(size)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"memory run {what} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- main ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conll", type=Path, default=None, help="valid_docs.jsonl")
    parser.add_argument("--20news", dest="news", type=int, default=0, metavar="N")
    parser.add_argument("--tarball", type=Path, default=default_tarball())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-bare", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="invented texts, one repeat")
    parser.add_argument(
        "--output",
        type=Path,
        help="JSON figures (default: results/entities.json; none for --smoke)",
    )
    parser.add_argument("--memory-chars", type=int, help="size of the long article (1,000,000)")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    source = args.conll or shared_folder() / "corpora" / "conll2003" / "valid_docs.jsonl"
    if args.memory_child:
        memory_child(args.memory_child, source, args.memory_chars or 1_000_000)
        return 0

    from docstage.document import Document
    from docstage.log import configure_logging
    from docstage_plugins.entities import spacy_backend

    configure_logging("console")
    gold: list[set[tuple[int, int, str]]] | None = None
    if args.smoke:
        texts, repeats = [INVENTED] * 40, 1
    else:
        if not source.is_file():
            parser.error(f"{source} not found: give --conll or set DOCSTAGE_SHARED")
        texts, gold = conll(source)
        repeats = args.repeats
        if args.news:
            texts = texts + twenty_news(args.tarball, args.news)
    docs = [Document(id=str(i), text=text) for i, text in enumerate(texts)]
    words = tokens(texts)
    try:
        model = spacy_backend.find_model()
    except spacy_backend.BackendUnavailable as exc:
        if not args.smoke:
            raise SystemExit(f"spaCy is needed for this benchmark: {exc}") from None
        model = ""
        print(f"spaCy not available ({exc}): rules backend only")

    contestants: dict[str, Callable[[], Any]] = {}
    if model:
        nlp = bare_pipeline(model)
        spacy_stage = set_up("spacy")
        contestants["bare"] = lambda: run_bare(nlp, texts)
        contestants["bare64"] = lambda: run_bare(nlp, texts, spacy_stage.batch_size)
        contestants["stage"] = lambda: run_stage_direct(spacy_stage, docs)
        contestants["runner"] = lambda: run_runner(docs, "spacy")
    rules_stage = set_up("rules")
    contestants["rules"] = lambda: run_stage_direct(rules_stage, docs)

    runs: dict[str, list[dict[str, float]]] = {name: [] for name in contestants}
    outputs: dict[str, Any] = {}
    for number in range(repeats):
        order = list(contestants) if number % 2 == 0 else list(reversed(contestants))
        for name in order:
            value, wall, cpu = timed(contestants[name])
            if name == "runner":
                wall = cpu = value  # the runner's own counter for the stage
            runs[name].append({"wall": wall, "cpu": cpu})
            outputs[name] = value
            print(f"  repeat {number + 1}/{repeats} {name:6s} {wall:6.2f} s wall {cpu:6.2f} s CPU")

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    lines = [
        f"{len(texts):,} texts, {words:,} tokens, {sum(map(len, texts)):,} characters; "
        f"median of {repeats} interleaved repeat(s); Python {platform.python_version()}, "
        f"model {model or '-'}, {dt.date.today()}",
        "",
        "| contestant | wall s | CPU s | tokens/s (wall) | tokens/s per core (CPU) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in contestants:
        wall, cpu = median(name, "wall"), median(name, "cpu")
        cpu_rate = f"{words / cpu:,.0f}" if name != "runner" else "–"
        lines.append(f"| {name} | {wall:.2f} | {cpu:.2f} | {words / wall:,.0f} | {cpu_rate} |")
    figures: dict[str, Any] = {
        "texts": len(texts),
        "tokens": words,
        "model": model,
        "runs": runs,
    }
    if model:
        lines.append("")
        for base in ("bare", "bare64"):
            overhead_cpu = median("stage", "cpu") / median(base, "cpu") - 1
            overhead_wall = median("stage", "wall") / median(base, "wall") - 1
            runner_wall = median("runner", "wall") / median(base, "wall") - 1
            pairs = [
                s["cpu"] / b["cpu"] - 1 for s, b in zip(runs["stage"], runs[base], strict=True)
            ]
            figures[f"overhead_vs_{base}"] = {"cpu": overhead_cpu, "wall": overhead_wall}
            lines.append(
                f"overhead stage / {base}: {overhead_cpu:+.1%} CPU (per core), "
                f"{overhead_wall:+.1%} wall; runner-timed stage {runner_wall:+.1%} wall; "
                "per-repeat CPU: "
                + ", ".join(f"{p:+.1%}" for p in pairs)
                + f" (target ≤ {TARGET_OVERHEAD:+.0%})"
            )
    rules_rate = words / median("rules", "cpu")
    figures["rules_tokens_per_cpu_second"] = rules_rate
    lines.append(f"rules backend: {rules_rate:,.0f} tokens/s per core (target ≥ {TARGET_RULES:,})")

    if gold is not None:
        count = len(gold)
        tables = {"rules": score(from_documents(outputs["rules"][:count]), gold)}
        if model:
            tables["bare model"] = score([mapped(s) for s in outputs["bare"][:count]], gold)
            tables["spacy backend"] = score(from_documents(outputs["stage"][:count]), gold)
        figures["quality"] = tables
        lines += [
            "",
            "CoNLL-2003 valid, exact spans (P / R / F1):",
            "",
            "| label | " + " | ".join(tables) + " |",
            "|---|" + "---:|" * len(tables),
        ]
        for label in ("PER", "ORG", "LOC", "MISC", "overall"):
            cells = [
                f"{t[label]['p']:.1f} / {t[label]['r']:.1f} / **{t[label]['f1']:.1f}**"
                if label == "overall"
                else f"{t[label]['p']:.1f} / {t[label]['r']:.1f} / {t[label]['f1']:.1f}"
                for t in tables.values()
            ]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")

    if not args.no_memory:
        kinds = (["spacy"] if model else []) + ["rules"] + (["bare"] if args.memory_bare else [])
        size = args.memory_chars or (100_000 if args.smoke else 1_000_000)
        where = Path("invented") if args.smoke else source
        memory = [measure_memory(kind, where, size) for kind in kinds]
        figures["memory"] = memory
        lines += [
            "",
            f"One article of {size:,} characters, a fresh process for each:",
            "",
            "| what | entities | seconds | RSS before MiB | peak RSS MiB |",
            "|---|---:|---:|---:|---:|",
            *(
                f"| {m['what']} | {m['entities']:,} | {m['seconds']:.1f} | "
                f"{m['rss_before_mib']:.0f} | {m['peak_rss_mib']:.0f} |"
                for m in memory
            ),
        ]
    print("\n".join(lines))
    output = args.output or (None if args.smoke else BENCH_DIR / "results" / "entities.json")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(figures, indent=1), encoding="utf-8")
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
