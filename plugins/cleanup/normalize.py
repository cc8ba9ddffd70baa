"""``cleanup.normalize``: Unicode and whitespace normalisation, mojibake repair with ftfy."""

from __future__ import annotations

import re
import unicodedata
from typing import ClassVar, Literal

import attrs

from pipeline.cleaning import Cut, apply_cuts, lines
from pipeline.document import Document
from pipeline.options import option
from pipeline.stages import StageContext, Transform

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")


@attrs.define(kw_only=True)
class CleanupNormalize(Transform):
    """Repair mojibake, normalise Unicode and tidy whitespace.

    Within each line: mojibake such as ``donâ€™t`` is repaired with ftfy (only text that
    is not plain ASCII is looked at), the text is put in Unicode normal form ``form``,
    control and zero-width characters go, runs of spaces and tabs become one space and
    trailing spaces are cut. Between lines: more than ``max_blank_lines`` blank lines in
    a row, and blank lines at the start and end, are cut and recorded like every other
    removal. Line breaks inside paragraphs are kept.
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
        validator=attrs.validators.ge(0),
    )

    def setup(self, context: StageContext) -> None:
        if self.mojibake:
            import ftfy  # noqa: F401 - fail at setup, not on the first document

    def process(self, doc: Document) -> Document:
        # Within lines first (the line count stays), then blank lines are cut and recorded.
        text = doc.text
        fixed = text
        if self.mojibake and not fixed.isascii():
            import ftfy

            fixed = ftfy.fix_text(
                fixed, normalization=None, uncurl_quotes=False, fix_line_breaks=False
            )
        if self.form != "none" and not fixed.isascii():
            fixed = unicodedata.normalize(self.form, fixed)
        if self.whitespace:
            fixed = _ZERO_WIDTH.sub("", fixed) if not fixed.isascii() else fixed
            fixed = _CONTROL.sub("", fixed)
            fixed = "\n".join(_SPACES.sub(" ", line).rstrip() for line in fixed.split("\n"))
        if fixed != text:
            doc = doc.evolve(text=fixed)
        if self.whitespace:
            doc = self._cut_blank_lines(doc)
        return doc

    def _cut_blank_lines(self, doc: Document) -> Document:
        spans = list(lines(doc.text))
        blank = [not line.strip() for _, _, line in spans]
        if not any(blank):
            return doc
        content = [i for i, is_blank in enumerate(blank) if not is_blank]
        first, last = (content[0], content[-1]) if content else (len(spans), -1)
        cuts: list[Cut] = []
        run = 0
        for index, (start, end, _) in enumerate(spans):
            if not blank[index]:
                run = 0
                continue
            run += 1
            if index < first or index > last or run > self.max_blank_lines:
                cuts.append(Cut(start, end, "blank"))
        return apply_cuts(doc, cuts, self.name)


STAGES = (CleanupNormalize,)
