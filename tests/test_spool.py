from __future__ import annotations

import pytest

from docstage.document import Document, Entity
from docstage.spool import Spool


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
