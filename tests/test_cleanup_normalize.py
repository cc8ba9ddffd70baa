"""cleanup.normalize: mojibake, Unicode forms, whitespace; blank lines cut and recorded."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from docstage.cleaning import restore
from docstage.document import REMOVED, Document
from docstage_plugins.cleanup.normalize import CleanupNormalize

STAGE = CleanupNormalize()


def run(text: str, **options: object) -> Document:
    stage = CleanupNormalize(**options) if options else STAGE  # type: ignore[arg-type]
    return stage.process(Document(id="t", text=text))


def test_mojibake_is_repaired() -> None:
    assert run("The minister didnâ€™t say.").text == "The minister didn’t say."
    assert run("CafÃ© in MalmÃ¶").text == "Café in Malmö"


def test_curly_quotes_are_kept() -> None:
    text = "“We encounter this every year,” he said."
    assert run(text).text == text


def test_unicode_forms() -> None:
    decomposed = "Malmo\u0308"
    assert run(decomposed).text == "Malmö"
    assert run("ﬁnal ｆｕｌｌ", form="NFKC").text == "final full"
    assert run(decomposed, form="none", mojibake=False).text == decomposed
    assert unicodedata.is_normalized("NFC", run("e\u0301t\u00e9").text)


def test_whitespace_is_tidied_and_blank_lines_recorded() -> None:
    text = "\n\n  Ferry  link\treopens.  \n\n\n\nCrowds   queue.\u00a0\n\n"
    out = run(text)
    assert out.text == " Ferry link reopens.\n\nCrowds queue.\n"
    removed = out.get(REMOVED)
    assert {r.rule for r in removed} == {"cleanup.normalize:blank"}
    # Every line is accounted for: restoring the cut blank lines gives the line count back.
    assert restore(out.text, removed).count("\n") == text.count("\n")


def test_control_and_zero_width_characters_go() -> None:
    assert run("Har\u200bbour\x0c news\x00").text == "Harbour news"


def test_max_blank_lines() -> None:
    assert run("a\n\n\n\nb", max_blank_lines=2).text == "a\n\n\nb"
    assert run("a\n\nb", max_blank_lines=0).text == "a\nb"


def test_clean_text_is_returned_as_it_is() -> None:
    doc = Document(id="t", text="Plain text.\n\nTwo paragraphs.\n")
    assert STAGE.process(doc) is doc


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_crashes_and_keeps_its_lines(text: str) -> None:
    out = run(text)
    restored = restore(out.text, out.get(REMOVED) or ())
    assert restored.count("\n") == text.count("\n")
    # Idempotent, but for ftfy itself, which may find new mojibake in repaired nonsense.
    assert run(out.text, mojibake=False).text == out.text


def test_mojibake_repair_never_joins_lines() -> None:
    # ftfy reads the bytes C0 0A of this nonsense as one character, line break and all
    out = run("À\x80À\nThe harbour reopened.")
    assert out.text.endswith("\nThe harbour reopened.")
