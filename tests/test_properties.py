"""Property tests of reading and cleaning (hypothesis): arbitrary bytes, and dumps that mix valid records with junk.

A dump here is a list of pieces in any order: valid records written the way raw-format.md describes them (number
line, optional date line, title, optional story code, captions copied 2-3 times, paragraphs separated by lines of
white space or U+00A0, page furniture at the end), records broken in known ways (a header without a body or
without a title, a record cut inside its header or its body), and junk (stray text lines, blank lines, mis-encoded
text, mojibake, binary noise with and without NUL bytes, invalid UTF-8). An oracle written from the format, not
from the parser, says what the reader must make of each piece:

- a piece that starts a record is that record, at its position in the file;
- junk never starts a record: before the first record it is stray text (one `stray_text` row for the file), after
  a record it is absorbed, line for line, into that record's lines, since the format has no end-of-record marker
  (a scraper's log line after an article cannot be told from a last paragraph);
- a valid record comes out as a clean record with its title, date, story code, captions and paragraphs as
  written and cleaned; when junk follows it, its paragraphs are the start of the body (junk lines only add to it);
- a whole file whose first 4 KB look binary (NUL bytes, or over 10 % control bytes) is `not_text`: that is the
  one case where junk takes the valid records down with it (see test_parse's reason table).
"""

import codecs
import gc
import gzip
import os
import re
import shutil
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from newsetl.article import body_columns
from newsetl.clean import DEFAULT_FURNITURE, clean_record, clean_text
from newsetl.discovery import DumpFile, sha256_of
from newsetl.generate import mojibake
from newsetl.parse import DATE_LINE_RE, read_dump, read_record_at
from newsetl.reasons import Reason
from newsetl.records import CleanRecord, RawRecord, Rejected
from newsetl.settings import Settings
from newsetl.stage import extract_file, stage_batch

FILE_REASONS = {Reason.NOT_TEXT, Reason.EMPTY_FILE, Reason.NO_RECORDS, Reason.STRAY_TEXT, Reason.TRUNCATED_ARCHIVE}
RECORD_REASONS = {Reason.NO_TITLE, Reason.NO_BODY, Reason.RECORD_TOO_LARGE, Reason.TRUNCATED_ARCHIVE}
# Bytes the reader counts as control characters when it decides whether a file is text (its first 4 KB).
# NUL bytes a text file's first 4 KB may hold (a stray byte is cleaned, not a reason to reject the file).
STRAY_NULS = 2
CONTROL_BYTES = {*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F}
HEAD = 4096

_STORY_CODE_LIKE = re.compile(r"\s*story\s*code\s*:.*", re.IGNORECASE | re.DOTALL)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
SEPARATORS = ("", "\xa0", " ", "\t", "\xa0 ")
TRAILERS = ("Comment", "Share this article", "Related stories", "Reuters", "COMMENTS\xa0", "Share")

FAST = settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", 150)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


# --------------------------------------------------------------------------------------------------- text


def is_structure(text: str) -> bool:
    """A line that is part of a record header: a date line or a story-code line."""
    return DATE_LINE_RE.fullmatch(text) is not None or _STORY_CODE_LIKE.fullmatch(text) is not None


def is_blank(text: str) -> bool:
    return not text or text.isspace()


# Any character a line can hold: no line break (\n ends a line), no control character (real prose has none).
_any_char = st.characters(blacklist_categories=("Cc", "Cs"))
# Characters that the cleaner acts on: typographic punctuation, mojibake pieces, entities, no-break spaces,
# combining accents, zero-width and format characters.
_newsy_char = st.sampled_from(
    list("aeiou AEIOU bcdfg xyz 0123 .,;:!?'\"-()&#")
    + list("\u2019\u2018\u201c\u201d\u2013\u2014\xa0\xe9\xe8\xe0\xfc\u0301\ufeff\u200b\u2028")
    + list("\xc3\xc2\xe2\u20ac\u2122\u0153\xa9")
    + ["&amp;", "&quot;", "&#39;", "&nbsp;", "&rsquo;"]
)
_text = st.one_of(
    st.text(_any_char, min_size=1, max_size=30),
    st.lists(_newsy_char, min_size=1, max_size=20).map("".join),
)
# A title is any line with text that is not part of a header; a number ("2016") is a title too.
title_text = st.one_of(_text, st.integers(0, 10**6).map(str)).filter(
    lambda t: clean_text(t) != "" and not is_structure(t)
)


