"""``cleanup.normalize``: Unicode and whitespace normalisation, mojibake repair with ftfy."""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable
from typing import ClassVar, Literal

import attrs

from docstage.cleaning import Cut
from docstage.document import REMOVED, Document, Removal
from docstage.errors import StageError
from docstage.options import at_least, option
from docstage.stages import StageContext, Transform

# Unicode spaces (no-break, en, em, thin, ideographic, ...) read as a plain space.
_UNICODE_SPACES = dict.fromkeys([0x00A0, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000], " ")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")
_LEADING = re.compile(r"\n+")
_BREAKS = re.compile(r"\n\n+")


def _fix_mojibake(text: str) -> str:
    """ftfy's repair, line by line where it would join lines (it reads bytes such as
    ``C0 0A`` in nonsense as one character, swallowing the line break)."""
    import ftfy

    def fix(part: str) -> str:
        return ftfy.fix_text(part, normalization=None, uncurl_quotes=False, fix_line_breaks=False)

    fixed = fix(text)
    if fixed.count("\n") == text.count("\n"):
        return fixed
    lines = []
    for line in text.split("\n"):
        repaired = fix(line) if not line.isascii() else line
        lines.append(repaired if "\n" not in repaired else line)
    return "\n".join(lines)


def _tidy_spaces(text: str) -> str:
    """Collapse runs of spaces and tabs to one space and cut trailing spaces.

    Done with ``str.replace``, which scans many times faster than a regex: a run of n
    spaces needs about log2(n) passes.
    """
    if not text.isascii():
        text = text.translate(_UNICODE_SPACES)
    if "\t" in text:
        text = text.replace("\t", " ")
    while "  " in text:
        text = text.replace("  ", " ")
    if " \n" in text:
        text = text.replace(" \n", "\n")
    return text.rstrip(" ")


