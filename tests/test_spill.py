"""Partitioned spills and memory budgets (docstage.spill, [run] memory)."""

from __future__ import annotations

import numpy as np
import pytest

from docstage.config import config_from_dict
from docstage.errors import ConfigError
from docstage.options import parse_size
from docstage.spill import Partitions, group_pairs, ranges

RECORD = np.dtype([("key", "<u8"), ("value", "<i8")])


def records(keys: list[int]) -> np.ndarray:
    out = np.empty(len(keys), dtype=RECORD)
    out["key"] = keys
    out["value"] = np.arange(len(keys))
    return out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (1024, 1024),
        ("1 GiB", 1 << 30),
        ("512MB", 512_000_000),
        ("2g", 2_000_000_000),
        (" 1.5 MiB ", 3 << 19),
        ("64kib", 65_536),
    ],
)
def test_sizes_are_read_in_every_common_form(text: int | str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "1 parsec", "-5", "", True])
def test_a_bad_size_names_the_forms_accepted(text: object) -> None:
    with pytest.raises(ValueError, match='such as "1 GiB"'):
        parse_size(text)  # type: ignore[arg-type]


def test_run_memory_is_checked_where_the_config_says_it(tmp_path) -> None:
    stages = [{"use": "read.files", "path": "x"}]
    config = config_from_dict({"run": {"memory": "256 MiB"}, "stages": stages}, tmp_path)
    assert config.run.memory_bytes == 256 << 20
    with pytest.raises(ConfigError, match="'memory' must be at least 1,048,576 bytes"):
        config_from_dict({"run": {"memory": "10kB"}, "stages": stages}, tmp_path)
    with pytest.raises(ConfigError, match="'memory': expected a size"):
        config_from_dict({"run": {"memory": "plenty"}, "stages": stages}, tmp_path)


def test_every_record_lands_once_in_the_partition_of_its_key() -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 2**63, size=5_000, dtype=np.uint64).tolist() * 2
    with Partitions(RECORD, "key", budget=1, partitions=16) as spill:
        for start in range(0, len(keys), 700):
            spill.append(records(keys[start : start + 700]))
        assert spill.spilled > 1  # a tiny budget writes out as it goes
        parts = list(spill)
        assert len(spill) == len(keys)
    assert sum(p.size for p in parts) == len(keys)
    owners: dict[int, int] = {}
    for number, part in enumerate(parts):
        for key in part["key"].tolist():
            assert owners.setdefault(key, number) == number  # one key, one partition
    assert set(owners) == set(keys)


def test_range_partitions_read_back_in_key_order() -> None:
    with Partitions(RECORD, "key", partitions=8, span=10) as spill:
        spill.append(records([75, 3, 41, 200, 12, 9]))
        read = [spill.read(p)["key"].tolist() for p in range(8)]
    assert read[0] == [3, 9]
    assert read[1] == [12]
    assert read[4] == [41]
    assert read[7] == [75, 200]  # the last partition takes every key above


def test_ranges_group_partitions_within_the_budget() -> None:
    with Partitions(RECORD, "key", partitions=4, span=1) as spill:
        spill.append(records([0] * 10 + [1] * 10 + [2] * 30 + [3] * 5))
        size = RECORD.itemsize
        assert list(ranges(1 << 30, spill)) == [(0, 4)]
        assert list(ranges(20 * size, spill)) == [(0, 2), (2, 3), (3, 4)]
        assert list(ranges(1, spill)) == [(0, 1), (1, 2), (2, 3), (3, 4)]


def test_closing_a_spill_deletes_its_files(tmp_path) -> None:
    spill = Partitions(RECORD, "key", partitions=4, folder=tmp_path)
    spill.append(records([1, 2, 3]))
    spill.flush()
    assert any(tmp_path.iterdir())
    spill.close()
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("chunk", [1, 7, 1 << 18])
def test_group_pairs_gives_every_pair_of_equal_keys_once(chunk: int) -> None:
    keys = np.array([1, 1, 1, 2, 3, 3, 3, 3, 4, 4], dtype=np.uint64)
    values = np.arange(keys.size) * 10
    found = sorted(
        (a, b)
        for left, right in group_pairs(keys, values, chunk=chunk)
        for a, b in zip(left.tolist(), right.tolist(), strict=True)
    )
    expected = sorted(
        (int(values[i]), int(values[j]))
        for i in range(keys.size)
        for j in range(i + 1, keys.size)
        if keys[i] == keys[j]
    )
    assert found == expected
    largest = {
        (a, b)
        for left, right in group_pairs(keys, values, largest=3)
        for a, b in zip(left.tolist(), right.tolist(), strict=True)
    }
    assert (40, 50) not in largest  # the group of four is left out
    assert (80, 90) in largest
