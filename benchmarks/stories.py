"""Same-story clustering against plain TF-IDF average link: quality, robustness, scale.

Contestants:

* **ours**: :func:`docstage_plugins.dedup.stories.cluster_stories` with the default
  :class:`~docstage_plugins.dedup.stories.StoryOptions` (and sweeps of single options around them);
* **baseline**: the published baseline: ``TfidfVectorizer(stop_words="english",
  sublinear_tf=True)`` on title and text, cosine, average-link clustering cut at a
  similarity threshold (SciPy's ``linkage(method="average")`` on the dense distance
  matrix), at 0.15 (its best on Giveme5W1H) and 0.3, optionally with a hard 3-day window
  (pairs further apart get distance 1).

Collections:

1. **Giveme5W1H** (``corpora/newsclusters``, 383 articles, 69 events): the defaults were
   chosen on it. Entities for ``StoryDoc.entities`` come from the docstage ``entities``
   stage (``rules`` backend, and ``spacy`` when installed): canonical names of PERSON,
   ORG, GPE, LOC, NORP and EVENT mentions in title and text.
2. **20 Newsgroups threads + the two seed articles**, never used to choose anything: the
   19,466 distinct messages (one copy per Message-ID) with the bodies as texts, no title
   (the Subject is the gold key, so it is left out) and no entities; the gold "story" of a
   message is its newsgroup plus its Subject without ``Re:`` prefixes, and the seeds are
   one more story. A rough proxy: a thread drifts from its first post, and unrelated
   threads can share a Subject such as "Help". Ours runs on all of it, in a fresh process
   (seconds and peak RSS); the dense baseline cannot (19,466² distances), so both also run
   on the messages of 4 of the 20 groups.

Reported: pairwise precision, recall and F1, adjusted Rand index (ARI), clusters, seconds;
on all of 20 Newsgroups, the peak resident memory ``cluster_stories`` adds over what its
caller holds (the peak is reset just before the call).

With ``--same-as REV``, ``plugins/dedup/stories.py`` as it was at git revision ``REV`` runs
too (loaded from ``git show``; a revision whose module imports siblings gets today's
siblings): the story ids of both on Giveme5W1H under several options and on all of 20
Newsgroups (bodies alone, and with the Subject as title), each 20 Newsgroups run in a
fresh process with its peak memory.

With ``--agreement`` and ``--scale`` (figures to ``results/stories_scale.json``, added to
what it holds), the neighbour search of large collections
(:mod:`docstage_plugins.dedup.story_candidates`, used above ``EXACT_UP_TO`` documents):
``--agreement N,...`` runs the exact and the candidate search on the same documents
(Giveme5W1H, all of 20 Newsgroups, the first N of a generated corpus) and reports the
share of the exact neighbour pairs the candidates find and the ARI between the two
stories; ``--scale N,...`` runs ``cluster_stories`` on the first N documents of a corpus
written by ``benchmarks/corpus.py`` (``--generated``), each size in a fresh process, the
texts streamed from the file: CPU seconds (not wall time: the machine is shared) and the
peak RSS it adds.

Usage::

    python benchmarks/stories.py                 # everything; writes results/stories.json
    python benchmarks/stories.py --same-as REV   # and against REV: ids and memory
    python benchmarks/stories.py --entities none # no entity extraction (faster)
    python benchmarks/stories.py --no-20news     # Giveme5W1H only
    python benchmarks/stories.py --smoke         # invented articles, seconds
    python benchmarks/stories.py --agreement 20000 --generated /tmp/c1m
    python benchmarks/stories.py --scale 20000,80000,320000 --generated /tmp/c1m
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import functools
import gc
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from common import BENCH_DIR, ROOT, default_tarball, peak_rss_mib, shared_folder
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.cluster import pair_confusion_matrix

sys.path.insert(0, str(ROOT))

STORY_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "EVENT"})
SWEEP = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
BASELINE_SWEEP = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
TARGET_ARI = 0.85
_REPLY = re.compile(r"^\s*(?:(?:re|fwd?|fw)\s*(?:\^\d+|\[\d+\])?\s*:\s*)+", re.IGNORECASE)


# --- data ---------------------------------------------------------------------------


def article(
    id: str, source: str, date: str | None, title: str | None, text: str, gold: str
) -> dict[str, Any]:
    return {"id": id, "source": source, "date": date, "title": title, "text": text, "gold": gold}


def giveme5w1h(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return [
        article(r["id"], r["source"], r["date"], r["title"], r["text"], r["cluster_id"])
        for r in rows
    ]


def twenty_news_threads(archive: Path) -> list[dict[str, Any]]:
    """One message per Message-ID; gold = newsgroup + Subject without reply prefixes."""
    seen: set[str] = set()
    out = []
    with tarfile.open(archive) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=_member_key)
        for member in members:
            handle = tar.extractfile(member)
            assert handle is not None
            raw = handle.read().decode("latin-1")
            head, _, body = raw.partition("\n\n")
            headers: dict[str, str] = {}
            for line in re.sub(r"\n[ \t]+", " ", head).split("\n"):
                key, _, value = line.partition(":")
                headers.setdefault(key.strip().lower(), value.strip())
            message_id = headers.get("message-id", member.name)
            if message_id in seen:
                continue
            seen.add(message_id)
            group = Path(member.name).parent.name
            subject = " ".join(_REPLY.sub("", headers.get("subject", "")).lower().split())
            try:
                date = email.utils.parsedate_to_datetime(headers["date"]).date().isoformat()
            except (KeyError, TypeError, ValueError):
                date = None
            name = f"{group}/{Path(member.name).name}"
            out.append(
                article(name, headers.get("from", ""), date, None, body, f"{group}|{subject}")
            )
    return out


def _member_key(member: tarfile.TarInfo) -> tuple[str, int]:
    path = Path(member.name)
    return (path.parent.name, int(path.name) if path.name.isdigit() else -1)


def seeds(folder: Path) -> list[dict[str, Any]]:
    return [
        article(f"seeds/{p.stem}", f"seed outlet {i}", None, None, p.read_text("utf-8"), "seeds")
        for i, p in enumerate(sorted(folder.glob("*.txt")))
    ]


def invented() -> list[dict[str, Any]]:
    """Six invented events told by three outlets each, and ten articles on their own."""
    places = ["Lindqvist", "Oskarsby", "Tarnow", "Vellmar", "Ruskin", "Almaden"]
    events = [
        ("dam", "reservoir dam burst flooding homes evacuated rescue crews river"),
        ("rates", "central bank interest rate inflation mortgage governor currency"),
        ("cup", "football cup final header penalty league fans stadium"),
        ("strike", "rail workers strike trains cancelled union pay talks commuters"),
        ("fire", "forest fire wind firefighters villages smoke helicopters hectares"),
        ("launch", "rocket launch satellite orbit space agency engines countdown"),
    ]
    outlets = ["Gazette", "Courier", "Herald"]
    rows = []
    for number, (key, words) in enumerate(events):
        vocabulary = words.split()
        for k, outlet in enumerate(outlets):
            picked = [vocabulary[(k + i) % len(vocabulary)] for i in range(6)]
            text = (
                f"In {places[number]} on day {number}, " + " ".join(picked) + ". "
                f"Officials in {places[number]} said the {key} " + " ".join(picked[::-1]) + "."
            )
            date = f"2024-03-{10 + number:02d}"
            rows.append(article(f"{outlet}/{key}", outlet, date, None, text, key))
    for i in range(10):
        words = [f"topic{i}word{j}" for j in range(8)]
        rows.append(article(f"Herald/alone{i}", "Herald", None, None, " ".join(words), f"alone{i}"))
    return rows


def entity_names(rows: Sequence[dict[str, Any]], backend: str) -> list[tuple[str, ...]]:
    """Canonical names of the story labels, from the docstage ``entities`` stage."""
    from docstage.document import Document
    from docstage.testing import run_stage
    from docstage_plugins.entities.extract import Entities

    docs = [
        Document(
            id=str(i), text=f"{row['title']}\n\n{row['text']}" if row["title"] else row["text"]
        )
        for i, row in enumerate(rows)
    ]
    result = run_stage(Entities, docs, backend=backend)
    names: dict[str, tuple[str, ...]] = {
        doc.id: tuple(
            sorted({e.canonical or e.text for e in doc.entities if e.label in STORY_LABELS})
        )
        for doc in result.documents
    }
    return [names.get(str(i), ()) for i in range(len(rows))]


# --- contestants --------------------------------------------------------------------


def ours(
    rows: Sequence[dict[str, Any]],
    entities: Sequence[tuple[str, ...]] | None = None,
    module: ModuleType | None = None,
    **options: Any,
) -> list[str]:
    """Story ids by ``cluster_stories`` (of ``module``, default: today's stories module)."""
    if module is None:
        from docstage_plugins.dedup import stories as module
    docs = [
        module.StoryDoc(
            id=row["id"],
            source=row["source"],
            title=row["title"],
            published=row["date"],
            entities=entities[i] if entities else (),
        )
        for i, row in enumerate(rows)
    ]
    ids: list[str] = module.cluster_stories(
        docs, lambda: (row["text"] for row in rows), module.StoryOptions(**options)
    )
    return ids


def stories_at(
    revision: str, folder: Path, name: str = "stories_before"
) -> tuple[ModuleType, Path]:
    """``plugins/dedup/stories.py`` at git ``revision``, written to ``folder`` and imported."""
    source = subprocess.run(
        ["git", "show", f"{revision}:plugins/dedup/stories.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = folder / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return load_module(path, name), path


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Baseline:
    """Plain TF-IDF cosine + average link, the tree built once and cut at any threshold."""

    def __init__(self, rows: Sequence[dict[str, Any]], window: int | None = None) -> None:
        texts = [f"{r['title']}\n{r['text']}" if r["title"] else r["text"] for r in rows]
        matrix = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
        similarity = (matrix @ matrix.T).toarray()
        if window is not None:
            days = np.array(
                [
                    dt.date.fromisoformat(r["date"]).toordinal() if r["date"] else np.nan
                    for r in rows
                ]
            )
            apart = np.abs(days[:, None] - days[None, :])
            similarity[apart > window] = 0.0
        distance = np.clip(1.0 - similarity, 0.0, None)
        np.fill_diagonal(distance, 0.0)
        self.tree = linkage(squareform(distance, checks=False), method="average")

    def cut(self, threshold: float) -> list[int]:
        labels: list[int] = fcluster(self.tree, 1.0 - threshold, criterion="distance").tolist()
        return labels


# --- scoring ------------------------------------------------------------------------


def score(gold: Sequence[str], predicted: Sequence[Any]) -> dict[str, float]:
    matrix = pair_confusion_matrix(gold, predicted)
    tp, fp, fn = int(matrix[1, 1]), int(matrix[0, 1]), int(matrix[1, 0])
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "ari": float(adjusted_rand_score(gold, predicted)),
        "p": p,
        "r": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "clusters": len(set(predicted)),
    }


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started


def row_line(name: str, s: dict[str, float], seconds: float | None = None) -> str:
    took = f" | {seconds:.2f}" if seconds is not None else " | –"
    return (
        f"| {name} | **{s['ari']:.3f}** | {s['p']:.3f} | {s['r']:.3f} | {s['f1']:.3f} | "
        f"{s['clusters']}{took} |"
    )


HEADER = [
    "| contestant | ARI | pair P | pair R | pair F1 | clusters | seconds |",
    "|---|---:|---:|---:|---:|---:|---:|",
]


# --- the second collection at full size, in a fresh process ---------------------------


def scale_child(
    archive: Path,
    seeds_folder: Path | None,
    module_file: Path | None = None,
    subject_titles: bool = False,
    ids_file: Path | None = None,
) -> None:
    """Run in a fresh process: ours on all of 20 Newsgroups (+ seeds); print JSON.

    ``module_file`` replaces today's stories module; ``subject_titles`` gives each message
    its Subject as title; ``ids_file`` receives the story ids, one a line.
    """
    rows = twenty_news_threads(archive)
    if seeds_folder is not None:
        rows += seeds(seeds_folder)
    if subject_titles:
        rows = [{**row, "title": row["gold"].partition("|")[2] or None} for row in rows]
    module = load_module(module_file, "stories_before") if module_file else None
    import docstage_plugins.dedup.stories  # noqa: F401  (imports are not part of the time)

    gc.collect()
    before = reset_peak_rss()
    predicted, seconds = timed(lambda: ours(rows, module=module))
    peak = peak_rss_mib()
    if ids_file is not None:
        ids_file.write_text("".join(f"{story}\n" for story in predicted), encoding="utf-8")
    gold = [row["gold"] for row in rows]
    seed_ids = {predicted[i] for i, row in enumerate(rows) if row["gold"] == "seeds"}
    print(
        json.dumps(
            {
                "documents": len(rows),
                "threads": len(set(gold)),
                "seconds": seconds,
                "rss_before_mib": before,
                "peak_rss_mib": peak,
                "added_mib": peak - before,
                "seeds_one_story": len(seed_ids) == 1 if seed_ids else None,
                "quality": score(gold, predicted),
            }
        )
    )


def reset_peak_rss() -> float:
    """Reset this process's peak RSS to its current RSS (Linux); return the latter, MiB.

    Without the reset the peak would be that of reading the archive, not of clustering.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mib()


def run_scale(
    archive: Path,
    seeds_folder: Path | None,
    module_file: Path | None = None,
    subject_titles: bool = False,
    ids_file: Path | None = None,
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--scale-child", "--tarball", str(archive)]
    if seeds_folder is not None:
        command += ["--seeds", str(seeds_folder)]
    if module_file is not None:
        command += ["--module-file", str(module_file)]
    if subject_titles:
        command.append("--subject-titles")
    if ids_file is not None:
        command += ["--ids-file", str(ids_file)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"20 Newsgroups run failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- scale: the candidate search -------------------------------------------------------


def generated(folder: Path, count: int) -> list[dict[str, Any]]:
    """The first ``count`` documents of a ``benchmarks/corpus.py`` corpus (``docs.jsonl``),
    without their texts (:func:`generated_texts` streams them)."""
    rows = []
    with open(folder / "docs.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if len(rows) == count:
                break
            r = json.loads(line)
            rows.append(article(r["id"], r["source"], r.get("published"), None, "", r["topic"]))
    if len(rows) < count:
        raise SystemExit(f"{folder} has {len(rows):,} documents, fewer than {count:,}")
    return rows


def generated_texts(folder: Path, count: int) -> Callable[[], Any]:
    """The texts of :func:`generated`'s documents, read from the file again when asked."""

    def texts() -> Any:
        with open(folder / "docs.jsonl", encoding="utf-8") as handle:
            for _, line in zip(range(count), handle, strict=False):
                yield json.loads(line)["text"]

    return texts


def story_docs(rows: Sequence[dict[str, Any]], entities: Sequence[tuple[str, ...]] | None) -> list:
    from docstage_plugins.dedup.stories import StoryDoc

    return [
        StoryDoc(
            id=row["id"],
            source=row["source"],
            title=row["title"],
            published=row["date"],
            entities=entities[i] if entities else (),
        )
        for i, row in enumerate(rows)
    ]


def cpu_seconds() -> float:
    """CPU time of this process (user + system) so far."""
    return time.process_time()


def scale_of(folder: Path, count: int, search: str) -> None:
    """Run in a fresh process: ``cluster_stories`` on ``count`` generated documents, the
    texts streamed from the file; print its CPU seconds and the peak RSS it adds."""
    from docstage_plugins.dedup.stories import StoryOptions, cluster_stories

    rows = generated(folder, count)
    docs = story_docs(rows, None)
    texts = generated_texts(folder, count)
    gc.collect()
    before = reset_peak_rss()
    started = cpu_seconds()
    ids = cluster_stories(docs, texts, StoryOptions(), search=search)
    seconds = cpu_seconds() - started
    peak = peak_rss_mib()
    print(
        json.dumps(
            {
                "documents": count,
                "search": search,
                "cpu_seconds": seconds,
                "ms_per_document": 1000 * seconds / count,
                "rss_before_mib": before,
                "peak_rss_mib": peak,
                "added_mib": peak - before,
                "stories": len(set(ids)),
            }
        )
    )


def run_scale_of(folder: Path, count: int, search: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--scale-of", str(count), "--generated", str(folder)]
    done = subprocess.run([*command, "--search", search], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"scale run at {count:,} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def agreement(
    rows: Sequence[dict[str, Any]],
    texts: Callable[[], Any],
    entities: Sequence[tuple[str, ...]] | None = None,
    gold: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The candidate search against the exact one on the same documents: the share of the
    exact neighbour pairs the candidates find, the ARI between the two story labelings,
    each one's ARI against ``gold``, and the CPU seconds of each search; and what leaving
    out the weak links (as the candidate path does, ``WEAK_LINKS``) changes: the stories
    with every link against those without the weak ones."""
    from docstage_plugins.dedup.stories import (
        WEAK_LINKS,
        StoryOptions,
        stories_of,
        story_neighbours,
    )

    docs, options = story_docs(rows, entities), StoryOptions()
    out: dict[str, Any] = {"documents": len(rows)}
    graphs, labels = {}, {}
    for search in ("exact", "candidates"):
        started = cpu_seconds()
        order, graph = story_neighbours(docs, texts, options, search=search)
        out[f"{search}_search_cpu_seconds"] = cpu_seconds() - started
        rows_at, columns_at = graph.nonzero()
        ids = np.asarray(order)
        graphs[search] = set(zip(ids[rows_at].tolist(), ids[columns_at].tolist(), strict=True))
        floor = options.threshold * WEAK_LINKS if search == "candidates" else 0.0
        labels[search] = stories_of(docs, order, graph, options.threshold, floor=floor)
        if search == "candidates":
            every = stories_of(docs, order, graph, options.threshold)
            out["weak_links_ari"] = float(adjusted_rand_score(every, labels[search]))
            same = sum(a == b for a, b in zip(every, labels[search], strict=True))
            out["weak_links_same_ids"] = same / len(rows)
        del graph
        if gold is not None:
            out[f"{search}_ari_to_gold"] = float(adjusted_rand_score(gold, labels[search]))
    exact = graphs["exact"]
    out["neighbour_pairs"] = len(exact)
    out["neighbour_recall"] = len(exact & graphs["candidates"]) / max(1, len(exact))
    out["ari_between"] = float(adjusted_rand_score(labels["exact"], labels["candidates"]))
    out["same_ids"] = sum(a == b for a, b in zip(*labels.values(), strict=True)) / len(rows)
    return out


def evaluate_candidates(
    args: argparse.Namespace, news: list[dict[str, Any]], figures: dict[str, Any]
) -> list[str]:
    """``--agreement``: exact against candidates on Giveme5W1H, 20 Newsgroups, generated."""
    table: dict[str, Any] = {}
    table["Giveme5W1H"] = agreement(
        news, lambda: (row["text"] for row in news), gold=[row["gold"] for row in news]
    )
    if args.tarball.is_file():
        threads = twenty_news_threads(args.tarball)
        table["20 Newsgroups"] = agreement(
            threads, lambda: (row["text"] for row in threads), gold=[r["gold"] for r in threads]
        )
    for count in args.agreement:
        rows = generated(args.generated, count)
        table[f"generated {count}"] = agreement(rows, generated_texts(args.generated, count))
    figures.setdefault("agreement", {}).update(table)
    lines = ["", "Candidate search against the exact search (same documents):", ""]
    for name, row in table.items():
        gold = (
            f", ARI to gold {row['exact_ari_to_gold']:.3f} exact, "
            f"{row['candidates_ari_to_gold']:.3f} candidates"
            if "exact_ari_to_gold" in row
            else ""
        )
        lines.append(
            f"- {name} ({row['documents']:,} documents): neighbour recall "
            f"{row['neighbour_recall']:.4f}, ARI between the stories {row['ari_between']:.4f}"
            f"{gold}; search {row['exact_search_cpu_seconds']:.1f} CPU-s exact, "
            f"{row['candidates_search_cpu_seconds']:.1f} candidates; without the weak "
            f"links {row['weak_links_same_ids']:.4f} of the documents keep their story "
            f"(ARI {row['weak_links_ari']:.4f})"
        )
    return lines


def evaluate_scale(args: argparse.Namespace, figures: dict[str, Any]) -> list[str]:
    """``--scale``: each size in a fresh process, CPU seconds and added peak RSS."""
    table = {
        f"{args.search} {count}": run_scale_of(args.generated, count, args.search)
        for count in args.scale
    }
    figures.setdefault("scale", {}).update(table)
    lines = ["", f"cluster_stories on generated documents (search: {args.search}):", ""]
    for row in table.values():
        lines.append(
            f"- {row['documents']:,} documents: {row['cpu_seconds']:.0f} CPU-s, "
            f"{row['ms_per_document']:.2f} ms a document, adds {row['added_mib']:.0f} MiB "
            f"(peak {row['peak_rss_mib']:.0f} MiB), {row['stories']:,} stories"
        )
    return lines


# --- main ---------------------------------------------------------------------------


def evaluate_news(
    rows: list[dict[str, Any]], backends: Sequence[str], lines: list[str], figures: dict[str, Any]
) -> None:
    """Giveme5W1H (or the invented articles): ours against the baseline, sweeps."""
    gold = [row["gold"] for row in rows]
    entities: dict[str, list[tuple[str, ...]] | None] = {"none": None}
    for backend in backends:
        names, seconds = timed(functools.partial(entity_names, rows, backend))
        entities[backend] = names
        print(f"  entities ({backend}): {seconds:.1f} s")

    table: dict[str, Any] = {}
    lines += HEADER
    for name, names in entities.items():
        predicted, seconds = timed(functools.partial(ours, rows, names))
        table[f"ours, entities {name}"] = {**score(gold, predicted), "seconds": seconds}
        lines.append(
            row_line(f"ours (defaults), entities: {name}", score(gold, predicted), seconds)
        )
    predicted, seconds = timed(lambda: ours(rows, entities["none"], date_window=3))
    table["ours, 3-day window"] = {**score(gold, predicted), "seconds": seconds}
    lines.append(row_line("ours, date_window = 3", score(gold, predicted), seconds))
    baseline, seconds = timed(lambda: Baseline(rows))
    for threshold in (0.15, 0.3):
        s = score(gold, baseline.cut(threshold))
        table[f"baseline {threshold}"] = {**s, "seconds": seconds}
        lines.append(row_line(f"baseline at {threshold}", s, seconds))
    windowed = Baseline(rows, window=3)
    s = score(gold, windowed.cut(0.15))
    table["baseline 0.15, 3-day window"] = s
    lines.append(row_line("baseline at 0.15, 3-day window", s))
    figures["contestants"] = table

    lines += [
        "",
        "ARI over thresholds (ours: shared-neighbourhood affinity; baseline: cosine):",
        "",
    ]
    sweeps: dict[str, dict[str, float]] = {}
    for name, names in entities.items():
        sweeps[f"ours, entities {name}"] = {
            str(t): score(gold, ours(rows, names, threshold=t))["ari"] for t in SWEEP
        }
    sweeps["baseline"] = {str(t): score(gold, baseline.cut(t))["ari"] for t in BASELINE_SWEEP}
    for name, curve in sweeps.items():
        lines.append(f"- {name}: " + ", ".join(f"{t}: {a:.3f}" for t, a in curve.items()))
    figures["threshold_sweeps"] = sweeps

    lines += ["", "Ours, one other option changed (threshold at its default), ARI:", ""]
    knobs: dict[str, float] = {}
    for option, value in [
        ("neighbours", 5),
        ("neighbours", 20),
        ("min_similarity", 0.05),
        ("min_similarity", 0.15),
        ("title_weight", 0.0),
        ("date_half_life", None),
        ("date_floor", 1.0),
        ("entity_weight", 1.0),
    ]:
        names = entities[backends[0]] if option == "entity_weight" and backends else None
        knobs[f"{option}={value}"] = score(gold, ours(rows, names, **{option: value}))["ari"]
    lines.append(", ".join(f"{k}: {v:.3f}" for k, v in knobs.items()))
    figures["options"] = knobs


def evaluate_threads(
    archive: Path, seeds_folder: Path | None, lines: list[str], figures: dict[str, Any]
) -> None:
    """The second collection: 4 groups against the baseline, then all of it."""
    every = twenty_news_threads(archive)
    groups = sorted({row["id"].split("/")[0] for row in every})[::5]
    rows = [row for row in every if row["id"].split("/")[0] in groups]
    gold = [row["gold"] for row in rows]
    lines += [
        "",
        f"20 Newsgroups threads, groups {', '.join(groups)}: {len(rows):,} messages, "
        f"{len(set(gold)):,} threads (gold: group + Subject), no titles, no entities:",
        "",
        *HEADER,
    ]
    table: dict[str, Any] = {"groups": groups, "documents": len(rows), "threads": len(set(gold))}
    predicted, seconds = timed(lambda: ours(rows))
    table["ours"] = {**score(gold, predicted), "seconds": seconds}
    lines.append(row_line("ours (defaults)", score(gold, predicted), seconds))
    baseline, seconds = timed(lambda: Baseline(rows))
    for threshold in (0.15, 0.3):
        s = score(gold, baseline.cut(threshold))
        table[f"baseline {threshold}"] = {**s, "seconds": seconds}
        lines.append(row_line(f"baseline at {threshold}", s, seconds))
    sweeps = {
        "ours": {str(t): score(gold, ours(rows, threshold=t))["ari"] for t in SWEEP},
        "baseline": {str(t): score(gold, baseline.cut(t))["ari"] for t in BASELINE_SWEEP},
    }
    table["threshold_sweeps"] = sweeps
    lines.append("")
    for name, curve in sweeps.items():
        lines.append(f"- {name}: " + ", ".join(f"{t}: {a:.3f}" for t, a in curve.items()))
    figures["20news_4_groups"] = table

    full = run_scale(archive, seeds_folder)
    figures["20news_all"] = full
    q = full["quality"]
    lines += [
        "",
        f"All of it, ours with defaults, fresh process: {full['documents']:,} documents "
        f"({full['threads']:,} gold stories) in {full['seconds']:.1f} s; cluster_stories "
        f"adds {full['added_mib']:.0f} MiB at its peak ({full['peak_rss_mib']:.0f} MiB, "
        f"{full['rss_before_mib']:.0f} MiB before the call, texts in memory); ARI "
        f"{q['ari']:.3f}, pair P {q['p']:.3f} R {q['r']:.3f} F1 {q['f1']:.3f}, "
        f"{q['clusters']:,} stories; seeds one story: {full['seeds_one_story']}",
    ]


def compare_news(
    collection: str,
    rows: list[dict[str, Any]],
    entities: list[tuple[str, ...]] | None,
    before: ModuleType,
    lines: list[str],
    figures: dict[str, Any],
) -> None:
    """Story ids of today's module and of ``before`` on ``rows``, option by option."""
    settings: list[dict[str, Any]] = [
        {},
        {"date_window": 3},
        {"neighbours": 5},
        {"neighbours": 20},
        {"min_similarity": 0.05},
        {"title_weight": 0.0},
        {"date_half_life": None},
        {"date_floor": 1.0},
        *({"threshold": t} for t in SWEEP),
    ]
    runs: dict[str, int] = {}
    for names in [None, entities] if entities else [None]:
        for options in settings:
            mine, theirs = ours(rows, names, **options), ours(rows, names, before, **options)
            label = ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"
            label += ", entities" if names else ""
            runs[label] = sum(a != b for a, b in zip(mine, theirs, strict=True))
    differing = sum(runs.values())
    figures.setdefault("same_as", {})[f"{collection}_differing_ids"] = runs
    lines += [
        "",
        f"Against {figures['same_as']['revision']}: {collection}, {len(runs)} settings × "
        f"{len(rows)} articles: {differing} story ids differ.",
    ]


def compare_threads(
    archive: Path,
    seeds_folder: Path | None,
    before_file: Path,
    lines: list[str],
    figures: dict[str, Any],
) -> None:
    """All of 20 Newsgroups, each side in a fresh process: story ids and peak memory."""
    table: dict[str, Any] = {}
    folder = before_file.parent
    for titles in (False, True):
        pair = {}
        for side, module_file in (("before", before_file), ("now", None)):
            ids_file = folder / f"{side}-{titles}.txt"
            pair[side] = run_scale(archive, seeds_folder, module_file, titles, ids_file)
        mine = (folder / f"now-{titles}.txt").read_text(encoding="utf-8").split()
        theirs = (folder / f"before-{titles}.txt").read_text(encoding="utf-8").split()
        pair["differing_ids"] = sum(a != b for a, b in zip(mine, theirs, strict=True))
        table["subject titles" if titles else "bodies"] = pair
    figures.setdefault("same_as", {})["20news_all"] = table
    for name, pair in table.items():
        then, now = pair["before"], pair["now"]
        lines.append(
            f"Against {figures['same_as']['revision']}: all of 20 Newsgroups ({name}), "
            f"{now['documents']:,} documents: {pair['differing_ids']} story ids differ; "
            f"cluster_stories adds {then['added_mib']:.0f} MiB then, {now['added_mib']:.0f} "
            f"MiB now ({then['seconds']:.0f} s, {now['seconds']:.0f} s)."
        )


def machine_note() -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def counts(text: str) -> list[int]:
    """``--scale`` and ``--agreement``: whole numbers, comma-separated."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N,N,... got {text!r}") from None
    if any(value < 0 for value in values):
        raise argparse.ArgumentTypeError(f"sizes must not be negative, got {text!r}")
    return [value for value in values if value > 0]


def scale_main(args: argparse.Namespace, parser: argparse.ArgumentParser, shared: Path) -> int:
    """``--scale`` and ``--agreement``: figures to ``results/stories_scale.json``."""
    if (args.scale or args.agreement) and (
        args.generated is None or not (args.generated / "docs.jsonl").is_file()
    ):
        parser.error("give --generated FOLDER: a corpus written by benchmarks/corpus.py")
    output = args.output or BENCH_DIR / "results" / "stories_scale.json"
    figures: dict[str, Any] = json.loads(output.read_text("utf-8")) if output.is_file() else {}
    figures["machine"] = machine_note()
    from docstage_plugins.dedup import stories, story_candidates

    figures["settings"] = {
        "exact_up_to": stories.EXACT_UP_TO,
        **{
            name.strip("_").lower(): getattr(story_candidates, name)
            for name in ("_STRONG", "_QUERY", "_POSTINGS", "_CANDIDATES", "_BLOCK")
        },
    }
    lines: list[str] = []
    if args.agreement is not None:
        source = args.corpus or shared / "corpora" / "newsclusters" / "giveme5w1h.jsonl"
        lines += evaluate_candidates(args, giveme5w1h(source), figures)
    if args.scale:
        lines += evaluate_scale(args, figures)
    print("\n".join(lines))
    output.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    print(f"wrote {output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="giveme5w1h.jsonl")
    parser.add_argument("--tarball", type=Path, default=default_tarball())
    parser.add_argument("--seeds", type=Path, help="folder of the seed articles")
    parser.add_argument(
        "--entities",
        default="rules,spacy",
        help="entity backends to fill StoryDoc.entities on Giveme5W1H, comma-separated, "
        "or 'none' (spacy is skipped when not installed)",
    )
    parser.add_argument("--no-20news", action="store_true", help="skip the second collection")
    parser.add_argument("--smoke", action="store_true", help="invented articles, seconds")
    parser.add_argument(
        "--output", type=Path, help="JSON figures (default: results/stories.json; none for --smoke)"
    )
    parser.add_argument(
        "--same-as",
        metavar="REV",
        help="also run stories.py as of git revision REV: story ids and memory compared",
    )
    parser.add_argument(
        "--scale",
        type=counts,
        default=[],
        metavar="N,N,...",
        help="cluster_stories on the first N documents of --generated, each size in a "
        "fresh process: CPU seconds and added peak RSS (writes results/stories_scale.json)",
    )
    parser.add_argument(
        "--agreement",
        type=counts,
        default=None,
        metavar="N,N,...",
        help="the candidate search against the exact one on Giveme5W1H, all of 20 "
        "Newsgroups and the first N documents of --generated (0: none): neighbour recall, "
        "ARI between the stories (writes results/stories_scale.json)",
    )
    parser.add_argument(
        "--generated",
        type=Path,
        help="a corpus written by benchmarks/corpus.py (its docs.jsonl), for --scale and "
        "--agreement",
    )
    parser.add_argument(
        "--search",
        choices=("auto", "exact", "candidates"),
        default="auto",
        help="the neighbour search of --scale (default auto: exact up to EXACT_UP_TO)",
    )
    parser.add_argument("--scale-of", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--scale-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--module-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--subject-titles", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ids-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    shared = shared_folder()
    seeds_folder = args.seeds or shared / "seeds"
    if args.scale_of is not None:
        scale_of(args.generated, args.scale_of, args.search)
        return 0
    if args.scale or args.agreement is not None:
        return scale_main(args, parser, shared)
    if args.scale_child:
        scale_child(
            args.tarball,
            seeds_folder if seeds_folder.is_dir() else None,
            args.module_file,
            args.subject_titles,
            args.ids_file,
        )
        return 0

    from docstage.log import configure_logging

    configure_logging("console")
    backends = [b for b in args.entities.split(",") if b and b != "none"]
    if "spacy" in backends:
        from docstage_plugins.entities import spacy_backend

        try:
            spacy_backend.find_model()
        except spacy_backend.BackendUnavailable as exc:
            print(f"spaCy not available ({exc}): no spacy entities")
            backends.remove("spacy")
    figures: dict[str, Any] = {"machine": machine_note()}
    lines: list[str] = []
    before: tuple[ModuleType, Path] | None = None
    scratch = tempfile.TemporaryDirectory(prefix="docstage-stories-")
    if args.same_as:
        before = stories_at(args.same_as, Path(scratch.name))
        figures["same_as"] = {"revision": args.same_as}
    if args.smoke:
        rows = invented()
        lines.append(f"invented: {len(rows)} articles, {len({r['gold'] for r in rows})} stories")
        lines.append("")
        evaluate_news(rows, ["rules"] if "rules" in backends else [], lines, figures)
        if before is not None:
            compare_news("invented", rows, None, before[0], lines, figures)
    else:
        source = args.corpus or shared / "corpora" / "newsclusters" / "giveme5w1h.jsonl"
        if not source.is_file():
            parser.error(f"{source} not found: give --corpus or set DOCSTAGE_SHARED")
        rows = giveme5w1h(source)
        lines.append(
            f"Giveme5W1H: {len(rows)} articles, {len({r['gold'] for r in rows})} events; "
            f"target ARI ≥ {TARGET_ARI} with the defaults"
        )
        lines.append("")
        evaluate_news(rows, backends, lines, figures)
        if before is not None:
            names = entity_names(rows, backends[0]) if backends else None
            compare_news("Giveme5W1H", rows, names, before[0], lines, figures)
        if not args.no_20news:
            if not args.tarball.is_file():
                parser.error(f"{args.tarball} not found: give --tarball or use --no-20news")
            found = seeds_folder if seeds_folder.is_dir() else None
            evaluate_threads(args.tarball, found, lines, figures)
            if before is not None:
                compare_threads(args.tarball, found, before[1], lines, figures)
    import attrs

    from docstage_plugins.dedup.stories import StoryOptions

    figures["defaults"] = attrs.asdict(StoryOptions())
    print("\n".join(lines))
    output = args.output or (None if args.smoke else BENCH_DIR / "results" / "stories.json")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(figures, indent=1), encoding="utf-8")
        print(f"wrote {output}")
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