@attrs.define(kw_only=True)
class CleanupNormalize(Transform):
    """Repair mojibake, normalise Unicode and tidy whitespace.

    Within each line: control and zero-width characters go, mojibake such as ``donâ€™t``
    is repaired with ftfy (only text that is not plain ASCII is looked at), the text is
    put in Unicode normal form ``form``, runs of spaces and tabs become one space and
    trailing spaces are cut; the steps repeat until nothing changes, so a second pass
    changes nothing. Between lines: more than ``max_blank_lines`` blank lines in a row,
    and blank lines at the start and end, are cut. Line breaks inside paragraphs are
    kept. Every line that changed is recorded under ``removed`` as it was, with what
    replaced it (rules ``control``, ``mojibake``, ``unicode``, ``space``, ``blank``,
    joined by ``+``), so the input can be restored exactly.
    """

    name: ClassVar[str] = "cleanup.normalize"

    mojibake: bool = option(True, help="Repair mojibake and HTML entities left in text (ftfy).")
    form: Literal["NFC", "NFKC", "none"] = option(
        "NFC",
        help="Unicode normal form: 'NFC' composes accents, 'NFKC' also folds "
        "compatibility characters (ligatures, full-width forms), 'none' leaves them.",
    )
    whitespace: bool = option(
        True, help="Collapse spaces and tabs, cut trailing spaces and extra blank lines."
    )
    max_blank_lines: int = option(
        1,
        help="Blank lines kept in a row between paragraphs.",
        validator=at_least(0),
    )

    def setup(self, context: StageContext) -> None:
        if self.mojibake:
            import ftfy  # noqa: F401 - fail at setup, not on the first document

    def process(self, doc: Document) -> Document:
        text = doc.text
        fixed = self._normalized(text)
        cuts = self._blank_cuts(fixed) if self.whitespace else []
        if fixed == text and not cuts:
            return doc
        return self._record(doc, fixed, cuts)

    # --- within lines ------------------------------------------------------------------

    def _steps(self) -> list[tuple[str, Callable[[str], str]]]:
        """The in-line steps, in order: controls and zero-width characters go first, so
        that what they separated cannot compose or read as mojibake only on a second
        pass."""
        steps: list[tuple[str, Callable[[str], str]]] = []
        if self.whitespace:
            steps.append(("control", _strip_invisible))
        if self.mojibake:
            steps.append(("mojibake", lambda t: t if t.isascii() else _fix_mojibake(t)))
        if self.form != "none":
            form = self.form
            steps.append(("unicode", lambda t: t if t.isascii() else _normal(form, t)))
        if self.whitespace:
            steps.append(("space", _tidy_spaces))
        return steps

    def _normalized(self, text: str) -> str:
        """The in-line steps over the whole text (cheaper than line by line), repeated
        until nothing changes (a repair can reveal another): the result is idempotent."""
        steps = self._steps()
        for _ in range(_ROUNDS):
            before = text
            for _, step in steps:
                text = step(text)
            if text == before:
                break
        return text

    def _rules(self, line: str) -> str:
        """Which steps changed ``line``, e.g. ``control+space``."""
        changed = []
        for _ in range(_ROUNDS):
            before = line
            for rule, step in self._steps():
                after = step(line)
                if after != line and rule not in changed:
                    changed.append(rule)
                line = after
            if line == before:
                break
        return "+".join(changed)

    # --- between lines -----------------------------------------------------------------

    def _blank_cuts(self, text: str) -> list[Cut]:
        """Blank lines at both ends and beyond ``max_blank_lines`` in a row: spans of line
        breaks only (the in-line pass has made every blank line empty)."""
        keep = self.max_blank_lines + 1  # line breaks in a row between two lines of text
        if not (text.startswith("\n") or text.endswith("\n\n") or "\n" * (keep + 1) in text):
            return []
        cuts: list[Cut] = []
        leading = _LEADING.match(text)
        start = leading.end() if leading else 0
        end = len(text)
        while end > start and text[end - 1] == "\n":
            end -= 1
        if start:
            cuts.append(Cut(0, start, "blank"))
        if end == start:
            cuts.append(Cut(0, len(text), "blank"))
        elif len(text) - end > 1:
            cuts.append(Cut(end + 1, len(text), "blank"))  # keep the last line's break
        for run in _BREAKS.finditer(text, start, end):
            if run.end() - run.start() > keep:
                cuts.append(Cut(run.start() + keep, run.end(), "blank"))
        return cuts

    # --- what is recorded --------------------------------------------------------------

    def _record(self, doc: Document, fixed: str, cuts: list[Cut]) -> Document:
        """The document with its normalised text and one removal per line that changed:
        the line as it was (with its line break) and what replaced it, so that
        :func:`docstage.cleaning.restore` gives back the input exactly."""
        text = doc.text
        before, after = text.split("\n"), fixed.split("\n")
        if len(before) != len(after):  # cannot happen: no step adds or removes a break
            raise StageError("normalising changed the number of lines", stage=self.name)
        dropped = _dropped_breaks(fixed, cuts)
        removals: list[Removal] = []
        pieces: list[str] = []
        offset = 0
        last = len(before) - 1
        for number, (old, new) in enumerate(zip(before, after, strict=True)):
            old_piece = old + ("\n" if number < last else "")
            new_piece = new + ("\n" if number < last and number not in dropped else "")
            pieces.append(new_piece)
            if old_piece != new_piece:
                rule = self._rules(old) if old != new else "blank"
                if old != new and number in dropped:
                    rule += "+blank"
                removals.append(
                    Removal(
                        rule=f"{self.name}:{rule}", text=old_piece, start=offset, inserted=new_piece
                    )
                )
            offset += len(old_piece)
        previous = doc.get(REMOVED) or ()
        return doc.evolve(text="".join(pieces)).annotate(REMOVED, (*previous, *removals))


#: Rounds of the in-line steps at most (one almost always suffices; ftfy's repairs can
#: reveal another in rare text).
_ROUNDS = 4


def _strip_invisible(text: str) -> str:
    """Control characters (not tab, line feed, carriage return) and zero-width ones."""
    if not text.isascii():
        text = _ZERO_WIDTH.sub("", text)
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    return text


def _normal(form: str, text: str) -> str:
    return unicodedata.normalize(form, text)  # type: ignore[arg-type]


def _dropped_breaks(text: str, cuts: list[Cut]) -> set[int]:
    """The numbers of the lines whose line break ``cuts`` remove (cuts hold breaks only)."""
    if not cuts:
        return set()
    breaks = [i for i, c in enumerate(text) if c == "\n"]
    dropped: set[int] = set()
    for cut in cuts:
        first = bisect.bisect_left(breaks, cut.start)
        stop = bisect.bisect_left(breaks, cut.end)
        dropped.update(range(first, stop))
    return dropped


STAGES = (CleanupNormalize,)
