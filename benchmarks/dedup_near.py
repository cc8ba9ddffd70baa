"""Exact and near copies on 20 Newsgroups: quality, speed per CPU-second, memory, scale.

What ``docstage_plugins.dedup.minhash`` promises, measured on the 19,997 files of
``20news-19997.tar.gz`` against the corpus's ground truth (``corpora/20news/SOURCE.md``):

a. **Exact copies**: the files grouped by :func:`~docstage_plugins.dedup.minhash.exact_key` of the
   whole file text (latin-1), against the 525 Message-ID groups of ``duplicates.tsv``
   (a group is recalled when all its files share one key); key groups that are not one of
   them are reported as extra.
b. **Near copies at Jaccard 0.8**: :func:`~docstage_plugins.dedup.minhash.near_pairs` (128
   permutations, :func:`~docstage_plugins.dedup.minhash.choose_bands`, exact verification) on the
   shingles of the bodies, against the 936 pairs of ``near_duplicates_j080.tsv``: pair
   precision, recall and F1, and the same after the transitive closure of both sides'
   clusters. Body, tokens and shingles as SOURCE.md defines them: the text after the first
   blank line (``"\\n\\n"``), latin-1; lower-cased ``\\w+`` runs; sets of 5 consecutive
   tokens; a body with fewer than 5 tokens takes no part.
c. **Speed**, documents per CPU-second (``time.process_time``, which counts every thread
   of the process) from the files on disk to verified pairs: reading and decoding
   included, then shingling, signatures, banding and verification. Contestants:

   * ``baseline``: read the files and compute ``exact_key`` of each (nothing else);
   * ``ours``: ``shingle_batch`` of the bodies, then ``near_pairs(sets, 0.8)``;
   * ``datasketch``: the usual Python shingles (sets of ``" ".join`` of 5 tokens from
     ``TOKEN.findall(body.lower())``), ``MinHash.bulk(num_perm=128)``,
     ``MinHashLSH(threshold=0.8, num_perm=128)`` (its own choice: 9 bands of 13 rows),
     ``query`` of every document, each candidate verified by exact Jaccard of the two
     shingle sets; ``datasketch-21x6``: the same with ``params=(21, 6)``, our bands;
   * ``rensa``: the same Python shingles, ``RMinHash.from_token_sets(num_perm=128)``,
     ``RMinHashLSH(0.8, 128, 16)`` (16 bands of 8 rows: its band count must divide the
     permutations), ``insert_many`` + ``query_all``, the same verification;
     ``rensa-21x6``: 126 permutations in 21 bands of 6 rows, our bands.

   Each contestant runs in its own fresh process (``--only NAME``), once per round; the
   rounds are repeated (``--repeats``, the order rotating) and the best CPU time counts,
   because the machine is shared and noisy. Imports and listing the files are not timed.
d. **Memory**: the peak RSS (``VmHWM``) of each contestant's process, and the RSS before
   it read anything (after imports); our index size per document: signature (128 ×
   4 bytes), band keys (21 × 8 bytes) and the shingle set as
   :func:`~docstage_plugins.dedup.minhash.encode_set` stores it.
e. **Scale**: ``ours`` at 1×, 2×, 4× and 8× the corpus, a fresh process per scale. Copy
   ``k`` of a body is the original with 3 of its ``\\w+`` words replaced by new words
   (``random.Random`` seeded per copy, so every run builds the same texts, in memory and
   untimed); timed: ``shingle_batch`` + ``near_pairs``. Reported: CPU time per document,
   peak RSS, pairs found, and how many of the pairs within a family (an original and its
   copies) whose exact Jaccard is ≥ 0.8 were found. A family of ``k`` copies holds up to
   ``k(k-1)/2`` near pairs, so the pairs to verify grow faster than the documents: the
   steps of ``near_pairs`` are also timed one by one, per document and per candidate.

Usage::

    python benchmarks/dedup_near.py                  # everything; writes results/dedup_near.json
    python benchmarks/dedup_near.py --repeats 5      # more rounds on a noisy machine
    python benchmarks/dedup_near.py --only ours      # one contestant, in this process
    python benchmarks/dedup_near.py --smoke          # a few hundred documents, seconds

``--smoke`` takes about 300 files of the corpus when it is there and invented mails
otherwise (``--invented`` forces them), one round, scales 1× and 2×.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from common import BENCH_DIR, ROOT, default_tarball, peak_rss_mib, unpack


def load_minhash(name: str = "minhash") -> ModuleType:
    """``plugins/dedup/<name>.py`` (``minhash`` or ``lsh``), loaded by its path: importing
    it as ``docstage_plugins.dedup.minhash`` runs ``plugins/dedup/__init__.py``, which
    imports the whole stage (scikit-learn among it: +1 s and +95 MiB in every contestant's
    process), and the module needs none of that. (Its own imports of ``pieces`` and
    ``shingling`` run that ``__init__`` anyway, as they did before: the saving is gone.)"""
    path = ROOT / "plugins" / "dedup" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"docstage_dedup_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


mh = load_minhash()
mh_lsh = load_minhash("lsh")  # LshIndex and near_pairs
TOKEN = mh.TOKEN

THRESHOLD = 0.8
PERMUTATIONS = 128
SIZE = 5
TARGET_F1 = 0.99
TARGET_SPEED = 5_000  # documents per CPU-second, ours
SCALES = (1, 2, 4, 8)
EDITS = 3  # words replaced per extra copy
CONTESTANTS = ("baseline", "ours", "datasketch", "datasketch-21x6", "rensa", "rensa-21x6")
NEEDS = {"datasketch": "datasketch", "rensa": "rensa"}  # contestant prefix -> module
PATHS = "paths.txt"  # in a corpus folder: the files to read, one relative path a line

Pair = tuple[str, str]


# --- the corpus ------------------------------------------------------------------------


def member_key(path: str) -> tuple[str, int, str]:
    """Folder, then numeric file name: the order of duplicates.tsv."""
    parent, _, name = path.rpartition("/")
    return (parent, int(name) if name.isdigit() else -1, name)


def body_of(text: str) -> str:
    """The text after the first blank line (SOURCE.md's body)."""
    return text.partition("\n\n")[2]


def read_texts(base: Path, paths: Sequence[str]) -> list[str]:
    return [(base / path).read_bytes().decode("latin-1") for path in paths]


def list_paths(base: Path) -> list[str]:
    return (base / PATHS).read_text(encoding="utf-8").split("\n")


def write_paths(base: Path, paths: Sequence[str]) -> None:
    (base / PATHS).write_text("\n".join(paths), encoding="utf-8")


def unpack_corpus(archive: Path, target: Path) -> list[str]:
    """Unpack the archive into ``target``; the files as paths relative to it, in order."""
    unpack(archive, target)
    files = [p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()]
    return sorted(files, key=member_key)


def archive_paths(archive: Path) -> list[str]:
    """The files in the archive, as paths relative to where it unpacks, in order."""
    with tarfile.open(archive) as tar:
        return sorted((m.name for m in tar.getmembers() if m.isfile()), key=member_key)


def unpack_some(archive: Path, target: Path, paths: Sequence[str]) -> None:
    """Unpack only ``paths`` (``--smoke``: a few hundred files, not 20,000)."""
    wanted = set(paths)
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name in wanted]
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, members=members, filter="data")
        else:  # Python < 3.10.12 / 3.11.4
            tar.extractall(target, members=members)