def usable(text: str) -> bool:
    """A line that is a paragraph: text left after cleaning, not page furniture, not part of a header."""
    return clean_text(text) != "" and not is_structure(text) and clean_text(text).casefold() not in DEFAULT_FURNITURE


paragraph_text = _text.filter(usable)
story_codes = st.one_of(
    st.integers(0, 10**7).map(str),
    st.text("ABCXYZabc0123456789-_", min_size=1, max_size=10),
)
dates = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2035, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0)
)


def date_line(d: datetime, style: int) -> str:
    """The date line variants seen in dumps: full names, a leading zero, short names."""
    weekday, month = _WEEKDAYS[d.weekday()], _MONTHS[d.month - 1]
    if style == 0:
        return f"{weekday} {d.day} {month} {d.year} - {d:%H:%M}"
    if style == 1:
        return f"{weekday} {d.day:02d} {month} {d.year} - {d:%H:%M}"
    return f"{weekday[:3]} {d.day:02d} {month[:3]} {d.year} - {d:%H:%M}"


# ------------------------------------------------------------------------------------------------ records


@dataclass
class Valid:
    """A valid record and what the cleaner must make of it."""

    number: str
    date: datetime | None
    date_line: str | None
    title: str
    code: str | None
    lines: list[str]  # everything after the header, as written
    captions: list[str]  # cleaned, in order of first appearance
    paragraphs: list[str]  # cleaned

    def header(self) -> list[str]:
        """The header lines; without a story code the header ends with the title (the blank after it is body)."""
        head = [self.number, *([self.date_line] if self.date_line else []), "", self.title]
        return [*head, "", f"Story Code : {self.code}"] if self.code is not None else head

    def body(self) -> list[str]:
        return self.lines if self.code is not None else ["", *self.lines]


@st.composite
def valid_records(draw: st.DrawFn) -> Valid:
    number = draw(st.integers(0, 10**6).map(str) | st.integers(0, 999).map(lambda n: f" {n} "))
    date = draw(st.none() | dates)
    code = draw(story_codes) if date is None else draw(st.none() | story_codes)  # a date or a code, or both
    line = date_line(date, draw(st.integers(0, 2))) if date else None
    title = draw(title_text)
    # A paragraph may end with a no-break space: its expected text is the cleaned line as written.
    written = draw(st.lists(st.tuples(paragraph_text, st.sampled_from(["", "\xa0"])), min_size=1, max_size=5))
    paragraphs = [p + end if usable(p + end) else p for p, end in written]
    cleaned = [clean_text(p) for p in paragraphs]
    captions = draw(
        st.lists(paragraph_text.filter(lambda c: clean_text(c) not in cleaned), max_size=3, unique_by=clean_text)
    )
    lines: list[str] = []
    for caption in captions:  # the scraper copies a caption from the image's alt text and from its caption
        ends = ["", "\xa0"] if clean_text(caption + "\xa0") == clean_text(caption) else [""]
        lines += [caption + draw(st.sampled_from(ends)) for _ in range(draw(st.integers(2, 3)))]
    again = draw(st.none() | st.integers(0, len(paragraphs) - 1)) if captions else None
    for i, paragraph in enumerate(paragraphs):
        lines.append(paragraph)
        if i < len(paragraphs) - 1 or draw(st.booleans()):
            lines.append(draw(st.sampled_from(SEPARATORS)))
        if again == i:  # a caption once more between paragraphs
            lines += [draw(st.sampled_from(captions)), draw(st.sampled_from(SEPARATORS))]
    for trailer in draw(st.lists(st.sampled_from(TRAILERS), max_size=2)):
        lines += [draw(st.sampled_from(SEPARATORS)), trailer]
    return Valid(number, date, line, title, code, lines, list(dict.fromkeys(map(clean_text, captions))), cleaned)


