from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from docstage.cleaning import Cut, apply_cuts, lines, restore
from docstage.document import REMOVED, Document


def test_lines_tile_the_text() -> None:
    text = "first\n\nthird line\nlast"
    spans = list(lines(text))
    assert [line for _, _, line in spans] == ["first", "", "third line", "last"]
    assert "".join(text[s:e] for s, e, _ in spans) == text


def test_cuts_are_removed_and_recorded() -> None:
    doc = Document(id="1", text="date 2021-06-16 Putin said.\nCategorized in:\n")
    cleaned = apply_cuts(
        doc, [Cut(0, 16, "date-prefix"), Cut(28, 44, "footer")], "cleanup.metadata"
    )
    assert cleaned.text == "Putin said.\n"
    removed = cleaned.get(REMOVED)
    assert [(r.rule, r.text, r.start) for r in removed] == [
        ("cleanup.metadata:date-prefix", "date 2021-06-16 ", 0),
        ("cleanup.metadata:footer", "Categorized in:\n", 28),
    ]
    assert restore(cleaned.text, removed) == doc.text


def test_no_cuts_returns_the_same_document() -> None:
    doc = Document(id="1", text="unchanged")
    assert apply_cuts(doc, [], "s") is doc
    assert apply_cuts(doc, [Cut(3, 3, "empty")], "s") is doc


@given(
    st.text(alphabet="ab \n", max_size=60),
    st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60), st.sampled_from("xy")), max_size=6),
    st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=4),
)
def test_restore_undoes_any_cuts_over_two_stages(text, first, second) -> None:
    doc = Document(id="1", text=text)
    one = apply_cuts(doc, [Cut(min(a, b), max(a, b), r) for a, b, r in first], "one")
    two = apply_cuts(one, [Cut(min(a, b), max(a, b), "z") for a, b in second], "two")
    assert restore(two.text, two.get(REMOVED) or ()) == text
