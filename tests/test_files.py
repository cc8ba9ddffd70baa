"""Unit tests of pipeline/files.py: globbing, source patterns, decoding, binary sniffing."""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from docstage.errors import OptionError
from docstage.files import (
    decode,
    glob_regex,
    iter_files,
    looks_binary,
    source_formatter,
    split_glob,
)

# Invented, news-shaped text in the languages Western outlets publish in.
FRENCH = (
    "Le conseil municipal a voté mercredi la réouverture de la bibliothèque. Élus et "
    "habitants ont salué une décision très attendue. « C'est un été à marquer », a déclaré "
    "le maire, âgé de 54 ans.\n"
)
PORTUGUESE = (
    "A câmara municipal aprovou na quarta-feira a reabertura da biblioteca. Os moradores "
    "comemoraram a decisão; o prefeito disse que a obra custará 2,5 milhões. Informação, "
    "atenção, ação.\n"
)
GERMAN = (
    "Der Stadtrat hat am Mittwoch über die Wiedereröffnung der Bücherei entschieden. "
    "Bürgerinnen und Bürger begrüßten die Entscheidung; Straßenbahn und Fähre fahren öfter.\n"
)
SPANISH = (
    "El ayuntamiento aprobó el miércoles la reapertura de la biblioteca. ¿Cuánto costará? "
    "Según el alcalde, la inversión será de 2,5 millones. Año nuevo, señal clara.\n"
)
ENGLISH = "The harbour authority said on Tuesday that talks with dock workers would resume.\n"


def touch(base: Path, *names: str, text: str = "Port talks resume.\n") -> None:
    for name in names:
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


# --- split_glob ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("/data/news/**/*.txt", ("/data/news", "**/*.txt")),
        ("/data/news/*.txt", ("/data/news", "*.txt")),
        ("/data/*/2024/*.txt", ("/data", "*/2024/*.txt")),
        ("/data/news/a?.txt", ("/data/news", "a?.txt")),
        ("/data/news/[ab].txt", ("/data/news", "[ab].txt")),
        ("/**/*.txt", ("/", "**/*.txt")),
        ("*.txt", (".", "*.txt")),
        ("news/*.txt", ("news", "*.txt")),
        ("/data/news/story.txt", ("/data/news", "story.txt")),
        ("story.txt", (".", "story.txt")),
    ],
)
def test_split_glob_separates_the_fixed_folder_from_the_pattern(
    pattern: str, expected: tuple[str, str]
) -> None:
    assert split_glob(pattern) == expected


def test_split_glob_of_an_existing_folder_matches_everything_below_it(tmp_path: Path) -> None:
    assert split_glob(str(tmp_path)) == (str(tmp_path), "**/*")


# --- glob_regex ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "matches", "rejects"),
    [
        ("*.txt", ["a.txt", ".txt", "long name.txt"], ["a/b.txt", "a.txt.bak", "a.md"]),
        ("**/*.txt", ["a.txt", "x/a.txt", "x/y/z/a.txt"], ["a.md", "x/a.txt/b"]),
        ("x/**/*.txt", ["x/a.txt", "x/y/a.txt"], ["a.txt", "y/x/a.txt"]),
        ("**", ["a", "a/b/c"], []),
        ("*/2024/*.txt", ["wire/2024/a.txt"], ["2024/a.txt", "a/b/2024/a.txt"]),
        ("a?.txt", ["ab.txt", "a1.txt"], ["a.txt", "abc.txt", "a/.txt"]),
        ("[ab].txt", ["a.txt", "b.txt"], ["c.txt", "ab.txt"]),
        ("[!ab].txt", ["c.txt"], ["a.txt", "b.txt"]),
        ("[a-c]*.txt", ["bravo.txt"], ["delta.txt"]),
        ("[.txt", ["[.txt"], ["a.txt"]),  # an unclosed bracket is a literal
        ("a+b (1).txt", ["a+b (1).txt"], ["aab (1).txt", "a+b 1.txt"]),  # regex chars escaped
    ],
)
def test_glob_regex_matches_like_a_shell_glob_with_double_star(
    pattern: str, matches: list[str], rejects: list[str]
) -> None:
    regex = glob_regex(pattern)
    for path in matches:
        assert regex.match(path), f"{pattern!r} should match {path!r}"
    for path in rejects:
        assert not regex.match(path), f"{pattern!r} should not match {path!r}"


