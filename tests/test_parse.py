"""Tests of newsetl.parse: record boundaries, encodings, and every whole-file and record problem."""

import gzip
import tracemalloc
import zlib
from datetime import datetime
from pathlib import Path

import pytest

from newsetl.clean import clean_record
from newsetl.parse import DATE_LINE_RE, read_dump
from newsetl.reasons import Reason
from newsetl.records import CleanRecord, RawRecord, Rejected

DATE = "Saturday 10 September 2016 - 05:28"
PNG_HEAD = bytes.fromhex("89504e470d0a1a0a0000000d49484452000001000000010008060000005c72a866") + bytes(200)


def record(
    n: int,
    title: str = "A title",
    *,
    date: str | None = DATE,
    code: str | None = "566428",
    body: tuple[str, ...] = ("First paragraph.", "Second paragraph."),
) -> str:
    """One record as the scraper writes it (ending in a newline)."""
    lines = [str(n)]
    if date is not None:
        lines.append(date)
    lines += ["", title, ""]
    if code is not None:
        lines.append(f"Story Code : {code}")
    for paragraph in body:
        lines += [paragraph + "\xa0", "\xa0"]
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, data: str | bytes, name: str = "dump.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def outcome(path: Path, **kwargs: int) -> list[tuple[int | None, str]]:
    """(record_no, "ok" or the reason) for each item of read_dump, records run through clean_record."""
    out: list[tuple[int | None, str]] = []
    for item in read_dump(path, **kwargs):
        if isinstance(item, RawRecord):
            cleaned = clean_record(item)
            out.append((cleaned.record_no, "ok" if isinstance(cleaned, CleanRecord) else cleaned.reason))
        else:
            out.append((item.record_no, item.reason))
    return out


def raw_records(path: Path, **kwargs: int) -> list[RawRecord]:
    items = list(read_dump(path, **kwargs))
    assert all(isinstance(item, RawRecord) for item in items), items
    return items  # type: ignore[return-value]


# One case per reason the parser and cleaner emit: file bytes -> [(record_no, reason or "ok")].
REASON_CASES: dict[str, tuple[bytes, list[tuple[int | None, str]]]] = {
    "not text: binary junk": (bytes(range(256)) * 8, [(None, Reason.NOT_TEXT)]),
    "not text: png saved as txt": (PNG_HEAD, [(None, Reason.NOT_TEXT)]),
    "not text: control characters": (b"\x01\x02\x1b[0m\x03\x04 abc \x05\x06\x07\x08" * 50, [(None, Reason.NOT_TEXT)]),
    "not text: NUL after a record start": (b"0\n" + DATE.encode() + b"\n\x00\x00\x00", [(None, Reason.NOT_TEXT)]),
    "empty file": (b"", [(None, Reason.EMPTY_FILE)]),
    "blank only": (b" \n\n\t \r\n\xc2\xa0\n   ", [(None, Reason.EMPTY_FILE)]),
    "byte-order mark only": (b"\xef\xbb\xbf\r\n", [(None, Reason.EMPTY_FILE)]),
    "no records": (b"hello\nworld\n12\nnot a date\n\nStory\n", [(None, Reason.NO_RECORDS)]),
    "stray text then records": (
        ("scraper log: started\n\n" + record(0) + record(1)).encode(),
        [(None, Reason.STRAY_TEXT), (0, "ok"), (1, "ok")],
    ),
    "no title (date form)": (f"0\n{DATE}\n\nStory Code : 5\nBody.\n".encode(), [(0, Reason.NO_TITLE)]),
    "no title (story-code form)": (b"0\n\n\nStory Code : 5\nBody.\n", [(0, Reason.NO_TITLE)]),
    "no title, next record follows": (f"0\n{DATE}\n{record(1)}".encode(), [(0, Reason.NO_TITLE), (1, "ok")]),
    "empty title line, no story code": (f"0\n{DATE}\n\n\n\nCaption\nCaption\nBody.\n".encode(), [(0, Reason.NO_TITLE)]),
    "no body (header only)": (record(0, body=()).encode(), [(0, Reason.NO_BODY)]),
    "no body (only blank lines and a widget)": (
        record(0, body=("\xa0", "Comment")).encode(),
        [(0, Reason.NO_BODY)],
    ),
    "too large record between good ones": (
        (record(0) + record(1, body=("x" * 3000,)) + record(2)).encode(),
        [(0, "ok"), (1, Reason.RECORD_TOO_LARGE), (2, "ok")],
    ),
}


