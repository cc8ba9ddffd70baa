"""pipeline eval dedup: gold formats, id matching, pair counts and ARI, the command."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import structlog
from click.testing import CliRunner, Result

from docstage.errors import DataError
from docstage_eval.cli import eval_group
from docstage_eval.dedup import dedup_command
from docstage_eval.dedup_gold import Gold, Predictions, read_gold
from docstage_eval.dedup_scores import match_ids, score


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(eval_group, ["dedup", *args], env={"COLUMNS": "120"})


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tmp_path as the working folder."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    structlog.reset_defaults()  # the command configured logging for its captured streams


# --- the pieces ---------------------------------------------------------------------------


def gold(kind: str, clusters: dict[str, str]) -> Gold:
    return Gold(Path("gold"), kind, clusters)


def predictions(*records: dict[str, Any]) -> Predictions:
    found = Predictions("test")
    for record in records:
        found.add(record)
    return found


def test_pairs_are_counted_after_the_closure_of_both_sides() -> None:
    # Gold pairs (p1,p3), (p4,p6), (p7,p8): clusters {p1,p3} {p4,p6} {p7,p8}; p7, p8 are
    # not predicted, so they are not scored. Predicted: p2 and p3 copy p1 (annotate mode,
    # duplicate_of as an object and as a list), p4 lists p5 as a dropped copy, p6 alone:
    # clusters {p1,p2,p3} {p4,p5}, 6 documents (p5 only named under duplicates).
    # Predicted pairs 3 + 1 = 4, gold pairs 1 + 1 = 2, true pairs 1 (p1-p3):
    # P = 1/4, R = 1/2, F1 = 2 * 0.25 * 0.5 / 0.75 = 1/3.
    truth = gold("pairs", {"p1": "p1", "p3": "p1", "p4": "p4", "p6": "p4", "p7": "p7", "p8": "p7"})
    found = predictions(
        {"id": "p1"},
        {"id": "p2", "duplicate_of": {"id": "p1", "source": "s", "relation": "exact"}},
        {"id": "p3", "duplicate_of": [{"id": "p2"}]},
        {"id": "p4", "duplicates": [{"id": "p5", "source": "s", "relation": "near"}]},
        {"id": "p6"},
    )
    scores = score(truth, found, "copies")
    assert (scores.pairs.tp, scores.pairs.predicted, scores.pairs.gold) == (1, 4, 2)
    assert (scores.pairs.precision, scores.pairs.recall) == (0.25, 0.5)
    assert scores.pairs.f1 == pytest.approx(1 / 3)
    assert scores.ari is None
    assert (scores.documents, scores.predicted_clusters, scores.gold_clusters) == (6, 2, 2)
    assert (scores.gold_ids, scores.matched, scores.unmatched) == (6, 4, ("p7", "p8"))


def test_the_gold_is_closed_before_unpredicted_ids_leave() -> None:
    # Gold x-y and y-z: one cluster {x,y,z}; y is not predicted, yet x-z is a gold pair.
    truth = read_gold_text("a\tb\nx\ty\ny\tz\n")
    scores = score(truth, predictions({"id": "x", "duplicates": [{"id": "z"}]}), "copies")
    assert (scores.pairs.tp, scores.pairs.fp, scores.pairs.fn) == (1, 0, 0)


def read_gold_text(text: str, name: str = "gold.tsv", **kwargs: Any) -> Gold:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch, name)
        path.write_text(text, encoding="utf-8")
        return read_gold(path, **kwargs)


def test_clusters_give_pairwise_scores_and_ari() -> None:
    # Gold A B C | D E | F; predicted stories s: A B, t: C D E (and G, not in the gold:
    # left out); F has no record: alone. Over the 6 gold documents:
    # gold pairs 3 + 1 = 4, predicted pairs 1 + 3 = 4, true pairs A-B and D-E = 2:
    # P = R = F1 = 0.5. ARI: n = 6, C(6,2) = 15, expected = 4 * 4 / 15 = 16/15,
    # ARI = (2 - 16/15) / ((4 + 4) / 2 - 16/15) = 14/44 = 7/22.
    truth = gold("clusters", dict(zip("ABCDEF", "111223", strict=True)))
    found = predictions(
        *({"id": i, "story_id": s} for i, s in zip("ABCDEG", "sstttt", strict=True))
    )
    scores = score(truth, found, "stories")
    assert (scores.pairs.tp, scores.pairs.predicted, scores.pairs.gold) == (2, 4, 4)
    assert scores.pairs.f1 == 0.5
    assert scores.ari == pytest.approx(7 / 22)
    assert (scores.documents, scores.predicted_clusters, scores.gold_clusters) == (6, 2, 2)
    assert scores.unmatched == ("F",)
    # As copies (no duplicates listed) every document is alone: no pair, ARI 0.
    copies = score(truth, found, "copies")
    assert (copies.pairs.tp, copies.pairs.predicted, copies.ari) == (0, 0, 0.0)


def test_pair_counts_agree_with_sklearn_s_pair_confusion_matrix() -> None:
    from sklearn.metrics.cluster import pair_confusion_matrix

    rng = random.Random(7)
    ids = [f"d{i}" for i in range(200)]
    truth = gold("clusters", {i: str(rng.randrange(40)) for i in ids})
    stories = {i: str(rng.randrange(30)) for i in ids}
    scores = score(truth, predictions(*({"id": i, "story_id": stories[i]} for i in ids)), "stories")
    matrix = pair_confusion_matrix(list(truth.clusters.values()), list(stories.values())) // 2
    assert (scores.pairs.tp, scores.pairs.fp, scores.pairs.fn) == (
        matrix[1, 1],
        matrix[0, 1],
        matrix[1, 0],
    )


def test_a_dropped_copy_joins_its_original_s_story() -> None:
    found = predictions(
        {"id": "a", "story_id": "s1", "duplicates": [{"id": "a2"}]},
        {"id": "b", "story_id": "s1"},
        {"id": "c", "story_id": "s2"},
    )
    clusters = found.clusters("stories")
    assert clusters["a"] == clusters["a2"] == clusters["b"] != clusters["c"]


def test_ids_match_exactly_else_by_their_path_ending() -> None:
    matching = match_ids(
        ["raw/a/1", "a/2", "b/3", "raw/c/4", "d/5", "x/y/6", "z/y/6", "zzz"],
        ["a/1", "raw/a/2", "b/3", "c/4", "raw/c/4", "p/d/5", "q/d/5", "y/6"],
    )
    assert matching.to_predicted == {
        "raw/a/1": "a/1",  # the prediction ends like the gold id
        "a/2": "raw/a/2",  # and the other way round
        "b/3": "b/3",
        "raw/c/4": "raw/c/4",  # exact first, though c/4 ends like it too
    }
    assert matching.by_suffix == 2
    # d/5 ends two predictions; x/y/6 and z/y/6 both end like y/6
    assert matching.ambiguous == ("d/5", "x/y/6", "z/y/6")


# --- gold formats -------------------------------------------------------------------------


def test_gold_formats_are_recognised_from_the_content() -> None:
    pairs = read_gold_text("path_a\tpath_b\tjaccard\nr/a\tr/b\t0.9\nr/b\tr/c\t0.8\n")
    assert pairs.format == "pairs"
    assert len(set(pairs.clusters.values())) == 1

    groups = read_gold_text(
        "message_id\tn_files\tpaths (tab-separated)\n<m1>\t3\ta\tb\tc\n<m2>\t1\td\n"
    )
    assert groups.format == "groups"
    assert sorted(groups.clusters) == ["a", "b", "c", "d"]  # not <m1> nor the counts
    assert groups.clusters["a"] == groups.clusters["c"] != groups.clusters["d"]

    jsonl_pairs = read_gold_text('{"a": "x", "b": 2}\n\n{"a": 2, "b": "y"}\n', "g.jsonl")
    assert jsonl_pairs.format == "pairs"
    assert set(jsonl_pairs.clusters) == {"x", "2", "y"}

    clusters = read_gold_text(
        '{"id": "x", "cluster_id": "e1", "title": "more fields"}\n{"id": "y", "cluster_id": 7}\n',
        "g.jsonl",
    )
    assert (clusters.format, clusters.kind) == ("clusters", "clusters")
    assert clusters.clusters == {"x": "e1", "y": "7"}

    other = read_gold_text('{"id": "x", "event": "e1"}\n', "g.jsonl", cluster_key="event")
    assert other.clusters == {"x": "e1"}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "gold.txt",
            "just some text\n",
            "gold.txt:1: unrecognised gold format: expected a TSV with a header (pairs: "
            'ID_A<TAB>ID_B…; groups: …<TAB>paths), JSONL pairs {"a": …, "b": …} or JSONL '
            'clusters {"id": …, "cluster_id": …}',
        ),
        ("gold.jsonl", '{"x": 1}\n', "gold.jsonl:1: unrecognised gold format: expected a TSV"),
        (
            "gold.jsonl",
            '{"id": "x", "event": "e1"}\n',
            "gold.jsonl:1: missing field 'cluster_id' (the document's cluster; another field: "
            "--cluster-key KEY)",
        ),
        ("gold.tsv", "a\tb\nx\n", "gold.tsv:2: expected two ids separated by a tab"),
        ("gold.tsv", "a\tb\n", "gold.tsv: the gold file has no records after its header"),
        ("gold.tsv", "\n\n", "gold.tsv: the gold file has no records"),
        (
            "gold.tsv",
            "id\tn\tpaths\nm1\t0\t\n",
            "gold.tsv:2: no ids from column 3 ('paths') on",
        ),
        ("gold.jsonl", '{"a": "x", "b": "y"}\n{"a": "x"}\n', "gold.jsonl:2: missing field 'b'"),
        (
            "gold.jsonl",
            '{"a": "x", "b": true}\n',
            "gold.jsonl:1: field 'b' must be a string or an integer",
        ),
        (
            "gold.jsonl",
            '{"id": "x", "cluster_id": 1}\n{"id": "x", "cluster_id": 2}\n',
            "gold.jsonl:2: duplicate id 'x' (first on line 1)",
        ),
        (
            "gold.jsonl",
            '{"id": "x", "cluster_id": 1}\n[1]\n',
            "gold.jsonl:2: expected a JSON object",
        ),
        ("gold.jsonl", '{"id": "x",\n', "gold.jsonl:1: not valid JSON: Expecting property name"),
    ],
)
def test_bad_gold_files_name_file_and_line(
    folder: Path, name: str, text: str, message: str
) -> None:
    (folder / name).write_text(text, encoding="utf-8")
    write_jsonl(folder / "pred.jsonl", [{"id": "x"}])
    result = invoke("--gold", name, "--predictions", "pred.jsonl")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {message}")
    assert result.stderr.count("\n") == 1


def test_cluster_key_applies_to_clusters_only() -> None:
    with pytest.raises(
        DataError, match="--cluster-key applies to JSONL clusters; this file holds pairs"
    ):
        read_gold_text("a\tb\nx\ty\n", cluster_key="event")


# --- the command on files -----------------------------------------------------------------

PAIRS = "path_a\tpath_b\tjaccard\nraw/p1\traw/p3\t0.9\nraw/p4\traw/p6\t0.8\nraw/p7\traw/p8\t1.0\n"
PREDICTED = [
    {"id": "p1"},
    {"id": "p2", "duplicate_of": {"id": "p1", "source": "s", "relation": "exact", "score": 1.0}},
    {"id": "p3", "duplicate_of": [{"id": "p2", "source": "s", "relation": "near", "score": 0.9}]},
    {"id": "p4", "duplicates": [{"id": "p5", "source": "s", "relation": "near", "score": 0.8}]},
    {"id": "p6", "story_id": None},
]


def test_scores_a_predictions_file_as_json(folder: Path) -> None:
    # As in test_pairs_are_counted_after_the_closure_of_both_sides, ids matched by ending.
    (folder / "gold.tsv").write_text(PAIRS, encoding="utf-8")
    write_jsonl(folder / "pred.jsonl", PREDICTED)
    result = invoke("--gold", "gold.tsv", "--predictions", "pred.jsonl", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "gold": "gold.tsv",
        "format": "pairs",
        "relation": "copies",
        "predictions": "pred.jsonl",
        "precision": 0.25,
        "recall": 0.5,
        "f1": 0.3333,
        "ari": None,
        "documents": 6,
        "predicted_clusters": 2,
        "gold_clusters": 2,
        "true_pairs": 1,
        "predicted_pairs": 4,
        "gold_pairs": 2,
        "gold_ids": 6,
        "matched": 4,
        "matched_by_suffix": 4,
    }
    assert result.stderr == (
        "warning: 2 of 6 gold ids match no predicted id ('raw/p7', 'raw/p8'): not scored\n"
    )


def test_prints_a_table(folder: Path) -> None:
    (folder / "gold.tsv").write_text(PAIRS, encoding="utf-8")
    write_jsonl(folder / "pred.jsonl", PREDICTED)
    result = invoke("--gold", "gold.tsv", "--predictions", "pred.jsonl")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "Dedup: copies against pairs, pairs after transitive closure" in lines[0]
    rows = [line for line in lines if line.count("│") == 8]
    assert [c.strip() for c in rows[0].split("│")[1:-1]] == [
        "copies", "0.250", "0.500", "0.333", "-", "2", "2"
    ]  # fmt: skip
    assert "gold: gold.tsv (pairs; 4 of 6 ids matched, 4 by path ending)" in result.stdout
    assert "predictions: pred.jsonl" in result.stdout
    assert "documents scored: 6" in result.stdout


def test_clusters_gold_defaults_to_stories_and_gives_ari(folder: Path) -> None:
    # test_clusters_give_pairwise_scores_and_ari through the command: ARI 7/22 = 0.3182.
    write_jsonl(
        folder / "gold.jsonl",
        [{"id": i, "cluster_id": c, "title": "…"} for i, c in zip("ABCDEF", "111223", strict=True)],
    )
    write_jsonl(
        folder / "pred.jsonl",
        [{"id": i, "story_id": s} for i, s in zip("ABCDEG", "sstttt", strict=True)],
    )
    result = invoke("--gold", "gold.jsonl", "--predictions", "pred.jsonl", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["relation"], report["format"]) == ("stories", "clusters")
    assert (report["precision"], report["recall"], report["f1"], report["ari"]) == (
        0.5, 0.5, 0.5, 0.3182
    )  # fmt: skip
    assert (report["documents"], report["matched"], report["gold_pairs"]) == (6, 5, 4)
    assert result.stderr == ("warning: 1 of 6 gold ids match no predicted id ('F'): singletons\n")

    result = invoke(
        "--gold", "gold.jsonl", "--predictions", "pred.jsonl", "--relation", "copies", "--json"
    )
    assert json.loads(result.stdout)["predicted_pairs"] == 0
    assert "warning: 1 of 6 gold ids" in result.stderr

    result = invoke("--gold", "gold.jsonl", "--predictions", "gold.jsonl", "--json")
    assert json.loads(result.stdout)["predicted_pairs"] == 0
    assert result.stderr == (
        "warning: no predicted document has a story_id: each copy group is a story\n"
    )


def test_a_cluster_key(folder: Path) -> None:
    write_jsonl(folder / "gold.jsonl", [{"id": "a", "event": 1}, {"id": "b", "event": 1}])
    write_jsonl(folder / "pred.jsonl", [{"id": "a", "story_id": "s"}, {"id": "b", "story_id": "s"}])
    result = invoke(
        "--gold", "gold.jsonl", "--predictions", "pred.jsonl", "--cluster-key", "event", "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["f1"] == 1.0


def test_ambiguous_ids_are_reported(folder: Path) -> None:
    (folder / "gold.tsv").write_text("a\tb\nx/1\tx/2\n", encoding="utf-8")
    write_jsonl(folder / "pred.jsonl", [{"id": "r/x/1"}, {"id": "s/x/1"}, {"id": "x/2"}])
    result = invoke("--gold", "gold.tsv", "--predictions", "pred.jsonl", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["matched"] == 1
    assert result.stderr == (
        "warning: 1 of 2 gold ids end like several predicted ids ('x/1'): not scored\n"
    )


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("[1]", "pred.jsonl:2: expected a JSON object, got list"),
        ('{"ID": "x"}', "pred.jsonl:2: missing field 'id'"),
        (
            '{"id": "y", "duplicates": {"id": "z"}, "duplicate_of": "z"}',
            "pred.jsonl:2: field 'duplicate_of' must be an object or a list of objects",
        ),
        (
            '{"id": "y", "duplicates": [{"ID": "z"}]}',
            "pred.jsonl:2: missing field 'duplicates[].id'",
        ),
        (
            '{"id": "y", "story_id": [1]}',
            "pred.jsonl:2: field 'story_id' must be a string or an integer",
        ),
        ('{"id": "a"}', "pred.jsonl:2: a second record for 'a' (first on line 1)"),
    ],
)
def test_bad_predictions_name_file_and_line(folder: Path, record: str, message: str) -> None:
    (folder / "gold.tsv").write_text("a\tb\na\tb\n", encoding="utf-8")
    (folder / "pred.jsonl").write_text('{"id": "a"}\n' + record + "\n", encoding="utf-8")
    result = invoke("--gold", "gold.tsv", "--predictions", "pred.jsonl")
    assert result.exit_code == 2
    assert result.stderr == f"error: {message}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--gold", "gold.tsv", "--predictions", "other.jsonl"),
            "gold.tsv: no gold id matches a predicted id (first gold id 'raw/p1', first "
            "predicted id 'q1'); ids match exactly or by their ending after a '/'",
        ),
        (
            ("--gold", "missing.tsv", "--predictions", "pred.jsonl"),
            "missing.tsv: no such gold file",
        ),
        (("--gold", ".", "--predictions", "pred.jsonl"), ".: is a folder; give the gold file"),
        (
            ("--gold", "gold.tsv", "--predictions", "nope.jsonl"),
            "nope.jsonl: no such predictions file",
        ),
        (
            ("--gold", "gold.tsv", "--predictions", "empty.jsonl"),
            "empty.jsonl: the predictions file has no records",
        ),
        (
            ("--gold", "gold.tsv", "--sweep", "stages.dedup.threshold=0.7,0.8"),
            "--sweep changes a pipeline's config: give --config CONFIG",
        ),
        (
            ("--gold", "gold.tsv", "--set", "stages.dedup.threshold=0.7"),
            "--set changes a pipeline's config: give --config CONFIG",
        ),
        (
            ("--gold", "gold.tsv"),
            "nothing to score: give --predictions FILE.jsonl (render.jsonl output) or --config "
            "CONFIG",
        ),
        (
            ("--gold", "gold.tsv", "--predictions", "pred.jsonl", "--config", "pipeline.toml"),
            "--predictions scores a file; --config, --set and --sweep run a pipeline: give one "
            "or the other",
        ),
        (
            ("--gold", "gold.tsv", "--config", "pipeline.toml", "--sweep", "threshold"),
            "--sweep 'threshold': expected KEY=V1,V2,…, e.g. --sweep "
            "stages.dedup.threshold=0.6,0.7,0.8,0.9",
        ),
        (
            ("--gold", "gold.tsv", "--config", "pipeline.toml", "--sweep", "x.threshold=0.6,,1"),
            "--sweep 'x.threshold=0.6,,1': expected KEY=V1,V2,…",
        ),
        (("--gold", "gold.tsv", "--config", "missing.toml"), "no such config file: missing.toml"),
        (
            ("--gold", "gold.tsv", "--predictions", "pred.jsonl", "--cluster-key", "event"),
            "--cluster-key applies to JSONL clusters; this file holds pairs",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    folder: Path, args: tuple[str, ...], message: str
) -> None:
    (folder / "gold.tsv").write_text(PAIRS, encoding="utf-8")
    write_jsonl(folder / "pred.jsonl", PREDICTED)
    write_jsonl(folder / "other.jsonl", [{"id": "q1"}, {"id": "q2"}])
    (folder / "empty.jsonl").write_text("\n", encoding="utf-8")
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {message}")
    assert result.stderr.count("\n") == 1


# --- the command running a config ---------------------------------------------------------

PLUGIN = '''\
from pathlib import Path
from typing import ClassVar, Optional

import attrs

from docstage import STORY_ID, CorpusStage, Drop, Transform, option
from docstage.document import DUPLICATES, Duplicate


@attrs.define(kw_only=True)
class Copies(CorpusStage):
    """A document copies the first kept one whose word set is this similar (Jaccard)."""

    name: ClassVar[str] = "test.copies"
    threshold: float = option(0.6, help="Jaccard of word sets for a copy.")
    report: Optional[Path] = option(None, path=True, help="A file this stage writes.")

    def process_stream(self, docs):
        kept = []
        for doc in docs:
            words = set(doc.text.split())
            for _, other, copies in kept:
                similarity = len(words & other) / len(words | other)
                if similarity >= self.threshold:
                    copies.append(
                        Duplicate(id=doc.id, source=doc.source, relation="near", score=similarity)
                    )
                    yield Drop("duplicate (near)", document=doc)
                    break
            else:
                kept.append((doc, words, []))
        if self.report is not None:
            Path(self.report).write_text("written", encoding="utf-8")
        for doc, words, copies in kept:
            doc = doc.annotate(STORY_ID, min(words))
            yield doc.annotate(DUPLICATES, tuple(copies)) if copies else doc


@attrs.define(kw_only=True)
class Fail(Transform):
    name: ClassVar[str] = "test.fail"

    def process(self, doc):
        if doc.id == "b/6.txt":
            raise ValueError("no")
        return doc


def docstage_register_stages(registry):
    registry.add(Copies)
    registry.add(Fail)
'''

CONFIG = """\
[pipeline]
name = "dedup-eval"
plugins = ["./plugin.py"]