# --- iter_files ---------------------------------------------------------------------------


def test_iter_files_walks_recursively_and_yields_paths_relative_to_the_base(
    tmp_path: Path,
) -> None:
    touch(tmp_path, "top.txt", "harbor/b.txt", "harbor/a.txt", "harbor/2024/c.txt", "x.md")
    found = list(iter_files(f"{tmp_path}/**/*.txt"))
    relative = [rel for _, rel in found]
    assert sorted(relative) == ["harbor/2024/c.txt", "harbor/a.txt", "harbor/b.txt", "top.txt"]
    for full, rel in found:
        assert full == os.path.join(str(tmp_path), rel)
        assert Path(full).is_file()


def test_iter_files_order_is_sorted_and_does_not_depend_on_creation_order(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    touch(first, "b/2.txt", "a/1.txt", "z.txt", "c.txt", "b/1.txt")
    touch(second, "c.txt", "b/1.txt", "a/1.txt", "z.txt", "b/2.txt")
    order = [rel for _, rel in iter_files(f"{first}/**/*.txt")]
    assert order == [rel for _, rel in iter_files(f"{second}/**/*.txt")]
    # Files of a folder first, then its subfolders in name order.
    assert order == ["c.txt", "z.txt", "a/1.txt", "b/1.txt", "b/2.txt"]


def test_iter_files_single_star_does_not_descend(tmp_path: Path) -> None:
    touch(tmp_path, "top.txt", "deep/inner.txt")
    assert [rel for _, rel in iter_files(f"{tmp_path}/*.txt")] == ["top.txt"]


def test_iter_files_of_a_folder_reads_every_file_below_it(tmp_path: Path) -> None:
    # Usenet spools have no extensions: the folder itself is the pattern.
    touch(tmp_path, "sci.space/61268", "sci.space/61269", "rec.autos/1001")
    relative = [rel for _, rel in iter_files(str(tmp_path))]
    assert relative == ["rec.autos/1001", "sci.space/61268", "sci.space/61269"]


def test_iter_files_of_a_single_file(tmp_path: Path) -> None:
    touch(tmp_path, "one.txt", "two.txt")
    assert list(iter_files(str(tmp_path / "one.txt"))) == [(str(tmp_path / "one.txt"), "one.txt")]


def test_iter_files_skips_hidden_files_and_folders_unless_the_pattern_names_them(
    tmp_path: Path,
) -> None:
    touch(tmp_path, "seen.txt", ".hidden.txt", ".cache/inside.txt", "ok/.swap.txt")
    assert [rel for _, rel in iter_files(f"{tmp_path}/**/*.txt")] == ["seen.txt"]
    assert [rel for _, rel in iter_files(f"{tmp_path}/.cache/*.txt")] == ["inside.txt"]
    assert ".hidden.txt" in [rel for _, rel in iter_files(f"{tmp_path}/.*.txt")]


def test_iter_files_is_lazy(tmp_path: Path) -> None:
    touch(tmp_path, "a/1.txt", "b/2.txt", "c/3.txt")
    files = iter_files(f"{tmp_path}/**/*.txt")
    assert isinstance(files, Iterator)
    assert next(files)[1] == "a/1.txt"
    # A folder is listed when it is reached, not up front: one removed meanwhile is
    # skipped, a file added meanwhile to one not yet reached is found.
    (tmp_path / "b" / "2.txt").unlink()
    (tmp_path / "b").rmdir()
    touch(tmp_path, "c/0.txt")
    assert [rel for _, rel in files] == ["c/0.txt", "c/3.txt"]


def test_iter_files_follows_folder_links_but_not_round_a_loop(tmp_path: Path) -> None:
    touch(tmp_path, "news/harbor-times/a.txt", "archive/old.txt")
    (tmp_path / "news" / "harbor-times" / "up").symlink_to(tmp_path / "news")  # a loop
    (tmp_path / "news" / "archive").symlink_to(tmp_path / "archive")
    (tmp_path / "news" / "self.txt").symlink_to(tmp_path / "news" / "self.txt")

    found = [rel for _, rel in iter_files(f"{tmp_path}/news/**/*.txt")]

    assert found == ["self.txt", "archive/old.txt", "harbor-times/a.txt"]


def test_iter_files_matching_nothing_yields_nothing(tmp_path: Path) -> None:
    touch(tmp_path, "a.md")
    assert list(iter_files(f"{tmp_path}/**/*.txt")) == []


def test_iter_files_missing_base_folder_is_an_option_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(OptionError) as caught:
        next(iter_files(f"{missing}/**/*.txt", option="inputs"))
    assert caught.value.option == "inputs"
    assert str(caught.value) == (
        f"option 'inputs': no such folder '{missing}'; check the path or the glob"
    )


def test_iter_files_base_that_is_a_file_is_an_option_error(tmp_path: Path) -> None:
    touch(tmp_path, "notes.txt")
    with pytest.raises(OptionError, match="is not a folder") as caught:
        next(iter_files(f"{tmp_path}/notes.txt/*.txt"))
    assert f"'{tmp_path}/notes.txt' is not a folder" in str(caught.value)


# --- source patterns ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "relative", "expected"),
    [
        ("{parent}", "wire/harbor-times/story.txt", "harbor-times"),
        ("{folder}", "wire/harbor-times/story.txt", "wire/harbor-times"),
        ("{stem}", "wire/harbor-times/story.final.txt", "story.final"),
        ("{stem}", "wire/61268", "61268"),
        ("{stem}", "wire/.profile", ".profile"),
        ("{name}", "wire/harbor-times/story.txt", "story.txt"),
        ("{path}", "wire/harbor-times/story.txt", "wire/harbor-times/story.txt"),
        ("Coastal Wire", "wire/story.txt", "Coastal Wire"),
        ("news:{parent}/{stem}", "harbor-times/story.txt", "news:harbor-times/story"),
        ("{{{parent}}}", "harbor-times/story.txt", "{harbor-times}"),
    ],
)
def test_source_pattern_placeholders(pattern: str, relative: str, expected: str) -> None:
    assert source_formatter(pattern)(relative) == expected


