"""Same-story clustering: different texts about one event get one story id.

Documents are kept; each gets a ``story_id``. :func:`cluster_stories` works in four steps,
each chosen so that one default configuration serves collections whose similarities sit
on different scales (long articles, short posts, with or without titles):

1. **Similarity.** Text and title become sublinear TF-IDF vectors (English stop words),
   the entities a TF-IDF vector of canonical names. Two documents are as similar as the
   weighted mean of the cosines of the parts both have (text weighs 1), times a date
   factor that decays softly with the days between them (``date_half_life``) down to a
   floor (``date_floor``): events that run for weeks stay reachable, close dates count
   more. An optional hard ``date_window`` cuts pairs further apart.
2. **Neighbours.** Each document keeps its ``neighbours`` most similar documents among
   those at least ``min_similarity`` similar, found by blocked sparse products: memory
   stays at a block of rows, never an n×n matrix. No document is kept as a neighbour by
   more than three times ``neighbours`` others, so a digest that resembles everything
   cannot tie the collection together.
3. **Shared neighbourhoods.** Two documents are as close as the cosine of their
   neighbourhood profiles (neighbour similarities squared; a document weighs itself as
   much as its best neighbour). Multiplying every similarity by a constant leaves this
   unchanged, so ``threshold`` means "how much of their neighbourhoods two documents
   share" rather than a cosine level peculiar to one collection.
4. **Average link** on that sparse affinity (a pair without one counts as 0): clusters
   merge, closest first, while the mean affinity between them is at least ``threshold``.

Everything runs in a canonical order (by document id), so the clusters and the story ids
do not depend on the input order. A story id is ``story-`` and 12 hex digits of the
BLAKE2b hash of the smallest member id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import math
from collections.abc import Callable, Iterable, Iterator, Sequence

import attrs
import numpy as np
import scipy.sparse as sp

from docstage.options import above, at_least, between, option
from docstage.unionfind import UnionFind

#: Rows of the similarity matrix computed at once: about this many cells (float64).
_BLOCK_CELLS = 1_000_000
_SECONDS_PER_DAY = 86_400.0
#: A document is a neighbour of at most this many times ``neighbours`` others.
_HUB = 3


# --- inputs and options ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StoryDoc:
    """What story clustering needs to know about a document besides its text.

    Attributes:
        id: The document id; story ids derive from it, so it should be unique.
        source: The outlet or feed the document comes from.
        title: The headline, if known.
        published: Publication date or date-time in ISO 8601, if known.
        entities: Canonical names (or entity ids) of the people, organisations, places,
            groups and events it mentions; may be empty.
    """

    id: str
    source: str
    title: str | None
    published: str | None
    entities: tuple[str, ...]


@attrs.frozen(kw_only=True)
class StoryOptions:
    """How documents are grouped into stories; see the module docstring for the method.

    Raises:
        ValueError: An option is out of range or of the wrong type; the message names it.
    """

    threshold: float = option(
        0.3,
        validator=between(0, 1, above_low=True),
        help="Mean shared-neighbourhood affinity (0-1] at or above which two clusters "
        "merge into one story: lower makes bigger stories. It compares neighbourhoods, "
        "not raw cosines, so one value suits long and short texts alike; anything from "
        "0.1 to 0.5 gives similar stories on news.",
    )
    min_similarity: float = option(
        0.1,
        validator=between(0, 1),
        help="Combined similarity (after the date factor) below which two documents are "
        "never neighbours: keeps documents that share only common words apart.",
    )
    neighbours: int = option(
        10,
        validator=at_least(1, whole=True),
        help="Most similar documents each document keeps as neighbours; about the size "
        "of a big story. More costs time and links looser stories.",
    )
    title_weight: float = option(
        0.5,
        validator=at_least(0),
        help="Weight of the title cosine beside the text's (which weighs 1), when both "
        "documents have a title; 0 ignores titles.",
    )
    entity_weight: float = option(
        0.25,
        validator=at_least(0),
        help="Weight of the cosine of the entity names beside the text's, when both "
        "documents have entities; 0 ignores entities.",
    )
    date_half_life: float | None = option(
        30.0,
        validator=attrs.validators.optional(above(0)),
        help="Days apart at which the date factor is halfway between 1 and date_floor; "
        "None ignores dates (but not date_window).",
    )
    date_floor: float = option(
        0.5,
        validator=between(0, 1),
        help="Date factor for documents very far apart: similar enough texts still join "
        "a story that runs for months. 1 ignores dates.",
    )
    date_window: int | None = option(
        None,
        validator=attrs.validators.optional(at_least(0, whole=True)),
        help="Days apart beyond which two documents are never neighbours, or None. A hard "
        "window splits stories that run for weeks; prefer the soft date factor.",
    )


# --- the method ----------------------------------------------------------------------


def cluster_stories(
    docs: Sequence[StoryDoc], texts: Callable[[], Iterable[str]], options: StoryOptions
) -> list[str]:
    """Group documents into stories.

    Args:
        docs: The documents, in any order.
        texts: Returns the documents' texts in the order of ``docs``; called once here,
            and the texts are streamed (only a sparse TF-IDF matrix is kept).
        options: Thresholds and weights.

    Returns:
        One story id per document, in the order of ``docs``: ``story-`` and 12 hex
        digits. Documents of one story share it; a document alone gets its own. The same
        documents give the same ids in any order.

    Raises:
        ValueError: ``texts()`` yields more or fewer texts than there are documents.
    """
    count = len(docs)
    if count == 0:
        return []
    order = sorted(range(count), key=lambda i: _sort_key(docs[i]))
    canonical = [docs[i] for i in order]
    text = _tfidf(_counted(texts(), count), count)[order]
    similarity = _Similarity.build(canonical, sp.csr_matrix(text), options)
    graph = _neighbour_graph(similarity, options)
    labels = _average_link(_shared_neighbourhoods(graph), options.threshold)
    story_ids = _story_ids(canonical, labels)
    out = [""] * count
    for position, index in enumerate(order):
        out[index] = story_ids[position]
    return out


def _sort_key(doc: StoryDoc) -> tuple[str, str, str, str, tuple[str, ...]]:
    return (doc.id, doc.source, doc.title or "", doc.published or "", doc.entities)


class _TextCountError(ValueError):
    """``texts()`` did not yield one text per document."""


def _counted(texts: Iterable[str], count: int) -> Iterator[str]:
    """``texts``, checked to be ``count`` as they stream past."""
    seen = 0
    for text in texts:
        seen += 1
        if seen > count:
            break
        yield text
    if seen != count:
        got = "more" if seen > count else str(seen)
        raise _TextCountError(f"texts() yielded {got} texts for {count} documents")


@attrs.frozen
class _Similarity:
    """The parts of the similarity, rows in canonical order.

    ``blocks`` are L2-normalised sparse matrices with their weights; ``present`` says
    which documents have each part (a part is left out of a pair's mean unless both
    have it); ``days`` are publication days (NaN when unknown).
    """

    blocks: list[tuple[float, sp.csr_matrix, np.ndarray]]
    days: np.ndarray
    transposed: list[sp.csr_matrix] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "transposed", [sp.csr_matrix(m.T) for _, m, _ in self.blocks])

    @classmethod
    def build(
        cls, docs: Sequence[StoryDoc], text: sp.csr_matrix, options: StoryOptions
    ) -> _Similarity:
        """The parts of ``docs``, whose text TF-IDF rows are ``text`` (same order)."""
        count = len(docs)
        blocks = [(1.0, text, np.ones(count, dtype=bool))]
        if options.title_weight > 0:
            titles = _tfidf((doc.title or "" for doc in docs), count)
            blocks.append((options.title_weight, titles, _has_rows(titles)))
        if options.entity_weight > 0:
            names = _tfidf((_names(doc.entities) for doc in docs), count, names=True)
            blocks.append((options.entity_weight, names, _has_rows(names)))
        days = np.array([_day(doc.published) for doc in docs], dtype=np.float64)
        return cls(blocks=[b for b in blocks if b[1].shape[1] > 0], days=days)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Similarities of rows ``start:stop`` to every document (a dense block)."""
        total = np.zeros((stop - start, self.days.shape[0]))
        weights: float | np.ndarray = 0.0
        for (weight, matrix, present), transposed in zip(self.blocks, self.transposed, strict=True):
            product = (matrix[start:stop] @ transposed).toarray()
            total += product if weight == 1.0 else product * weight
            if present.all():
                weights = weights + weight
            else:
                weights = weights + weight * np.outer(present[start:stop], present)
        if isinstance(weights, float):
            if weights > 0:  # no part at all when no document has a usable word
                total /= weights
            return total
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(weights > 0, total / weights, 0.0)


