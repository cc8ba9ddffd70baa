"""Within-document linking: a short mention points at the full mention it abbreviates.

News text names a person in full once (``Vladimir Putin``, ``Michael Steele``) and then
by surname (``Putin``, ``Mr. Steele``); an organisation or country by name and then by
acronym (``North Atlantic Treaty Organization`` / ``NATO``, ``United States`` / ``US``).
:func:`link` gives every mention a ``canonical`` form: the text of the full mention it
abbreviates, or its own name when it abbreviates none. A full mention's canonical is
itself. Titles (``Mr.``, ``President``) and a leading ``the`` are not part of a canonical
form. Cross-document linking (``entities.link``) starts from these forms.

Rules, all by dictionary look-up (linear in the number of mentions):

* a mention is linked to a longer PERSON mention whose words begin or end with its words
  (``Putin``, ``Vladimir`` -> ``Vladimir Putin``; case is ignored, so ``PUTIN`` too);
  a mention the model labelled ORG, NORP, FAC, PRODUCT, EVENT or WORK_OF_ART that links
  to a person is relabelled PERSON (a surname the model misread). Places are never
  relabelled: ``Washington`` stays a GPE beside ``George Washington``;
* an acronym (``NATO``, ``U.S.``) is linked to an ORG, GPE, LOC or NORP mention whose
  capitalised words have those initials;
* an ORG mention is linked to a longer ORG mention that only adds a company designator
  (``Acme`` -> ``Acme Corp.``);
* when several full mentions fit, one whose first word is a given name or an initial is
  preferred (``Joe Biden`` over ``Team Biden``), then the nearest one before the short
  mention, then the first one after it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from docstage_plugins.entities.rules import TITLES, load_gazetteer

#: Labels a surname may wrongly carry; linked to a person, such a mention becomes PERSON.
PERSON_LIKE = frozenset({"PERSON", "ORG", "NORP", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART"})
#: Labels that acronyms link across.
ACRONYM_LABELS = frozenset({"ORG", "GPE", "LOC", "NORP"})
#: Company designators an organisation's short form leaves out.
DESIGNATORS = frozenset(
    {
        "inc", "inc.", "corp", "corp.", "corporation", "co", "co.", "company", "ltd", "ltd.",
        "llc", "plc", "group", "holdings", "ag", "gmbh", "sa", "nv",
    }
)  # fmt: skip
_SMALL_WORDS = frozenset({"of", "the", "and", "for", "on", "de", "&", "in", "at"})
_ACRONYM = re.compile(r"(?:[A-Z]\.){2,}|[A-Z]{2,6}")
_EDGE_PUNCTUATION = ",;:!?\"“”‘'()[]"


def name_words(text: str) -> tuple[str, ...]:
    """The words of a mention without leading titles or ``the`` (``Mr. Steele`` -> Steele)."""
    words = [w.strip(_EDGE_PUNCTUATION) for w in text.split()]
    words = [w for w in words if w]
    start = 0
    while start < len(words) - 1 and (words[start] in TITLES or words[start].lower() == "the"):
        start += 1
    return tuple(words[start:])


def _acronym_of(words: Sequence[str]) -> str | None:
    """Initials of the capitalised words (``North Atlantic Treaty Organization`` -> NATO)."""
    letters = [w[0] for w in words if w.lower() not in _SMALL_WORDS]
    if len(letters) < 2 or not all(letter.isupper() for letter in letters):
        return None
    return "".join(letters)


def _as_acronym(text: str) -> str | None:
    """The letters of an acronym mention (``U.S.`` -> US), or None when it is not one."""
    return text.replace(".", "") if _ACRONYM.fullmatch(text) else None


def link(mentions: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Link the mentions of one document.

    Args:
        mentions: ``(label, text)`` of every mention, in text order.

    Returns:
        ``(label, canonical)`` for every mention, in the same order. The label changes
        only when a misread surname is linked to a person (see the module docs).
    """
    given = load_gazetteer().given
    words = [name_words(text) for _, text in mentions]
    keys = [tuple(w.casefold() for w in ws) for ws in words]
    by_part: dict[tuple[str, ...], list[int]] = {}  # a person's first or last words
    by_acronym: dict[str, list[int]] = {}
    by_short_org: dict[tuple[str, ...], list[int]] = {}
    for i, (label, _) in enumerate(mentions):
        key = keys[i]
        if len(key) < 2:
            continue
        if label == "PERSON":
            for size in range(1, len(key)):
                by_part.setdefault(key[:size], []).append(i)
                by_part.setdefault(key[-size:], []).append(i)
        elif label in ACRONYM_LABELS:
            acronym = _acronym_of(words[i])
            if acronym:
                by_acronym.setdefault(acronym, []).append(i)
        if label == "ORG" and key[-1] in DESIGNATORS:
            short = key[:-1]
            while len(short) > 1 and short[-1] in DESIGNATORS:
                short = short[:-1]
            by_short_org.setdefault(short, []).append(i)

    def preferred(i: int) -> bool:
        first = words[i][0] if words[i] else ""
        return first in given or (len(first) == 2 and first.endswith("."))

    ranked: dict[int, tuple[list[int], list[int]]] = {}  # id(candidate list) -> split

    def choose(candidates: list[int], j: int) -> int | None:
        split = ranked.get(id(candidates))
        if split is None:
            split = (
                [c for c in candidates if preferred(c)],
                [c for c in candidates if not preferred(c)],
            )
            ranked[id(candidates)] = split
        for group in split:
            if group:
                # Candidates are in text order: the nearest before j, else the first after.
                at = bisect.bisect_left(group, j)
                return group[at - 1] if at > 0 else group[at]
        return None

    canonical = [" ".join(ws) or text for ws, (_, text) in zip(words, mentions, strict=True)]
    labels = [label for label, _ in mentions]
    # Longer mentions first, so that a candidate's own canonical form is final. Every
    # candidate of a mention is longer than the mention, by construction of the indexes.
    for j in sorted(range(len(mentions)), key=lambda i: -len(keys[i])):
        label, text = mentions[j]
        candidates: list[int] = []
        if label in PERSON_LIKE:
            candidates = by_part.get(keys[j], [])
        if not candidates and label in ACRONYM_LABELS:
            acronym = _as_acronym(text.strip())
            if acronym:
                candidates = by_acronym.get(acronym, [])
        if not candidates and label == "ORG":
            candidates = by_short_org.get(keys[j], [])
        target = choose(candidates, j) if candidates else None
        if target is None:
            continue
        canonical[j] = canonical[target]
        if labels[target] == "PERSON" and label != "PERSON":
            labels[j] = "PERSON"
    return list(zip(labels, canonical, strict=True))