@pytest.mark.parametrize("name", list(REASON_CASES))
def test_reasons(name: str, tmp_path: Path) -> None:
    data, expected = REASON_CASES[name]
    assert outcome(write(tmp_path, data), max_record_bytes=2000) == expected


def test_whole_file_details_say_what_to_do(tmp_path: Path) -> None:
    (binary,) = read_dump(write(tmp_path, PNG_HEAD))
    assert isinstance(binary, Rejected)
    assert binary.detail == "file is not text (NUL bytes in the first 4 KB): remove it or re-scrape it"
    (empty,) = read_dump(write(tmp_path, b""))
    assert isinstance(empty, Rejected) and "0 bytes" in empty.detail


def _gzip_cut(parts: list[bytes]) -> bytes:
    """A gzip stream of `parts`, flushed after each so all of it decodes, with no end marker."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = b""
    for part in parts:
        out += compressor.compress(part) + compressor.flush(zlib.Z_FULL_FLUSH)
    return out


def test_truncated_gzip_keeps_the_complete_records(tmp_path: Path) -> None:
    cut = record(2, body=("Third story, cut in the middle of", "a sentence"))
    data = _gzip_cut([(record(0) + record(1)).encode(), cut[:60].encode()])
    items = list(read_dump(write(tmp_path, data, "dump.txt.gz")))
    assert [type(item) for item in items] == [RawRecord, RawRecord, Rejected]
    assert [item.record_no for item in items] == [0, 1, 2]
    last = items[-1]
    assert isinstance(last, Rejected) and last.reason is Reason.TRUNCATED_ARCHIVE
    assert "after 2 complete records" in last.detail and "re-download" in last.detail


def test_corrupt_gzip_body(tmp_path: Path) -> None:
    text = "".join(record(i, body=(f"Paragraph {i} " * 200,)) for i in range(20)).encode()
    data = bytearray(gzip.compress(text))
    data[len(data) // 2 : len(data) // 2 + 40] = b"\xff" * 40
    items = list(read_dump(write(tmp_path, bytes(data), "dump.txt.gz")))
    assert all(isinstance(item, RawRecord) for item in items[:-1])
    assert isinstance(items[-1], Rejected) and items[-1].reason is Reason.TRUNCATED_ARCHIVE
    assert items[-1].record_no == len(items) - 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (gzip.compress(b"")[:5], Reason.TRUNCATED_ARCHIVE),  # cut inside the gzip header
        (b"0\nplain text, not gzip\n", Reason.TRUNCATED_ARCHIVE),
        (b"", Reason.EMPTY_FILE),
        (gzip.compress(b""), Reason.EMPTY_FILE),
        (gzip.compress(b"\n \n"), Reason.EMPTY_FILE),
        (gzip.compress(bytes(range(256))), Reason.NOT_TEXT),
    ],
)
def test_gzip_whole_file_problems(data: bytes, reason: Reason, tmp_path: Path) -> None:
    items = list(read_dump(write(tmp_path, data, "dump.txt.gz")))
    assert [(item.record_no, item.reason) for item in items] == [(None, reason)]  # type: ignore[union-attr]


def test_single_30_mb_line_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as f:
        f.write(record(0, body=()).encode())
        chunk = b"all work and no play " * 50_000  # ~1 MB
        for _ in range(30):
            f.write(chunk)
        f.write(b"\n" + record(1).encode())
    tracemalloc.start()
    try:
        items = [(item.record_no, type(item).__name__, getattr(item, "reason", None)) for item in read_dump(path)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert items == [(0, "Rejected", Reason.RECORD_TOO_LARGE), (1, "RawRecord", None)]
    assert peak < 50 * 2**20, f"peak {peak / 2**20:.1f} MB"


def test_long_line_under_the_limit_is_kept_whole(tmp_path: Path) -> None:
    # 2.5 MB of 3-byte characters: reads of 1 MB split some of them, the joined line must not.
    line = "\u2019" * 850_000
    (raw,) = raw_records(write(tmp_path, record(0) + line + "\n" + "End.\n"))
    assert line in raw.lines and raw.lines[-1] == "End."


def test_utf16_too_large_line(tmp_path: Path) -> None:
    text = record(0, body=("y" * 1_500_000,)) + record(1)
    path = write(tmp_path, b"\xff\xfe" + text.encode("utf-16-le"))
    assert outcome(path, max_record_bytes=1_000_000) == [(0, Reason.RECORD_TOO_LARGE), (1, "ok")]


def test_several_records_in_file_order(tmp_path: Path) -> None:
    text = record(0, "First") + record(1, "Second", date=None) + record(2, "Third", code=None)
    raws = raw_records(write(tmp_path, text))
    assert [(r.record_no, r.title) for r in raws] == [(0, "First"), (1, "Second"), (2, "Third")]
    assert raws[0].lines == ["First paragraph.\xa0", "\xa0", "Second paragraph.\xa0", "\xa0"]


def test_missing_date_line(tmp_path: Path) -> None:
    (raw,) = raw_records(write(tmp_path, record(3, date=None)))
    assert (raw.record_no, raw.date_line, raw.title, raw.story_code) == (0, None, "A title", "566428")


def test_missing_story_code(tmp_path: Path) -> None:
    (raw,) = raw_records(write(tmp_path, record(0, code=None)))
    assert (raw.date_line, raw.title, raw.story_code) == (DATE, "A title", None)
    assert raw.lines[:2] == ["", "First paragraph.\xa0"]  # the header ends with its title


@pytest.mark.parametrize(
    "date",
    [
        "Saturday 10 September 2016 - 05:28",
        "Saturday 03 September 2016 - 05:28",
        "Sat 03 Sep 2016 - 05:28",
        "Sat 3 Sep 2016 - 5:28",
        "sat  03  sept  2016 -05:28  ",
        "Saturday, 10 September 2016 \u2013 05:28",
        "\xa0Saturday 10 September 2016 - 05:28:59\xa0",
        "10 September 2016 - 05:28",
    ],
)
def test_date_line_variants_start_a_record(date: str, tmp_path: Path) -> None:
    first, second = raw_records(write(tmp_path, record(0) + record(7, date=date, code=None)))
    assert (second.record_no, second.date_line, second.title) == (1, date, "A title")
    assert first.lines[-1] == "\xa0"


@pytest.mark.parametrize(
    "line",
    [
        "Saturday 10 Septembre 2016 - 05:28",
        "Saturday 10 September 16 - 05:28",
        "Saturday 10 September 2016",
        "Saturday 10 September 2016 - 05",
        "Caturday 10 September 2016 - 05:28",
        "In 10 September 2016 - 05:28",
    ],
)
def test_not_date_lines(line: str) -> None:
    assert DATE_LINE_RE.fullmatch(line) is None


@pytest.mark.parametrize(
    "code_line",
    [
        "Story Code : 566428",
        "Story Code: 566428",
        "Story code : 566428",
        "STORY CODE:566428  ",
        "Story Code :\xa0566428\xa0",
    ],
)
def test_story_code_line_variants(code_line: str, tmp_path: Path) -> None:
    text = f"0\n\nA title\n\n{code_line}\nBody.\n"
    (raw,) = raw_records(write(tmp_path, text))
    assert (raw.title, raw.story_code, raw.lines) == ("A title", "566428", ["Body."])


def test_tolerant_header_spacing(tmp_path: Path) -> None:
    text = f" 12 \n{DATE}\n\n\n\nA title  \n\xa0\n \nStory Code : 9\n\nBody.\n"
    (raw,) = raw_records(write(tmp_path, text))
    assert (raw.record_no, raw.title, raw.story_code, raw.lines) == (0, "A title  ", "9", ["", "Body."])


def test_record_no_is_the_position_whatever_number_is_written(tmp_path: Path) -> None:
    """Regression: a dump numbered from 1, or repeating a number, must not give two records one key."""
    raws = raw_records(write(tmp_path, record(17) + record(4) + record(4) + record(1000)))
    assert [r.record_no for r in raws] == [0, 1, 2, 3]


@pytest.mark.parametrize("title", ["2016", "1984", " 9 "])
def test_a_number_title_after_a_date_line_is_the_title(title: str, tmp_path: Path) -> None:
    """Regression: a dated record titled with a number ("2016") was read as a record cut short after its date,
    followed by a title-less record numbered 2016: one good article became two `no_title` rejects."""
    raws = raw_records(write(tmp_path, record(0, title) + record(1)))
    assert [(r.record_no, r.date_line, r.title, r.story_code) for r in raws] == [
        (0, DATE, title, "566428"),
        (1, DATE, "A title", "566428"),
    ]


def test_number_lines_inside_a_body_stay_text(tmp_path: Path) -> None:
    body = ("The score:", "2016", "was a year.", "42")
    (raw,) = raw_records(write(tmp_path, record(0, body=body)))
    assert [line for line in raw.lines if line.strip()] == [p + "\xa0" for p in body]


def test_line_endings_are_removed_and_trailing_spaces_kept(tmp_path: Path) -> None:
    text = f"0\r\n{DATE}\r\n\r\nT\r\n\r\nStory Code : 1\r\nA line  \r\nlast line without newline"
    (raw,) = raw_records(write(tmp_path, text))
    assert raw.lines == ["A line  ", "last line without newline"]


def test_mixed_utf8_and_cp1252_line(tmp_path: Path) -> None:
    data = record(0).encode() + "Turkey\u2019s caf".encode() + b"\xe9 \x93quoted\x94\n"
    (raw,) = raw_records(write(tmp_path, data))
    assert raw.lines[-1] == "Turkey\u2019s caf\u00e9 \u201cquoted\u201d"


def test_utf16_without_bom(tmp_path: Path) -> None:
    (raw,) = raw_records(write(tmp_path, (record(0) + "Last.").encode("utf-16-le")))
    assert raw.title == "A title" and raw.lines[-1] == "Last."


def test_captions_photos_and_entities_through_parse_and_clean(tmp_path: Path) -> None:
    photo1, photo2 = "Tom &amp; Jerry on stage.", "The crowd\u00a0outside."
    body = (f"{photo1}\n{photo1}\n{photo1}\n{photo2}\n{photo2}\nFirst &quot;quoted&quot; paragraph.", photo1, "Last.")
    text = record(0, body=()) + "\n".join(body) + "\nComment"
    text += "\n" + record(1, date="Sat 03 Sep 2016 - 05:28", code=None)
    items = [clean_record(raw) for raw in raw_records(write(tmp_path, text))]
    first, second = items
    assert isinstance(first, CleanRecord) and isinstance(second, CleanRecord)
    assert first.captions == ["Tom & Jerry on stage.", "The crowd outside."]
    assert first.paragraphs == ['First "quoted" paragraph.', "Last."]
    assert (second.record_no, second.published_local, second.story_code) == (1, datetime(2016, 9, 3, 5, 28), None)


# Property tests of reading (arbitrary bytes, valid records among junk) are in test_properties.py.


def test_a_number_opening_a_file_starts_a_record_without_date_or_code(tmp_path: Path) -> None:
    """A mirror that lost the header: "0", blank, title, blank, body. Only at the start of a file."""
    data = "0\n\nA lone title\n\nThe only paragraph.\n\n2016\n\nStill the same body.\n"
    (raw,) = raw_records(write(tmp_path, data))
    assert (raw.record_no, raw.date_line, raw.title, raw.story_code) == (0, None, "A lone title", None)
    cleaned = clean_record(raw)
    assert isinstance(cleaned, CleanRecord)
    assert cleaned.paragraphs == ["The only paragraph.", "2016", "Still the same body."]


def test_a_number_opening_a_file_then_real_records(tmp_path: Path) -> None:
    data = "0\n\nA lone title\n\nIts body.\n" + record(1, "Second")
    assert [(r.record_no, r.title) for r in raw_records(write(tmp_path, data))] == [(0, "A lone title"), (1, "Second")]


@pytest.mark.parametrize("nuls", [b"\x00", b"\x00\x00"])
def test_a_stray_nul_byte_is_cleaned_not_a_reason_to_reject_the_file(tmp_path: Path, nuls: bytes) -> None:
    data = record(0, body=("First paragraph.", "Second paragraph.")).encode().replace(b"Second", b"Sec" + nuls + b"ond")
    (raw,) = raw_records(write(tmp_path, data))
    cleaned = clean_record(raw)
    assert isinstance(cleaned, CleanRecord)
    assert cleaned.paragraphs == ["First paragraph.", "Second paragraph."]
