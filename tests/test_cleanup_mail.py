"""cleanup.mail: mail and news headers into metadata, signatures and quotes cut, all undoable."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docstage import ConfigError
from docstage.cleaning import restore
from docstage.document import REMOVED, Document
from docstage.testing import RunResult
from docstage_plugins.cleanup.mail import CleanupMail, _common_date, parse_author, parse_mail_date
from docstage_plugins.readers import ReadFiles

RunStage = Callable[..., RunResult]

STAGE = CleanupMail()

HEADERS = (
    "Xref: relay.example.org misc.transport:1201 misc.harbours:88\n"
    "Path: relay.example.org!gateway!brevik!jroe\n"
    "From: jroe@brevik.example.org (Jane Roe)\n"
    "Newsgroups: misc.transport,misc.harbours\n"
    "Subject: Re: Ferry link to reopen in spring\n"
    "Message-ID: <1993Apr20.091500.4411@brevik.example.org>\n"
    "References: <1993Apr19.120000.17@harbour.example.com>\n"
    "\t<1993Apr19.180000.301@valley.example.net>\n"
    "Date: Tue, 20 Apr 1993 09:15:00 -0500\n"
    "Organization: Brevik Harbour Authority\n"
    "Lines: 6\n"
    "\n"
)
BODY = (
    "The harbour board met on Monday and agreed to reopen the ferry link\n"
    "once the new pier is inspected.\n"
    "\n"
    "Tickets go on sale in March.\n"
)
SIGNATURE = "-- \nJane Roe, Brevik Harbour Authority\n"


def clean(text: str, stage: CleanupMail = STAGE, **metadata: object) -> Document:
    """Run the stage on ``text`` and check that the removals give the input back."""
    doc = Document(id="t", text=text, metadata=metadata)
    out = stage.process(doc)
    assert restore(out.text, out.get(REMOVED) or ()) == text
    return out


def removals(doc: Document) -> list[tuple[str, str]]:
    return [(r.rule, r.text) for r in doc.get(REMOVED) or ()]


def test_the_header_block_goes_to_metadata() -> None:
    out = clean(HEADERS + BODY + SIGNATURE)

    assert out.text == BODY
    assert out.metadata == {
        "from": "jroe@brevik.example.org (Jane Roe)",
        "authors": ["Jane Roe"],
        "title": "Re: Ferry link to reopen in spring",
        "published": "1993-04-20T09:15:00-05:00",
        "newsgroups": ["misc.transport", "misc.harbours"],
        "message_id": "<1993Apr20.091500.4411@brevik.example.org>",
        "organization": "Brevik Harbour Authority",
        "headers": {
            "xref": "relay.example.org misc.transport:1201 misc.harbours:88",
            "path": "relay.example.org!gateway!brevik!jroe",
            "references": "<1993Apr19.120000.17@harbour.example.com> "
            "<1993Apr19.180000.301@valley.example.net>",
            "lines": "6",
        },
    }
    assert removals(out) == [
        ("cleanup.mail:headers", HEADERS),
        ("cleanup.mail:signature", SIGNATURE),
    ]
    assert out.get(REMOVED)[0].start == 0  # type: ignore[index]


def test_continuation_lines_are_unfolded() -> None:
    text = (
        "From: Omar Haddad <omar@valley.example.net>\n"
        "Subject: Timetable for the new ferry,\n"
        "   and the bus connections\n"
        "Message-ID: <cont-1@valley.example.net>\n"
        "X-Comment: first part\n"
        "  \n"
        "\tsecond part after a line of spaces\n"
        "Date: 2 May 1993 14:05 GMT\n"
        "\n" + BODY
    )
    out = clean(text)
    assert out.text == BODY
    assert out.metadata["title"] == "Timetable for the new ferry, and the bus connections"
    assert out.metadata["authors"] == ["Omar Haddad"]
    assert out.metadata["headers"]["x-comment"] == "first part second part after a line of spaces"
    assert out.metadata["published"] == "1993-05-02T14:05:00+00:00"


@pytest.mark.parametrize(
    ("value", "published"),
    [
        ("Tue, 20 Apr 1993 09:15:00 -0500", "1993-04-20T09:15:00-05:00"),
        ("20 Apr 93 09:15:00 GMT", "1993-04-20T09:15:00+00:00"),
        ("Tue, 20 Apr 1993 09:15:00 +0530", "1993-04-20T09:15:00+05:30"),
        ("Tue, 20 Apr 1993 09:15:00 EDT", "1993-04-20T09:15:00-04:00"),
        ("Tue, 20 Apr 1993 09:15:00 BST", "1993-04-20T09:15:00+01:00"),
        ("Tuesday, 20 Apr 1993 09:15:00 MET", "1993-04-20T09:15:00+01:00"),
        ("Tue, 20 Apr 1993 09:15:00 EDT(-0400)", "1993-04-20T09:15:00-04:00"),
        ("Tue, 20 Apr 1993 09:15:00 -0000", "1993-04-20T09:15:00"),
        ("20 Apr 93 09:15:00", "1993-04-20T09:15:00"),
        ("20 Apr 93 09:15:00 +3000", "1993-04-20T09:15:00"),  # offset out of range: dropped
        ("1993-04-20 09:15", "1993-04-20T09:15:00"),  # not RFC 822: dateparser guesses
    ],
)
def test_dates_become_iso_8601_with_their_offset(value: str, published: str) -> None:
    assert parse_mail_date(value) == published
    dt.datetime.fromisoformat(published)


def test_an_unreadable_date_is_kept_raw() -> None:
    text = HEADERS.replace("Tue, 20 Apr 1993 09:15:00 -0500", "around noon, Brevik time")
    out = clean(text + BODY)
    assert "published" not in out.metadata
    assert out.metadata["date_raw"] == "around noon, Brevik time"
    assert out.text == BODY


@settings(max_examples=500)
@given(
    day=st.integers(1, 32),
    month=st.sampled_from(["Jan", "Feb", "Apr", "jun", "Sep", "DEC", "Foo"]),
    year=st.sampled_from(["93", "04", "68", "69", "1993", "2000", "2100", "0093"]),
    time=st.sampled_from(["09:15:00", "23:59:59", "24:00:00", "9:05", "12:60:00", "12:00:61"]),
    zone=st.sampled_from(
        ["GMT", "UT", "Z", "EST", "PDT", "ADT", "+0000", "-0000", "+0530", "-1200", "+0090"]
    )
    | st.sampled_from(["+2400", "+9999", "-2359"]),
    weekday=st.sampled_from(["", "Tue, ", "Tue,", "Sun,  "]),
)
def test_the_quick_date_reader_agrees_with_email_utils(
    day: int, month: str, year: str, time: str, zone: str, weekday: str
) -> None:
    value = f"{weekday}{day} {month} {year} {time} {zone}"
    try:
        expected: str | None = parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError):
        expected = None
    if expected is None:
        assert _common_date(value) is None  # left to the slower, more lenient readers
    else:
        assert parse_mail_date(value) == expected


@pytest.mark.parametrize(
    ("value", "author"),
    [
        ("jroe@brevik.example.org (Jane Roe)", "Jane Roe"),
        ("Jane Roe <jroe@brevik.example.org>", "Jane Roe"),
        ('"Roe, Jane" <jroe@brevik.example.org>', "Roe, Jane"),
        ("<jroe@brevik.example.org>", "jroe@brevik.example.org"),
        ("jroe@brevik.example.org", "jroe@brevik.example.org"),
        ("jroe@brevik.example.org ()", "jroe@brevik.example.org"),
        ("Jane Roe, jroe@brevik.example.org", "Jane Roe, jroe@brevik.example.org"),
        ("jroe@brevik.example.org (Jane Roe (Brevik))", "Jane Roe Brevik"),
        ("()", ""),
    ],
)
def test_authors_are_the_display_name_or_the_address(value: str, author: str) -> None:
    assert parse_author(value) == author


@pytest.mark.parametrize(
    "text",
    [
        "Note: the figures below are provisional.\n\n" + BODY,
        "Date: 2021-06-16\n\n" + BODY,  # one header-like line is cleanup.metadata's business
        "Update: the pier opens in May.\nSource: harbour board\n\n" + BODY,
        "http://harbour.example.com/news/ferry\n\n" + BODY,
        BODY + SIGNATURE,  # a signature alone does not make a mail
        "From: Jane Roe\nSubject: Ferries\nThe harbour board met on Monday.\n",  # no blank line
        "From: " + "x" * 100_000,  # longer than any header
        "",
    ],
)
def test_text_without_a_header_block_is_passed_on_untouched(text: str) -> None:
    doc = Document(id="t", text=text)
    assert STAGE.process(doc) is doc


def test_a_header_block_may_follow_blank_lines_and_an_mbox_line() -> None:
    text = "\n\nFrom jroe@brevik.example.org Tue Apr 20 09:15:00 1993\n" + HEADERS + BODY
    out = clean(text)
    assert out.text == BODY
    assert removals(out) == [("cleanup.mail:headers", text[: -len(BODY)])]


def test_crlf_mail() -> None:
    text = (HEADERS + BODY + SIGNATURE).replace("\n", "\r\n")
    out = clean(text)
    assert out.text == BODY.replace("\n", "\r\n")
    assert out.metadata["title"] == "Re: Ferry link to reopen in spring"
    assert out.metadata["headers"]["references"].endswith("valley.example.net>")


def test_header_lines_at_the_top_of_the_body_go_with_the_block() -> None:
    forwarded = (
        "From: Omar Haddad <omar@valley.example.net>\n"
        "Subject: Bus connections\n"
        "X-Mailer: Pigeon 2.1\n"
        "\n"
        "\tDate: 19 Apr 93 18:00:00 GMT\n"
        "\tFrom: tess@harbour.example.com (Tess Lind)\n"
        "\n"
    )
    out = clean(HEADERS + forwarded + BODY)
    assert out.text == BODY
    assert removals(out) == [("cleanup.mail:headers", HEADERS + forwarded)]
    # The block's own values win; the others are kept under headers.
    assert out.metadata["title"] == "Re: Ferry link to reopen in spring"
    assert out.metadata["headers"]["x-mailer"] == "Pigeon 2.1"


def test_a_header_line_over_a_quote_goes_too_but_not_one_over_text() -> None:
    quoted = "From: tess@harbour.example.com (Tess Lind)\n> The pier is not ready.\n\nIt is.\n"
    assert clean(HEADERS + quoted).text == "> The pier is not ready.\n\nIt is.\n"
    prose = "Date: Monday\nWe met at the pier.\n"
    assert clean(HEADERS + prose).text == prose
    unknown = "Date: Monday\nPlace: the pier\n\nWe met.\n"
    assert clean(HEADERS + unknown).text == unknown


def test_metadata_a_reader_set_is_kept_unless_empty() -> None:
    out = clean(HEADERS + BODY, title="Ferry link", authors=[], path="news/1201")
    assert out.metadata["title"] == "Ferry link"
    assert out.metadata["authors"] == ["Jane Roe"]
    assert out.metadata["path"] == "news/1201"


def test_keep_headers_false_keeps_only_the_metadata_keys() -> None:
    out = clean(HEADERS + BODY, CleanupMail(keep_headers=False))
    assert "headers" not in out.metadata
    assert out.metadata["message_id"] == "<1993Apr20.091500.4411@brevik.example.org>"


def test_the_signature_after_the_last_marker_is_cut() -> None:
    body = BODY + "--\nAn earlier dash line is text.\n\n"
    signature = "-- \nJane Roe\nBrevik Harbour Authority\n  +47 555 0100\n\n"
    out = clean(HEADERS + body + signature)
    assert out.text == body
    assert removals(out)[-1] == ("cleanup.mail:signature", signature)


def test_a_bare_double_dash_marks_a_signature_too() -> None:
    out = clean(HEADERS + BODY + "--\nJane")
    assert out.text == BODY
    assert removals(out)[-1] == ("cleanup.mail:signature", "--\nJane")


def test_a_long_text_after_the_marker_is_not_a_signature() -> None:
    after = "".join(f"Paragraph line {n}.\n" for n in range(11))
    out = clean(HEADERS + BODY + "-- \n" + after)
    assert out.text == BODY + "-- \n" + after
    shorter = clean(HEADERS + BODY + "-- \n" + after, CleanupMail(max_signature_lines=11))
    assert shorter.text == BODY


def test_signature_lines_option_is_checked(run_stage: RunStage) -> None:
    with pytest.raises(ConfigError, match="max_signature_lines"):
        run_stage(CleanupMail, [], max_signature_lines=-1)


REPLY = (
    "In article <1993Apr19.120000.17@harbour.example.com>,\n"
    "tess@harbour.example.com (Tess Lind) writes:\n"
    "> The pier will not be ready before June.\n"
    ">\n"
    "> Nobody has seen the inspection report.\n"
    "\n"
    "It was published on Friday.\n"
    "\n"
    "On Monday, omar@valley.example.net wrote:\n"
    "\n"
    "  > What about the bus?\n"
    "\n"
    "The bus will wait for the ferry.\n"
)


def test_quotes_are_kept_by_default() -> None:
    out = clean(HEADERS + REPLY)
    assert out.text == REPLY


def test_quotes_option_cuts_quoted_lines_and_attributions() -> None:
    out = clean(HEADERS + REPLY + SIGNATURE, CleanupMail(quotes=True))
    assert out.text == "\nIt was published on Friday.\n\n\nThe bus will wait for the ferry.\n"
    rules = [rule for rule, _ in removals(out)]
    assert rules == [
        "cleanup.mail:headers",
        "cleanup.mail:quote",
        "cleanup.mail:quote",
        "cleanup.mail:signature",
    ]
    first_quote = removals(out)[1][1]
    assert first_quote.startswith("In article <1993Apr19")
    assert first_quote.endswith("> Nobody has seen the inspection report.\n")


def test_stacked_attributions_go_but_not_the_lines_after_them() -> None:
    stacked = (
        "In article <17@harbour.example.com> tess@harbour.example.com writes:\n"
        "\n"
        "omar@valley.example.net (Omar Haddad) writes:\n"
        "\n"
        "> The bus leaves at six.\n"
        "\n"
        "It leaves at seven.\n"
    )
    assert clean(HEADERS + stacked, CleanupMail(quotes=True)).text == "\nIt leaves at seven.\n"
    other_style = (
        "In article <17@harbour.example.com> tess@harbour.example.com writes:\n"
        "}Omar Haddad wrote:\n"
        "}: The bus leaves at six.\n"
    )
    out = clean(HEADERS + other_style, CleanupMail(quotes=True))
    assert out.text == "}Omar Haddad wrote:\n}: The bus leaves at six.\n"


def test_a_line_ending_in_wrote_without_a_quote_is_text() -> None:
    text = "Then the harbour master wrote:\n\nThe pier opens in May.\n"
    assert clean(HEADERS + text, CleanupMail(quotes=True)).text == text


def test_the_stage_in_a_run(run_stage: RunStage) -> None:
    mail = Document(id="mail", text=HEADERS + BODY, stages=("read.files",))
    article = Document(id="article", text=BODY, stages=("read.files",))
    result = run_stage(CleanupMail, [mail, article], quotes=True)
    assert result.texts == [BODY, BODY]
    assert [doc.stages for doc in result.documents] == [
        ("read.files", "cleanup.mail"),
        ("read.files",),
    ]
    stats = result.stage("cleanup.mail")
    assert (stats.docs_in, stats.docs_out, stats.errors) == (2, 2, 0)


_MAIL_LINES = st.sampled_from(
    [
        "From: jroe@brevik.example.org (Jane Roe)",
        "From jroe@brevik.example.org Tue Apr 20 09:15:00 1993",
        "Subject: Re: ferries",
        "Date: Tue, 20 Apr 1993 09:15:00 -0500",
        "Date: around noon",
        "Date: 20 Apr 93 09:15:00 +3000",
        "Message-ID: <a1@brevik.example.org>",
        "Newsgroups: misc.transport, misc.harbours",
        "Organisation: Brevik",
        "X-Mailer: Pigeon",
        "Note: provisional",
        "   folded continuation",
        "\tDate: 19 Apr 93 18:00:00 GMT",
        "",
        " ",
        "\r",
        "-- ",
        "--",
        "-- \r",
        "> quoted",
        "  > quoted too",
        "In article <a1@brevik.example.org>, jroe@brevik.example.org writes:",
        "Omar wrote:",
    ]
)
_TEXTS = st.one_of(
    st.text(),
    st.lists(st.one_of(_MAIL_LINES, st.text(max_size=30)), max_size=25).map("\n".join),
    st.lists(_MAIL_LINES, max_size=25).map("\r\n".join),
)


@settings(max_examples=400, deadline=None)
@given(text=_TEXTS, quotes=st.booleans(), signature_lines=st.integers(0, 12))
def test_any_text_comes_back_whole_from_what_was_kept_and_removed(
    text: str, quotes: bool, signature_lines: int
) -> None:
    stage = CleanupMail(quotes=quotes, max_signature_lines=signature_lines)
    doc = Document(id="t", text=text)
    out = stage.process(doc)
    removed = out.get(REMOVED) or ()
    assert restore(out.text, removed) == text
    assert (out is doc) == (not removed)
    if "published" in out.metadata:
        dt.datetime.fromisoformat(out.metadata["published"])


HEADER_LINE = re.compile(
    r"^(From|Subject|Newsgroups|Message-ID|Date|Path|Organization|Lines|References|Xref|Sender):",
    re.IGNORECASE,
)


@pytest.mark.corpus
@pytest.mark.slow
def test_20news_every_header_block_goes_to_metadata(twenty_news: Path) -> None:
    reader = ReadFiles(path=str(twenty_news / "raw"))
    count = signed = 0
    for doc in reader.read():
        assert isinstance(doc, Document), doc
        out = STAGE.process(doc)
        count += 1
        metadata = out.metadata
        assert metadata.get("message_id"), doc.id
        assert metadata.get("title"), doc.id
        published = dt.datetime.fromisoformat(metadata["published"])
        assert 1980 < published.year < 2000, doc.id
        first_line = out.text.lstrip().partition("\n")[0]
        assert not HEADER_LINE.match(first_line), (doc.id, first_line)
        removed = out.get(REMOVED) or ()
        assert removed[0].rule == "cleanup.mail:headers", doc.id
        signed += any(r.rule == "cleanup.mail:signature" for r in removed)
        assert restore(out.text, removed) == doc.text, doc.id
    assert count == 19_997
    assert signed > 5_000