def read_truth(folder: Path) -> tuple[list[list[str]], set[Pair]]:
    """The Message-ID groups of duplicates.tsv and the pairs of near_duplicates_j080.tsv."""
    groups = []
    for line in (folder / "duplicates.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        groups.append(fields[2:])
    pairs = set()
    for line in (folder / "near_duplicates_j080.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        a, b, _ = line.split("\t")
        pairs.add(ordered(a, b))
    return groups, pairs


def read_truth_jaccard(folder: Path) -> dict[Pair, float]:
    lines = (folder / "near_duplicates_j080.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return {ordered(*line.split("\t")[:2]): float(line.split("\t")[2]) for line in lines}


def ordered(a: str, b: str) -> Pair:
    return (a, b) if member_key(a) <= member_key(b) else (b, a)


def string_shingles(body: str) -> set[str]:
    """SOURCE.md's shingles, the usual Python way: 5 lower-cased ``\\w+`` tokens joined."""
    tokens = TOKEN.findall(body.lower())
    return {" ".join(tokens[i : i + SIZE]) for i in range(len(tokens) - SIZE + 1)}


def exact_near_pairs(bodies: Sequence[str], paths: Sequence[str]) -> set[Pair]:
    """Every pair at Jaccard ≥ 0.8 by brute force on string shingles (small corpora only)."""
    sets = [string_shingles(b) for b in bodies]
    found = set()
    for i, a in enumerate(sets):
        for j in range(i + 1, len(sets)):
            b = sets[j]
            if a and b and min(len(a), len(b)) >= THRESHOLD * max(len(a), len(b)):
                shared = len(a & b)
                if shared / (len(a) + len(b) - shared) >= THRESHOLD:
                    found.add(ordered(paths[i], paths[j]))
    return found


def invented_corpus(target: Path) -> tuple[list[str], list[list[str]]]:
    """About 300 invented mails in ``target/raw/<group>/<n>``: originals, byte-identical
    cross-posts (one of them posted three times) and copies with a few words changed.

    Returns:
        The file paths (relative to ``target``) and the groups of byte-identical files.
    """
    rng = random.Random(20)
    vocabulary = [f"{a}{b}{c}" for a in "bdfgklmnprst" for b in "aeiou" for c in "lmnrst"][:300]
    groups = ["alt.alpha", "comp.beta", "sci.gamma", "talk.delta"]
    files: dict[str, str] = {}
    numbers = iter(range(1000, 10_000))

    def mail(group: str, message: int, body: str, posted_to: str | None = None) -> str:
        path = f"raw/{group}/{next(numbers)}"
        files[path] = (
            f"From: user{message}@example.org\nNewsgroups: {posted_to or group}\n"
            f"Subject: note {message}\nMessage-ID: <{message}@example.org>\n\n{body}"
        )
        return path

    originals = []
    for n in range(230):
        length = rng.choice([0, 3, 8, 30, 60, 120, 250, 400])
        words = [rng.choice(vocabulary) for _ in range(length)]
        lines = [" ".join(words[k : k + 12]) for k in range(0, len(words), 12)]
        body = "\n".join(lines) + "\n"
        originals.append((n, body, mail(groups[n % 4], n, body)))
    exact: list[list[str]] = []
    for n, body, path in originals[::11]:  # cross-posts: the same file in another folder
        again = [groups[(n + k) % 4] for k in (1, 2)[: 1 + (n == 0)]]
        exact.append([path] + [mail(group, n, body, posted_to=groups[n % 4]) for group in again])
    for n, body, _ in originals[5::4]:  # re-posts with a few words changed
        spans = [m.span() for m in TOKEN.finditer(body)]
        if len(spans) < 20:
            continue
        changed = body
        for start, end in sorted(rng.sample(spans, rng.choice([1, 2, 4, 8])), reverse=True):
            changed = changed[:start] + rng.choice(vocabulary) + "x" + changed[end:]
        mail(groups[(n + 3) % 4], 5000 + n, changed)
    for path, text in files.items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_bytes(text.encode("latin-1"))
    return sorted(files, key=member_key), exact


def smoke_subset(
    paths: Sequence[str], groups: list[list[str]], truth: set[Pair]
) -> tuple[list[str], list[list[str]], set[Pair]]:
    """About 300 files of the corpus: those of 60 true pairs and 3 groups, and every 100th."""
    chosen = {p for pair in sorted(truth)[::15] for p in pair}
    chosen |= {p for group in groups[::175] for p in group}
    chosen |= set(paths[::100])
    subset = sorted(chosen, key=member_key)
    inside = set(subset)
    return (
        subset,
        [g for g in ([p for p in g if p in inside] for g in groups) if len(g) > 1],
        {pair for pair in truth if pair[0] in inside and pair[1] in inside},
    )


# --- contestants, each timed from the files on disk to verified pairs --------------------


class Clock:
    """CPU and wall time since creation, with named checkpoints."""

    def __init__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        self.last = self.cpu
        self.stages: dict[str, float] = {}

    def mark(self, stage: str) -> None:
        now = time.process_time()
        self.stages[stage] = now - self.last
        self.last = now

    def done(self) -> dict[str, Any]:
        return {
            "cpu_seconds": time.process_time() - self.cpu,
            "wall_seconds": time.perf_counter() - self.wall,
            "stages": self.stages,
        }


def verify_strings(sets: Sequence[set[str]], candidates: Iterable[tuple[int, int]]) -> list:
    """Candidates whose exact Jaccard of string shingle sets is at least the threshold."""
    found = []
    for i, j in candidates:
        a, b = sets[i], sets[j]
        shared = len(a & b)
        if shared / (len(a) + len(b) - shared) >= THRESHOLD:
            found.append((i, j))
    return found


def run_baseline(base: Path, paths: Sequence[str]) -> dict[str, Any]:
    clock = Clock()
    texts = read_texts(base, paths)
    clock.mark("read")
    keys = [mh.exact_key(t) for t in texts]
    clock.mark("exact_key")
    return {**clock.done(), "pairs": [], "distinct_keys": len(set(keys))}


def run_ours(base: Path, paths: Sequence[str]) -> dict[str, Any]:
    clock = Clock()
    bodies = [body_of(t) for t in read_texts(base, paths)]
    clock.mark("read")
    sets = mh.shingle_batch(bodies, SIZE)
    clock.mark("shingle")
    found = mh_lsh.near_pairs(sets, THRESHOLD, permutations=PERMUTATIONS)
    clock.mark("near_pairs")
    result = clock.done()
    result["pairs"] = [(i, j) for i, j, _ in found]
    result["peak_rss_mib"] = peak_rss_mib()  # before the breakdown below
    result["breakdown"], result["index_size"] = ours_breakdown(sets)
    return result


def ours_breakdown(sets: Sequence[np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Untimed for the headline: where ``near_pairs``'s time goes, step by step as it runs
    them, and what our index would store per document."""
    bands, rows = mh.choose_bands(THRESHOLD, PERMUTATIONS)
    keep = [i for i, s in enumerate(sets) if s.size]
    clock = Clock()
    signatures = mh.MinHasher(permutations=PERMUTATIONS).signatures([sets[i] for i in keep])
    clock.mark("signatures")
    keys = mh.band_keys(signatures, bands, rows)
    clock.mark("band_keys")
    index = mh_lsh.LshIndex()
    index.add_many(keep, keys)
    candidates = list(index.pairs())
    clock.mark("index_and_candidates")
    sized = [
        (i, j)
        for i, j in candidates
        if min(sets[i].size, sets[j].size) >= THRESHOLD * max(sets[i].size, sets[j].size)
    ]
    clock.mark("length_filter")
    verified = sum(mh.jaccard(sets[i], sets[j]) >= THRESHOLD for i, j in sized)
    clock.mark("jaccard")
    breakdown = {
        "bands": bands,
        "rows": rows,
        **clock.stages,
        "candidates": len(candidates),
        "after_length_filter": len(sized),
        "verified": int(verified),
    }
    encoded = [len(mh.encode_set(sets[i])) for i in keep]
    count = max(len(keep), 1)
    size = {
        "documents_indexed": len(keep),
        "signature_bytes": PERMUTATIONS * 4,
        "band_key_bytes": bands * 8,
        "encoded_shingle_bytes": sum(encoded) / count,
        "raw_shingle_bytes": 4 * sum(sets[i].size for i in keep) / count,
        "shingles_per_document": sum(sets[i].size for i in keep) / count,
    }
    size["total_bytes"] = (
        size["signature_bytes"] + size["band_key_bytes"] + size["encoded_shingle_bytes"]
    )
    return breakdown, size


def python_shingles(base: Path, paths: Sequence[str], clock: Clock) -> tuple[list, list[int]]:
    bodies = [body_of(t) for t in read_texts(base, paths)]
    clock.mark("read")
    sets = [string_shingles(b) for b in bodies]
    clock.mark("shingle")
    return sets, [i for i, s in enumerate(sets) if s]


def run_datasketch(
    base: Path, paths: Sequence[str], params: tuple[int, int] | None = None
) -> dict[str, Any]:
    from datasketch import MinHash, MinHashLSH

    clock = Clock()
    sets, keep = python_shingles(base, paths, clock)
    sketches = MinHash.bulk(
        ([s.encode("utf-8") for s in sets[i]] for i in keep), num_perm=PERMUTATIONS
    )
    clock.mark("sketch")
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=PERMUTATIONS, params=params)
    with lsh.insertion_session() as session:
        for i, sketch in zip(keep, sketches, strict=True):
            session.insert(i, sketch, check_duplication=False)
    candidates = sorted(
        {
            (i, j)
            for i, sketch in zip(keep, sketches, strict=True)
            for j in lsh.query(sketch)
            if j > i
        }
    )
    clock.mark("index_and_candidates")
    found = verify_strings(sets, candidates)
    clock.mark("verify")
    return {**clock.done(), "pairs": found, "candidates": len(candidates), "bands": [lsh.b, lsh.r]}


def run_rensa(
    base: Path, paths: Sequence[str], permutations: int = PERMUTATIONS, bands: int = 16
) -> dict[str, Any]:
    from rensa import RMinHash, RMinHashLSH

    clock = Clock()
    sets, keep = python_shingles(base, paths, clock)
    sketches = RMinHash.from_token_sets([sets[i] for i in keep], permutations, 1)
    clock.mark("sketch")
    lsh = RMinHashLSH(THRESHOLD, permutations, bands)
    lsh.insert_many(sketches, 0)
    found_keys = lsh.query_all(sketches)
    candidates = sorted(
        {(keep[a], keep[b]) for a, keys in enumerate(found_keys) for b in keys if b > a}
    )
    clock.mark("index_and_candidates")
    found = verify_strings(sets, candidates)
    clock.mark("verify")
    rows = permutations // bands
    return {**clock.done(), "pairs": found, "candidates": len(candidates), "bands": [bands, rows]}


RUNNERS: dict[str, Callable[[Path, Sequence[str]], dict[str, Any]]] = {
    "baseline": run_baseline,
    "ours": run_ours,
    "datasketch": run_datasketch,
    "datasketch-21x6": lambda base, paths: run_datasketch(base, paths, params=(21, 6)),
    "rensa": run_rensa,
    "rensa-21x6": lambda base, paths: run_rensa(base, paths, permutations=126, bands=21),
}


def only(name: str, base: Path) -> dict[str, Any]:
    """One contestant, once, in this process: its figures with the pairs as paths."""
    paths = list_paths(base)
    if name.startswith("datasketch"):
        import datasketch  # noqa: F401  (imports are not part of the time)
    elif name.startswith("rensa"):
        import rensa  # noqa: F401
    mh.shingle_batch(["warm up the lookup tables once"])
    before = peak_rss_mib()
    result = RUNNERS[name](base, paths)
    result["pairs"] = sorted(ordered(paths[i], paths[j]) for i, j in result["pairs"])
    result.setdefault("peak_rss_mib", peak_rss_mib())
    result.update(documents=len(paths), rss_before_mib=before)
    return result


# --- scale ---------------------------------------------------------------------------------


def scaled_bodies(bodies: Sequence[str], copies: int) -> list[str]:
    """``bodies``, then ``copies - 1`` more rounds of them, each body with ``EDITS`` of its
    ``\\w+`` words replaced by new ones; the same texts in every run."""
    rng = random.Random(1_000_003)
    rounds: list[list[str]] = [list(bodies)] + [[] for _ in range(1, copies)]
    for body in bodies:
        where = [m.span() for m in TOKEN.finditer(body)] if copies > 1 else []
        for copy in range(1, copies):
            edited = body
            for start, end in sorted(rng.sample(where, min(EDITS, len(where))), reverse=True):
                edited = f"{edited[:start]}zq{rng.randrange(10**9)}{edited[end:]}"
            rounds[copy].append(edited)
    return [body for one in rounds for body in one]


def rss_mib() -> float:
    """This process's resident set size now (``VmRSS``), in MiB; 0 where unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def scale_child(base: Path, copies: int, repeats: int) -> dict[str, Any]:
    bodies = [body_of(t) for t in read_texts(base, list_paths(base))]
    everything = scaled_bodies(bodies, copies)
    n = len(bodies)
    del bodies
    mh.shingle_batch(["warm up the lookup tables once"])
    before, peak_before = rss_mib(), peak_rss_mib()
    best: dict[str, Any] | None = None
    for repeat in range(repeats):
        clock = Clock()
        sets = mh.shingle_batch(everything, SIZE)
        clock.mark("shingle")
        found = mh_lsh.near_pairs(sets, THRESHOLD, permutations=PERMUTATIONS)
        clock.mark("near_pairs")
        run = clock.done()
        if best is None or run["cpu_seconds"] < best["cpu_seconds"]:
            best = run
        if repeat < repeats - 1:
            del sets, found  # not two sets of shingles at once
    assert best is not None
    peak = peak_rss_mib()
    breakdown, _ = ours_breakdown(sets)
    pairs = {(i, j) for i, j, _ in found}
    family_true = family_found = 0
    for original in range(n):
        members = [original + k * n for k in range(copies)]
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if sets[i].size and sets[j].size and mh.jaccard(sets[i], sets[j]) >= THRESHOLD:
                    family_true += 1
                    family_found += (i, j) in pairs
    return {
        **best,
        "copies": copies,
        "documents": len(everything),
        "pairs": len(pairs),
        "family_pairs_at_threshold": family_true,
        "family_pairs_found": family_found,
        "breakdown": breakdown,
        "rss_before_mib": before,
        "peak_rss_before_mib": peak_before,
        "peak_rss_mib": peak,
    }


# --- scoring ---------------------------------------------------------------------------------


def prf(predicted: set[Pair], truth: set[Pair]) -> dict[str, Any]:
    tp = len(predicted & truth)
    p = tp / len(predicted) if predicted else 1.0
    r = tp / len(truth) if truth else 1.0
    return {
        "p": p,
        "r": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "tp": tp,
        "fp": len(predicted - truth),
        "fn": len(truth - predicted),
    }


def closure(pairs: Iterable[Pair]) -> set[Pair]:
    """Every pair within the connected components of ``pairs``."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    members: dict[str, list[str]] = {}
    for x in list(parent):
        members.setdefault(find(x), []).append(x)
    return {ordered(g[i], g[j]) for g in members.values() for i in range(len(g)) for j in range(i)}


def exact_copies(base: Path, paths: Sequence[str], groups: list[list[str]]) -> dict[str, Any]:
    by_key: dict[bytes, list[str]] = {}
    for path, text in zip(paths, read_texts(base, paths), strict=True):
        by_key.setdefault(mh.exact_key(text), []).append(path)
    found = [sorted(g, key=member_key) for g in by_key.values() if len(g) > 1]
    key_of = {p: k for k, g in by_key.items() for p in g}
    recalled = sum(len({key_of[p] for p in g}) == 1 for g in groups)
    truth = {tuple(sorted(g, key=member_key)) for g in groups}
    extra = [g for g in found if tuple(g) not in truth]
    return {
        "groups_in_truth": len(groups),
        "groups_recalled": recalled,
        "recall": recalled / len(groups) if groups else 1.0,
        "groups_found": len(found),
        "groups_exactly_equal": len(truth & {tuple(g) for g in found}),
        "extra_groups": len(extra),
        "extra_examples": extra[:10],
        "documents_after_dedup": len(by_key),
    }


# --- the run -------------------------------------------------------------------------------


def child(command: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *command], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def rounds(names: Sequence[str], base: Path, repeats: int) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for round_number in range(repeats):
        shift = round_number % len(names)
        for name in [*names[shift:], *names[:shift]]:
            run = child(["--only", name, "--corpus-dir", str(base)])
            runs[name].append(run)
            print(f"  round {round_number + 1}: {name:<16} {run['cpu_seconds']:7.2f} CPU s")
    return runs


def summarise(
    runs: dict[str, list[dict[str, Any]]], truth: set[Pair], documents: int
) -> dict[str, Any]:
    table: dict[str, Any] = {}
    baseline = min(r["cpu_seconds"] for r in runs["baseline"]) if "baseline" in runs else None
    truth_closed = closure(truth)
    for name, all_runs in runs.items():
        best = min(all_runs, key=lambda r: r["cpu_seconds"])
        pairs = {tuple(p) for p in best["pairs"]}
        entry = {
            "cpu_seconds": best["cpu_seconds"],
            "wall_seconds": best["wall_seconds"],
            "docs_per_cpu_second": documents / best["cpu_seconds"],
            "docs_per_wall_second": documents / best["wall_seconds"],
            "time_vs_baseline": best["cpu_seconds"] / baseline if baseline else None,
            "all_cpu_seconds": [r["cpu_seconds"] for r in all_runs],
            "stages": best["stages"],
            "peak_rss_mib": max(r["peak_rss_mib"] for r in all_runs),
            "rss_before_mib": best["rss_before_mib"],
        }
        if name != "baseline":
            entry["pairs_found"] = len(pairs)
            entry["quality"] = prf(pairs, truth)  # type: ignore[arg-type]
            entry["missed_examples"] = sorted(truth - pairs)[:20]  # type: ignore[operator]
            entry["extra_examples"] = sorted(pairs - truth)[:20]  # type: ignore[operator]
            entry["quality_closure"] = prf(closure(pairs), truth_closed)  # type: ignore[arg-type]
            # Every run of a contestant must find the same pairs (seeded hashes).
            entry["same_pairs_every_run"] = all(r["pairs"] == best["pairs"] for r in all_runs)
        for key in ("candidates", "bands", "breakdown", "index_size"):
            if key in best:
                entry[key] = best[key]
        table[name] = entry
    return table


def machine_note() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            model = next((ln.split(":", 1)[1].strip() for ln in info if "model name" in ln), "")
    except OSError:
        pass
    versions = {}
    for module in ("numpy", "datasketch", "rensa"):
        try:
            versions[module] = version(module)
        except PackageNotFoundError:
            versions[module] = None
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "versions": versions,
    }


@contextmanager
def corpus_folder(args: argparse.Namespace) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A temporary folder holding the files to read and ``paths.txt``, and the truth."""
    folder = Path(tempfile.mkdtemp(prefix="dedup_near_"))
    try:
        truth_folder = args.tarball.parent
        have_corpus = args.tarball.is_file() and (truth_folder / "duplicates.tsv").is_file()
        if args.invented or (args.smoke and not have_corpus):
            paths, groups = invented_corpus(folder)
            bodies = [body_of(t) for t in read_texts(folder, paths)]
            info = {
                "corpus": "invented",
                "groups": groups,
                "truth": exact_near_pairs(bodies, paths),
            }
        elif have_corpus:
            groups, truth = read_truth(truth_folder)
            info = {"corpus": args.tarball.name, "groups": groups, "truth": truth}
            if args.smoke:
                every = archive_paths(args.tarball)
                paths, info["groups"], info["truth"] = smoke_subset(every, groups, truth)
                unpack_some(args.tarball, folder, paths)
                info["corpus"] += " (smoke subset)"
            else:
                paths = unpack_corpus(args.tarball, folder)
                info["truth_jaccard"] = read_truth_jaccard(truth_folder)
        else:
            raise SystemExit(f"{args.tarball} or its ground truth not found: give --tarball")
        write_paths(folder, paths)
        info["paths"] = paths
        yield folder, info
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_truth(base: Path, paths: Sequence[str], truth: dict[Pair, float]) -> dict[str, Any]:
    """Do our body, tokens and shingles reproduce the listed Jaccard of every true pair?"""
    where = {p: i for i, p in enumerate(paths)}
    needed = sorted({p for pair in truth for p in pair}, key=member_key)
    bodies = [body_of(t) for t in read_texts(base, needed)]
    sets = dict(zip(needed, mh.shingle_batch(bodies), strict=True))
    off = [
        (a, b, listed, mh.jaccard(sets[a], sets[b]))
        for (a, b), listed in truth.items()
        if abs(mh.jaccard(sets[a], sets[b]) - listed) > 5e-5
    ]
    return {
        "pairs": len(truth),
        "all_files_present": all(p in where for p in needed),
        "reproduced": len(truth) - len(off),
        "differing": off[:10],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tarball", type=Path, default=default_tarball())
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the best CPU time counts")
    parser.add_argument(
        "--contestants",
        default=",".join(CONTESTANTS),
        help=f"comma-separated, of {', '.join(CONTESTANTS)} (missing libraries are skipped)",
    )
    parser.add_argument("--scales", default=",".join(map(str, SCALES)), help="'' for none")
    parser.add_argument("--smoke", action="store_true", help="~300 documents, one round, seconds")
    parser.add_argument("--invented", action="store_true", help="invented mails, not 20news")
    parser.add_argument(
        "--output",
        type=Path,
        help="JSON figures (default: results/dedup_near.json; none for --smoke)",
    )
    parser.add_argument("--only", choices=CONTESTANTS, help="one contestant, once; print JSON")
    parser.add_argument("--scale-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--corpus-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.scale_child:
        print(json.dumps(scale_child(args.corpus_dir, args.scale_child, args.repeats)))
        return 0
    if args.only:
        if args.corpus_dir:
            print(json.dumps(only(args.only, args.corpus_dir)))
        else:
            with corpus_folder(args) as (folder, _):
                print(json.dumps(only(args.only, folder)))
        return 0

    repeats = 1 if args.smoke else args.repeats
    scales = [int(s) for s in args.scales.split(",") if s]
    if args.smoke:
        scales = [s for s in scales if s <= 2]
    names = []
    for name in args.contestants.split(","):
        module = NEEDS.get(name.split("-")[0])
        if module and importlib.util.find_spec(module) is None:
            print(f"{module} not installed: no {name}")
        elif name:
            names.append(name)
    figures: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/dedup_near.py", *(argv or sys.argv[1:])]),
        "machine": machine_note(),
    }
    problems = []
    with corpus_folder(args) as (base, info):
        paths, truth = info["paths"], info["truth"]
        documents = len(paths)
        figures["corpus"] = {
            "name": info["corpus"],
            "documents": documents,
            "exact_groups": len(info["groups"]),
            "near_pairs_in_truth": len(truth),
        }
        print(
            f"{info['corpus']}: {documents:,} files, {len(info['groups'])} exact groups, "
            f"{len(truth)} near pairs (J ≥ {THRESHOLD})"
        )
        if "truth_jaccard" in info:
            figures["truth_check"] = check_truth(base, paths, info["truth_jaccard"])
        figures["exact"] = exact = exact_copies(base, paths, info["groups"])
        if exact["recall"] < 1.0:
            problems.append(f"exact copies: recall {exact['recall']:.3f} < 1.0")

        print(f"speed and quality: {len(names)} contestants x {repeats} rounds, fresh processes")
        runs = rounds(names, base, repeats)
        figures["contestants"] = table = summarise(runs, truth, documents)
        if "ours" in table:
            if table["ours"]["quality"]["f1"] < TARGET_F1:
                problems.append(f"ours: F1 {table['ours']['quality']['f1']:.4f} < {TARGET_F1}")
            if table["ours"]["quality"]["fp"]:
                problems.append("ours: pairs below the threshold reported")

        figures["scaling"] = scaling = []
        for copies in scales:
            print(f"  scale {copies}x ...")
            scaling.append(
                child(
                    [
                        "--scale-child",
                        str(copies),
                        "--corpus-dir",
                        str(base),
                        "--repeats",
                        str(repeats),
                    ]
                )
            )
    figures["targets"] = {"f1": TARGET_F1, "docs_per_cpu_second": TARGET_SPEED}
    figures["problems"] = problems
    print()
    print("\n".join(report(figures)))
    output = args.output or (None if args.smoke else BENCH_DIR / "results" / "dedup_near.json")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(figures, indent=1, ensure_ascii=False), encoding="utf-8")
        print(f"wrote {output}")
    if problems:
        print("PROBLEMS: " + "; ".join(problems))
        return 1
    return 0


def report(figures: dict[str, Any]) -> list[str]:
    """The printed tables."""
    corpus, exact = figures["corpus"], figures["exact"]
    lines = [
        f"Exact copies ({corpus['documents']:,} files, exact_key of the whole text): "
        f"recall {exact['recall']:.3f} ({exact['groups_recalled']}/{exact['groups_in_truth']} "
        f"groups), {exact['groups_exactly_equal']} found exactly, "
        f"{exact['extra_groups']} extra groups; {exact['documents_after_dedup']:,} distinct",
    ]
    if "truth_check" in figures:
        check = figures["truth_check"]
        lines.append(
            f"Ground truth check: {check['reproduced']}/{check['pairs']} listed Jaccard values "
            "reproduced by our bodies and shingles"
        )
    table = figures["contestants"]
    lines += [
        "",
        f"Near copies at J ≥ {THRESHOLD} ({corpus['near_pairs_in_truth']} true pairs); best "
        "of the rounds; time from the files on disk to verified pairs:",
        "",
        "| contestant | bands×rows | CPU s | docs/CPU-s | × baseline time | P | R | F1 "
        "| F1 (closure) | candidates | peak RSS MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, e in table.items():
        q, c = e.get("quality"), e.get("quality_closure")
        bands = e.get("bands") or (
            [e["breakdown"]["bands"], e["breakdown"]["rows"]] if "breakdown" in e else None
        )
        candidates = e.get("candidates", e.get("breakdown", {}).get("candidates"))
        ratio = e["time_vs_baseline"]
        lines.append(
            f"| {name} | {f'{bands[0]}×{bands[1]}' if bands else '–'} "
            f"| {e['cpu_seconds']:.2f} | {e['docs_per_cpu_second']:,.0f} "
            f"| {f'{ratio:.2f}' if ratio else '–'} "
            + (
                f"| {q['p']:.4f} | {q['r']:.4f} | **{q['f1']:.4f}** | {c['f1']:.4f} "
                if q
                else "| – | – | – | – "
            )
            + f"| {f'{candidates:,}' if candidates is not None else '–'} "
            f"| {e['peak_rss_mib']:.0f} |"
        )
    lines += ["", "CPU seconds by stage (best round):", ""]
    for name, e in table.items():
        lines.append(f"- {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in e["stages"].items()))
    if "ours" in table:
        b, size = table["ours"]["breakdown"], table["ours"]["index_size"]
        lines.append(
            f"- ours, inside near_pairs (separate run): signatures {b['signatures']:.2f}, "
            f"band keys {b['band_keys']:.2f}, index and candidates "
            f"{b['index_and_candidates']:.2f}, length filter {b['length_filter']:.2f}, jaccard "
            f"{b['jaccard']:.2f}; {b['candidates']:,} candidates, {b['after_length_filter']:,} "
            f"after the length filter, {b['verified']:,} verified"
        )
        ours_speed = table["ours"]["docs_per_cpu_second"]
        lines += [
            "",
            f"Ours: {ours_speed:,.0f} docs/CPU-s (target ≥ {TARGET_SPEED:,}), F1 "
            f"{table['ours']['quality']['f1']:.4f} (target ≥ {TARGET_F1})",
            "",
            f"Index size per document (ours, {size['documents_indexed']:,} documents with "
            f"shingles, {size['shingles_per_document']:.0f} shingles each on average): "
            f"signature {size['signature_bytes']} B + band keys {size['band_key_bytes']} B + "
            f"encoded shingles {size['encoded_shingle_bytes']:.0f} B (raw "
            f"{size['raw_shingle_bytes']:.0f} B) = {size['total_bytes']:.0f} B",
        ]
    if figures["scaling"]:
        lines += [
            "",
            f"Scale (ours; copies = originals with {EDITS} words replaced; shingle_batch + "
            "near_pairs, texts in memory, best of the rounds):",
            "",
            "| scale | documents | CPU s | µs/doc | docs/CPU-s | pairs | family pairs found "
            "| RSS before MiB | peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in figures["scaling"]:
            lines.append(
                f"| {s['copies']}x | {s['documents']:,} | {s['cpu_seconds']:.2f} "
                f"| {1e6 * s['cpu_seconds'] / s['documents']:.1f} "
                f"| {s['documents'] / s['cpu_seconds']:,.0f} | {s['pairs']:,} "
                f"| {s['family_pairs_found']:,}/{s['family_pairs_at_threshold']:,} "
                f"| {s['rss_before_mib']:.0f} | {s['peak_rss_mib']:.0f} |"
            )
        lines += [
            "",
            "Where the time goes as the corpus grows (the steps of near_pairs run one by one "
            "after the timed runs; per-document steps in µs per document, verification in µs "
            "per candidate pair):",
            "",
            "| scale | shingle µs/doc | signatures µs/doc | band keys µs/doc | candidates "
            "| candidates/doc | index+candidates s | verification s | µs/candidate |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in figures["scaling"]:
            b, n = s["breakdown"], s["documents"]
            verify = b["length_filter"] + b["jaccard"]
            lines.append(
                f"| {s['copies']}x | {1e6 * s['stages']['shingle'] / n:.1f} "
                f"| {1e6 * b['signatures'] / n:.1f} | {1e6 * b['band_keys'] / n:.2f} "
                f"| {b['candidates']:,} | {b['candidates'] / n:.2f} "
                f"| {b['index_and_candidates']:.2f} | {verify:.2f} "
                f"| {1e6 * verify / max(b['candidates'], 1):.1f} |"
            )
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