[[stages]]
use = "read.files"
path = "corpus/**/*.txt"

[[stages]]
use = "test.copies"
report = "out/report.txt"

[[stages]]
use = "render.jsonl"
path = "out/docs.jsonl"
"""

#: Word sets, by hand: J(1,2) = 1, J(1,3) = 3/5, J(4,5) = 3/5, J(4,6) = 2/6, J(5,6) = 3/5.
#: The stand-in compares a document with the kept ones only:
#: threshold 1.0 -> {1,2} {3} {4} {5} {6}; 0.6 -> {1,2,3} {4,5} {6}; 0.3 -> {1,2,3} {4,5,6}.
CORPUS = {
    "a/1.txt": "a b c d",
    "a/2.txt": "a b c d",
    "a/3.txt": "a b c e",
    "b/4.txt": "x y z w",
    "b/5.txt": "x y z q",
    "b/6.txt": "x y p q",
}
#: Gold pairs 1-2, 1-3, 4-5: clusters {1,2,3} {4,5}, 3 + 1 = 4 pairs; 6 alone.
GOLD_PAIRS = (
    "path_a\tpath_b\tjaccard\n"
    "corpus/a/1.txt\tcorpus/a/2.txt\t1.0\n"
    "corpus/a/1.txt\tcorpus/a/3.txt\t0.6\n"
    "corpus/b/4.txt\tcorpus/b/5.txt\t0.6\n"
)


@pytest.fixture
def project(folder: Path) -> Path:
    """The corpus, plugin.py, pipeline.toml and gold.tsv in the working folder."""
    for name, text in CORPUS.items():
        (folder / "corpus" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "corpus" / name).write_text(text, encoding="utf-8")
    (folder / "plugin.py").write_text(PLUGIN, encoding="utf-8")
    (folder / "pipeline.toml").write_text(CONFIG, encoding="utf-8")
    (folder / "gold.tsv").write_text(GOLD_PAIRS, encoding="utf-8")
    return folder


def test_scores_a_config_s_run_and_writes_nothing(project: Path) -> None:
    # Threshold 0.6: predicted {1,2,3} {4,5}, exactly the gold: 4 pairs of 4.
    result = invoke("--gold", "gold.tsv", "--config", "pipeline.toml", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["predictions"] == "pipeline.toml (read.files, test.copies)"
    assert (report["precision"], report["recall"], report["f1"]) == (1.0, 1.0, 1.0)
    assert (report["documents"], report["matched"], report["matched_by_suffix"]) == (6, 5, 5)
    assert (report["predicted_pairs"], report["gold_pairs"]) == (4, 4)
    written = sorted(p.name for p in project.iterdir() if p.name != "__pycache__")
    assert written == ["corpus", "gold.tsv", "pipeline.toml", "plugin.py"]  # no out/, .docstage/

    # Threshold 1.0: only 1-2 predicted: P = 1, R = 1/4, F1 = 2 * 0.25 / 1.25 = 0.4.
    result = invoke(
        "--gold", "gold.tsv", "--config", "pipeline.toml", "--json",
        "--set", "stages.test.copies.threshold=1.0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["precision"], report["recall"], report["f1"]) == (1.0, 0.25, 0.4)


def test_documents_a_stage_fails_on_are_skipped_and_counted(project: Path) -> None:
    # b/6.txt fails: 5 documents scored, still the gold's 4 pairs of 4.
    config = CONFIG.replace(
        '[[stages]]\nuse = "test.copies"',
        '[[stages]]\nuse = "test.fail"\n\n[[stages]]\nuse = "test.copies"',
    )
    (project / "pipeline.toml").write_text(config, encoding="utf-8")
    result = invoke("--gold", "gold.tsv", "--config", "pipeline.toml", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["documents"], report["f1"]) == (5, 1.0)
    assert "document failed" in result.stderr  # the runner's log line
    assert result.stderr.endswith("\nwarning: 1 document(s) a stage failed on were skipped\n")
    assert not (project / ".docstage").exists()  # nothing quarantined here


def test_a_sweep_prints_one_row_per_value(project: Path) -> None:
    # 0.3: predicted 3 + 3 = 6 pairs, 4 true: P = 2/3, R = 1, F1 = 0.8.
    args = ("--gold", "gold.tsv", "--config", "pipeline.toml")
    sweep = ("--sweep", "stages.test.copies.threshold=0.3,0.6,1.0")
    result = invoke(*args, *sweep, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["sweep"] == "stages.test.copies.threshold"
    rows = [(r["value"], r["precision"], r["recall"], r["f1"]) for r in report["results"]]
    assert rows == [(0.3, 0.6667, 1.0, 0.8), (0.6, 1.0, 1.0, 1.0), (1.0, 1.0, 0.25, 0.4)]
    assert [r["predicted_clusters"] for r in report["results"]] == [2, 2, 1]

    result = invoke(*args, *sweep)
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.count("│") == 8]
    cells = [[c.strip() for c in row.split("│")[1:-1]] for row in rows]
    assert "┃ threshold ┃ precision ┃ recall ┃" in result.stdout
    assert cells == [
        ["0.3", "0.667", "1.000", "0.800", "-", "2", "2"],
        ["0.6", "1.000", "1.000", "1.000", "-", "2", "2"],
        ["1.0", "1.000", "0.250", "0.400", "-", "1", "2"],
    ]
    assert "sweep: stages.test.copies.threshold" in result.stdout


def test_a_sweep_over_a_stage_the_config_lacks(project: Path) -> None:
    result = invoke(
        "--gold",
        "gold.tsv",
        "--config",
        "pipeline.toml",
        "--sweep",
        "stages.dedup.threshold=0.7,0.8",
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: --sweep 'stages.dedup.threshold=0.7,0.8': no stage matches; stages in this config:"
    )


def test_stories_from_a_config_against_clusters(project: Path) -> None:
    # Story = the smallest word of a kept document; a dropped copy joins its original's.
    # Threshold 0.6: predicted {1,2,3} (a) {4,5} (w) {6} (p); gold {1,2,3} {4,5,6}.
    # Pairs: predicted 3 + 1 = 4, gold 3 + 3 = 6, true 4: P = 1, R = 2/3, F1 = 0.8.
    # ARI: n = 6, C(6,2) = 15, expected = 6 * 4 / 15 = 1.6,
    # ARI = (4 - 1.6) / ((6 + 4) / 2 - 1.6) = 2.4 / 3.4 = 12/17 = 0.7059.
    write_jsonl(
        project / "gold.jsonl",
        [{"id": f"corpus/{name}", "cluster_id": name[0]} for name in CORPUS],
    )
    result = invoke("--gold", "gold.jsonl", "--config", "pipeline.toml", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["relation"] == "stories"
    assert (report["precision"], report["recall"], report["f1"]) == (1.0, 0.6667, 0.8)
    assert report["ari"] == 0.7059
    assert (report["predicted_clusters"], report["gold_clusters"]) == (2, 2)


# --- on the shared corpora ----------------------------------------------------------------


@pytest.mark.corpus
def test_20news_message_id_groups_against_themselves(shared: Path, folder: Path) -> None:
    gold = shared / "corpora" / "20news" / "duplicates.tsv"
    if not gold.is_file():
        pytest.skip(f"{gold} not found")
    records = []
    for line in gold.read_text(encoding="utf-8").splitlines()[1:]:
        first, *copies = (path.removeprefix("raw/") for path in line.split("\t")[2:])
        records.append({"id": first, "duplicates": [{"id": c} for c in copies]})
    write_jsonl(folder / "pred.jsonl", records)
    result = invoke("--gold", str(gold), "--predictions", "pred.jsonl", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["format"] == "groups"
    assert (report["precision"], report["recall"], report["f1"]) == (1.0, 1.0, 1.0)
    # 520 pairs, 4 triples and a group of 4: 520 + 4 * 3 + 6 = 538 pairs over 1,056 files
    assert (report["gold_pairs"], report["gold_clusters"], report["documents"]) == (538, 525, 1056)
    assert report["matched_by_suffix"] == 1056


@pytest.mark.corpus
def test_giveme5w1h_clusters_against_themselves(shared: Path, folder: Path) -> None:
    gold = shared / "corpora" / "newsclusters" / "giveme5w1h.jsonl"
    if not gold.is_file():
        pytest.skip(f"{gold} not found")
    with gold.open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    write_jsonl(
        folder / "pred.jsonl", [{"id": r["id"], "story_id": r["cluster_id"]} for r in records]
    )
    result = invoke("--gold", str(gold), "--predictions", "pred.jsonl", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["f1"], report["ari"], report["documents"]) == (1.0, 1.0, 383)


def test_the_command_is_named_dedup() -> None:
    assert dedup_command.name == "dedup"
    assert eval_group.get_command(click.Context(eval_group), "dedup") is dedup_command


def test_plugins_given_in_process_reach_the_pipeline(project: Path) -> None:
    """``predict(..., plugins=...)`` registers them for the run (it dropped them before)."""
    import importlib.util

    from docstage_eval.dedup_run import predict

    spec = importlib.util.spec_from_file_location("eval_dedup_in_process", project / "plugin.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = CONFIG.replace('plugins = ["./plugin.py"]\n', "")
    (project / "in-process.toml").write_text(config, encoding="utf-8")
    predictions = predict(project / "in-process.toml", plugins=[("copies", module)])
    clusters = predictions.clusters("copies")
    assert clusters["a/1.txt"] == clusters["a/2.txt"] == clusters["a/3.txt"] != clusters["b/4.txt"]
