"""Who said a quote: the speaker named by its attribution, and pronouns resolved.

An attribution is a short clause with a speech verb (``said``, ``told``, ``warned``,
``sagte``, ``a déclaré``, ``dijo``, …) or ``according to`` (``selon``, ``según``, …)
beside the quote. :class:`SpeakerFinder` looks, in this order, at the clause that splits a
quote (``"…," he said, "…"``), the clause after the closing mark (``…," Putin said``,
``…," said the union leader``, ``…" ― Jane Doe``), the sentence before the opening mark
(``Putin said: "…"``, or the paragraph above when it ends with a colon), a transcript's
``"ELLIS: …"`` and last a name that opens the sentence. The speaker is the noun phrase
next to the verb: a name (``Russian President Vladimir Putin``, named ``Vladimir Putin``),
a description (``a source``, ``the union leader``) or a pronoun.

``he`` and ``she`` are resolved to the nearest person before them: a speaker of an earlier
quote or the subject of an earlier speech verb in the last few paragraphs, else the nearest
person mention. A person is a PERSON entity when the document has entities, else a
capitalised name. The speaker's name is the entity's canonical form when an entity names
them (``Putin`` linked to ``Vladimir Putin``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

import attrs

from docstage.document import Entity
from docstage_plugins.dedup import speech_words as vocab


@attrs.frozen(kw_only=True)
class Speaker:
    """The person or body a quote is attributed to.

    Attributes:
        name: Who it is: the linked entity's canonical form, a name without its titles
            (``Vladimir Putin``), or the description the text gives (``a source``).
        text: The words that name the speaker (for a pronoun: the mention it refers to).
        start: Offset of those words.
        end: Offset just past them.
        mention: ``(start, end)`` of the words of the attribution that refer to the
            speaker: the pronoun when there is one, else the same as ``start``/``end``.
    """

    name: str
    text: str
    start: int
    end: int
    mention: tuple[int, int]


_TOKEN = re.compile(r"\w+(?:[’'.\-&]\w+)*\.?|[^\w\s]")
_PERSONISH = ("PERSON", "ORG", "NORP", "GPE")

#: A token: text, start, end (a quote inside a clause is one token, '"').
Token = tuple[str, int, int]


def tokens(text: str, start: int, end: int) -> list[Token]:
    """Words and punctuation of ``text[start:end]``; a dot stays on an abbreviation or an
    initial (``Mr.``, ``J.``, ``U.S.``) and is a token of its own otherwise."""
    found: list[Token] = []
    for match in _TOKEN.finditer(text, start, end):
        word, low, high = match.group(), match.start(), match.end()
        if word.endswith(".") and len(word) > 1:
            bare = word[:-1]
            if not (bare.lower() in vocab.ABBREVIATIONS or len(bare) == 1 or "." in bare):
                found += [(bare, low, high - 1), (".", high - 1, high)]
                continue
        found.append((word, low, high))
    return found


def _verb_at(words: Sequence[Token], at: int) -> bool:
    word = words[at][0]
    return word[0].islower() and word in vocab.VERBS


def _according_at(words: Sequence[Token], at: int) -> bool:
    word = words[at][0].lower()
    if word in vocab.ACCORDING:
        return True
    return word == "according" and at + 1 < len(words) and words[at + 1][0].lower() == "to"


def is_attribution(between: str) -> bool:
    """Whether ``between`` (the text between two quoted parts) is a short attribution that
    splits one quote: ``, he said, `` or ``, said Putin. ``."""
    words = tokens(between, 0, len(between))
    plain = [w for w in words if w[0][0].isalnum()]
    if not plain or len(plain) > 12:
        return False
    return any(_verb_at(words, k) or _according_at(words, k) for k in range(len(words)))


def _is_word(token: Token) -> bool:
    return token[0][0].isalnum()


def _is_aux(word: str) -> bool:
    """An auxiliary or adverb between a speaker and the verb (``has also``, ``flatly``)."""
    return word[0].islower() and (word in vocab.AUX or (word.endswith("ly") and len(word) > 4))


def _skip_brackets(words: Sequence[Token], k: int) -> int:
    """``k`` moved back over a bracketed group ending there (``Moore (D-Wis.)``)."""
    if k >= 0 and words[k][0] == ")":
        opening = next((j for j in range(k - 1, max(-1, k - 10), -1) if words[j][0] == "("), None)
        if opening is not None:
            return opening - 1
    return k


def _phrase_before(words: Sequence[Token], at: int) -> tuple[int, int] | None:
    """The noun phrase that ends just before token ``at`` (a verb): token range."""
    k = at - 1
    while k >= 0 and _is_aux(words[k][0]):
        k -= 1
    if k >= 1 and words[k][0].lower() in vocab.WHEN:  # "Lindqvist on Tuesday said"
        j = k - 1 if words[k - 1][0].lower() in vocab.WHEN_LEADS else k
        if j >= 1 and _is_word(words[j - 1]):
            k = j - 1
    if k >= 1 and words[k][0] == "," and words[k - 1][0] != '"':  # an apposition
        comma = next((j for j in range(k - 1, max(-1, k - 14), -1) if words[j][0] == ","), None)
        if comma is not None:
            k = comma - 1
    k = _skip_brackets(words, k)
    end = k + 1
    while k >= 0 and end - k <= 7 and _is_word(words[k]):
        word = words[k][0].lower()
        if word in ("of", "for") and 0 < k < end - 1 and _is_word(words[k - 1]):
            k -= 1  # "a spokesman for the port authority", "Secretary of State"
            continue
        if word in vocab.BOUNDARY:
            if k == end - 1:
                return None
            break
        k -= 1
    start = k + 1
    while start < end and words[start][0].lower() in vocab.OPENERS:
        start += 1
    return (start, end) if start < end and _is_subject(words, start, end) else None


def _phrase_after(words: Sequence[Token], at: int) -> tuple[int, int] | None:
    """The noun phrase that starts just after token ``at`` (a verb or ``according to``)."""
    k = at + 1
    if k < len(words) and words[k][0].lower() == "by":
        k += 1
    start = k
    while k < len(words) and k - start < 7 and _is_word(words[k]):
        if words[k][0].lower() in vocab.BOUNDARY and words[k][0].lower() not in vocab.DETERMINERS:
            break
        k += 1
    if k == start or words[start][0].lower() in vocab.NOT_SPEAKERS:
        return None
    return (start, k) if _is_subject(words, start, k) else None


def _is_subject(words: Sequence[Token], start: int, end: int) -> bool:
    """Whether tokens ``start:end`` can name a speaker."""
    first = words[start][0]
    if end - start == 1 and first.lower() in vocab.PRONOUNS:
        return True
    if first.lower() in vocab.DETERMINERS or first[0].isdigit():
        return True
    if any(w[0][:1].isupper() for w in words[start:end]):
        return True
    return end - start <= 2 and words[end - 1][0].endswith("s")  # "sources", "officials"


@attrs.define
class SpeakerFinder:
    """Finds the speakers of the quotes of one text (each given as its parts, ``(start,
    end)`` marks included, in text order); asked quote by quote, in order, so that
    pronouns see earlier speakers."""

    text: str
    quotes: Sequence[Sequence[tuple[int, int]]]
    entities: Sequence[Entity] = ()
    _found: list[tuple[int, Speaker]] = attrs.field(factory=list, init=False)
    _parts: list[tuple[int, int]] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        self._parts = [part for quote in self.quotes for part in quote]

    def _words(self, start: int, end: int) -> list[Token]:
        """Tokens of ``text[start:end]``; a quote in it is one '"' token."""
        out: list[Token] = []
        at = start
        for low, high in self._parts:
            if high <= at or low >= end:
                continue
            out += tokens(self.text, at, low)
            out.append(('"', low, high))
            at = high
        return out + tokens(self.text, at, end)

    def _line(self, at: int) -> tuple[int, int]:
        start = self.text.rfind("\n", 0, at) + 1
        end = self.text.find("\n", at)
        return start, len(self.text) if end < 0 else end

    def speaker(self, number: int) -> Speaker | None:
        """The speaker of quote ``number``, or None when no attribution names one."""
        parts = self.quotes[number]
        start, end = parts[0][0], parts[-1][1]
        found = self._attributed(parts, start, end)
        if found is None:
            return None
        words, (low, high) = found
        speaker = self._name(words, low, high)
        if speaker is not None:
            self._found.append((start, speaker))
        return speaker

    def _attributed(
        self, parts: Sequence[tuple[int, int]], start: int, end: int
    ) -> tuple[list[Token], tuple[int, int]] | None:
        """The tokens of the attribution and the speaker phrase's range in them."""
        for (_, low), (high, _) in itertools.pairwise(parts):  # what splits the quote
            inner = self._words(low, high)
            for k in range(len(inner)):
                if _verb_at(inner, k) or _according_at(inner, k):
                    found = self._around(inner, k)
                    if found is not None:
                        return found
        after = self._after(end)
        before = self._before(start)
        return (
            self._following(after)
            or self._preceding(before)
            or self._according(after)
            or self._transcript(start)
            or self._subject(before)
        )

    def _after(self, end: int) -> list[Token]:
        """The clause after a closing mark, up to the sentence's end or the next quote."""
        after = self._words(end, self._line(end)[1])[:30]
        if after and after[0][0] == '"':
            return []
        for k, word in enumerate(after):
            if word[0] in '.!?"' and k > 0:
                return after[:k]
        return after

    def _before(self, start: int) -> list[Token]:
        """The sentence before an opening mark (the paragraph above when it ends with a
        colon and the quote opens its paragraph)."""
        line_start = self._line(start)[0]
        before = self._words(line_start, start)
        stops = [k for k, w in enumerate(before) if w[0] in ".!?"]
        before = before[stops[-1] + 1 :] if stops else before
        if not before and line_start > 1:  # a quote opening its paragraph, after "X said:"
            above = self.text[: line_start - 1].rstrip()
            if above.endswith(":"):
                low = self._line(len(above) - 1)[0]
                before = self._words(low, len(above))
        return before

    def _following(self, after: list[Token]) -> tuple[list[Token], tuple[int, int]] | None:
        """``…," Putin said``, ``…," said the union leader`` or ``…" ― Jane Doe``."""
        lead = 0
        while lead < len(after) and after[lead][0] in ",—–-―:(":
            lead += 1
        dash = any(w[0] in "—―" for w in after[:lead])
        after = after[lead:]
        if not after:
            return None
        verb = self._first_verb(after)
        phrase = _phrase_before(after, verb) if verb < len(after) else None
        if phrase is not None and phrase[0] == 0:
            return after, phrase
        if _verb_at(after, 0) or (len(after) > 1 and _verb_at(after, 1)):
            phrase = _phrase_after(after, 0 if _verb_at(after, 0) else 1)
            if phrase is not None:
                return after, phrase
        if dash and after[0][0][:1].isupper() and len(after) <= 6:  # a signed quote
            return after, (0, len(after))
        return None

    def _preceding(self, before: list[Token]) -> tuple[list[Token], tuple[int, int]] | None:
        """``Putin said: "…"``: the first speech verb of the sentence with a speaker (the
        outermost attribution: ``X said Y called it "…"`` is X's)."""
        for k in range(len(before)):
            if _verb_at(before, k) or _according_at(before, k):
                found = self._around(before, k)
                if found is not None:
                    return found
        return None

    def _according(self, after: list[Token]) -> tuple[list[Token], tuple[int, int]] | None:
        """``…," according to the union``."""
        at = next((k for k in range(len(after)) if _according_at(after, k)), None)
        return self._around(after, at) if at is not None else None

    def _transcript(self, start: int) -> tuple[list[Token], tuple[int, int]] | None:
        """A transcript's ``"PENCE: Well, …"``: the capitals before the colon."""
        head = _SPEAKER_LABEL.match(self.text, start + 1)
        if head is None:
            return None
        words = tokens(self.text, head.start(1), head.end(1))
        return words, (0, len(words))

    def _subject(self, before: list[Token]) -> tuple[list[Token], tuple[int, int]] | None:
        """Without a speech verb, a name that opens the sentence (``Trump is promising
        "jobs, jobs, jobs"``), perhaps after an opening phrase and its comma (``In July,
        Gingrich dismissed …``): a PERSON, ORG, NORP or GPE entity when the document has
        entities, else two capitalised words, or one followed by an auxiliary, an adverb or
        a word that looks like a verb in the past or third person."""
        comma = next((k for k, w in enumerate(before[:8]) if w[0] == ","), -1)
        for first in {0, comma + 1}:
            k = first
            while k < len(before) and _is_word(before[k]) and before[k][0][0].isupper():
                k += 1
            if not first < k < len(before) or not before[k][0][0].islower():
                continue
            low, high = before[first][1], before[k - 1][2]
            if self.entities:
                fits = any(
                    e.start < high and e.end > low and e.label in _PERSONISH for e in self.entities
                )
            else:
                verb = before[k][0]  # "is", "openly", "attacked", "admires"
                fits = k - first > 1 or _is_aux(verb) or verb.endswith(("ed", "s"))
            if fits and before[first][0] not in vocab.NOT_NAMES:
                return before, (first, k)
        return None

    @staticmethod
    def _first_verb(words: Sequence[Token]) -> int:
        return next((k for k in range(len(words)) if _verb_at(words, k)), len(words))

    @staticmethod
    def _around(words: list[Token], k: int) -> tuple[list[Token], tuple[int, int]] | None:
        """The speaker phrase of the verb (or ``according``) at ``k``: its subject, else
        the phrase after it (``said the union leader``, ``according to …``)."""
        if _according_at(words, k):
            step = 1 if words[k][0].lower() == "according" else 0
            phrase = _phrase_after(words, k + step)
        else:
            phrase = _phrase_before(words, k) or _phrase_after(words, k)
        return (words, phrase) if phrase is not None else None

    # --- naming ----------------------------------------------------------------------

    def _name(self, words: Sequence[Token], low: int, high: int) -> Speaker | None:
        start, end = words[low][1], words[high - 1][2]
        phrase = self.text[start:end]
        if high - low == 1 and phrase.lower() in vocab.PRONOUNS:
            if phrase.lower() not in {"he", "she", "er", "sie", "il", "elle", "él"}:
                return Speaker(name=phrase, text=phrase, start=start, end=end, mention=(start, end))
            return self._resolve(start, end)
        return self._named(start, end, (start, end))

    def _named(self, start: int, end: int, mention: tuple[int, int]) -> Speaker:
        """A speaker named by ``text[start:end]``: by an entity there when there is one."""
        inside = [e for e in self.entities if e.start < end and e.end > start]
        for label in _PERSONISH:
            for entity in inside:
                if entity.label == label:
                    return Speaker(
                        name=entity.canonical or entity.text,
                        text=self.text[start:end],
                        start=start,
                        end=end,
                        mention=mention,
                    )
        phrase = self.text[start:end]
        return Speaker(name=_bare_name(phrase), text=phrase, start=start, end=end, mention=mention)

    def _resolve(self, start: int, end: int, depth: int = 0) -> Speaker:
        """A pronoun at ``start:end`` as the nearest person before it (a pronoun that is
        the nearest subject is resolved in turn, a few times at most)."""
        window = max(0, start - 1500)
        persons = [e for e in self.entities if e.label == "PERSON"]
        best: tuple[int, int] | None = None
        for at, speaker in reversed(self._found):  # earlier speakers, then verb subjects
            if at >= window and speaker.start < start and _is_person(speaker, persons):
                best = (speaker.start, speaker.end)
                break
        words = self._words(window, start)
        for k in range(len(words) - 1, -1, -1):
            if best is not None and words[k][1] < best[0]:
                break
            phrase = _phrase_before(words, k) if _verb_at(words, k) else None
            if phrase is None:
                continue
            low, high = words[phrase[0]][1], words[phrase[1] - 1][2]
            if self._in_quote(low):
                continue
            if self.text[low:high].lower() in {"he", "she"} and depth < 3:
                earlier = self._resolve(low, high, depth + 1)
                if earlier.start != low:
                    return attrs.evolve(earlier, mention=(start, end))
            if _is_person(self._named(low, high, (0, 0)), persons):
                best = (low, high)
                break
        if best is None:
            best = self._nearest_person(window, start, persons)
        if best is None:
            text = self.text[start:end]
            return Speaker(name=text, text=text, start=start, end=end, mention=(start, end))
        return self._named(*best, (start, end))

    def _in_quote(self, at: int) -> bool:
        return any(low <= at < high for low, high in self._parts)

    def _nearest_person(
        self, window: int, start: int, persons: Sequence[Entity]
    ) -> tuple[int, int] | None:
        if persons:
            before = [
                e for e in persons if window <= e.end <= start and not self._in_quote(e.start)
            ]
            return (before[-1].start, before[-1].end) if before else None
        for match in reversed(list(_NAME.finditer(self.text, window, start))):
            if (
                not self._in_quote(match.start())
                and match.group().split()[0] not in vocab.NOT_NAMES
            ):
                return match.start(), match.end()
        return None