# --------------------------------------------------------------------------------------------------- dumps


@dataclass
class Piece:
    """A run of whole lines of a dump: text lines, or bytes (junk) that the reader decodes."""

    kind: str
    lines: list[str] = field(default_factory=list)
    data: bytes | None = None  # bytes junk, written as is (each line ends with "\n")
    record: Valid | None = None  # a piece that starts a record


def text_pieces() -> st.SearchStrategy[Piece]:
    junk_line = st.text(_any_char, max_size=40).filter(lambda t: not is_structure(t))
    return st.one_of(
        st.lists(junk_line, min_size=1, max_size=3).map(lambda ls: Piece("stray", ls)),
        st.lists(st.sampled_from(SEPARATORS), min_size=1, max_size=3).map(lambda ls: Piece("blank", ls)),
        st.lists(junk_line.map(mojibake), min_size=1, max_size=2).map(lambda ls: Piece("mojibake", ls)),
    )


def byte_pieces() -> st.SearchStrategy[Piece]:
    def lines_of(data: bytes) -> bytes:
        return data if data.endswith(b"\n") else data + b"\n"

    no_nul = st.lists(st.integers(1, 255), min_size=1, max_size=80).map(bytes)
    return st.one_of(
        no_nul.map(lambda b: Piece("binary", data=lines_of(b))),
        st.binary(min_size=1, max_size=40).map(lambda b: Piece("binary_nul", data=lines_of(b))),
        # Windows-1252 text, Latin-1 text and cut UTF-8 sequences: bytes that are not UTF-8.
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), min_size=1, max_size=30).map(
            lambda t: Piece("latin1", data=lines_of(t.encode("latin-1")))
        ),
        st.sampled_from([b"caf\xe9 \x93quoted\x94", b"half \xe2\x80 a quote", b"\xc3\x28 \xa0\xa1", b"\xff\xfeok"]).map(
            lambda b: Piece("bad_utf8", data=lines_of(b))
        ),
    )


@st.composite
def broken_records(draw: st.DrawFn) -> Piece:
    record = draw(valid_records())
    kind = draw(st.sampled_from(["no_body", "no_title", "cut_in_header", "cut_in_body"]))
    if kind == "no_body":  # a whole header and nothing after it
        record.lines, record.captions, record.paragraphs = [], [], []
        return Piece(kind, record.header(), record=record)
    if kind == "no_title":  # number, date line, story code: the title line is missing
        d = draw(dates)
        return Piece(kind, [record.number, date_line(d, 0), f"Story Code : {draw(story_codes)}"], record=record)
    if kind == "cut_in_header":  # the number line and part of the date line: not a record start
        whole = date_line(draw(dates), draw(st.integers(0, 2)))
        return Piece(kind, [record.number, whole[: draw(st.integers(1, len(whole) - 1))]])
    keep = draw(st.integers(0, len(record.lines)))  # cut at a line boundary inside the body
    lines = record.header() + record.body()
    cut = len(record.header()) + (0 if record.code is not None else 1) + keep
    return Piece(kind, lines[:cut], record=record)


_any_pieces = st.lists(
    st.one_of(
        valid_records().map(lambda r: Piece("valid", r.header() + r.body(), record=r)),
        broken_records(),
        text_pieces(),
        byte_pieces(),
    ),
    min_size=1,
    max_size=8,
)