def _tfidf(values: Iterable[str], count: int, *, names: bool = False) -> sp.csr_matrix:
    """Sublinear TF-IDF rows (L2-normalised); no columns when nothing has a term."""
    # Imported here: scikit-learn costs every `pipeline` command ~0.5 s at start-up.
    from sklearn.feature_extraction.text import TfidfVectorizer

    if names:
        vectorizer = TfidfVectorizer(analyzer=str.split, sublinear_tf=True, lowercase=False)
    else:
        vectorizer = TfidfVectorizer(
            sublinear_tf=True, stop_words="english", strip_accents="unicode"
        )
    try:
        matrix = vectorizer.fit_transform(values)
    except _TextCountError:
        raise
    except ValueError:  # empty vocabulary: no document has a usable term
        return sp.csr_matrix((count, 0))
    return sp.csr_matrix(matrix)


def _has_rows(matrix: sp.csr_matrix) -> np.ndarray:
    has: np.ndarray = np.diff(matrix.indptr) > 0
    return has


def _names(entities: Sequence[str]) -> str:
    """Entity names as one string of tokens: each name casefolded, spaces as ``_``."""
    return " ".join(sorted({"_".join(name.casefold().split()) for name in entities} - {""}))


def _day(published: str | None) -> float:
    """Days since the epoch of an ISO 8601 date or date-time; NaN when unknown."""
    if not published:
        return math.nan
    value = published.strip()
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = dt.datetime.fromisoformat(value[:10])
        except ValueError:
            return math.nan
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp() / _SECONDS_PER_DAY