def test_source_parent_of_a_file_at_the_base_is_the_base_folder_name() -> None:
    # path = "news/harbor-times/*.txt": the files' folder is harbor-times, not "".
    source = source_formatter("{parent}", base="/data/news/harbor-times")
    assert source("story.txt") == "harbor-times"
    assert source("2024/story.txt") == "2024"
    assert source_formatter("{folder}", base="/data/news/harbor-times")("story.txt") == ""


def test_source_unknown_placeholder_names_the_valid_ones() -> None:
    with pytest.raises(OptionError) as caught:
        source_formatter("{outlet}")
    assert str(caught.value) == (
        "option 'source': unknown placeholder '{outlet}'; "
        "valid: {parent}, {folder}, {stem}, {name}, {path}"
    )


@pytest.mark.parametrize("pattern", ["{parent", "parent}", "{parent}}"])
def test_source_stray_brace_is_an_option_error(pattern: str) -> None:
    with pytest.raises(OptionError, match="invalid pattern") as caught:
        source_formatter(pattern)
    assert f"'{pattern}'" in str(caught.value)
    assert "{{ or }}" in str(caught.value)


# --- decode -------------------------------------------------------------------------------


def test_decode_utf8() -> None:
    text = FRENCH + "Zürich — 5 €, “quoted”.\n"
    decoded = decode(text.encode("utf-8"))
    assert (decoded.text, decoded.encoding, decoded.replaced) == (text, "utf-8", 0)