def opens_with_bare_number(dump: list[Piece]) -> bool:
    """Whether the file's first filled line is a number that no record piece starts with: a record of its own
    by the format's rule for the start of a file (tested in test_parse.py), which this oracle does not model."""
    for piece in dump:
        lines = decoded_lines(piece.data) if piece.data is not None else piece.lines
        filled = [line for line in lines if not is_blank(line)]
        if filled:
            first = filled[0].strip()
            return piece.record is None and first.isdigit() and first.isascii() and len(first) <= 9
    return False


pieces = _any_pieces.filter(lambda dump: not opens_with_bare_number(dump))
ENCODINGS = ["utf-8", "utf-8-sig", "cp1252-or-utf-8", "utf-16-le", "utf-16-be"]


def fits_cp1252(line: str) -> bool:
    """Whether the line's cp1252 bytes read back as the line: not when some of them also form UTF-8 (`Â‘` is
    C2 91, which is U+0091 in UTF-8), an ambiguity no reader can resolve."""
    try:
        data = line.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return data.decode("utf-8", "newsetl-cp1252") == line


def decoded_lines(data: bytes) -> list[str]:
    """The lines the format's decoding gives: UTF-8, with Windows-1252 for the bytes that are not UTF-8."""
    return [line.rstrip(b"\r").decode("utf-8", "newsetl-cp1252") for line in data.split(b"\n")[:-1]]


