"""Long texts in pieces, cut where no step of ``dedup`` can tell the difference.

What ``dedup`` computes from a text (exact keys, shingles, passages' words, story terms)
goes through lower-casing, case folding, Unicode normalisation (NFKC, NFKD), whitespace
splitting and ``\\w`` tokens. Done on a whole text of 100 MB, each of those steps makes
copies and lists several times the text's size. Done piece by piece, a piece of
:data:`PIECE` characters at a time, each step costs a few times a piece, and the
results put together are those of the whole text, value for value, because every cut is
made just before an ASCII whitespace character (space, tab, line feed, carriage return,
form feed, vertical tab):

* it is whitespace to ``str.split`` and not ``\\w``: no word or token runs across it;
* it is a starter (combining class 0) that composes with nothing before it and ends any
  run of combining marks: NFKC and NFKD of the two sides are those of the whole;
* it is neither cased nor case-ignorable, so ``str.lower``'s only rule that looks at
  neighbours (a capital sigma's final form) stops at it as it would at either end of
  the text;
* every other mapping (``lower``, ``casefold``) is character by character.

A text with no ASCII whitespace for long stretches gets longer pieces: a piece ends at
the first such character past :data:`PIECE` characters, or at the end of the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

#: Characters a piece has at least (unless it is the last): big enough that the per-call
#: costs vanish, small enough that a step's temporaries stay a few MiB. Texts no longer
#: than this are handled whole, exactly as before pieces existed.
PIECE = 1 << 18

_CUT = re.compile(r"[ \t\n\r\f\v]")


def cuts(text: str, size: int | None = None) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of consecutive pieces of ``text`` (one for a short or empty text).

    Args:
        text: The text.
        size: Characters a piece has at least; :data:`PIECE` by default.
    """
    size = PIECE if size is None else size
    start, length = 0, len(text)
    while length - start > size:
        found = _CUT.search(text, start + size)
        if found is None:
            break
        yield start, found.start()
        start = found.start()
    yield start, length


def pieces(text: str, size: int | None = None) -> Iterator[str]:
    """The pieces of ``text`` (:func:`cuts`); a short text is yielded itself, uncopied."""
    size = PIECE if size is None else size
    if len(text) <= size:
        yield text
        return
    for start, end in cuts(text, size):
        yield text[start:end]


def is_long(text: str) -> bool:
    """Whether ``text`` is cut into pieces (longer than :data:`PIECE` characters)."""
    return len(text) > PIECE
