"""The ``rules`` entity backend: gazetteers and patterns, no model.

One compiled regular expression walks the text once and yields two kinds of match: dates
(``June 16, 2021``, ``Wednesday``, ``last week``, ``in 2021``) and runs of capitalised
words (``Russian President Vladimir Putin``, ``Bank of England``), joined by spaces,
hyphens and name particles (``of``, ``de``, ``al``). Each run is then read left to right,
a word at a time, by dictionary look-ups, never by a loop over the gazetteer:

1. the longest gazetteer entry starting at the word (``United States``), or a name
   ending in an organisation word (``Russian Foreign Ministry``, ``University of
   Oxford``), whichever is longer;
2. a title followed by capitalised words: the words are a PERSON, the title is not
   (``President Joe Biden`` -> ``Joe Biden``, ``Mr. Steele`` -> ``Steele``);
3. a given name or an initial followed by capitalised words: a PERSON (``Matthew
   Chance``, ``P. Simmons``);
4. a one-word gazetteer entry (``Geneva``, ``Russian``, ``Kremlin``).

A word left over is looked up once more after the whole text is read: if it is the last
word of a person found elsewhere in the document, it is that person (``Putin`` after
``Vladimir Putin``). Words written in capitals (headlines) are looked up as if
title-cased, except where the capitals are the entry itself (``NATO``).

The gazetteer (``data/gazetteer.tsv``) is built at development time by
``tools/build_gazetteer.py``; this module only reads it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import NamedTuple

import attrs

#: (start, end, label): a mention as a backend finds it, before post-processing.
Span = tuple[int, int, str]

LABELS = frozenset({"PERSON", "NORP", "ORG", "GPE", "LOC", "DATE"})

_UPPER = "A-ZÀ-ÖØ-ÞĀĂĄĆČĎĐĒĖĘĚĞĢĪĮİĶĹĻĽŁŃŅŇŌŐŒŔŘŚŞŠŢŤŪŮŰŲŹŻŽ"
_WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
# Month names that are rarely anything else; May, March and August need a number.
_MONTHS_SAFE = "January|February|April|June|July|September|October|November|December"
_MONTHS = rf"{_MONTHS_SAFE}|May|March|August"
_MONTHS_SHORT = r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec"
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR = r"(?:1[89]\d\d|20\d\d)"
_MONTH = rf"(?:{_MONTHS}|(?:{_MONTHS_SHORT})\.?)"
_RELATIVE = (
    r"(?:(?:[Ll]ast|[Nn]ext|[Tt]his|[Ee]arlier\s+this|[Ll]ater\s+this|[Ee]arly\s+next"
    r"|[Ee]arly\s+this|[Ll]ate\s+last)\s+(?:week|weekend|month|year|spring|summer|autumn"
    r"|fall|winter|decade|century)|[Yy]esterday|[Tt]oday|[Tt]omorrow)"
)
_AFTER_YEAR = "".join(
    f"(?<={word} )|(?<={word.title()} )"
    for word in ("in", "since", "until", "by", "from", "during", "before", "after", "of")
)
_DATE = (
    rf"\d{{4}}-\d\d-\d\d(?!\d)"
    rf"|(?:(?:{_WEEKDAYS}),?\s+)?(?:{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?"
    rf"|{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?)(?!\w)"
    rf"|(?:{_MONTHS})\s+{_YEAR}(?!\w)"
    rf"|(?:{_WEEKDAYS}|{_MONTHS_SAFE})(?!\w)"
    rf"|{_RELATIVE}(?!\w)"
    rf"|(?:{_AFTER_YEAR})(?:{_YEAR}|(?:1[89]|20)\d0s)(?!\w)"
    rf"|\d{{1,2}}/\d{{1,2}}/(?:\d\d){{1,2}}(?!\d)"
)

_ABBREVIATION = (
    r"(?:Mrs|Mr|Ms|Dr|Prof|Sen|Rep|Gov|Gen|Lt|Col|Capt|Sgt|Adm|Cmdr|Maj|Rev|Fr|Sr|Jr|St|Mt"
    r"|Ft|Inc|Corp|Co|Ltd|Bros|Pres)\."
)
# A capitalised word; a date word is not one (``On Wednesday`` is not a name).
_PLAIN = (
    rf"(?!(?:{_WEEKDAYS}|{_MONTHS_SAFE})(?!\w)|(?:{_MONTHS}|{_MONTHS_SHORT})\.?\s+\d)"
    rf"[{_UPPER}][\w&+]*(?:['’](?!s(?!\w))\w+)*"
)
_WORD = rf"(?:{_ABBREVIATION}|[{_UPPER}]\.(?:[{_UPPER}]\.)*|{_PLAIN})"
_PARTICLES = (
    "of|the|and|for|on|de|du|des|da|do|dos|del|della|di|la|le|van|von|der|den|ter|bin|ibn"
    "|al|el|au|sur|upon|&"
)
_CONNECTOR = rf"(?<![\w&])(?:{_PARTICLES})(?![\w&])"
_SEP = r"(?:[ \t\u00a0]+|-)"
_RUN = rf"{_WORD}(?:{_SEP}(?:{_CONNECTOR}{_SEP})*{_WORD})*"


class _Patterns(NamedTuple):
    scan: re.Pattern[str]  # a date or a run of capitalised words
    token: re.Pattern[str]  # a word or a connector inside a run
    run: re.Pattern[str]  # a run alone


@functools.cache
def _patterns() -> _Patterns:
    """The compiled expressions, built on first use: loading the plugin stays cheap."""
    return _Patterns(
        scan=re.compile(rf"(?<![\w'’.])(?:(?P<date>{_DATE})|(?P<run>{_RUN}))"),
        token=re.compile(rf"{_WORD}|{_CONNECTOR}"),
        run=re.compile(_RUN),
    )


_CONNECTORS = frozenset(_PARTICLES.split("|"))


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Particles that may stand inside a person's name (Bashar al-Assad, Ludwig van Beethoven).
_NAME_PARTICLES = frozenset({"de", "du", "da", "del", "van", "von", "der", "den", "bin", "al"})
# Continuations of an organisation word: Ministry of Defence, Institute for Fiscal Studies.
_ORG_LINKS = frozenset({"of", "for", "on", "the"})

TITLES = _wordset(
    """
    President Vice Prime Minister Premier Chancellor Secretary Mr Mr. Mrs Mrs. Ms Ms. Miss
    Dr Dr. Prof Prof. Professor Sen. Senator Rep. Representative Gov. Governor Mayor King
    Queen Prince Princess Pope Sheikh Sheik Emir Sultan Ayatollah Imam Rabbi Reverend Rev.
    Father Bishop Archbishop Cardinal Judge Justice General Gen. Lt. Lieutenant Colonel Col.
    Major Maj. Captain Capt. Sgt. Sergeant Admiral Adm. Commander Cmdr. Chairman Chairwoman
    Director Ambassador Envoy Spokesman Spokeswoman Spokesperson Commissioner Chief Speaker
    Leader Coach Lord Lady Sir Dame Inspector Detective Sheriff Deputy Pres. Madam Mme
    Marshal Officer Agent Councillor Councilman Councilwoman Congressman Congresswoman
    Attorney Lawmaker Counsel Founder
    """
)

ORG_WORDS = _wordset(
    """
    Inc Inc. Corp Corp. Corporation Co. Company Ltd Ltd. LLC Plc PLC Group Holdings AG GmbH
    NV Bank Party Ministry Department University College Institute Agency Council Committee
    Commission Association Federation League Club Foundation Organisation Organization
    Authority Board Court Parliament Assembly Congress Senate Office Bureau Police Army
    Navy Airlines Airways Motors Industries Technologies Pharmaceuticals Press Times Post
    News Journal Herald Tribune Gazette Network Trust Fund Exchange Institution Academy
    School Hospital Church Union Alliance Front Movement Brigade Brigades Forces Guard Corps
    Service Services Systems Energy Petroleum Railways Partners Securities Investments
    Insurance Laboratories Labs Broadcasting Media Studios Records Foods Airlines Council
    Cabinet Secretariat Directorate Commissariat Tribunal Prosecutor's Inquiry
    """
)

# Capitalised words that start sentences and are never part of a name.
SKIP = _wordset(
    """
    The A An This That These Those In On At For From With By As If When While After Before
    But And Or Nor So Yet However Also Meanwhile Although Though Because Since Then Now
    Both Each Every All Some Many Most Several Other Another Such Our Their His Her Its My
    Your We They He She It I You There Here What Which Who Whom Whose Why How Where Not No
    Yes Under Over Despite During Through Until Unlike Like Among Between Against Amid
    Without Within Instead Still Even Just Only Last Next First Second Third Once Later
    Earlier Further Thus Hence Indeed Perhaps Maybe Please Thanks Thank Dear Hello Hi Is Are
    Was Were Do Does Did Has Have Had Can Could Will Would Shall Should May Might Must
    Let Every To Of Off Up Down Out Into Onto Upon About Above Below Across Along Around
    Behind Beyond Near Toward Towards According Asked Speaking Meeting Following Including
    Mostly Overall Already Again Never Always Often Sometimes Anyway Otherwise Whether
    Whatever Whoever Wherever
    """
)
# ... of which these also end names: Theresa May, Will Smith, Peter Such.
_SKIP_IN_NAMES = SKIP - {"May", "Will", "Can", "Last", "Such", "Little", "Young", "Long"}


class Gazetteer(NamedTuple):
    """The names the backend knows, keyed by their words."""

    names: dict[tuple[str, ...], str]  # words -> label
    longest: dict[str, int]  # first word -> the most words of an entry starting with it
    given: frozenset[str]


def _words(name: str) -> tuple[str, ...] | None:
    """The words of a gazetteer name as a run would split them, or None when no run can."""
    patterns = _patterns()
    if patterns.run.fullmatch(name) is None:
        return None
    return tuple(match.group(0) for match in patterns.token.finditer(name))


def parse_gazetteer(lines: Iterable[str]) -> Gazetteer:
    """Read ``kind<TAB>name`` lines (``#`` starts a comment) into a :class:`Gazetteer`."""
    names: dict[tuple[str, ...], str] = {}
    longest: dict[str, int] = {}
    given: set[str] = set()
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        kind, _, name = line.rstrip("\n").partition("\t")
        if kind == "GIVEN":
            given.add(name)
            continue
        words = _words(name)
        if words is None:
            continue
        names[words] = kind
        longest[words[0]] = max(longest.get(words[0], 0), len(words))
    return Gazetteer(names=names, longest=longest, given=frozenset(given))


@functools.cache
def load_gazetteer() -> Gazetteer:
    """The gazetteer shipped with the package (read once per process)."""
    data = resources.files("docstage_plugins.entities").joinpath("data").joinpath("gazetteer.tsv")
    return parse_gazetteer(data.read_text(encoding="utf-8").splitlines())


def _norm(word: str) -> str:
    """How a word is looked up: headline capitals read as title case (LONDON -> London)."""
    if len(word) > 1 and word.isupper():
        lower = word.lower()
        return lower if lower in _CONNECTORS else word.title()
    return word


class _Word(NamedTuple):
    start: int
    end: int
    text: str
    norm: str
    connector: bool


@attrs.frozen
class RulesBackend:
    """Finds entities with the gazetteer and the patterns described in the module docs."""

    gazetteer: Gazetteer = attrs.field(factory=load_gazetteer)
    name: str = "rules"
    labels: frozenset[str] = LABELS
    _patterns: _Patterns = attrs.field(factory=_patterns, init=False, repr=False)

    def find(self, texts: Sequence[str]) -> list[list[Span]]:
        """The mentions in each text, as ``(start, end, label)``, in text order."""
        return [self.find_one(text) for text in texts]

    def find_one(self, text: str) -> list[Span]:
        """The mentions in one text: one scan, then the surnames found elsewhere in it."""
        spans: list[Span] = []
        leftovers: list[_Word] = []
        for match in self._patterns.scan.finditer(text):
            if match.lastgroup == "date":
                spans.append((match.start(), match.end(), "DATE"))
            else:
                self._read_run(match.start(), match.group(0), spans, leftovers)
        if leftovers:
            surnames = {
                _norm(text[start:end].split()[-1])
                for start, end, label in spans
                if label == "PERSON"
            }
            found = [(w.start, w.end, "PERSON") for w in leftovers if w.norm in surnames]
            if found:
                spans = sorted(spans + found)
        return spans

    def _read_run(self, offset: int, run: str, spans: list[Span], leftovers: list[_Word]) -> None:
        words = [
            _Word(
                offset + m.start(),
                offset + m.end(),
                m.group(0),
                _norm(m.group(0)),
                m.group(0) in _CONNECTORS,
            )
            for m in self._patterns.token.finditer(run)
        ]
        count = len(words)
        i = 0
        while i < count:
            word = words[i]
            if word.connector or word.norm in SKIP:
                i += 1
                continue
            # 1. the longer of a gazetteer entry and an organisation name
            entry_end, label = self._entry(words, i)
            org_end = self._organisation(words, i)
            if org_end > entry_end and org_end - i >= 2:
                spans.append((word.start, words[org_end - 1].end, "ORG"))
                i = org_end
                continue
            if entry_end - i >= 2:
                spans.append((word.start, words[entry_end - 1].end, label))
                i = entry_end
                continue
            # 2. title + name
            if word.norm in TITLES:
                j = i + 1
                while j < count and words[j].norm in TITLES:
                    j += 1
                end = self._name(words, j)
                if end > j:
                    spans.append((words[j].start, words[end - 1].end, "PERSON"))
                i = max(end, j)
                continue
            # 3. given name or initial + name
            if (word.norm in self.gazetteer.given or _is_initial(word.text)) and (
                i + 1 < count and not words[i + 1].connector
            ):
                end = self._name(words, i + 1)
                if end > i + 1:
                    spans.append((word.start, words[end - 1].end, "PERSON"))
                    i = end
                    continue
            # 4. one-word entry
            if entry_end == i + 1:
                spans.append((word.start, word.end, label))
            else:
                leftovers.append(word)
            i += 1

    def _entry(self, words: list[_Word], i: int) -> tuple[int, str]:
        """End (exclusive) and label of the longest gazetteer entry at ``words[i]``."""
        names = self.gazetteer.names
        longest = self.gazetteer.longest
        first = words[i]
        most = max(longest.get(first.text, 0), longest.get(first.norm, 0))
        for size in range(min(most, len(words) - i), 0, -1):
            part = words[i : i + size]
            if part[-1].connector:
                continue
            label = names.get(tuple(w.text for w in part))
            if label is None and any(w.norm != w.text for w in part):
                label = names.get(tuple(w.norm for w in part))
            if label is not None:
                return i + size, label
        return i, ""

    def _organisation(self, words: list[_Word], i: int) -> int:
        """End (exclusive) of an organisation name starting at ``words[i]``, or ``i``."""
        count = len(words)
        k = i
        while k < count and k - i < 6:
            word = words[k]
            if word.connector or word.norm in TITLES:
                return i
            if word.norm in ORG_WORDS:
                end = k + 1
                while end < count and words[end].norm in ORG_WORDS:  # Holdings Inc.
                    end += 1
                # Ministry of Defence, Institute for Fiscal Studies, Bank of the South
                j = end
                while j < count and words[j].connector and words[j].norm in _ORG_LINKS:
                    j += 1
                if end < j < count:
                    tail = j
                    while j < count and j - tail < 4 and not self._stops_name(words[j]):
                        j += 1
                    end = j if j > tail else end
                return end
            k += 1
        return i

    def _name(self, words: list[_Word], j: int) -> int:
        """End (exclusive) of a person's name starting at ``words[j]``, at most 4 words."""
        count = len(words)
        k = j
        taken = 0
        while k < count and taken < 4:
            word = words[k]
            if word.connector:
                if word.norm in _NAME_PARTICLES and taken and k + 1 < count:
                    k += 1
                    continue
                break
            if word.norm in TITLES or word.norm in ORG_WORDS or word.norm in _SKIP_IN_NAMES:
                break
            k += 1
            taken += 1
        while k > j and words[k - 1].connector:
            k -= 1
        return k

    def _stops_name(self, word: _Word) -> bool:
        """True for a word that cannot continue an organisation's name."""
        return (
            word.connector
            or word.norm in TITLES
            or word.norm in SKIP
            or word.norm in self.gazetteer.given
        )


def _is_initial(word: str) -> bool:
    return len(word) == 2 and word[1] == "."
