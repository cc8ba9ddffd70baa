from __future__ import annotations

import pytest

from docstage.document import Document, Entity
from docstage.spool import Spool, SpooledStream


def test_spool_gives_documents_back_in_order_twice() -> None:
    docs = [
        Document(
            id=str(n),
            text=f"text {n}",
            source="wire",
            metadata={"n": n},
            entities=[Entity(label="GPE", text="Oslo", start=0, end=4)],
        )
        for n in range(1000)
    ]
    with Spool() as spool:
        for doc in docs:
            spool.append(doc)
        assert len(spool) == 1000
        assert list(spool) == docs
        assert list(spool) == docs
        spool.append(Document(id="late", text="appended after reading"))
        assert [d.id for d in spool][-2:] == ["999", "late"]


def test_documents_with_different_values_come_back_intact() -> None:
    docs = [
        Document(id="a", text="x", source="x", metadata={"k": "v"}),
        Document(id="b", text="y", source="y", metadata={"k": "w"}),
        Document(id="c", text="x", source="y", metadata={"k": "v"}),
    ]
    with Spool() as spool:
        for doc in docs:
            spool.append(doc)
        assert list(spool) == docs


def test_documents_are_read_by_position_in_any_order_even_mid_iteration() -> None:
    docs = [Document(id=str(n), text="word " * n, source=f"s{n % 3}") for n in range(300)]
    with Spool() as spool:
        for doc in docs:
            spool.append(doc)
        assert list(spool.read([299, 0, 150, 150])) == [docs[299], docs[0], docs[150], docs[150]]
        walked = []
        for n, doc in enumerate(spool):  # reading by position does not move the iteration
            walked.append(doc)
            if n % 50 == 0:
                assert next(spool.read([299 - n])) == docs[299 - n]
        assert walked == docs
        spool.append(Document(id="late", text="after reading"))
        assert next(spool.read([300])).id == "late"
        with pytest.raises(IndexError, match="row 301 is not in a spool of 301"):
            next(spool.read([301]))


def _stream(docs: list[Document]) -> tuple[SpooledStream, Spool]:
    spool = Spool()
    for doc in docs:
        spool.append(doc)
    return SpooledStream(iter(list(spool)), spool), spool


def test_behind_a_spooled_stream_the_runners_file_is_read_back() -> None:
    docs = [Document(id=f"d{i}", text=f"text {i}", source="s") for i in range(5)]
    stream, runners = _stream(docs)
    with runners:
        with Spool.behind(stream) as spool:
            for doc in stream:
                spool.append(doc)
            assert len(spool) == 5
            assert list(spool) == docs
            assert list(spool.read([4, 0])) == [docs[4], docs[0]]
            with pytest.raises(IndexError):
                list(spool.read([5]))
        assert list(runners.read([1])) == [docs[1]]  # closing the view left the file alone


def test_behind_a_stream_appended_otherwise_the_spool_holds_what_was_appended() -> None:
    docs = [Document(id=f"d{i}", text=f"text {i}", source="s") for i in range(6)]
    stream, runners = _stream(docs)
    extra = Document(id="x", text="not from the stream", source="s")
    with runners, Spool.behind(stream) as spool:
        for doc in stream:
            if doc.id != "d3":  # skips one: from there on the spool is its own
                spool.append(doc)
        spool.append(extra)
        assert [d.id for d in spool] == ["d0", "d1", "d2", "d4", "d5", "x"]
        assert [d.id for d in spool.read([5, 3])] == ["x", "d4"]


def test_behind_a_plain_iterator_the_spool_is_new() -> None:
    docs = [Document(id=f"d{i}", text="t", source="s") for i in range(3)]
    with Spool.behind(iter(docs)) as spool:
        for doc in docs:
            spool.append(doc)
        assert type(spool) is Spool
        assert list(spool) == docs