def test_decode_drops_the_utf8_byte_order_mark() -> None:
    decoded = decode(codecs.BOM_UTF8 + FRENCH.encode("utf-8"))
    assert (decoded.text, decoded.encoding, decoded.replaced) == (FRENCH, "utf-8", 0)


@pytest.mark.parametrize("text", [FRENCH, PORTUGUESE, GERMAN, SPANISH])
@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
@pytest.mark.parametrize("copies", [1, 6])
def test_decode_western_single_byte_text_correctly(text: str, encoding: str, copies: int) -> None:
    # Six copies push the share of accented bytes past the quick cp1252 shortcut, so
    # charset detection has to agree too.
    decoded = decode((text * copies).encode(encoding))
    assert decoded.text == text * copies
    assert decoded.encoding == "cp1252"
    assert decoded.replaced == 0


def test_decode_cp1252_punctuation() -> None:
    text = "The mayor said \u201cwe will reopen\u201d \u2013 at a cost of \u20ac2.5m\u2026\n"
    decoded = decode(ENGLISH.encode("cp1252") + text.encode("cp1252"))
    assert decoded.text == ENGLISH + text
    assert decoded.replaced == 0


def test_decode_leaves_non_western_encodings_to_detection() -> None:
    text = (
        "Городской совет в среду одобрил повторное открытие библиотеки. Жители "
        "приветствовали решение; стоимость составит 2,5 миллиона, сказал мэр.\n"
    )
    decoded = decode(text.encode("cp1251"))
    assert decoded.text == text
    assert decoded.encoding == "cp1251"


def test_decode_utf8_with_a_few_stray_bytes_keeps_utf8_and_counts_them() -> None:
    # A UTF-8 article with one byte of something else pasted in: reading it all as
    # cp1252 would turn every accent into mojibake.
    data = (ENGLISH * 20 + FRENCH).encode("utf-8") + b"Price: \x80 5\n"
    decoded = decode(data)
    assert decoded.encoding == "utf-8"
    assert decoded.replaced == 1
    assert FRENCH in decoded.text
    assert "Price: \ufffd 5\n" in decoded.text


def test_decode_ascii_with_a_cp1252_dash_is_cp1252() -> None:
    decoded = decode(ENGLISH.encode() + b"Talks resume \x96 officials\n")
    assert decoded.text.endswith("Talks resume \u2013 officials\n")
    assert decoded.replaced == 0


def test_decode_with_a_named_encoding_replaces_and_counts_what_does_not_decode() -> None:
    decoded = decode(b"Harbor \xff\xfe talks \xc3 resume", "utf-8")
    assert decoded.text == "Harbor \ufffd\ufffd talks \ufffd resume"
    assert decoded.encoding == "utf-8"
    assert decoded.replaced == 3


def test_decode_does_not_count_replacement_characters_that_were_in_the_text() -> None:
    data = "already \ufffd broken".encode() + b" \xff"
    assert decode(data, "utf-8").replaced == 1
    assert decode(data).replaced == 1


def test_decode_with_a_named_single_byte_encoding() -> None:
    assert decode(GERMAN.encode("latin-1"), "latin-1").text == GERMAN


def test_decode_never_fails_on_random_bytes() -> None:
    data = bytes(range(256)) * 20
    decoded = decode(data)
    assert isinstance(decoded.text, str)
    assert decoded.text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_decode_utf16_and_utf32_with_a_byte_order_mark(encoding: str) -> None:
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    data = bom + GERMAN.encode(encoding)
    decoded = decode(data)
    assert decoded.text == GERMAN
    assert decoded.replaced == 0
    assert not looks_binary(data)


# --- looks_binary -------------------------------------------------------------------------


def test_looks_binary() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"
    assert looks_binary(png)
    assert looks_binary(b"text then \x00 nul")
    assert not looks_binary(FRENCH.encode("utf-8"))
    assert not looks_binary(FRENCH.encode("latin-1"))
    assert not looks_binary(b"")
    # Only the start is sniffed: a stray NUL deep inside a long text does not count.
    assert not looks_binary(b"a" * 8192 + b"\x00")
