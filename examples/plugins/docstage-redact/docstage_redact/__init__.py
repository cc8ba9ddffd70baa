"""redact: replace e-mail addresses and phone numbers with placeholders (stage ``redact.pii``).

Scraped articles and mailing-list posts carry contact details of people who never meant
to be published: press officers' direct lines, readers' addresses in letters pages,
signatures. The stage replaces them with ``[email]`` and ``[phone]`` (configurable),
counts what it replaced per document in ``annotations["redact.pii"]``, and records each
replaced span as removed text (``annotations["removed"]``, rule ``redact.email`` or
``redact.phone``) so that nothing disappears without a trace — unless
``record_removed = false``, for when the output must not hold the originals at all.
"""

from __future__ import annotations

import re
from typing import ClassVar

import attrs

from docstage import Document, Key, OptionError, StageContext, Transform, hookimpl
from docstage.options import option
from docstage.registry import StageRegistry

#: How many e-mail addresses and phone numbers were replaced in a document.
COUNTS: Key[dict[str, int]] = Key("redact.pii", "e-mail addresses and phone numbers replaced")

EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
# A phone number: an optional +country code, then groups of digits separated by spaces,
# dots, dashes or a parenthesised area code, on one line; 7 to 15 digits in all (E.164's
# range).
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d[\d .-]{5,18}\d(?!\w)")
#: Digit runs that look like numbers but are dates or years ("2024-03-12", "1999-2004").
DATE_LIKE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{4}\s*[-–]\s*\d{4}$")


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


@attrs.define(kw_only=True)
class RedactPII(Transform):
    """Replace e-mail addresses and phone numbers with placeholders.

    Counts go to ``annotations["redact.pii"]``; replaced spans are recorded as removed
    text unless ``record_removed`` is false.
    """

    name: ClassVar[str] = "redact.pii"

    emails: bool = option(True, help="Replace e-mail addresses.")
    phones: bool = option(True, help="Replace phone numbers (7 to 15 digits).")
    email_placeholder: str = option("[email]", help="What an e-mail address becomes.")
    phone_placeholder: str = option("[phone]", help="What a phone number becomes.")
    keep_domains: list[str] = option(
        factory=list,
        help="E-mail domains left as they are (a newsroom's public desk, e.g. 'example.org').",
    )
    record_removed: bool = option(
        True, help="Record each replaced span as removed text (off: the output never holds it)."
    )

    def setup(self, context: StageContext) -> None:
        if not (self.emails or self.phones):
            raise OptionError("emails", "both 'emails' and 'phones' are off: nothing to redact")
        for domain in self.keep_domains:
            if "@" in domain or "." not in domain:
                raise OptionError("keep_domains", f"{domain!r} is not a domain like 'example.org'")

    def process(self, doc: Document) -> Document:
        text = doc.text
        found: list[tuple[int, int, str]] = []
        if self.emails:
            kept = tuple(d.lower() for d in self.keep_domains)
            for match in EMAIL.finditer(text):
                domain = match.group().rsplit("@", 1)[1].lower()
                if not any(domain == d or domain.endswith("." + d) for d in kept):
                    found.append((match.start(), match.end(), "email"))
        if self.phones:
            taken = [(start, end) for start, end, _ in found]
            for match in PHONE.finditer(text):
                span = match.group().strip(" .-")
                start = match.start() + match.group().index(span)
                end = start + len(span)
                if not 7 <= _digits(span) <= 15 or DATE_LIKE.match(span):
                    continue
                if any(start < e and s < end for s, e in taken):
                    continue
                found.append((start, end, "phone"))
        if not found:
            return doc
        found.sort()
        pieces: list[str] = []
        position = 0
        counts = {"email": 0, "phone": 0}
        for start, end, kind in found:
            pieces.append(text[position:start])
            pieces.append(self.email_placeholder if kind == "email" else self.phone_placeholder)
            counts[kind] += 1
            position = end
        pieces.append(text[position:])
        redacted = doc.evolve(text="".join(pieces)).annotate(COUNTS, counts)
        if self.record_removed:
            for start, end, kind in found:
                redacted = redacted.record_removal(f"redact.{kind}", text[start:end], start)
        return redacted


@hookimpl
def docstage_register_stages(registry: StageRegistry) -> None:
    registry.add(RedactPII)
