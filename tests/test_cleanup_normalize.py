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
    assert {r.rule for r in removed} == {"cleanup.normalize:blank", "cleanup.normalize:space"}
    assert restore(out.text, removed) == text  # every character accounted for


def test_control_and_zero_width_characters_go() -> None:
    assert run("Har\u200bbour\x0c news\x00").text == "Harbour news"


def test_max_blank_lines() -> None:
    assert run("a\n\n\n\nb", max_blank_lines=2).text == "a\n\n\nb"
    assert run("a\n\nb", max_blank_lines=0).text == "a\nb"


def test_clean_text_is_returned_as_it_is() -> None:
    doc = Document(id="t", text="Plain text.\n\nTwo paragraphs.\n")
    assert STAGE.process(doc) is doc


#: Text with what the stage works on: controls, zero-width and combining characters,
#: Unicode spaces, latin-1 mojibake material, line breaks.
TRICKY = st.lists(
    st.sampled_from(
        [
            *"ab Ée\n\t\r\x00\x0c\x1f\x7f\x86\xa0\u0300\u0301\u200b\ufeff\u2009\u3000",
            *["Ã", "©", "â€™", "À", "\x80", "ﬁ", "ｆ"],
        ]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), TRICKY))
def test_every_change_is_recorded_and_restores_the_input(text: str) -> None:
    out = run(text)
    assert restore(out.text, out.get(REMOVED) or ()) == text
    nfkc = run(text, form="NFKC", max_blank_lines=0)
    assert restore(nfkc.text, nfkc.get(REMOVED) or ()) == text


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), TRICKY))
def test_a_second_pass_changes_nothing(text: str) -> None:
    out = run(text)
    assert run(out.text).text == out.text


def test_cases_that_were_not_idempotent() -> None:
    for text in ["y\x0c\u0300", "\xa0À\x86"]:
        once = run(text).text
        assert run(once).text == once


def test_what_each_rule_recorded() -> None:
    out = run(" \nHar\u200bbour  news\n")
    assert [(r.rule, r.text, r.inserted) for r in out.get(REMOVED)] == [
        ("cleanup.normalize:space+blank", " \n", ""),
        ("cleanup.normalize:control+space", "Har\u200bbour  news\n", "Harbour news\n"),
    ]
    assert run(" ").text == ""
    assert restore("", run(" ").get(REMOVED)) == " "


def test_mojibake_repair_never_joins_lines() -> None:
    # ftfy reads the bytes C0 0A of this nonsense as one character, line break and all
    out = run("À\x80À\nThe harbour reopened.")
    assert out.text.endswith("\nThe harbour reopened.")
