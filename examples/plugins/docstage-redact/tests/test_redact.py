"""Tests of the redact plugin, with the fixtures docstage adds to pytest."""

from __future__ import annotations

import pytest
from docstage_redact import COUNTS

from docstage import Document
from docstage.document import REMOVED
from docstage.errors import ConfigError

STAGE = "redact.pii"

LETTER = (
    "Write to jonas.erke@northbay-ferries.example or call +46 31 555 0142.\n"
    "Service line: (031) 555-0199. Signed 2024-05-02, runs 2024-2027.\n"
    "Tips: newsdesk@harbortimes.example\n"
)


def doc(text: str, id: str = "a") -> Document:
    return Document(id=id, text=text)


def test_replaces_addresses_and_numbers_and_keeps_dates(run_stage) -> None:
    result = run_stage(STAGE, [doc(LETTER)])
    out = result.documents[0]
    assert out.text == (
        "Write to [email] or call [phone].\n"
        "Service line: [phone]. Signed 2024-05-02, runs 2024-2027.\n"
        "Tips: [email]\n"
    )
    assert out.get(COUNTS) == {"email": 2, "phone": 2}


def test_records_what_it_removed(run_stage) -> None:
    out = run_stage(STAGE, [doc(LETTER)]).documents[0]
    removed = [(r.rule, r.text) for r in out.get(REMOVED)]
    assert ("redact.email", "jonas.erke@northbay-ferries.example") in removed
    assert ("redact.phone", "+46 31 555 0142") in removed
    assert len(removed) == 4


def test_kept_domains_and_no_record(run_stage) -> None:
    result = run_stage(
        STAGE, [doc(LETTER)], keep_domains=["harbortimes.example"], record_removed=False
    )
    out = result.documents[0]
    assert "newsdesk@harbortimes.example" in out.text
    assert "northbay-ferries" not in out.text
    assert out.get(REMOVED) is None


def test_a_document_without_contacts_is_passed_on_unchanged(run_stage) -> None:
    original = doc("The ferry sails at 18:30 from berth 4.")
    assert run_stage(STAGE, [original]).documents == [original]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"emails": False, "phones": False}, "nothing to redact"),
        ({"keep_domains": ["news@example.org"]}, "is not a domain"),
    ],
)
def test_bad_options_are_config_errors(run_stage, options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        run_stage(STAGE, [doc("x")], **options)