def _date_factor(days: np.ndarray, start: int, stop: int, options: StoryOptions) -> np.ndarray:
    """The date factor of rows ``start:stop`` against every document (1 when unknown)."""
    with np.errstate(invalid="ignore"):
        apart = np.abs(days[start:stop, None] - days[None, :])
    known = ~np.isnan(apart)
    factor = np.ones(apart.shape)
    if options.date_half_life is not None:
        decay = np.exp2(-apart[known] / options.date_half_life)
        factor[known] = options.date_floor + (1 - options.date_floor) * decay
    if options.date_window is not None:
        factor[known & (apart > options.date_window + 0.5)] = 0.0
    return factor


def _neighbour_graph(similarity: _Similarity, options: StoryOptions) -> sp.csr_matrix:
    """Each document's nearest neighbours above ``min_similarity``, made symmetric."""
    count = len(similarity.days)
    keep = min(options.neighbours, count - 1)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    values: list[np.ndarray] = []
    if keep < 1:
        return sp.csr_matrix((count, count))
    step = max(1, _BLOCK_CELLS // count)
    dated = (
        options.date_half_life is not None or options.date_window is not None
    ) and np.count_nonzero(~np.isnan(similarity.days)) > 1
    for start in range(0, count, step):
        stop = min(count, start + step)
        block = similarity.rows(start, stop)
        if dated:
            block *= _date_factor(similarity.days, start, stop, options)
        block[np.arange(stop - start), np.arange(start, stop)] = -1.0  # not your own neighbour
        if keep < count - 1:
            best = np.argpartition(-block, keep - 1, axis=1)[:, :keep]
        else:
            best = np.argsort(-block, axis=1)[:, :keep]
        scores = np.take_along_axis(block, best, axis=1)
        good = (scores >= options.min_similarity) & (scores > 0)
        rows.append(np.nonzero(good)[0] + start)
        cols.append(best[good])
        values.append(scores[good])
    if not rows:
        return sp.csr_matrix((count, count))
    source, target, weight = _cap_in_degree(
        np.concatenate(rows), np.concatenate(cols), np.concatenate(values), _HUB * keep
    )
    graph = sp.csr_matrix((weight, (source, target)), shape=(count, count))
    return sp.csr_matrix(graph.maximum(graph.T))


def _cap_in_degree(
    source: np.ndarray, target: np.ndarray, weight: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep each document's ``cap`` strongest incoming edges (ties: lower source).

    A document that is everybody's neighbour (a digest, a page of headlines) would
    otherwise join every pair of documents through itself, and the shared-neighbourhood
    step would grow with the square of its degree.
    """
    by_target = np.lexsort((source, -weight, target))
    target_sorted = target[by_target]
    starts = np.searchsorted(target_sorted, target_sorted, side="left")
    keep = by_target[np.arange(len(by_target)) - starts < cap]
    return source[keep], target[keep], weight[keep]


def _shared_neighbourhoods(graph: sp.csr_matrix) -> sp.csr_matrix:
    """Cosines of the neighbourhood profiles (squared weights, self as the best neighbour).

    Returns the upper triangle only (``i < j``), without zeros.
    """
    count = graph.shape[0]
    profile = sp.csr_matrix(graph.power(2))
    best = np.asarray(profile.max(axis=1).toarray()).ravel()
    profile = sp.csr_matrix(profile + sp.diags(best))
    norms = np.sqrt(np.asarray(profile.multiply(profile).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    profile = sp.csr_matrix(sp.diags(1.0 / norms) @ profile)
    affinity = sp.triu(profile @ profile.T, k=1, format="csr")
    affinity.eliminate_zeros()
    affinity.sort_indices()
    assert affinity.shape == (count, count)
    return sp.csr_matrix(affinity)


def _average_link(affinity: sp.csr_matrix, threshold: float) -> np.ndarray:
    """Average-link clusters of a sparse affinity (missing pairs count 0); a label per row.

    Clusters are named by their smallest member; the closest pair merges first, ties
    going to the pair with the smallest names, so the result depends on the rows' order
    only through those names.
    """
    count = affinity.shape[0]
    links: list[dict[int, float]] = [{} for _ in range(count)]
    coo = affinity.tocoo()
    edges = list(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True))
    for i, j, value in edges:
        links[i][j] = value
        links[j][i] = value
    size = [1] * count
    alive = [True] * count
    version = [0] * count
    # Entries: (-mean affinity, first, second, their versions when pushed). A merge
    # bumps the survivor's version, which makes its older entries stale.
    heap = [(-value, i, j, 0, 0) for i, j, value in edges if value >= threshold]
    heapq.heapify(heap)
    sets: UnionFind[int] = UnionFind()
    while heap:
        _, a, b, version_a, version_b = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or version[a] != version_a or version[b] != version_b:
            continue
        keep, gone = (a, b) if a < b else (b, a)
        alive[gone] = False
        sets.union(keep, gone)
        merged = links[keep]
        merged.pop(gone, None)
        for other, total in links[gone].items():
            if other == keep:
                continue
            merged[other] = merged.get(other, 0.0) + total
            others = links[other]
            others[keep] = others.get(keep, 0.0) + others.pop(gone)
        links[gone] = {}
        size[keep] += size[gone]
        version[keep] += 1
        for other, total in merged.items():
            mean = total / (size[keep] * size[other])
            if mean >= threshold:
                first, second = (keep, other) if keep < other else (other, keep)
                heapq.heappush(heap, (-mean, first, second, version[first], version[second]))
    return np.array([sets.find(row) for row in range(count)], dtype=np.int_)


def _story_ids(docs: Sequence[StoryDoc], labels: np.ndarray) -> list[str]:
    """``story-`` + 12 hex digits of the hash of each cluster's smallest member id."""
    smallest: dict[int, str] = {}
    for doc, label in zip(docs, labels.tolist(), strict=True):
        if label not in smallest or doc.id < smallest[label]:
            smallest[label] = doc.id
    names: dict[int, str] = {}
    taken: dict[str, int] = {}
    for label in sorted(smallest, key=lambda lab: (smallest[lab], lab)):
        key = smallest[label]
        clash = taken.get(key, 0)  # two clusters led by one id only if ids repeat
        taken[key] = clash + 1
        seed = key if clash == 0 else f"{key}\x00{clash}"
        digest = hashlib.blake2b(seed.encode("utf-8"), digest_size=6).hexdigest()
        names[label] = f"story-{digest}"
    return [names[label] for label in labels.tolist()]