_SPEAKER_LABEL = re.compile(r"([A-Z][A-Z.’' -]{1,40}[A-Z.]):\s")
_NAME = re.compile(r"\b(?:[A-Z][a-z]+\.? )*[A-Z][a-z]+(?:[-’'][A-Z]?[a-z]+)?\b")


def _bare_name(phrase: str) -> str:
    """A name without the titles before it (``Russian President Vladimir Putin`` ->
    ``Vladimir Putin``); a description (``the union leader``) as it is."""
    words = phrase.split()
    if not words[-1][:1].isupper():
        return phrase
    k = len(words)
    while k > 0 and words[k - 1][:1].isupper() and words[k - 1].lower() not in vocab.TITLES:
        k -= 1
    name = " ".join(words[k:]) or words[-1]
    return name[4:] if name.startswith("The ") else name


def _is_person(speaker: Speaker, persons: Sequence[Entity]) -> bool:
    """Whether a speaker fits a he or she: a PERSON entity when there are entities, else a
    capitalised name (not a description or a pronoun)."""
    if persons:
        return any(e.start < speaker.end and e.end > speaker.start for e in persons)
    name = speaker.name
    if not name[:1].isupper() or name.lower() in vocab.PRONOUNS:
        return False
    return name.split()[0] not in vocab.NOT_NAMES
