"""What each outlet added to a story: its sentences that no other source of the story
carries, found in the documents the renderers read back at the end of the run."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from docstage import Document
from docstage_plugins.dedup.passages import split_passages
from docstage_plugins.render_stories import Added, Story, cut, field, one_line

#: An addition is a sentence of at least this many words (shorter ones are datelines,
#: bylines, captions: never matched, so never "found" in another source either).
MIN_WORDS = 4
#: Characters of an added passage kept for the reader.
PASSAGE_CHARS = 240
_WORD = re.compile(r"\w+")
_WRAP = re.compile(r"(?<=[^\s.!?:;\"”’])\n(?=[^\W\d_A-ZÀ-ÞΑ-ΩА-Я])")


def unwrap(text: str) -> str:
    """``text`` with the line breaks of hard-wrapped paragraphs (mail, Usenet: a line that
    does not end a sentence, followed by one that starts in lower case) made spaces, so
    that a sentence is not cut at each line; the same length, so offsets still hold."""
    return _WRAP.sub(" ", text)


class Additions:
    """What each outlet added to the stories: fed every document read back at the end of
    the run (:meth:`add`), it keeps per story and source the passages no other source of
    the story carries (the first ``limit``, and how many there are).

    A sentence (:func:`~docstage_plugins.dedup.passages.split_passages`) is found in
    another source when a shared passage or a matched quote that overlaps it names a
    document of the same story from another source. Only stories of two sources or more
    have additions.
    """

    def __init__(self, stories: Iterable[Story], limit: int) -> None:
        self.limit = limit
        self._story: dict[str, Story] = {}
        for story in stories:
            if len(story.sources) > 1:
                for brief in story.documents:
                    self._story[brief.id] = story
        self._found: dict[str, dict[str, _Outlet]] = {}
        self._mates: dict[str, dict[str, str]] = {}  # story id: its documents' sources

    def wants(self, doc_id: str) -> bool:
        """Whether the document belongs to a story of two sources or more."""
        return doc_id in self._story

    def add(self, doc: Document) -> None:
        """Note the passages ``doc`` adds to its story (nothing for other documents)."""
        story = self._story.get(doc.id)
        if story is None:
            return
        mates = self._mates.get(story.id)
        if mates is None:
            mates = self._mates[story.id] = {b.id: b.source for b in story.documents}
        spans = [
            (int(field(p, "start")), int(field(p, "end")))
            for p in doc.annotations.get("shared_passages", ())
            if _elsewhere(field(p, "matches"), mates, doc.source)
        ]
        for quote in doc.annotations.get("quotes", ()):
            if _elsewhere(field(quote, "matches"), mates, doc.source):
                spans.extend((int(a), int(b)) for a, b in field(quote, "parts"))
        outlet = self._found.setdefault(story.id, {}).setdefault(doc.source, _Outlet())
        text = unwrap(doc.text)
        for start, end in split_passages(text):
            if any(a < end and start < b for a, b in spans):
                continue
            passage = one_line(text[start:end])
            key = hash(passage.lower())
            if len(_WORD.findall(passage)) < MIN_WORDS or key in outlet.seen:
                continue
            outlet.seen.add(key)
            outlet.total += 1
            if len(outlet.passages) < self.limit:
                outlet.passages.append(cut(passage, PASSAGE_CHARS))

    def story(self, story: Story) -> Story:
        """``story`` with what each of its sources added, sources in the story's order."""
        found = self._found.get(story.id)
        if not found:
            return story
        order = list(dict.fromkeys(b.source for b in story.documents))
        added = tuple(
            Added(
                source=source,
                passages=tuple(found[source].passages),
                total=found[source].total,
            )
            for source in order
            if source in found
        )
        return attrs.evolve(story, added=added)


def with_additions(story: Story, docs: Iterable[Document], limit: int) -> Story:
    """``story`` with what each of its sources added, found in ``docs``: its documents, in
    the order the run wrote them (the first passages an outlet added are listed)."""
    additions = Additions([story], limit)
    for doc in docs:
        additions.add(doc)
    return additions.story(story)


@attrs.define
class _Outlet:
    """One source's additions to one story, while they are gathered."""

    passages: list[str] = attrs.Factory(list)
    total: int = 0
    seen: set[int] = attrs.Factory(set)  # hashes of the passages counted


def _elsewhere(matches: Any, mates: Mapping[str, str], source: str) -> bool:
    """Whether one of ``matches`` is a document of the story from another source."""
    for match in matches or ():
        other = str(field(match, "id"))
        if other in mates and mates[other] != source:
            return True
    return False