def encode(dump: list[Piece], encoding: str, newline: str) -> tuple[bytes, list[list[str]]]:
    """The file's bytes, and each piece's lines as the reader must see them."""
    out: list[bytes] = []
    seen: list[list[str]] = []
    for piece in dump:
        if piece.data is not None:
            lines = decoded_lines(piece.data)
            if encoding.startswith("utf-16"):  # bytes junk in a UTF-16 file arrives as text
                out.append("".join(line + newline for line in lines).encode(encoding))
            else:
                out.append(piece.data)
            seen.append(lines)
            continue
        for line in piece.lines:
            if encoding == "cp1252-or-utf-8":
                out.append((line + newline).encode("cp1252" if fits_cp1252(line) else "utf-8"))
            else:
                out.append((line + newline).encode("utf-8" if encoding == "utf-8-sig" else encoding))
        seen.append(piece.lines)
    data = b"".join(out)
    bom = {"utf-8-sig": codecs.BOM_UTF8, "utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}
    return bom.get(encoding, b"") + data, seen


def looks_binary(data: bytes, encoding: str) -> bool | None:
    """Whether the first 4 KB look binary by the format's rule; None when the oracle cannot tell (a share at
    the 10 % threshold, a NUL pattern that reads as BOM-less UTF-16, junk that opens with a byte-order mark)."""
    if encoding.startswith("utf-16"):
        head = data[2:HEAD]
        text = head[: len(head) // 2 * 2].decode(encoding, errors="replace")
        share = sum(ord(c) in CONTROL_BYTES for c in text) / max(len(text), 1)
    else:
        if encoding != "utf-8-sig" and data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return None
        head = data[3:HEAD] if encoding == "utf-8-sig" else data[:HEAD]
        if head.count(0) > STRAY_NULS:
            return True if head[0::2].count(0) and head[1::2].count(0) else None
        if b"\x00" in head and len(head) < 12:
            return None  # so few bytes that one or two NULs read as BOM-less UTF-16
        share = sum(b in CONTROL_BYTES for b in head) / max(len(head), 1)
    if share > 0.11:
        return True
    return False if share < 0.09 else None


# --------------------------------------------------------------------------------------------------- oracle


def expected_items(dump: list[Piece], seen: list[list[str]]) -> list[tuple[str, object]]:
    """What read_dump must yield, from the format: ("file", reason) or ("raw", RawRecord) or ("rejected", ...)."""
    starts = [i for i, p in enumerate(dump) if p.record is not None]
    if not starts:
        filled = any(not is_blank(line) for lines in seen for line in lines)
        return [("file", Reason.NO_RECORDS if filled else Reason.EMPTY_FILE)]
    items: list[tuple[str, object]] = []
    if any(not is_blank(line) for lines in seen[: starts[0]] for line in lines):
        items.append(("file", Reason.STRAY_TEXT))
    for n, i in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(dump)
        following = [line for lines in seen[i + 1 : end] for line in lines]
        piece, record = dump[i], dump[i].record
        assert record is not None
        if piece.kind == "no_title":
            items.append(("rejected", (n, Reason.NO_TITLE)))
            continue
        own = seen[i][len(record.header()) :]
        code = record.code.strip() if record.code is not None else None
        items.append(("raw", RawRecord(n, record.date_line, record.title, code, own + following)))
    return items


def check_clean(item: CleanRecord) -> None:
    """What every published record satisfies, whatever its input: clean text, a title and a body."""
    assert item.title and clean_text(item.title) == item.title
    assert item.paragraphs and all(p and clean_text(p) == p for p in item.paragraphs)
    # So the body's words can be counted from its spaces (body_columns).
    assert body_columns(item.title, item.paragraphs)["word_count"] == len("\n\n".join(item.paragraphs).split())
    assert all(c and clean_text(c) == c for c in item.captions)
    assert len(set(item.captions)) == len(item.captions)
    assert not set(item.paragraphs) & set(item.captions)
    assert item.paragraphs[0].casefold() not in DEFAULT_FURNITURE
    assert item.paragraphs[-1].casefold() not in DEFAULT_FURNITURE
    assert item.story_code is None or (item.story_code and clean_text(item.story_code) == item.story_code)
    # Cleaning is idempotent on records too: the record written back the way a dump holds it cleans to itself.
    again = RawRecord(
        item.record_no,
        None,
        item.title,
        item.story_code,
        [c for c in item.captions for _ in range(2)] + [x for p in item.paragraphs for x in (p, "\xa0")],
    )
    cleaned = clean_record(again)
    assert isinstance(cleaned, CleanRecord)
    assert (cleaned.title, cleaned.story_code, cleaned.captions, cleaned.paragraphs) == (
        item.title,
        item.story_code,
        item.captions,
        item.paragraphs,
    )


def check_items(items: list[CleanRecord | Rejected]) -> None:
    """Invariants of any file's outcome: whole-file problems alone (stray text aside), records numbered in order."""
    file_level = [i for i in items if isinstance(i, Rejected) and i.record_no is None]
    records = [i for i in items if i.record_no is not None]
    assert items
    for item in file_level:
        assert item.reason in FILE_REASONS and item.detail
    if any(i.reason is not Reason.STRAY_TEXT for i in file_level):
        # A file with no record at all is reported once; a truncated archive follows its complete records.
        assert len(file_level) == 1
        assert not records or file_level[0].reason is Reason.TRUNCATED_ARCHIVE
    elif file_level:
        assert items[0] is file_level[0] and len(file_level) == 1
    assert [r.record_no for r in records] == list(range(len(records)))
    for item in records:
        if isinstance(item, Rejected):
            assert item.reason in RECORD_REASONS and f"record {item.record_no}" in item.detail
        else:
            check_clean(item)


def write(tmp_path: Path, data: bytes, name: str = "dump.txt") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def dump_file(path: Path, tmp_path: Path) -> DumpFile:
    return DumpFile(str(path), path.relative_to(tmp_path).as_posix(), "site", sha256_of(path), path.stat().st_size)


def settings_for(tmp_path: Path) -> Settings:
    return Settings(raw_dir=tmp_path, out_dir=tmp_path / "out", entities=False)


# ---------------------------------------------------------------------------------------------------- tests


@FAST
@given(dump=pieces, encoding=st.sampled_from(ENCODINGS), newline=st.sampled_from(["\n", "\r\n"]))
def test_valid_records_survive_any_mixture_of_junk(
    dump: list[Piece], encoding: str, newline: str, tmp_path: Path
) -> None:
    data, seen = encode(dump, encoding, newline)
    path = write(tmp_path, data)
    s = settings_for(tmp_path)
    items = list(extract_file(dump_file(path, tmp_path), s))  # parse and clean: nothing may raise
    check_items(items)
    binary = looks_binary(data, encoding)
    event(f"first 4 KB binary: {binary}")
    if binary:
        assert [(i.record_no, getattr(i, "reason", None)) for i in items] == [(None, Reason.NOT_TEXT)]
        return
    if binary is None:
        return  # at the threshold, or junk that opens with a byte-order mark: the invariants above hold
    # The reader, piece by piece: every record where it starts, every junk line stray or in the record before.
    expected = expected_items(dump, seen)
    got: list[tuple[str, object]] = []
    for item in read_dump(path):
        if isinstance(item, RawRecord):
            # A record of a UTF-8 dump read from where it starts is the record read with the whole dump.
            assert (item.offset is None) == encoding.startswith("utf-16")
            if item.offset is not None:
                assert read_record_at(path, item.record_no, item.offset, max_record_bytes=4_000_000) == item
            got.append(("raw", replace(item, offset=None)))
        elif item.record_no is None:
            got.append(("file", item.reason))
        else:
            got.append(("rejected", (item.record_no, item.reason)))
    assert got == expected
    # The cleaner: each valid record as written; a header without a title or a body is quarantined for it.
    records = [i for i in items if i.record_no is not None]
    starts = [i for i, p in enumerate(dump) if p.record is not None]
    assert len(records) == len(starts)
    for n, (i, item) in enumerate(zip(starts, records, strict=True)):
        piece, record = dump[i], dump[i].record
        assert record is not None
        end = starts[n + 1] if n + 1 < len(starts) else len(dump)
        absorbed = [line for lines in seen[i + 1 : end] for line in lines if not is_blank(line)]
        if piece.kind == "no_title":
            assert isinstance(item, Rejected) and item.reason is Reason.NO_TITLE
        elif piece.kind == "no_body" and not absorbed:
            assert isinstance(item, Rejected) and item.reason is Reason.NO_BODY
        elif piece.kind == "valid":
            assert isinstance(item, CleanRecord), item
            assert (item.record_no, item.title, item.published_local) == (n, clean_text(record.title), record.date)
            assert item.story_code == (clean_text(record.code) or None if record.code is not None else None)
            if not absorbed:
                assert (item.captions, item.paragraphs) == (record.captions, record.paragraphs)
            else:
                # Junk after a record is more of its body; a junk line repeated on the next line is a caption,
                # and a caption's text leaves the body wherever it is.
                assert item.captions[: len(record.captions)] == record.captions
                kept = [p for p in record.paragraphs if p not in item.captions]
                assert item.paragraphs[: len(kept)] == kept


@FAST
@given(dump=pieces, encoding=st.sampled_from(ENCODINGS), cut=st.floats(0, 1))
def test_a_cut_archive_keeps_what_came_before_the_cut(
    dump: list[Piece], encoding: str, cut: float, tmp_path: Path
) -> None:
    """A .gz that ends early gives the records of the whole archive up to the one the cut fell in, then one
    `truncated_archive` row for that record (or for the file, before any record)."""
    data, _ = encode(dump, encoding, "\n")
    archive = gzip.compress(data)
    s = settings_for(tmp_path)
    whole_path = write(tmp_path, archive, "whole.txt.gz")
    whole = list(extract_file(dump_file(whole_path, tmp_path), s))
    # A record of a UTF-8 archive read from where it starts in the decompressed bytes is the one read in full.
    for item in read_dump(whole_path):
        if isinstance(item, RawRecord):
            assert (item.offset is None) == encoding.startswith("utf-16")
            if item.offset is not None:
                assert read_record_at(whole_path, item.record_no, item.offset, max_record_bytes=4_000_000) == item
    path = write(tmp_path, archive[: max(int(cut * len(archive)), 1)], "cut.txt.gz")  # 0 bytes: an empty file
    items = list(extract_file(dump_file(path, tmp_path), s))
    check_items(items)
    if any(getattr(i, "reason", None) is Reason.NOT_TEXT for i in whole + items):
        return  # the cut file's first 4 KB are shorter: whether they look binary can change
    if cut == 1:
        assert items == whole
        return
    *before, last = items
    assert isinstance(last, Rejected) and last.reason is Reason.TRUNCATED_ARCHIVE
    assert before == whole[: len(before)]
    records = sum(i.record_no is not None for i in before)
    assert last.record_no == records or (records == 0 and last.record_no is None)  # None: cut before any header


@FAST
@given(
    data=st.binary(max_size=3000),
    prefix=st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"0\n\n", b"0\nSat 03 Sep 2016 - 05:28\n"]),
    gz=st.booleans(),
    cut=st.integers(min_value=0, max_value=4000),
)
@example(data=b"\n\nT\n\nStory Code : 1\nbody\n", prefix=b"0\n", gz=False, cut=0)
def test_arbitrary_bytes_never_raise(data: bytes, prefix: bytes, gz: bool, cut: int, tmp_path: Path) -> None:
    """Any bytes, plain or gzip (cut anywhere): parse and clean yield records and quarantine rows, never raise."""
    data = prefix + data
    if gz:
        data = gzip.compress(data)[:cut] if cut else gzip.compress(data)
    path = write(tmp_path, data, "dump.txt.gz" if gz else "dump.txt")
    items = list(extract_file(dump_file(path, tmp_path), settings_for(tmp_path)))
    check_items(items)


@settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", 150)) // 4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(dump=pieces, raw_bytes=st.binary(max_size=2000), encoding=st.sampled_from(ENCODINGS))
def test_staged_batch_accounts_for_every_record(
    dump: list[Piece], raw_bytes: bytes, encoding: str, tmp_path: Path
) -> None:
    """Through the real extract step (enrichment and Parquet included): every record of every file is staged once,
    as a record or a quarantine row, and every valid record of a text file is staged as a record."""
    mixed, _ = encode(dump, encoding, "\n")
    paths = [write(tmp_path / "site", mixed, "mixed.txt"), write(tmp_path / "site", raw_bytes, "bytes.txt")]
    target = tmp_path / "out" / "staged"
    shutil.rmtree(target, ignore_errors=True)  # hypothesis reuses the test's tmp_path for every example
    threshold = gc.get_threshold()
    stage_batch([dump_file(p, tmp_path) for p in paths], settings_for(tmp_path), target)
    # The garbage collector is as the batch found it: nothing left frozen, the same thresholds.
    assert (gc.get_freeze_count(), gc.get_threshold()) == (0, threshold)
    records = pq.read_table(target / "records.parquet").to_pylist()
    quarantine = pq.read_table(target / "quarantine.parquet").to_pylist()
    files = {f["source_file"]: f for f in pq.read_table(target / "files.parquet").to_pylist()}
    assert all(r["word_count"] == len(r["body"].split()) for r in records)
    assert set(files) == {"site/mixed.txt", "site/bytes.txt"}
    for name, f in files.items():
        published = [r["record_no"] for r in records if r["source_file"] == name]
        rows = [q for q in quarantine if q["source_file"] == name]
        rejected = [q["record_no"] for q in rows if q["record_no"] is not None]
        assert sorted(published + rejected) == list(range(f["records"]))
        whole_file = [q for q in rows if q["record_no"] is None and q["reason"] != Reason.STRAY_TEXT]
        assert f["status"] == ("quarantined" if whole_file and not f["records"] else "ingested")
    if looks_binary(mixed, encoding) is False:
        titles = {r["title"] for r in records if r["source_file"] == "site/mixed.txt"}
        for piece in dump:
            if piece.kind == "valid" and piece.record is not None:
                assert clean_text(piece.record.title) in titles
